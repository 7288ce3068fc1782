// offload: the virtio-net header, its validation against the frame, checksum
// completion and software segmentation (see offload.hpp).
//
// Every function here works on untrusted bytes: the frame's own headers are
// parsed once by locate() (bounds-checked against the real frame, never
// against hdr_len or any other header field), and segment() checks the exact
// output size before it writes anything.
#include "l2/offload.hpp"


#include <algorithm>
#include <limits>
#include <optional>

#include "l2/byte_order.hpp"
#include "l2/checksum.hpp"
#include "l2/frame.hpp"
#include "l2/ip_fields.hpp"

namespace l2 {

namespace {

using namespace ip_fields;

/// Smallest gso_size accepted: an MSS under 8 bytes is nonsense, and the floor
/// bounds the segment count (and so segment_buffer_size()).
constexpr std::size_t min_gso_size = 8;
/// Largest headers copied into every segment: 802.1Q-tagged Ethernet, IPv4
/// with 40 bytes of options, TCP with 40 bytes of options.
constexpr std::size_t max_headers_size = ethernet_header_size + vlan_tag_size + 60 + 60;
/// Largest GSO payload: it sits inside one IP datagram (IPv4 total length or
/// IPv6 payload length, both 16 bits).
constexpr std::size_t max_gso_payload_size = 65535;

// Byte order: l2/byte_order.hpp, used only in parse and emit steps.
using namespace byte_order;

/// Where a frame's IP and TCP/UDP headers are, as found in the frame itself.
struct layout {
  std::size_t l3 = 0;            ///< offset of the IP header
  bool ipv6 = false;             ///< IPv6 (else IPv4)
  bool fragment = false;         ///< IPv4 MF set or fragment offset non-zero
  std::uint8_t protocol = 0;     ///< IPv4 protocol / IPv6 next header
  std::size_t l4 = 0;            ///< offset of the TCP/UDP header
  std::size_t l4_header_size = 0;  ///< TCP data offset * 4, or 8 for UDP
  std::size_t ip_end = 0;        ///< offset just past the IP datagram (<= frame size)

  std::size_t headers_size() const { return l4 + l4_header_size; }
  std::size_t payload_size() const { return ip_end - headers_size(); }
};

/// Parses Ethernet (one optional 802.1Q tag), IPv4 or IPv6 (no extension
/// headers) and TCP or UDP, all bounds-checked against `frame`. The IP length
/// must match the frame, which may be longer only by Ethernet padding.
/// Returns nothing if any of it is missing, truncated or inconsistent.
std::optional<layout> locate(std::span<const std::byte> frame) {
  // 1. Ethernet and the optional tag.
  if (frame.size() < ethernet_header_size) return std::nullopt;
  layout out;
  out.l3 = ethernet_header_size;
  std::uint16_t ethertype = load16(frame, ethernet_type_offset);
  if (ethertype == ethertype_vlan) {
    if (frame.size() < ethernet_header_size + vlan_tag_size) return std::nullopt;
    ethertype = load16(frame, ethernet_type_offset + vlan_tag_size);
    out.l3 += vlan_tag_size;
  }
  const std::size_t min_frame = ethernet_min_frame_size + (out.l3 - ethernet_header_size);

  // 2. IP.
  const std::size_t rest = frame.size() - out.l3;
  if (ethertype == ethertype_ipv4) {
    if (rest < ipv4_min_header_size) return std::nullopt;
    const unsigned version_ihl = std::to_integer<unsigned>(frame[out.l3]);
    const std::size_t header_size = (version_ihl & 0x0f) * 4u;
    if ((version_ihl >> 4) != 4 || header_size < ipv4_min_header_size || header_size > rest)
      return std::nullopt;
    const std::size_t total_length = load16(frame, out.l3 + ipv4_total_length_offset);
    if (total_length < header_size || total_length > rest) return std::nullopt;
    out.ip_end = out.l3 + total_length;
    const std::uint16_t fragment = load16(frame, out.l3 + ipv4_fragment_offset);
    out.fragment = (fragment & (ipv4_more_fragments | ipv4_fragment_offset_mask)) != 0;
    out.protocol = std::to_integer<std::uint8_t>(frame[out.l3 + ipv4_protocol_offset]);
    out.l4 = out.l3 + header_size;
  } else if (ethertype == ethertype_ipv6) {
    if (rest < ipv6_header_size || (std::to_integer<unsigned>(frame[out.l3]) >> 4) != 6)
      return std::nullopt;
    const std::size_t payload_length = load16(frame, out.l3 + ipv6_payload_length_offset);
    if (payload_length > rest - ipv6_header_size) return std::nullopt;
    out.ipv6 = true;
    out.ip_end = out.l3 + ipv6_header_size + payload_length;
    out.protocol = std::to_integer<std::uint8_t>(frame[out.l3 + ipv6_next_header_offset]);
    out.l4 = out.l3 + ipv6_header_size;
  } else {
    return std::nullopt;
  }
  if (frame.size() > out.ip_end && frame.size() > min_frame) return std::nullopt;  // not padding

  // 3. TCP or UDP, inside the IP datagram.
  const std::size_t l4_size = out.ip_end - out.l4;
  if (out.protocol == protocol_tcp) {
    if (l4_size < tcp_min_header_size) return std::nullopt;
    out.l4_header_size = (std::to_integer<unsigned>(frame[out.l4 + tcp_data_offset_offset]) >> 4) * 4u;
    if (out.l4_header_size < tcp_min_header_size || out.l4_header_size > l4_size) return std::nullopt;
  } else if (out.protocol == protocol_udp) {
    if (l4_size < udp_header_size) return std::nullopt;
    out.l4_header_size = udp_header_size;
  } else {
    return std::nullopt;
  }
  return out;
}

/// The frame's layout if `header` is a usable GSO header for it.
std::optional<layout> check_gso(const vnet_header& header, std::span<const std::byte> frame) {
  const std::uint8_t type = header.gso_type & static_cast<std::uint8_t>(~gso_ecn);
  if (type != gso_tcpv4 && type != gso_tcpv6 && type != gso_udp_l4) return std::nullopt;
  if ((header.flags & vnet_flag_needs_csum) == 0 || header.gso_size < min_gso_size) return std::nullopt;
  const std::optional<layout> found = locate(frame);
  if (!found || found->fragment) return std::nullopt;
  const bool tcp = found->protocol == protocol_tcp;
  switch (type) {
    case gso_tcpv4:
      if (found->ipv6 || !tcp) return std::nullopt;
      break;
    case gso_tcpv6:
      if (!found->ipv6 || !tcp) return std::nullopt;
      break;
    default:  // gso_udp_l4, over either IP version
      if (tcp) return std::nullopt;
      break;
  }
  if (header.csum_start != found->l4) return std::nullopt;
  if (header.csum_offset != (tcp ? tcp_checksum_offset : udp_checksum_offset)) return std::nullopt;
  if (found->payload_size() == 0) return std::nullopt;
  return found;
}

/// True if a non-GSO NEEDS_CSUM header's checksum field lies inside `frame_size`.
bool csum_fits(const vnet_header& header, std::size_t frame_size) {
  return std::size_t{header.csum_start} + header.csum_offset + 2 <= frame_size;
}

/// Writes `value` to a checksum field: a sum that folds to 0 is sent as 0xffff
/// (the same in ones'-complement; for UDP, 0 would mean "no checksum").
void store_checksum(std::span<std::byte> bytes, std::size_t offset, std::uint16_t value) {
  store16(bytes, offset, value == 0 ? 0xffff : value);
}

/// True if `count` blocks of `block` bytes plus `extra` bytes fit in `available`.
bool fits(std::size_t count, std::size_t block, std::size_t extra, std::size_t available) {
  if (block != 0 && count > available / block) return false;
  return extra <= available - count * block;
}

}  // namespace

vnet_header parse_vnet_header(std::span<const std::byte, vnet_header_size> bytes) {
  vnet_header header;
  header.flags = std::to_integer<std::uint8_t>(bytes[0]);
  header.gso_type = std::to_integer<std::uint8_t>(bytes[1]);
  header.hdr_len = load16_le(bytes, 2);
  header.gso_size = load16_le(bytes, 4);
  header.csum_start = load16_le(bytes, 6);
  header.csum_offset = load16_le(bytes, 8);
  return header;
}

void emit_vnet_header(const vnet_header& header, std::span<std::byte, vnet_header_size> out) {
  out[0] = static_cast<std::byte>(header.flags);
  out[1] = static_cast<std::byte>(header.gso_type);
  store16_le(out, 2, header.hdr_len);
  store16_le(out, 4, header.gso_size);
  store16_le(out, 6, header.csum_start);
  store16_le(out, 8, header.csum_offset);
}

bool validate(const vnet_header& header, std::span<const std::byte> frame) {
  if (header.is_plain()) return true;
  if (header.hdr_len > frame.size()) return false;
  if (header.gso_type == gso_none) return csum_fits(header, frame.size());  // NEEDS_CSUM only
  return check_gso(header, frame).has_value();
}

bool complete_checksum(std::span<std::byte> frame, const vnet_header& header) {
  if ((header.flags & vnet_flag_needs_csum) == 0) return true;  // nothing to complete
  if (!csum_fits(header, frame.size())) return false;
  const std::uint64_t sum = checksum::add(0, frame.subspan(header.csum_start));
  store_checksum(frame, std::size_t{header.csum_start} + header.csum_offset, checksum::finish(sum));
  return true;
}

std::size_t segment_buffer_size(std::size_t frame_size, std::size_t headroom) {
  // Segments of at least min_gso_size payload bytes, each with the headroom
  // and a copy of the headers; then the payload itself (at most the frame).
  const std::size_t payload = std::min(frame_size, max_gso_payload_size);
  const std::size_t count = std::max<std::size_t>(1, (payload + min_gso_size - 1) / min_gso_size);
  const std::size_t headers = std::min(frame_size, max_headers_size);
  constexpr std::size_t max = std::numeric_limits<std::size_t>::max();
  if (headroom > max - headers) return max;
  const std::size_t block = headroom + headers;
  if (block != 0 && count > max / block) return max;
  if (frame_size > max - count * block) return max;
  return count * block + frame_size;
}

std::size_t largest_segment_size(std::span<const std::byte> frame, const vnet_header& header) {
  if (!header.is_gso()) return frame.size();
  const std::optional<layout> found = check_gso(header, frame);
  if (!found) return frame.size();
  return found->headers_size() + std::min<std::size_t>(header.gso_size, found->payload_size());
}

segment_result segment(std::span<const std::byte> frame, const vnet_header& header,
                       std::size_t headroom, std::span<std::byte> out) {
  segment_result result;
  if (!validate(header, frame)) return result;

  // A frame that is not GSO: one copy, its checksum completed if asked for.
  if (!header.is_gso()) {
    if (!fits(1, headroom, frame.size(), out.size())) return result;
    const std::span<std::byte> copy = out.subspan(headroom, frame.size());
    std::copy(frame.begin(), frame.end(), copy.begin());
    if (!complete_checksum(copy, header)) return result;  // cannot happen after validate()
    result.ok = true;
    result.count = 1;
    result.total_size = headroom + frame.size();
    result.stride = result.total_size;
    return result;
  }

  // 1. The real headers and payload, and the exact output size.
  const std::optional<layout> found = check_gso(header, frame);
  if (!found) return result;  // cannot happen after validate()
  const layout& at = *found;
  const std::size_t headers_size = at.headers_size();
  const std::size_t payload_size = at.payload_size();
  const std::size_t mss = header.gso_size;
  const std::size_t count = (payload_size + mss - 1) / mss;
  if (headroom > out.size() || !fits(count, headroom + headers_size, payload_size, out.size()))
    return result;

  const bool tcp = at.protocol == protocol_tcp;
  const std::span<const std::byte> headers = frame.first(headers_size);
  const std::span<const std::byte> payload = frame.subspan(headers_size, payload_size);
  const std::uint16_t first_id = at.ipv6 ? 0 : load16(frame, at.l3 + ipv4_id_offset);
  const std::uint32_t first_seq = tcp ? load32(frame, at.l4 + tcp_sequence_offset) : 0;
  const std::size_t address_size = at.ipv6 ? ipv6_address_size : ipv4_address_size;
  const std::size_t address_offset = at.l3 + (at.ipv6 ? ipv6_source_offset : ipv4_source_offset);
  const std::span<const std::byte> source = frame.subspan(address_offset, address_size);
  const std::span<const std::byte> destination = frame.subspan(address_offset + address_size, address_size);

  const std::size_t stride = headroom + headers_size + mss;
  for (std::size_t i = 0; i < count; ++i) {
    // 2. Headers and this segment's share of the payload.
    const std::size_t chunk_size = std::min(mss, payload_size - i * mss);
    const std::span<std::byte> seg = out.subspan(i * stride + headroom, headers_size + chunk_size);
    std::copy(headers.begin(), headers.end(), seg.begin());
    const std::span<const std::byte> chunk = payload.subspan(i * mss, chunk_size);
    std::copy(chunk.begin(), chunk.end(), seg.begin() + static_cast<std::ptrdiff_t>(headers_size));
    const std::size_t l4_size = seg.size() - at.l4;

    // 3. IP: length, and for IPv4 the id and header checksum.
    if (at.ipv6) {
      store16(seg, at.l3 + ipv6_payload_length_offset, static_cast<std::uint16_t>(l4_size));
    } else {
      store16(seg, at.l3 + ipv4_total_length_offset, static_cast<std::uint16_t>(seg.size() - at.l3));
      store16(seg, at.l3 + ipv4_id_offset, static_cast<std::uint16_t>(first_id + i));
      store16(seg, at.l3 + ipv4_checksum_offset, 0);
      const std::uint64_t sum = checksum::add(0, seg.subspan(at.l3, at.l4 - at.l3));
      store16(seg, at.l3 + ipv4_checksum_offset, checksum::finish(sum));
    }

    // 4. TCP sequence and flags, or UDP length; then the L4 checksum in full.
    std::size_t checksum_at = 0;
    if (tcp) {
      store32(seg, at.l4 + tcp_sequence_offset, static_cast<std::uint32_t>(first_seq + i * mss));
      std::uint8_t flags = std::to_integer<std::uint8_t>(seg[at.l4 + tcp_flags_offset]);
      if (i + 1 != count) flags &= static_cast<std::uint8_t>(~(tcp_flag_fin | tcp_flag_psh));
      if (i != 0) flags &= static_cast<std::uint8_t>(~tcp_flag_cwr);
      seg[at.l4 + tcp_flags_offset] = static_cast<std::byte>(flags);
      checksum_at = at.l4 + tcp_checksum_offset;
    } else {
      store16(seg, at.l4 + udp_length_offset, static_cast<std::uint16_t>(l4_size));
      checksum_at = at.l4 + udp_checksum_offset;
    }
    store16(seg, checksum_at, 0);
    std::uint64_t sum = checksum::pseudo_header(source, destination, at.protocol,
                                                static_cast<std::uint32_t>(l4_size));
    sum = checksum::add(sum, seg.subspan(at.l4));
    store_checksum(seg, checksum_at, checksum::finish(sum));
  }

  result.ok = true;
  result.count = count;
  result.total_size = (count - 1) * stride + headroom + headers_size + (payload_size - (count - 1) * mss);
  result.stride = count == 1 ? result.total_size : stride;
  return result;
}

}  // namespace l2
