// VXLAN header encoding and checked decoding (RFC 7348). The VNI is the only
// big-endian field; it is packed and unpacked here and nowhere else.
#include "l2/vxlan.hpp"

#include "l2/frame.hpp"

namespace l2 {
namespace {

constexpr std::size_t flags_offset = 0;
constexpr std::size_t vni_offset = 4;  // 3 bytes, big-endian

}  // namespace

std::array<std::byte, vxlan_header_size> vxlan_encode(vni id) {
  std::array<std::byte, vxlan_header_size> header{};  // reserved fields zero
  header[flags_offset] = std::byte{vxlan_flag_i};
  header[vni_offset] = static_cast<std::byte>((id >> 16) & 0xff);
  header[vni_offset + 1] = static_cast<std::byte>((id >> 8) & 0xff);
  header[vni_offset + 2] = static_cast<std::byte>(id & 0xff);
  return header;
}

vxlan_decode_result vxlan_decode(std::span<const std::byte> datagram, vni expected) {
  vxlan_decode_result result;
  // 1. Enough bytes for the VXLAN header: read the VNI so callers can report it.
  if (datagram.size() < vxlan_header_size) {
    result.reason = drop_reason::vxlan_short;
    return result;
  }
  result.id = (std::to_integer<vni>(datagram[vni_offset]) << 16) |
              (std::to_integer<vni>(datagram[vni_offset + 1]) << 8) |
              std::to_integer<vni>(datagram[vni_offset + 2]);
  // 2. Enough bytes for an inner Ethernet header as well.
  if (datagram.size() < vxlan_header_size + ethernet_header_size) {
    result.reason = drop_reason::vxlan_short;
    return result;
  }
  // 3. The I flag; the other flag bits and reserved fields are ignored.
  if ((std::to_integer<std::uint8_t>(datagram[flags_offset]) & vxlan_flag_i) == 0) {
    result.reason = drop_reason::vxlan_bad_flags;
    return result;
  }
  // 4. Our VNI.
  if (result.id != expected) {
    result.reason = drop_reason::vxlan_wrong_vni;
    return result;
  }
  result.ok = true;
  result.inner = datagram.subspan(vxlan_header_size);
  return result;
}

}  // namespace l2
