// tcp_mss: MSS clamping for TCP connections that cross a tunnel.
//
// An uplink carries inner frames up to some size (the underlay MTU less the
// encapsulation). A TCP connection between two hosts on the overlay would
// otherwise negotiate an MSS from their own 1500-byte links and rely on path
// MTU discovery, which fails across a tunnel that never fragments and sends
// no ICMP. Rewriting the MSS option of SYN and SYN-ACK segments as they cross
// the uplink (as iptables' TCPMSS --clamp-mss-to-pmtu does on a router) makes
// both ends send segments that fit.
//
// The frame is untrusted: every header is bounds-checked against the span,
// and the TCP option walk stops at the first thing it does not understand.
#pragma once

#include <cstddef>
#include <span>

namespace l2 {

/// If `frame` (Ethernet, optionally one 802.1Q tag, IPv4 [any IHL] or IPv6
/// [TCP directly after the fixed header], TCP, not a fragment) is a TCP
/// segment with SYN set whose MSS option exceeds the limit for inner frames of
/// at most `max_frame_size` bytes (limit = max_frame_size - L2 header (14 or
/// 18) - 40 for IPv4 / 60 for IPv6, as iptables TCPMSS --clamp-mss-to-pmtu),
/// rewrites the MSS to the limit and updates the TCP checksum incrementally
/// (RFC 1624) — unless `checksum_partial` (a virtio NEEDS_CSUM frame whose
/// checksum field holds only the pseudo-header sum): then the checksum field
/// is left alone. Only the first MSS option counts (as the kernel's TCPMSS);
/// a frame without one is left alone, and so is one whose limit would be
/// below 1 (max_frame_size too small for the headers). The TCP header must lie
/// inside the IP datagram (IPv4 total length, IPv6 payload length) and the
/// frame. Walks TCP options safely (EOL, a bad length or an MSS option whose
/// length is not 4 stops the walk). Returns true when it changed the frame.
/// Never reads or writes outside the span.
bool clamp_mss(std::span<std::byte> frame, std::size_t max_frame_size, bool checksum_partial);

/// Whether clamp_mss() would change `frame`: a cheap read-only check, so that
/// only the SYNs that need it are copied and rewritten.
bool needs_mss_clamp(std::span<const std::byte> frame, std::size_t max_frame_size);

}  // namespace l2
