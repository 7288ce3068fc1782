// Why a frame or datagram was dropped. One enum for the whole switch so that
// every port and the forwarding core count drops the same way: an array of
// counters indexed by drop_reason, and a stable name for each reason that
// appears in logs and counters output.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace l2 {

enum class drop_reason : std::uint8_t {
  // Frame parsing (l2::frame_view::parse).
  runt,              ///< shorter than an Ethernet header
  giant,             ///< longer than max_frame_size
  truncated_tag,     ///< 802.1Q TPID present but the tag/ethertype is cut off
  // Forwarding decision (l2::forwarder::decide).
  multicast_source,  ///< source MAC has the group bit set
  link_local,        ///< destination is 01:80:c2:00:00:0x (never forwarded)
  reflection,        ///< known unicast whose port is the ingress port
  split_horizon,     ///< known unicast from an uplink to another uplink
  port_down,         ///< ingress or the unicast egress port is down
  vlan_not_allowed,  ///< VLAN not allowed on the port (VLAN policy)
  no_egress,         ///< flood set empty: no other port to send to
  // Offloads (l2::offload): a virtio-net header that does not fit its frame.
  bad_vnet_header,   ///< unknown gso type, gso_size 0, csum/hdr fields outside the frame, ...
  // Egress (ports).
  tx_queue_full,     ///< output would block (EAGAIN/ENOBUFS): dropped, never queued
  tx_error,          ///< the port's write failed for another reason
  // UDP/VXLAN uplinks.
  not_peer,          ///< datagram from an address that is not a configured peer
  vxlan_short,       ///< shorter than VXLAN header + Ethernet header
  vxlan_bad_flags,   ///< VXLAN I flag clear
  vxlan_wrong_vni,   ///< VNI is not ours
  too_big,           ///< frame larger than the uplink's inner MTU (never fragmented)
  // Sealed (encrypted, authenticated) uplinks: ports/sealed.hpp.
  sealed_short,      ///< shorter than its message type needs
  sealed_bad_version,///< version byte is not ours (e.g. plain VXLAN on a sealed overlay), or an unknown type
  sealed_unknown_key,///< names a session we do not have (ended, or never made)
  sealed_forged,     ///< authentication failed: tampered, truncated or a wrong key
  sealed_replayed,   ///< counter already seen or behind the replay window; an initiation not newer than the last
  sealed_stale,      ///< from a session past its age, or an answer to a handshake we no longer wait for
  sealed_incomplete, ///< an offload message whose fragments did not all arrive
  sealed_no_session, ///< a frame for a peer with no working session yet (the handshake is under way)
  handshake_limited, ///< an initiation over the rate a peer (or the whole daemon) is answered at
  rx_queue_full,     ///< a sealed datagram a worker could not pass to the main thread (its queue was full)
  // Storm control (port options bcast-limit, mcast-limit, unknown-limit).
  storm_broadcast,   ///< broadcast over the ingress port's limit
  storm_multicast,   ///< multicast over the ingress port's limit
  storm_unknown,     ///< unknown unicast over the ingress port's limit
};

/// Number of drop reasons (size of a counter array indexed by drop_reason).
inline constexpr std::size_t drop_reason_count =
    static_cast<std::size_t>(drop_reason::storm_unknown) + 1;

/// Stable snake_case name of a reason, e.g. "multicast_source".
std::string_view to_string(drop_reason reason);

/// One counter per drop reason.
struct drop_counters {
  std::array<std::uint64_t, drop_reason_count> by_reason{};  ///< indexed by reason

  /// Adds one drop for `reason`.
  void count(drop_reason reason) { ++by_reason[static_cast<std::size_t>(reason)]; }
  /// Drops counted for `reason`.
  std::uint64_t operator[](drop_reason reason) const {
    return by_reason[static_cast<std::size_t>(reason)];
  }
  /// Sum over all reasons.
  std::uint64_t total() const;
};

}  // namespace l2
