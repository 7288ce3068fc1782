// forwarder: the forwarding decision of the switch, as DESIGN.md's "Life of a
// frame" describes it. For each frame it parses the bytes (checked view),
// decides the ingress VLAN, learns the source address, looks up the
// destination and answers: drop (with a reason), send to one port, or flood
// to a set of ports. It knows each port's role (local or uplink) and whether
// it is up; it does no I/O. Flooding excludes the ingress port and, for frames
// that came from an uplink, every other uplink (split horizon).
//
// VLANs (l2/vlan.hpp): each port has a mode (transparent by default, access or
// trunk). A frame's VLAN is decided on ingress; learning, lookup and flooding
// are per VLAN: a flood reaches only the ports that carry its VLAN, and a
// known unicast to a port that does not is dropped (vlan_not_allowed). The
// decision carries the VLAN and the frame's tag so that the caller can
// rewrite the frame for each output port (l2::egress_change, l2::retag).
#pragma once

#include <algorithm>
#include <array>
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "l2/drop_reason.hpp"
#include "l2/frame.hpp"
#include "l2/mac_table.hpp"
#include "l2/types.hpp"
#include "l2/vlan.hpp"

namespace l2 {

/// A set of ports, as a fixed-size bitmap (no allocation).
class port_set {
 public:
  void insert(port_id port) { bits_.set(port); }
  void erase(port_id port) { bits_.reset(port); }
  bool contains(port_id port) const { return port < max_ports && bits_.test(port); }
  std::size_t count() const { return bits_.count(); }
  bool empty() const { return bits_.none(); }
  void clear() { bits_.reset(); }

  /// Calls f(port_id) for each member, in increasing order.
  template <typename F>
  void for_each(F&& f) const {
    for (std::size_t i = bits_._Find_first(); i < max_ports; i = bits_._Find_next(i)) {
      f(static_cast<port_id>(i));
    }
  }

  port_set& operator&=(const port_set& other) { bits_ &= other.bits_; return *this; }
  port_set& operator|=(const port_set& other) { bits_ |= other.bits_; return *this; }
  port_set& operator-=(const port_set& other) { bits_ &= ~other.bits_; return *this; }
  friend bool operator==(const port_set&, const port_set&) = default;

 private:
  std::bitset<max_ports> bits_;
};

/// Whether a port faces local guests/namespaces or another switch across the
/// underlay. A learned uplink is a peer found from its traffic (VXLAN group
/// mode): known unicast goes to it, but floods never do (they go to the group
/// once); split horizon applies to it as to every uplink.
enum class port_role : std::uint8_t { local, uplink, learned_uplink };

/// What to do with one frame.
struct forward_decision {
  enum class action : std::uint8_t { drop, unicast, flood };

  action kind = action::drop;
  drop_reason reason = drop_reason::runt;  ///< when kind == drop
  port_id port = no_port;                  ///< when kind == unicast
  port_set ports;                          ///< when kind == flood (never empty)
  vlan_id vlan = 0;                        ///< the frame's VLAN, when parsed
  std::optional<vlan_tag> tag;             ///< the frame's 802.1Q tag as it arrived
  /// Learning the source found it flapping (moving too often between ports):
  /// it is now pinned to its first port (see mac_table::set_move_damping).
  bool flapped = false;
  /// What learning the source did; none when it was not learned (a zero
  /// source, or a frame dropped before learning).
  std::optional<learn_result> learned;
};

/// Storm control: most broadcast, multicast and unknown-unicast frames per
/// second a port may send into the switch; 0 = no limit.
struct storm_limits {
  std::uint32_t broadcast = 0;
  std::uint32_t multicast = 0;
  std::uint32_t unknown = 0;
  friend bool operator==(const storm_limits&, const storm_limits&) = default;
};

/// A token bucket: `rate` per second, bursts of up to `burst`. Time is handed in.
class token_bucket {
 public:
  token_bucket() = default;
  /// Bursts: a tenth of a second's worth, at least 8.
  explicit token_bucket(std::uint32_t rate)
      : rate_(rate), burst_(std::max<double>(8.0, rate / 10.0)), tokens_(burst_) {}
  /// Takes a token if there is one (always true without a rate).
  bool take(time_point now);
  std::uint32_t rate() const { return rate_; }

 private:
  std::uint32_t rate_ = 0;
  double burst_ = 0;
  double tokens_ = 0;
  time_point last_{};
  bool started_ = false;
};

class forwarder {
 public:
  /// A forwarder over a MAC table of `table_capacity` entries with `aging`.
  forwarder(std::size_t table_capacity, std::chrono::nanoseconds aging);

  /// Adds port `port` (< max_ports), up, with `role` and VLAN `mode`.
  /// Re-adding replaces the role and the mode.
  void add_port(port_id port, port_role role, const vlan_mode& mode = vlan_mode::transparent());
  /// Storm control for frames `port` sends into the switch.
  void set_storm_limits(port_id port, const storm_limits& limits);

  /// The VLAN mode of `port` (transparent for unknown ports).
  const vlan_mode& mode_of(port_id port) const { return modes_[port < max_ports ? port : 0]; }
  /// Removes a port and its MAC entries (static ones too) and MAC limit.
  void remove_port(port_id port);
  /// Marks a port up or down. Going down flushes its dynamic MAC entries.
  void set_port_up(port_id port, bool up);
  bool is_port_up(port_id port) const { return up_.contains(port); }

  /// The decision for `bytes` received on `ingress` at `now`. Learns the source.
  /// Drops: malformed (runt, giant, truncated_tag), vlan_not_allowed (the
  /// ingress port does not take the frame's VLAN, or the known unicast port
  /// does not carry it), multicast_source,
  /// port_down (ingress down, or the known unicast port is down),
  /// link_local (after learning), reflection, split_horizon (a known unicast
  /// from an uplink whose port is another uplink), no_egress (nothing to
  /// flood to). Every drop is also counted in drops(). An all-zero source is
  /// forwarded but not learned.
  forward_decision decide(port_id ingress, std::span<const std::byte> bytes, time_point now);

  /// Removes expired entries. Returns how many.
  std::size_t age(time_point now) { return table_.age(now); }

  mac_table& table() { return table_; }
  const mac_table& table() const { return table_; }
  /// Drops counted by decide(), by reason.
  const drop_counters& drops() const { return drops_; }

 private:
  forward_decision drop(drop_reason reason, vlan_id vlan = 0);
  /// The flood decision for a frame from `ingress`, or a no_egress drop.
  /// What a flood is, for storm control.
  enum class flood_kind : std::uint8_t { broadcast, multicast, unknown };
  forward_decision flood(port_id ingress, vlan_id vlan, const std::optional<vlan_tag>& tag,
                         flood_kind kind, time_point now);

  mac_table table_;
  port_set ports_;    ///< every known port
  port_set up_;       ///< ports that are up (always a subset of ports_)
  port_set uplinks_;  ///< ports with role uplink
  port_set locals_;   ///< ports with role local (ports_ minus uplinks_)
  port_set unicast_only_;  ///< learned uplinks: never in a flood set
  std::vector<vlan_mode> modes_;    ///< by port id, max_ports long
  std::vector<port_set> members_;   ///< by VLAN id (4096): the ports carrying it
  /// Storm control by port id: broadcast, multicast, unknown unicast (lazily sized).
  std::vector<std::array<token_bucket, 3>> storms_;
  port_set storm_limited_;          ///< ports with any storm limit
  drop_counters drops_;
};

}  // namespace l2
