// offload: frames that carry a virtio-net header, and the software fallback
// for ports that cannot carry one.
//
// TAPs opened with IFF_VNET_HDR (and AF_PACKET sockets with PACKET_VNET_HDR)
// put a 10-byte virtio-net header in front of every frame. With offloads on,
// the kernel hands the switch TCP "super-frames" of up to 64 KB with a
// partial checksum (gso_type TCPV4/TCPV6, flags NEEDS_CSUM), and any port that
// speaks the header accepts them back as they are. A port that cannot carry
// the header (a VXLAN uplink to a foreign peer) needs what the kernel would
// have done: the super-frame cut into MSS-sized segments with correct IPv4
// ids, lengths, sequence numbers, flags and checksums (segment()), or just
// the checksum completed (complete_checksum()).
//
// Nothing here trusts the header: validate() checks every field against the
// frame's actual Ethernet/IP/TCP-or-UDP headers first.
//
// Layout of the header on the wire (little-endian, legacy 10-byte form):
//   byte 0 flags (1 NEEDS_CSUM, 2 DATA_VALID), byte 1 gso_type (0 none,
//   1 TCPV4, 3 UDP (UFO), 4 TCPV6, 5 UDP_L4, | 0x80 ECN), bytes 2-3 hdr_len,
//   4-5 gso_size, 6-7 csum_start, 8-9 csum_offset.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "l2/drop_reason.hpp"

namespace l2 {

inline constexpr std::size_t vnet_header_size = 10;

inline constexpr std::uint8_t vnet_flag_needs_csum = 1;
inline constexpr std::uint8_t vnet_flag_data_valid = 2;

inline constexpr std::uint8_t gso_none = 0;
inline constexpr std::uint8_t gso_tcpv4 = 1;
inline constexpr std::uint8_t gso_udp = 3;  ///< UFO: never produced by current kernels; rejected
inline constexpr std::uint8_t gso_tcpv6 = 4;
inline constexpr std::uint8_t gso_udp_l4 = 5;  ///< USO (VIRTIO_NET_HDR_GSO_UDP_L4)
inline constexpr std::uint8_t gso_ecn = 0x80;

/// The virtio-net header's fields, in host order.
struct vnet_header {
  std::uint8_t flags = 0;         ///< vnet_flag_*
  std::uint8_t gso_type = gso_none;  ///< gso_* (possibly | gso_ecn)
  std::uint16_t hdr_len = 0;      ///< length of the headers to copy into every segment (a hint)
  std::uint16_t gso_size = 0;     ///< payload bytes per segment (MSS)
  std::uint16_t csum_start = 0;   ///< where checksumming starts (the L4 header)
  std::uint16_t csum_offset = 0;  ///< where, after csum_start, the checksum is stored

  /// True when the frame needs nothing done: no GSO, checksum complete.
  bool is_plain() const { return gso_type == gso_none && (flags & vnet_flag_needs_csum) == 0; }
  /// True when the frame is a super-frame to be segmented.
  bool is_gso() const { return (gso_type & ~gso_ecn) != gso_none; }

  friend bool operator==(const vnet_header&, const vnet_header&) = default;
};

/// Reads the 10-byte header (the caller checks `bytes` is at least that long).
vnet_header parse_vnet_header(std::span<const std::byte, vnet_header_size> bytes);

/// Writes the 10-byte header.
void emit_vnet_header(const vnet_header& header, std::span<std::byte, vnet_header_size> out);

/// One frame with its offload metadata, as it moves through the switch.
struct packet {
  std::span<const std::byte> frame;  ///< the Ethernet frame (without the virtio-net header)
  vnet_header offload;               ///< all zero for a plain frame
};

/// Checks `header` against `frame`: a known gso type (TCPV4, TCPV6, UDP_L4,
/// optionally ECN) whose IP version and L4 protocol match the frame's actual
/// headers (one 802.1Q tag allowed), gso_size >= 8, NEEDS_CSUM set with
/// csum_start at the L4 header and csum_offset at its checksum field, and all
/// of it inside the frame; or for a non-GSO frame with NEEDS_CSUM, csum_start +
/// csum_offset + 2 <= frame size. Returns true when usable.
///
/// In detail, for a GSO frame: Ethernet, at most one 802.1Q tag, then IPv4
/// (version 4, IHL >= 5, not a fragment) or IPv6 without extension headers,
/// then TCP (data offset >= 5) or UDP, every header inside the IP datagram;
/// the IP length matches the frame, which may be longer only by Ethernet
/// padding (frames up to 60 bytes, 64 tagged); the payload is not empty; and
/// gso_size >= 8 (a smaller MSS is nonsense; the floor bounds the segment
/// count, see segment_buffer_size()). The UDP length field is not checked: it
/// is rewritten per segment from the IP length. hdr_len is only a hint and is
/// never used, but a hdr_len larger than the frame is rejected (as the kernel
/// does). A plain header (is_plain()) is always valid; UFO (gso_udp), unknown
/// types and gso_ecn without a type are not.
bool validate(const vnet_header& header, std::span<const std::byte> frame);

/// Completes the partial checksum of a NEEDS_CSUM frame in place: the
/// ones'-complement sum from csum_start to the end of the frame (the field
/// holds the pseudo-header sum, as the kernel leaves it) is folded and stored
/// at csum_start + csum_offset. Returns false (and changes nothing) if the
/// header does not fit the frame. A UDP checksum that comes out 0 is stored
/// as 0xffff (as the kernel's skb_checksum_help, this is done for any
/// protocol: 0 and 0xffff are the same ones'-complement value, so a TCP
/// checksum stays valid). A header without NEEDS_CSUM has nothing to
/// complete: returns true and changes nothing. The frame's protocols are not
/// parsed: call validate() first to know the header describes the frame.
bool complete_checksum(std::span<std::byte> frame, const vnet_header& header);

/// Where segment() put its output.
struct segment_result {
  bool ok = false;                  ///< false: the header or frame was unusable
  drop_reason reason = drop_reason::bad_vnet_header;  ///< when !ok
  std::size_t count = 0;            ///< number of segments written
  std::size_t stride = 0;           ///< distance from one segment's start to the next
  std::size_t total_size = 0;       ///< bytes of `out` used
  explicit operator bool() const { return ok; }
};

/// Bytes of `out` that segment() needs at most for `frame` with `headroom`,
/// for any header validate() accepts: at most ceil(min(frame_size, 65535) / 8)
/// segments (gso_size >= 8), each with `headroom` and a copy of the headers
/// (at most 138 bytes: tagged Ethernet, IPv4 and TCP with 40 bytes of options
/// each), plus the payload. For max_frame_size and a headroom of 8 that is
/// about 1.2 MB. Saturates at SIZE_MAX instead of overflowing.
std::size_t segment_buffer_size(std::size_t frame_size, std::size_t headroom);

/// The size of the largest frame segment() would cut `frame` into: the
/// headers plus min(gso_size, payload) for a GSO super-frame; the frame's own
/// size otherwise, or if the header does not fit it (validate() rejects those).
std::size_t largest_segment_size(std::span<const std::byte> frame, const vnet_header& header);

/// Cuts a GSO super-frame (TCPV4, TCPV6 or UDP_L4) into wire-ready frames, as
/// the kernel's software GSO would: every segment gets a copy of the Ethernet
/// (and VLAN), IP and TCP/UDP headers; IPv4 total length, id (incremented per
/// segment) and header checksum; IPv6 payload length; TCP sequence numbers
/// advanced by gso_size, FIN and PSH only on the last segment, CWR only on the
/// first; UDP length; and every L4 checksum computed in full. A non-GSO frame
/// with NEEDS_CSUM comes out as one segment with its checksum completed; a
/// plain frame as one copy.
///
/// Segment i starts at out[i * stride + headroom] (the caller may write its own
/// encapsulation header into the `headroom` bytes before it) and is
/// stride - headroom bytes long, except the last, which ends at total_size.
/// So the whole output is what UDP_SEGMENT with gso_size = stride wants (mind
/// that the kernel caps one UDP_SEGMENT send at 64 segments; a tiny gso_size
/// can produce more). With one segment, stride == total_size. Headroom bytes
/// are never written. A super-frame's Ethernet padding is not copied.
/// Fails (ok == false, reason bad_vnet_header) if validate() fails or the
/// segments do not fit in `out`; the exact size needed is checked before
/// anything is written, so on failure `out` is unchanged. `out` of
/// segment_buffer_size(frame.size(), headroom) bytes always fits.
segment_result segment(std::span<const std::byte> frame, const vnet_header& header,
                       std::size_t headroom, std::span<std::byte> out);

}  // namespace l2
