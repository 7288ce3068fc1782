#include "l2/coalesce.hpp"


#include <algorithm>
#include <cstring>
#include <optional>

#include "l2/byte_order.hpp"
#include "l2/ip_fields.hpp"
#include "l2/checksum.hpp"
#include "l2/frame.hpp"

namespace l2 {

namespace {

using namespace ip_fields;  // field offsets and values, named once

constexpr std::size_t max_run_count = 64;   // segments per run, as the kernel's GRO
constexpr std::size_t max_ip_length = 65535;  // IPv4 total length / IPv6 payload length

using namespace byte_order;

/// What add() needs to know of one TCP segment; only parse_segment() makes one.
struct segment_info {
  std::size_t network_offset = 0;    ///< IP header
  std::size_t transport_offset = 0;  ///< TCP header
  std::size_t header_size = 0;       ///< Ethernet + IP + TCP headers
  std::size_t payload_size = 0;      ///< TCP payload bytes (> 0)
  bool ipv6 = false;
  std::uint32_t sequence = 0;
  std::uint8_t flags = 0;            ///< TCP flags byte
  std::uint16_t id = 0;              ///< IPv4 id
  bool dont_fragment = false;        ///< IPv4 DF
};

/// The source and destination address of the IP header at `ip` (for the
/// pseudo-header): 4 bytes each for IPv4, 16 for IPv6.
std::span<const std::byte> source_address(std::span<const std::byte> frame, std::size_t ip, bool ipv6) {
  return ipv6 ? frame.subspan(ip + ipv6_source_offset, ipv6_address_size)
              : frame.subspan(ip + ipv4_source_offset, ipv4_address_size);
}
std::span<const std::byte> destination_address(std::span<const std::byte> frame, std::size_t ip, bool ipv6) {
  return ipv6 ? frame.subspan(ip + ipv6_source_offset + ipv6_address_size, ipv6_address_size)
              : frame.subspan(ip + ipv4_source_offset + ipv4_address_size, ipv4_address_size);
}

/// Parses an Ethernet (one optional 802.1Q tag) / IPv4-or-IPv6 / TCP frame that
/// may be merged at all: every length checked against the frame, IPv4 without
/// options or fragmentation and with a valid header checksum, IPv6 without
/// extension headers, IP length exactly the frame's, ACK set and no FIN, SYN,
/// RST or URG, some payload. The TCP checksum is not checked here (it is the
/// costly part; add() checks it last).
std::optional<segment_info> parse_segment(std::span<const std::byte> frame) {
  segment_info s;
  // 1. Ethernet header and tag.
  if (frame.size() < ethernet_header_size) return std::nullopt;
  std::uint16_t ethertype = load16(frame, ethernet_type_offset);
  s.network_offset = ethernet_header_size;
  if (ethertype == ethertype_vlan) {
    if (frame.size() < ethernet_header_size + vlan_tag_size) return std::nullopt;
    ethertype = load16(frame, ethernet_type_offset + vlan_tag_size);
    s.network_offset += vlan_tag_size;
  }
  const std::size_t network_size = frame.size() - s.network_offset;
  std::size_t transport_size = 0;

  // 2. IP header.
  if (ethertype == ethertype_ipv4) {
    if (network_size < ipv4_min_header_size) return std::nullopt;
    const auto ip = frame.subspan(s.network_offset, ipv4_min_header_size);
    if (load8(ip, 0) != 0x45) return std::nullopt;  // version 4, no options
    if (load16(ip, ipv4_total_length_offset) != network_size) return std::nullopt;
    const std::uint16_t fragment = load16(ip, ipv4_fragment_offset);
    if ((fragment & ~ipv4_flag_df) != 0) return std::nullopt;  // MF, offset, reserved bit
    if (load8(ip, ipv4_protocol_offset) != protocol_tcp) return std::nullopt;
    if (checksum::fold(checksum::add(0, ip)) != 0xffff) return std::nullopt;
    s.id = load16(ip, ipv4_id_offset);
    s.dont_fragment = (fragment & ipv4_flag_df) != 0;
    s.transport_offset = s.network_offset + ipv4_min_header_size;
    transport_size = network_size - ipv4_min_header_size;
  } else if (ethertype == ethertype_ipv6) {
    if (network_size < ipv6_header_size) return std::nullopt;
    const auto ip = frame.subspan(s.network_offset, ipv6_header_size);
    if ((load8(ip, 0) >> 4) != 6) return std::nullopt;
    if (load16(ip, ipv6_payload_length_offset) != network_size - ipv6_header_size) return std::nullopt;
    if (load8(ip, ipv6_next_header_offset) != protocol_tcp) return std::nullopt;  // no extension headers
    s.ipv6 = true;
    s.transport_offset = s.network_offset + ipv6_header_size;
    transport_size = network_size - ipv6_header_size;
  } else {
    return std::nullopt;
  }

  // 3. TCP header.
  if (transport_size < tcp_min_header_size) return std::nullopt;
  const auto tcp = frame.subspan(s.transport_offset);
  const std::size_t tcp_size = static_cast<std::size_t>(load8(tcp, tcp_data_offset_offset) >> 4) * 4;
  if (tcp_size < tcp_min_header_size || tcp_size >= transport_size) return std::nullopt;  // and payload > 0
  s.flags = load8(tcp, tcp_flags_offset);
  if ((s.flags & (tcp_flag_fin | tcp_flag_syn | tcp_flag_rst | tcp_flag_urg)) != 0 || (s.flags & tcp_flag_ack) == 0) return std::nullopt;
  s.sequence = load32(tcp, tcp_sequence_offset);
  s.header_size = s.transport_offset + tcp_size;
  s.payload_size = transport_size - tcp_size;
  return s;
}

/// True if the segment's TCP checksum (pseudo-header + header + payload) is valid.
bool tcp_checksum_valid(std::span<const std::byte> frame, const segment_info& s) {
  const auto tcp = frame.subspan(s.transport_offset);
  std::uint64_t sum = checksum::pseudo_header(source_address(frame, s.network_offset, s.ipv6),
                                              destination_address(frame, s.network_offset, s.ipv6), protocol_tcp,
                                              static_cast<std::uint32_t>(tcp.size()));
  sum = checksum::add(sum, tcp);
  return checksum::fold(sum) == 0xffff;
}

}  // namespace

tcp_coalescer::tcp_coalescer(std::size_t max_size) : buffer_(std::min(max_size, max_frame_size)) {}

bool tcp_coalescer::add(std::span<const std::byte> frame) {
  const std::optional<segment_info> s = parse_segment(frame);
  if (!s) return false;
  const std::span<const std::byte> run(buffer_.data(), size_);

  if (size_ == 0) {
    // Start a run. A PSH segment would end it at once: forward it as it is.
    if ((s->flags & tcp_flag_psh) != 0) return false;
    if (frame.size() > buffer_.size()) return false;
    if (!tcp_checksum_valid(frame, *s)) return false;
    std::memcpy(buffer_.data(), frame.data(), frame.size());
    size_ = frame.size();
    network_offset_ = s->network_offset;
    transport_offset_ = s->transport_offset;
    header_size_ = s->header_size;
    segment_size_ = s->payload_size;
    count_ = 1;
    next_sequence_ = s->sequence + static_cast<std::uint32_t>(s->payload_size);
    first_id_ = s->id;
    ipv6_ = s->ipv6;
    closed_ = false;
    push_ = false;
    return true;
  }

  // 1. The run takes more, and this segment has the run's shape.
  if (closed_ || count_ >= max_run_count) return false;
  if (s->ipv6 != ipv6_ || s->network_offset != network_offset_ || s->header_size != header_size_) return false;
  if (s->payload_size > segment_size_) return false;
  const auto same = [&](std::size_t offset, std::size_t length) {
    return std::memcmp(frame.data() + offset, run.data() + offset, length) == 0;
  };

  // 2. Same Ethernet header (with the tag).
  if (!same(0, network_offset_)) return false;

  // 3. Same IP header, but for lengths, id and checksum.
  const std::size_t ip = network_offset_;
  if (ipv6_) {
    // Version, traffic class, flow label; then next header, hop limit, addresses.
    if (!same(ip, ipv6_payload_length_offset)) return false;
    if (!same(ip + ipv6_next_header_offset, ipv6_header_size - ipv6_next_header_offset)) return false;
  } else {
    // Version/IHL and TOS; flags/fragment offset (DF), TTL, protocol; addresses.
    if (!same(ip, ipv4_tos_offset + 1)) return false;
    if (!same(ip + ipv4_fragment_offset, ipv4_checksum_offset - ipv4_fragment_offset)) return false;
    if (!same(ip + ipv4_source_offset, 2 * ipv4_address_size)) return false;
    if (!s->dont_fragment && s->id != static_cast<std::uint16_t>(first_id_ + count_)) return false;
  }

  // 4. Same ports, ack, data offset, flags (but PSH; CWR only on the first),
  //    window and options; the next sequence number.
  const std::size_t tcp = transport_offset_;
  if (!same(tcp, tcp_sequence_offset)) return false;
  if (s->sequence != next_sequence_) return false;
  if (!same(tcp + tcp_ack_offset, tcp_flags_offset - tcp_ack_offset)) return false;
  if ((s->flags & tcp_flag_cwr) != 0) return false;
  if (((s->flags ^ load8(run, tcp + tcp_flags_offset)) & ~(tcp_flag_psh | tcp_flag_cwr)) != 0) return false;
  if (!same(tcp + tcp_window_offset, tcp_checksum_offset - tcp_window_offset)) return false;
  if (!same(tcp + tcp_min_header_size, header_size_ - tcp - tcp_min_header_size)) return false;

  // 5. Room for it: buffer, IP length field.
  const std::size_t new_size = size_ + s->payload_size;
  if (new_size > buffer_.size()) return false;
  if (new_size - ip - (ipv6_ ? ipv6_header_size : 0) > max_ip_length) return false;

  // 6. Its checksum, last (the costly check): corruption is never merged.
  if (!tcp_checksum_valid(frame, *s)) return false;

  // 7. Append the payload.
  std::memcpy(buffer_.data() + size_, frame.data() + s->header_size, s->payload_size);
  size_ = new_size;
  ++count_;
  next_sequence_ += static_cast<std::uint32_t>(s->payload_size);
  if ((s->flags & tcp_flag_psh) != 0) {
    push_ = true;
    closed_ = true;
  }
  if (s->payload_size < segment_size_) closed_ = true;
  return true;
}

packet tcp_coalescer::flush() {
  if (size_ == 0) return packet{};
  const std::span<std::byte> out(buffer_.data(), size_);
  if (count_ == 1) {
    header_ = vnet_header{};
  } else {
    // 1. IP lengths (and a fresh IPv4 header checksum).
    const std::size_t ip = network_offset_;
    const std::size_t tcp_size = size_ - transport_offset_;
    if (ipv6_) {
      store16(out, ip + ipv6_payload_length_offset, static_cast<std::uint16_t>(size_ - ip - ipv6_header_size));
    } else {
      store16(out, ip + ipv4_total_length_offset, static_cast<std::uint16_t>(size_ - ip));
      store16(out, ip + ipv4_checksum_offset, 0);
      store16(out, ip + ipv4_checksum_offset, checksum::finish(checksum::add(0, out.subspan(ip, ipv4_min_header_size))));
    }
    // 2. TCP: PSH from the last segment; the partial checksum, which is the
    //    folded, uncomplemented pseudo-header sum (tcp4_gro_complete).
    const std::size_t tcp = transport_offset_;
    const std::uint8_t flags = load8(out, tcp + tcp_flags_offset);
    if (push_) out[tcp + tcp_flags_offset] = static_cast<std::byte>(flags | tcp_flag_psh);
    store16(out, tcp + tcp_checksum_offset,
            checksum::fold(checksum::pseudo_header(source_address(out, ip, ipv6_), destination_address(out, ip, ipv6_),
                                                   protocol_tcp, static_cast<std::uint32_t>(tcp_size))));
    // 3. The virtio-net header.
    header_.flags = vnet_flag_needs_csum;
    header_.gso_type = static_cast<std::uint8_t>((ipv6_ ? gso_tcpv6 : gso_tcpv4) |
                                                 ((flags & tcp_flag_cwr) != 0 ? gso_ecn : 0));
    header_.hdr_len = static_cast<std::uint16_t>(header_size_);
    header_.gso_size = static_cast<std::uint16_t>(segment_size_);
    header_.csum_start = static_cast<std::uint16_t>(transport_offset_);
    header_.csum_offset = static_cast<std::uint16_t>(tcp_checksum_offset);
  }
  size_ = 0;
  count_ = 0;
  closed_ = false;
  push_ = false;
  return packet{out, header_};
}

}  // namespace l2
