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
// had CWR or ECE), gso_size = the first segment's payload size, hdr_len = the
// header length, flags NEEDS_CSUM, csum_start/csum_offset at the TCP checksum.
// A run of one segment is passed on unchanged (plain header).
#pragma once

#include <cstddef>
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
  // (the implementation adds what it needs: offsets, expected sequence, count, ...)
};

}  // namespace l2
