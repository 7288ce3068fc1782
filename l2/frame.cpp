// Ethernet frame parsing and emitting. frame_view::parse is the only place
// that checks lengths; every accessor below relies on the invariant it
// establishes (at least a full header, and a full tag when the TPID says there
// is one) and reads at fixed offsets, through l2/byte_order.hpp.
#include "l2/frame.hpp"

#include "l2/byte_order.hpp"

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

}  // namespace l2
