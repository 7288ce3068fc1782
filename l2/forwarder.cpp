// forwarder: the per-frame pipeline of DESIGN.md "Life of a frame", steps 2-5,
// as one function with no I/O and no allocation. The port sets are fixed-size
// bitmaps, so a flood set is computed with a few word operations.
#include "l2/forwarder.hpp"

#include <stdexcept>

namespace l2 {

forwarder::forwarder(std::size_t table_capacity, std::chrono::nanoseconds aging)
    : table_(table_capacity, aging), modes_(max_ports), members_(4096) {}

void forwarder::add_port(port_id port, port_role role, const vlan_mode& mode) {
  if (port >= max_ports) throw std::out_of_range("l2::forwarder::add_port: port id >= max_ports");
  modes_[port] = mode;
  for (std::size_t v = 0; v < members_.size(); ++v) {
    if (mode.carries(static_cast<vlan_id>(v))) {
      members_[v].insert(port);
    } else {
      members_[v].erase(port);
    }
  }
  // A new port starts up; re-adding a known port changes only its role.
  if (!ports_.contains(port)) {
    ports_.insert(port);
    up_.insert(port);
  }
  if (role == port_role::local) {
    locals_.insert(port);
    uplinks_.erase(port);
  } else {
    uplinks_.insert(port);
    locals_.erase(port);
  }
  if (role == port_role::learned_uplink) {
    unicast_only_.insert(port);
  } else {
    unicast_only_.erase(port);
  }
}

void forwarder::remove_port(port_id port) {
  if (port >= max_ports) return;
  ports_.erase(port);
  up_.erase(port);
  uplinks_.erase(port);
  locals_.erase(port);
  unicast_only_.erase(port);
  for (port_set& members : members_) members.erase(port);
  modes_[port] = vlan_mode::transparent();
  set_storm_limits(port, {});
  table_.forget_port(port);  // static entries too: the id may be reused
}

void forwarder::set_port_up(port_id port, bool up) {
  if (!ports_.contains(port)) return;  // unknown ports stay unknown (and down)
  if (up) {
    up_.insert(port);
  } else {
    up_.erase(port);
    table_.flush_port(port);
  }
}

forward_decision forwarder::drop(drop_reason reason, vlan_id vlan) {
  drops_.count(reason);
  forward_decision decision;
  decision.kind = forward_decision::action::drop;
  decision.reason = reason;
  decision.vlan = vlan;
  return decision;
}

bool token_bucket::take(time_point now) {
  if (rate_ == 0) return true;
  if (started_) {
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    if (elapsed > 0) tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
  }
  started_ = true;
  last_ = now;
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

void forwarder::set_storm_limits(port_id port, const storm_limits& limits) {
  if (port >= max_ports) return;
  if (storms_.empty()) {
    if (limits == storm_limits{}) return;
    storms_.resize(max_ports);
  }
  storms_[port] = {token_bucket(limits.broadcast), token_bucket(limits.multicast),
                   token_bucket(limits.unknown)};
  if (limits == storm_limits{}) {
    storm_limited_.erase(port);
  } else {
    storm_limited_.insert(port);
  }
}

forward_decision forwarder::flood(port_id ingress, vlan_id vlan, const std::optional<vlan_tag>& tag,
                                  flood_kind kind, time_point now) {
  // Storm control: a port over its rate for this kind of flood loses the frame.
  if (storm_limited_.contains(ingress) &&
      !storms_[ingress][static_cast<std::size_t>(kind)].take(now)) {
    static constexpr drop_reason reasons[] = {drop_reason::storm_broadcast, drop_reason::storm_multicast,
                                              drop_reason::storm_unknown};
    return drop(reasons[static_cast<std::size_t>(kind)], vlan);
  }
  forward_decision decision;
  decision.ports = up_;
  decision.ports &= members_[vlan & 0xfff];  // a flood never crosses VLANs
  decision.ports -= unicast_only_;
  // Split horizon: what came from an uplink goes only to local ports.
  if (uplinks_.contains(ingress)) decision.ports &= locals_;
  if (ingress < max_ports) decision.ports.erase(ingress);
  if (decision.ports.empty()) return drop(drop_reason::no_egress, vlan);
  decision.kind = forward_decision::action::flood;
  decision.vlan = vlan;
  decision.tag = tag;
  return decision;
}

forward_decision forwarder::decide(port_id ingress, std::span<const std::byte> bytes, time_point now) {
  // 1. Parse: the only length check; afterwards accessors cannot overrun.
  const frame_parse_result parsed = frame_view::parse(bytes);
  if (!parsed) return drop(parsed.reason);
  const frame_view& frame = *parsed.frame;

  // 2. Ingress port must be known and up.
  const std::optional<vlan_tag> tag = frame.tag();
  if (!up_.contains(ingress)) return drop(drop_reason::port_down, tag ? tag->vid : vlan_id{0});

  // 3. Ingress VLAN, by the port's mode.
  const std::optional<vlan_id> classified = classify(modes_[ingress], tag);
  if (!classified) return drop(drop_reason::vlan_not_allowed, tag ? tag->vid : vlan_id{0});
  const vlan_id vlan = *classified;

  // 4. Learn the source; a group address is never a valid source.
  const mac_address source = frame.source();
  if (source.is_multicast()) return drop(drop_reason::multicast_source, vlan);
  std::optional<learn_result> learned;
  if (!source.is_zero()) learned = table_.learn(vlan, source, ingress, now);
  const bool flapped = learned == learn_result::flapping;
  const auto drop_learned = [&](drop_reason reason) {
    forward_decision d = drop(reason, vlan);
    d.learned = learned;
    return d;
  };

  // 5. Destination.
  const mac_address destination = frame.destination();
  if (destination.is_link_local()) return drop_learned(drop_reason::link_local);
  if (destination.is_multicast()) {
    forward_decision d = flood(ingress, vlan, tag,
                               destination.is_broadcast() ? flood_kind::broadcast : flood_kind::multicast, now);
    d.flapped = flapped;
    d.learned = learned;
    return d;
  }
  const std::optional<port_id> egress = table_.lookup(vlan, destination, now);
  if (!egress) {
    forward_decision d = flood(ingress, vlan, tag, flood_kind::unknown, now);  // unknown unicast
    d.flapped = flapped;
    d.learned = learned;
    return d;
  }
  if (*egress == ingress) return drop_learned(drop_reason::reflection);
  if (!up_.contains(*egress)) return drop_learned(drop_reason::port_down);
  // (A static entry can name a port that does not carry the VLAN.)
  if (!members_[vlan & 0xfff].contains(*egress)) return drop_learned(drop_reason::vlan_not_allowed);
  // Split horizon holds for known unicast too: in a full mesh the sender's
  // switch reaches that uplink's peer directly, so relaying would duplicate.
  if (uplinks_.contains(ingress) && uplinks_.contains(*egress)) {
    return drop_learned(drop_reason::split_horizon);
  }
  forward_decision decision;
  decision.kind = forward_decision::action::unicast;
  decision.port = *egress;
  decision.vlan = vlan;
  decision.tag = tag;
  decision.flapped = flapped;
  decision.learned = learned;
  return decision;
}

}  // namespace l2
