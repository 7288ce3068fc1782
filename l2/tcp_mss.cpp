// tcp_mss: find the MSS option of a SYN, lower it, patch the checksum
// (see tcp_mss.hpp).
#include "l2/tcp_mss.hpp"

#include <cstdint>
#include <optional>

#include "l2/byte_order.hpp"
#include "l2/checksum.hpp"
#include "l2/frame.hpp"
#include "l2/ip_fields.hpp"

namespace l2 {
namespace {

using namespace ip_fields;

/// IPv4 and TCP headers without options, as TCPMSS --clamp-mss-to-pmtu subtracts.
constexpr std::size_t ipv4_mss_overhead = 40;
/// IPv6 and TCP headers without options.
constexpr std::size_t ipv6_mss_overhead = 60;

using namespace byte_order;

/// Where the TCP header is, and the MSS limit for this frame's headers.
struct tcp_location {
  std::size_t l4 = 0;      ///< offset of the TCP header
  std::size_t l4_end = 0;  ///< end of the IP datagram (<= frame size)
  std::size_t overhead = 0;  ///< L2 header + IP + TCP without options
};

/// Finds the TCP header of an unfragmented IPv4 or IPv6 TCP frame.
bool locate_tcp(std::span<const std::byte> frame, tcp_location& out) {
  // 1. Ethernet and the optional tag.
  if (frame.size() < ethernet_header_size) return false;
  std::size_t l3 = ethernet_header_size;
  std::uint16_t ethertype = load16(frame, ethernet_type_offset);
  if (ethertype == ethertype_vlan) {
    if (frame.size() < ethernet_header_size + vlan_tag_size) return false;
    ethertype = load16(frame, ethernet_type_offset + vlan_tag_size);
    l3 += vlan_tag_size;
  }
  const std::size_t rest = frame.size() - l3;

  // 2. IP: TCP, not a fragment, its length inside the frame.
  if (ethertype == ethertype_ipv4) {
    if (rest < ipv4_min_header_size) return false;
    const unsigned version_ihl = load8(frame, l3);
    const std::size_t header_size = (version_ihl & 0x0f) * 4u;
    if ((version_ihl >> 4) != 4 || header_size < ipv4_min_header_size) return false;
    const std::size_t total_length = load16(frame, l3 + ipv4_total_length_offset);
    if (total_length < header_size || total_length > rest) return false;
    if ((load16(frame, l3 + ipv4_fragment_offset) & (ipv4_more_fragments | ipv4_fragment_offset_mask)) != 0)
      return false;
    if (load8(frame, l3 + ipv4_protocol_offset) != protocol_tcp) return false;
    out.l4 = l3 + header_size;
    out.l4_end = l3 + total_length;
    out.overhead = l3 + ipv4_mss_overhead;
  } else if (ethertype == ethertype_ipv6) {
    if (rest < ipv6_header_size || (load8(frame, l3) >> 4) != 6) return false;
    const std::size_t payload_length = load16(frame, l3 + ipv6_payload_length_offset);
    if (payload_length > rest - ipv6_header_size) return false;
    if (load8(frame, l3 + ipv6_next_header_offset) != protocol_tcp) return false;
    out.l4 = l3 + ipv6_header_size;
    out.l4_end = out.l4 + payload_length;
    out.overhead = l3 + ipv6_mss_overhead;
  } else {
    return false;
  }
  // 3. The fixed TCP header inside the datagram (its options are checked by the caller).
  return out.l4_end - out.l4 >= tcp_min_header_size;
}

/// Offset (in the frame) of the first MSS option's value, or 0 if the
/// options of the TCP header at [l4, options_end) have none.
std::size_t find_mss(std::span<const std::byte> frame, std::size_t l4, std::size_t options_end) {
  std::size_t at = l4 + tcp_min_header_size;
  while (at < options_end) {
    const std::uint8_t kind = load8(frame, at);
    if (kind == tcp_option_eol) return 0;
    if (kind == tcp_option_nop) {
      ++at;
      continue;
    }
    if (options_end - at < 2) return 0;  // no room for the length
    const std::size_t length = load8(frame, at + 1);
    if (length < 2 || length > options_end - at) return 0;  // malformed: stop
    if (kind == tcp_option_mss) return length == tcp_option_mss_size ? at + 2 : 0;
    at += length;
  }
  return 0;
}

/// Where a frame's MSS needs clamping, and to what.
struct mss_site {
  std::size_t l4 = 0;        ///< offset of the TCP header
  std::size_t value_at = 0;  ///< offset of the MSS option's value
  std::uint16_t old_mss = 0;
  std::uint16_t new_mss = 0;
};

/// The MSS option of a TCP SYN in `frame` that exceeds the limit for
/// `max_frame_size`, or nothing. Reads only.
std::optional<mss_site> find_site(std::span<const std::byte> frame, std::size_t max_frame_size) {
  // 1. A TCP SYN with its header and options inside the datagram.
  tcp_location where;
  if (!locate_tcp(frame, where)) return std::nullopt;
  if ((load8(frame, where.l4 + tcp_flags_offset) & tcp_flag_syn) == 0) return std::nullopt;
  const std::size_t tcp_header_size = (load8(frame, where.l4 + tcp_data_offset_offset) >> 4) * 4u;
  if (tcp_header_size < tcp_min_header_size || tcp_header_size > where.l4_end - where.l4) {
    return std::nullopt;
  }

  // 2. The limit for this frame's headers.
  if (max_frame_size <= where.overhead) return std::nullopt;
  const std::size_t limit = max_frame_size - where.overhead;

  // 3. The MSS option, if larger than the limit.
  const std::size_t value_at = find_mss(frame, where.l4, where.l4 + tcp_header_size);
  if (value_at == 0) return std::nullopt;
  const std::uint16_t old_mss = load16(frame, value_at);
  if (old_mss <= limit) return std::nullopt;
  return mss_site{where.l4, value_at, old_mss, static_cast<std::uint16_t>(limit)};  // < old_mss
}

}  // namespace

bool needs_mss_clamp(std::span<const std::byte> frame, std::size_t max_frame_size) {
  return find_site(frame, max_frame_size).has_value();
}

bool clamp_mss(std::span<std::byte> frame, std::size_t max_frame_size, bool checksum_partial) {
  const std::optional<mss_site> site = find_site(frame, max_frame_size);
  if (!site) return false;
  const std::size_t value_at = site->value_at;
  const std::uint16_t old_mss = site->old_mss;
  const std::uint16_t new_mss = site->new_mss;
  store16(frame, value_at, new_mss);

  // 4. The checksum, incrementally (RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m')).
  //    A value at an odd offset of the TCP header straddles two 16-bit words:
  //    in the ones'-complement sum it counts byte-swapped.
  if (!checksum_partial) {
    const bool odd = ((value_at - site->l4) % 2) != 0;
    const auto swap = [](std::uint16_t v) { return static_cast<std::uint16_t>((v << 8) | (v >> 8)); };
    const std::uint16_t m = odd ? swap(old_mss) : old_mss;
    const std::uint16_t m_new = odd ? swap(new_mss) : new_mss;
    const std::size_t checksum_at = site->l4 + tcp_checksum_offset;
    const std::uint16_t old_checksum = load16(frame, checksum_at);
    std::uint64_t sum = static_cast<std::uint16_t>(~old_checksum);
    sum = checksum::add16(sum, static_cast<std::uint16_t>(~m));
    sum = checksum::add16(sum, m_new);
    store16(frame, checksum_at, checksum::finish(sum));
  }
  return true;
}

}  // namespace l2
