// Names and counters for drop_reason. The names are part of the daemon's
// observable output (logs, counters on the control socket), so they are
// spelled exactly like the enumerators and must not change.
#include "l2/drop_reason.hpp"

namespace l2 {

std::string_view to_string(drop_reason reason) {
  switch (reason) {
    case drop_reason::runt: return "runt";
    case drop_reason::giant: return "giant";
    case drop_reason::truncated_tag: return "truncated_tag";
    case drop_reason::multicast_source: return "multicast_source";
    case drop_reason::link_local: return "link_local";
    case drop_reason::reflection: return "reflection";
    case drop_reason::split_horizon: return "split_horizon";
    case drop_reason::port_down: return "port_down";
    case drop_reason::vlan_not_allowed: return "vlan_not_allowed";
    case drop_reason::no_egress: return "no_egress";
    case drop_reason::bad_vnet_header: return "bad_vnet_header";
    case drop_reason::tx_queue_full: return "tx_queue_full";
    case drop_reason::tx_error: return "tx_error";
    case drop_reason::not_peer: return "not_peer";
    case drop_reason::vxlan_short: return "vxlan_short";
    case drop_reason::vxlan_bad_flags: return "vxlan_bad_flags";
    case drop_reason::vxlan_wrong_vni: return "vxlan_wrong_vni";
    case drop_reason::too_big: return "too_big";
    case drop_reason::sealed_short: return "sealed_short";
    case drop_reason::sealed_bad_version: return "sealed_bad_version";
    case drop_reason::sealed_unknown_key: return "sealed_unknown_key";
    case drop_reason::sealed_forged: return "sealed_forged";
    case drop_reason::sealed_replayed: return "sealed_replayed";
    case drop_reason::sealed_stale: return "sealed_stale";
    case drop_reason::sealed_incomplete: return "sealed_incomplete";
    case drop_reason::sealed_no_session: return "sealed_no_session";
    case drop_reason::handshake_limited: return "handshake_limited";
    case drop_reason::rx_queue_full: return "rx_queue_full";
    case drop_reason::storm_broadcast: return "storm_broadcast";
    case drop_reason::storm_multicast: return "storm_multicast";
    case drop_reason::storm_unknown: return "storm_unknown";
  }
  // Not an enumerator (a value cast from an integer): never crash on it.
  return "unknown";
}

std::uint64_t drop_counters::total() const {
  std::uint64_t sum = 0;
  for (std::uint64_t n : by_reason) sum += n;
  return sum;
}

}  // namespace l2
