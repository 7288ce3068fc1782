// decision_cache: one worker's memo of the forwarder's known-unicast
// decisions, so that the frames of a flow it switched a moment ago go out
// without the forwarder's lock. With it, MAC lookups on the workers take no
// lock, and a busy source is learned again (its entry's time refreshed, under
// the lock) at most once a second, as VPP does.
//
// A decision is remembered by what it was made of: the ingress port, the
// frame's tag as it arrived, and its source and destination MACs. That is all
// a known-unicast decision depends on, besides the forwarder's state: its
// ports, their VLANs and links, and the MAC table. Any change to that state
// moves the table generation on (the datapath holds it: a MAC learned, moved
// or flapping, an aging sweep, a link change, anything done under pause()),
// and a remembered decision holds only in the generation it was made in, and
// for at most `max_age` after (or half the MAC aging time, when that is
// shorter). So a frame that finds one is forwarded exactly
// as the forwarder would have done, except that an entry expiring in the
// table is still used until the remembered decision is `max_age` old.
//
// Direct-mapped, fixed size, no allocation after construction; a colliding
// decision replaces the older one. One per worker thread: it is not shared.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "l2/frame.hpp"
#include "l2/types.hpp"

namespace switchd {

class decision_cache {
 public:
  /// What a decision is made of.
  struct key {
    l2::port_id ingress = l2::no_port;
    std::uint32_t tag = 0;  ///< 0: untagged; else 1 << 16 | the tag's PCP, DEI and VID
    std::uint64_t source = 0;
    std::uint64_t destination = 0;
    friend bool operator==(const key&, const key&) = default;
  };
  /// The key of `frame` arriving on `ingress`.
  static key key_of(l2::port_id ingress, const l2::frame_view& frame);

  /// A known-unicast decision: where it goes, in which VLAN.
  struct unicast {
    l2::port_id port = l2::no_port;
    l2::vlan_id vlan = 0;
  };

  /// How long a decision holds: a second, or half the MAC aging time when
  /// that is shorter (a busy source must be learned again before it ages out).
  static constexpr std::chrono::seconds max_age{1};
  void set_aging(std::chrono::nanoseconds aging) { max_age_ = std::min<std::chrono::nanoseconds>(max_age, aging / 2); }

  /// `slots` is rounded up to a power of two (at least 1).
  explicit decision_cache(std::size_t slots = 1024);

  /// The decision remembered for `k`, if it was made in `generation` less than max_age (or half the aging time) before `now`.
  std::optional<unicast> find(const key& k, std::uint64_t generation, l2::time_point now) const;
  /// Remembers `u` for `k`, made in `generation` at `now`.
  void insert(const key& k, unicast u, std::uint64_t generation, l2::time_point now);

 private:
  struct slot {
    key k;
    unicast u;
    std::uint64_t generation = 0;
    l2::time_point made{};
    bool used = false;
  };
  std::size_t index(const key& k) const;

  std::vector<slot> slots_;
  unsigned shift_ = 0;  ///< 64 - log2(slots)
  std::chrono::nanoseconds max_age_ = max_age;
};

}  // namespace switchd
