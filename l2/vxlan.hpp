// VXLAN (RFC 7348) encapsulation header: 8 bytes in front of the inner
// Ethernet frame in a UDP datagram (destination port 4789 by default).
//
//   byte 0     flags: 0x08 (I: VNI valid); other bits reserved
//   bytes 1-3  reserved
//   bytes 4-6  VNI, 24 bits, big-endian
//   byte 7     reserved
//
// Encoding writes reserved fields as zero; decoding ignores them (as the RFC
// asks) but requires the I flag and our VNI.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "l2/drop_reason.hpp"

namespace l2 {

/// VXLAN network identifier (24 bits).
using vni = std::uint32_t;

inline constexpr vni max_vni = 0xffffff;
inline constexpr std::size_t vxlan_header_size = 8;
inline constexpr std::uint16_t vxlan_default_port = 4789;
inline constexpr std::uint8_t vxlan_flag_i = 0x08;

/// The 8-byte header for `id` (only its low 24 bits are used).
std::array<std::byte, vxlan_header_size> vxlan_encode(vni id);

/// Result of decoding one datagram.
struct vxlan_decode_result {
  bool ok = false;                   ///< the datagram is ours and carries a frame
  drop_reason reason = drop_reason::vxlan_short;  ///< why not, when !ok
  vni id = 0;                        ///< VNI found (set whenever the 8-byte header was present)
  std::span<const std::byte> inner;  ///< the inner Ethernet frame, when ok

  explicit operator bool() const { return ok; }
};

/// Checks a UDP payload: at least header + Ethernet header (else vxlan_short),
/// I flag set (else vxlan_bad_flags), VNI == `expected` (else vxlan_wrong_vni).
vxlan_decode_result vxlan_decode(std::span<const std::byte> datagram, vni expected);

}  // namespace l2
