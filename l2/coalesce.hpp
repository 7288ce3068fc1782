// coalesce: userspace GRO. Frames that arrive as a run of MSS-sized TCP
// segments of one flow (from a VXLAN uplink, after the sender segmented them)
// are merged back into one super-frame with a virtio-net GSO header, so a TAP
// or AF_PACKET port with offloads takes the whole run in one write, as the
// kernel's GRO would do for a NIC.
//
// Merging follows the kernel's rules (net/ipv4/tcp_offload.c tcp_gro_receive):
// same Ethernet header (and VLAN tag), same IP addresses, protocol and ports;
// IPv4 without options or fragmentation and with a valid header checksum;
// IPv6 without extension headers; same TCP options, ack, window and flags, only
// ACK (and PSH, which ends the run) set; sequence number exactly the next one
// expected; payload size equal to the first segment's (a shorter one ends the
// run); the run stays under max_size bytes and 64 segments. Each segment's TCP
// checksum is verified before it is merged: corruption is never laundered into
// a frame the receiver trusts (a segment with a bad checksum is not merged and
// is passed on as it is, for the receiver to drop).
//
// The result: the first segment's headers with IPv4 total length / IPv6
// payload length for the whole run and a fresh IPv4 header checksum; the TCP
// checksum field holds the pseudo-header sum (as the kernel leaves a partial
// checksum); and the header: gso_type TCPV4/TCPV6 (| ECN if the first segment
// had CWR; see below), gso_size = the first segment's payload size, hdr_len = the
// header length, flags NEEDS_CSUM, csum_start/csum_offset at the TCP checksum.
// A run of one segment is passed on unchanged (plain header).
//
// Details, as the kernel does them (tcp_gro_receive, tcp_gro_complete,
// tcp4/tcp6_gro_complete, inet_gro_receive, ipv6_gro_receive):
// - The TCP checksum field of a super-frame holds the folded pseudo-header
//   sum for the merged TCP length, NOT complemented: tcp4_gro_complete stores
//   `th->check = ~tcp_v4_check(len, saddr, daddr, 0)`, and tcp_v4_check()
//   returns csum_fold() = ~fold(pseudo), so the field is fold(pseudo) (same in
//   tcp6_gro_complete). Completing it is: ones'-complement sum from
//   csum_start to the end of the frame, fold, complement, store.
// - ECN: gso_type gets gso_ecn when the first segment has CWR (tcp_gro_complete
//   tests th->cwr only; ECE is an ordinary flag that must match in every
//   segment). CWR is allowed on the first segment only (a later segment with
//   CWR is refused, as the kernel flushes on it).
// - PSH on the segment that ends the run is set in the super-frame's TCP
//   header (the kernel ORs FIN|PSH into the held header), so that
//   resegmenting puts it back on the last segment.
// - FIN, SYN, RST and URG segments are refused (the kernel would append a FIN
//   segment as the last of a run; here it is simply forwarded on its own).
//   ACK must be set. A PSH segment with no run pending is refused: it could
//   only ever be a run of one.
// - IPv4: total length and IPv6 payload length must match the frame exactly
//   (no Ethernet padding); TOS, TTL and the DF bit must match the first
//   segment's (IPv6: version, traffic class, flow label, hop limit); without
//   DF the id must be the first segment's plus the segment's index (with DF
//   the id of an atomic datagram carries no meaning, RFC 6864, and is
//   ignored). Segments without payload are refused. A larger payload than the
//   first segment's is refused.
// - Super-frames are at most min(max_size, max_frame_size) bytes, and their IP
//   length fields always fit 16 bits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "l2/offload.hpp"

namespace l2 {

class tcp_coalescer {
 public:
  /// A coalescer whose super-frames are at most `max_size` bytes. Allocates
  /// its buffer here, once.
  explicit tcp_coalescer(std::size_t max_size = 65535);

  /// Offers one plain frame (no virtio-net header, checksums complete).
  /// Returns true if the frame was taken (it started a run or extended the
  /// current one; the bytes were copied). Returns false if it cannot join the
  /// current run: the caller then calls flush(), forwards that, and offers
  /// the frame again (a frame that can never be merged, e.g. not TCP, is
  /// refused even with no run pending: forward it as it is).
  bool add(std::span<const std::byte> frame);

  /// True if a run is pending.
  bool pending() const { return size_ != 0; }

  /// The pending run as one packet (valid until the next add()), and resets.
  /// Only call when pending().
  packet flush();

 private:
  std::vector<std::byte> buffer_;  ///< the run being built
  std::size_t size_ = 0;           ///< bytes of buffer_ in use
  vnet_header header_{};           ///< header of the run
  std::size_t network_offset_ = 0;    ///< IP header offset in the run (14, or 18 with a tag)
  std::size_t transport_offset_ = 0;  ///< TCP header offset in the run
  std::size_t header_size_ = 0;       ///< Ethernet + IP + TCP header bytes of the run
  std::size_t segment_size_ = 0;      ///< payload bytes of the first segment (the MSS)
  std::size_t count_ = 0;             ///< segments in the run
  std::uint32_t next_sequence_ = 0;   ///< sequence number the next segment must carry
  std::uint16_t first_id_ = 0;        ///< IPv4 id of the first segment
  bool ipv6_ = false;                 ///< the run is TCP over IPv6
  bool closed_ = false;               ///< PSH or a short segment ended the run
  bool push_ = false;                 ///< the last segment had PSH
};

}  // namespace l2
