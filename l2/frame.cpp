// Ethernet frame parsing and emitting. frame_view::parse is the only place
// that checks lengths; every accessor below relies on the invariant it
// establishes (at least a full header, and a full tag when the TPID says there
// is one) and reads at fixed offsets, through l2/byte_order.hpp.
#include "l2/frame.hpp"

#include "l2/byte_order.hpp"
#include "l2/ip_fields.hpp"

namespace l2 {
namespace {

// Offsets inside an 802.1Q-tagged header.
constexpr std::size_t tag_control_offset = ethernet_type_offset + 2;   // TCI
constexpr std::size_t tagged_type_offset = ethernet_type_offset + vlan_tag_size;

// TCI layout: PCP (3 bits) | DEI (1 bit) | VID (12 bits).
constexpr unsigned pcp_shift = 13;
constexpr unsigned dei_bit = 1u << 12;
constexpr unsigned vid_mask = 0x0fff;

void write_mac(std::span<std::byte> out, std::size_t offset, const mac_address& mac) {
  for (std::size_t i = 0; i < mac_address::size; ++i) {
    out[offset + i] = static_cast<std::byte>(mac.octets()[i]);
  }
}

}  // namespace

std::size_t emit(const frame_header& header, std::span<std::byte> out) {
  const std::size_t header_size = header.size();
  if (out.size() < header_size) return 0;
  write_mac(out, ethernet_destination_offset, header.destination);
  write_mac(out, ethernet_source_offset, header.source);
  if (header.tag) {
    // Fields wider than the wire allows are truncated to their bit width.
    const unsigned tci = ((header.tag->pcp & 0x7u) << pcp_shift) |
                         (header.tag->dei ? dei_bit : 0u) | (header.tag->vid & vid_mask);
    byte_order::store16(out, ethernet_type_offset, ethertype_vlan);
    byte_order::store16(out, tag_control_offset, static_cast<std::uint16_t>(tci));
    byte_order::store16(out, tagged_type_offset, header.ethertype);
  } else {
    byte_order::store16(out, ethernet_type_offset, header.ethertype);
  }
  return header_size;
}

frame_parse_result frame_view::parse(std::span<const std::byte> bytes) {
  frame_parse_result result;
  if (bytes.size() < ethernet_header_size) {
    result.reason = drop_reason::runt;
    return result;
  }
  if (bytes.size() > max_frame_size) {
    result.reason = drop_reason::giant;
    return result;
  }
  if (byte_order::load16(bytes, ethernet_type_offset) == ethertype_vlan) {
    // The tag, and a second one behind it if it says so (what popping the
    // first leaves must be a frame too).
    const std::size_t tagged = ethernet_header_size + vlan_tag_size;
    if (bytes.size() < tagged ||
        (byte_order::load16(bytes, ethernet_type_offset + vlan_tag_size) == ethertype_vlan &&
         bytes.size() < tagged + vlan_tag_size)) {
      result.reason = drop_reason::truncated_tag;
      return result;
    }
  }
  result.frame = frame_view(bytes);
  return result;
}

bool frame_view::tagged() const { return byte_order::load16(bytes_, ethernet_type_offset) == ethertype_vlan; }

mac_address frame_view::destination() const {
  return mac_address::from_bytes(bytes_.subspan<ethernet_destination_offset, mac_address::size>());
}

mac_address frame_view::source() const {
  return mac_address::from_bytes(bytes_.subspan<ethernet_source_offset, mac_address::size>());
}

std::optional<vlan_tag> frame_view::tag() const {
  if (!tagged()) return std::nullopt;
  const unsigned tci = byte_order::load16(bytes_, tag_control_offset);
  vlan_tag tag;
  tag.pcp = static_cast<std::uint8_t>(tci >> pcp_shift);
  tag.dei = (tci & dei_bit) != 0;
  tag.vid = static_cast<vlan_id>(tci & vid_mask);
  return tag;
}

std::uint16_t frame_view::ethertype() const {
  return byte_order::load16(bytes_, tagged() ? tagged_type_offset : ethernet_type_offset);
}

frame_header frame_view::header() const {
  frame_header header;
  header.destination = destination();
  header.source = source();
  header.tag = tag();
  header.ethertype = ethertype();
  return header;
}

std::span<const std::byte> frame_view::payload() const {
  return bytes_.subspan(tagged() ? ethernet_header_size + vlan_tag_size : ethernet_header_size);
}

namespace {

/// XOR of `size` bytes at `a` and at `b`, folded 4 bytes at a time: the same
/// with a and b swapped, so both directions of a flow hash alike.
std::uint32_t fold_pair(std::span<const std::byte> bytes, std::size_t a, std::size_t b,
                        std::size_t size) {
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < size; ++i) {
    const auto x = std::to_integer<std::uint32_t>(bytes[a + i] ^ bytes[b + i]);
    value ^= x << (8 * (i % 4));
  }
  return value;
}

}  // namespace

std::uint32_t flow_hash(const frame_view& frame) {
  namespace ip = ip_fields;
  const std::span<const std::byte> l3 = frame.payload();
  std::uint32_t key = 0;
  std::uint8_t protocol = 0;
  std::size_t l4 = 0;  // offset of the ports in l3, 0: none
  if (frame.ethertype() == ip::ethertype_ipv4 && l3.size() >= ip::ipv4_min_header_size &&
      (byte_order::load8(l3, 0) >> 4) == 4) {
    key = fold_pair(l3, ip::ipv4_source_offset, ip::ipv4_source_offset + ip::ipv4_address_size,
                    ip::ipv4_address_size);
    protocol = byte_order::load8(l3, ip::ipv4_protocol_offset);
    // Every fragment of a datagram hashes alike: by addresses only.
    const bool fragment = (byte_order::load16(l3, ip::ipv4_fragment_offset) &
                           (ip::ipv4_more_fragments | ip::ipv4_fragment_offset_mask)) != 0;
    if (!fragment) l4 = std::size_t{byte_order::load8(l3, 0) & 0x0fu} * 4;
  } else if (frame.ethertype() == ip::ethertype_ipv6 && l3.size() >= ip::ipv6_header_size) {
    key = fold_pair(l3, ip::ipv6_source_offset, ip::ipv6_source_offset + ip::ipv6_address_size,
                    ip::ipv6_address_size);
    protocol = byte_order::load8(l3, ip::ipv6_next_header_offset);
    l4 = ip::ipv6_header_size;
  } else {
    const std::span<const std::byte> bytes = frame.bytes();
    key = fold_pair(bytes, ethernet_destination_offset, ethernet_source_offset, mac_address::size);
  }
  if ((protocol == ip::protocol_tcp || protocol == ip::protocol_udp) && l4 != 0 &&
      l3.size() >= l4 + 4) {
    key ^= std::uint32_t{protocol} << 24;
    key ^= byte_order::load16(l3, l4) ^ byte_order::load16(l3, l4 + 2);
  }
  const std::uint32_t mixed = key * 0x9e3779b1u;  // Fibonacci hashing: good high bits,
  return mixed ^ (mixed >> 16);                   // folded into the low ones for a modulo
}

}  // namespace l2
