// mac_table: where each (VLAN, MAC) was last seen.
//
// The key (12-bit VLAN, 48-bit MAC) packs into one 64-bit integer. Entries live
// in flat arrays of slots allocated at construction (twice the capacity,
// rounded up to a power of two, so the load factor stays at or below 1/2) and
// are found by open addressing with linear probing from a multiplicative
// (Fibonacci) hash of the key. Keys and values are separate arrays: probing
// reads only the keys, eight to a cache line, and a hit reads one value. Deletion shifts the following entries of the probe run back instead of
// leaving tombstones, so lookups never slow down as entries come and go. No
// operation allocates after construction, and the table never holds more than
// `capacity` entries: when it is full, a new address is refused (the frame is
// still forwarded, by flooding) and counted; existing entries are refreshed
// and moved as usual. A per-port limit can cap how many dynamic entries one
// port may hold. Static entries never age and never move. Time is passed in;
// an entry whose age exceeds the aging time is a miss for lookup() even
// before age() sweeps it out.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "l2/mac_address.hpp"
#include "l2/types.hpp"

namespace l2 {

/// What learn() did.
enum class learn_result : std::uint8_t {
  learned,       ///< new entry
  refreshed,     ///< known on the same port; time updated
  moved,         ///< known on another port; now on this one
  table_full,    ///< new address refused: table at capacity
  port_limit,    ///< new address refused: the port is at its limit
  static_entry,  ///< address has a static entry; left unchanged
  flapping,      ///< it moved too often: now pinned to its first port (see set_move_damping)
  pinned,        ///< a move refused: the entry is pinned (flapping), until its hold-down ends
};

/// What learn() does with a new address when the table is full.
enum class full_policy : std::uint8_t {
  refuse,  ///< not learned (table_full); frames to it are flooded
  evict,   ///< the port holding the most dynamic entries loses one of its oldest
};

/// One entry, as reported by for_each().
struct mac_entry {
  vlan_id vlan = 0;          ///< VLAN the address was seen in
  mac_address mac;           ///< the address
  port_id port = no_port;    ///< where it was last seen
  time_point last_seen{};    ///< when (meaningless for static entries)
  bool is_static = false;    ///< static entries never age and never move
};

/// Counters since construction.
struct mac_table_counters {
  std::uint64_t learned = 0;  ///< new entries
  std::uint64_t moved = 0;    ///< entries that changed port
  std::uint64_t expired = 0;  ///< entries removed by age()
  std::uint64_t refused = 0;  ///< new addresses refused (table full or port limit)
  std::uint64_t evicted = 0;  ///< entries removed to make room (full_policy::evict)
  std::uint64_t flaps = 0;    ///< entries pinned for moving too often
};

class mac_table {
 public:
  /// A table of at most `capacity` entries (capacity >= 1; 0 is taken as 1)
  /// whose dynamic entries expire `aging` after they were last seen.
  mac_table(std::size_t capacity, std::chrono::nanoseconds aging);

  /// Records that `mac` in `vlan` was seen on `port` at `now`. Returns
  /// learned (a new entry, or an expired, not yet swept entry seen again),
  /// refreshed, moved, static_entry (nothing changed), or table_full /
  /// port_limit (refused and counted in counters().refused). The port limit
  /// applies to moves as well: a move onto a port at its limit is refused and
  /// the entry stays on its old port.
  learn_result learn(vlan_id vlan, const mac_address& mac, port_id port, time_point now);

  /// The port `mac` in `vlan` was last seen on, or nullopt when unknown or expired at `now`.
  std::optional<port_id> lookup(vlan_id vlan, const mac_address& mac, time_point now) const;

  /// The entry for `mac` in `vlan` as it is held (static or dynamic, even
  /// expired but not yet swept), or nullopt.
  std::optional<mac_entry> find(vlan_id vlan, const mac_address& mac) const;

  /// Removes dynamic entries older than the aging time at `now`. Returns how many.
  std::size_t age(time_point now);

  /// Removes all dynamic entries (static entries stay). Returns how many.
  std::size_t flush();

  /// Removes the dynamic entries on `port`. Returns how many.
  std::size_t flush_port(port_id port);

  /// Removes every entry on `port`, static ones too, and its limit: the port
  /// is gone (its id may be reused by a new port). Returns how many.
  std::size_t forget_port(port_id port);

  /// Changes the aging time (existing entries are judged by the new one).
  void set_aging(std::chrono::nanoseconds aging) { aging_ = aging; }

  /// Adds or replaces a static entry. Returns false when the table is full.
  bool add_static(vlan_id vlan, const mac_address& mac, port_id port);

  /// Removes the entry (static or dynamic) for `mac` in `vlan`. Returns whether there was one.
  bool remove(vlan_id vlan, const mac_address& mac);

  /// Caps the dynamic entries `port` may hold; 0 = no limit (the default).
  void set_port_limit(port_id port, std::size_t limit);

  /// What to do with a new address when the table is full (default refuse).
  /// evict: the port holding the most dynamic entries loses one of its
  /// oldest (the oldest of the first few a rotating scan of at most 256
  /// slots finds: an approximation of least recently seen that costs a few
  /// slots, not a sweep; when the scan finds none, the address is refused).
  void set_full_policy(full_policy policy) { full_policy_ = policy; }
  full_policy policy() const { return full_policy_; }

  /// Move damping: an entry that moves more than `limit` times within
  /// `window` is pinned to the port it was on when the window began, for
  /// `hold_down` (learn() says flapping once, then pinned for every refused
  /// move). 0 disables it (the default).
  void set_move_damping(unsigned limit, std::chrono::nanoseconds window,
                        std::chrono::nanoseconds hold_down);

  /// Calls f(const mac_entry&) for every entry, in no particular order.
  template <typename F>
  void for_each(F&& f) const {
    for (std::size_t i = 0; i < keys_.size(); ++i) {
      if (keys_[i] != empty_key) f(to_entry(i));
    }
  }

  /// Entries held now (dynamic and static, expired ones not yet swept included).
  std::size_t count() const { return count_; }
  /// Dynamic entries held for `port`.
  std::size_t port_count(port_id port) const;
  /// Most entries the table will hold.
  std::size_t capacity() const { return capacity_; }
  /// The aging time.
  std::chrono::nanoseconds aging() const { return aging_; }
  const mac_table_counters& counters() const { return counters_; }

 private:
  /// What a slot holds besides its key.
  struct slot {
    time_point last_seen{};   ///< last time seen (dynamic entries)
    port_id port = no_port;   ///< where
    bool is_static = false;   ///< static entry
    std::uint16_t moves = 0;        ///< moves in the current damping window
    port_id first_port = no_port;   ///< where it was when the window began
    time_point window_start{};      ///< when the damping window began
    time_point pinned_until{};      ///< pinned (flapping) until then
  };
  /// Removes one of the oldest entries of the port holding the most; false if none.
  bool evict_one();
  /// No flap may send an entry back to `port` (it went down or away).
  void forget_first_port(port_id port);
  /// learn() for a known, current entry seen on another port.
  learn_result move(slot& s, port_id port, time_point now);

  /// keys_ value of an empty slot. Stored keys have bit 63 set, so none is 0.
  static constexpr std::uint64_t empty_key = 0;
  static constexpr std::uint64_t occupied_bit = std::uint64_t{1} << 63;

  /// (vlan << 48) | mac | occupied_bit.
  static std::uint64_t make_key(vlan_id vlan, const mac_address& mac);
  mac_entry to_entry(std::size_t index) const;
  std::size_t home(std::uint64_t key) const;
  /// Index of the slot holding `key`, or of the empty slot where it would go.
  std::size_t find(std::uint64_t key) const;
  bool expired(const slot& s, time_point now) const;
  /// Empties slot `index` and shifts the rest of its probe run back.
  void erase_at(std::size_t index);
  /// Removes every entry for which pred(const slot&) holds, in one in-place
  /// sweep. Returns how many. Defined in mac_table.cpp (used only there).
  template <typename Pred>
  std::size_t erase_if(Pred pred);
  /// True when `port` has a limit and already holds that many dynamic entries.
  bool at_limit(port_id port) const;
  /// Adjusts the dynamic entry count of `port` (ports >= max_ports are not tracked).
  void add_to_port(port_id port);
  void remove_from_port(port_id port);

  std::vector<std::uint64_t> keys_;          ///< power-of-two sized, >= 2 * capacity
  std::vector<slot> slots_;                  ///< the values, parallel to keys_
  std::size_t mask_ = 0;                     ///< keys_.size() - 1
  unsigned shift_ = 0;                       ///< 64 - log2(keys_.size()), for home()
  std::size_t capacity_ = 0;
  std::size_t count_ = 0;
  std::chrono::nanoseconds aging_;
  std::vector<std::uint32_t> port_counts_;   ///< dynamic entries per port, max_ports long
  std::vector<std::uint32_t> port_limits_;   ///< 0 = no limit, max_ports long
  mac_table_counters counters_;
  full_policy full_policy_ = full_policy::refuse;
  std::size_t evict_cursor_ = 0;             ///< where the next eviction scan starts
  unsigned move_limit_ = 0;                  ///< 0: no damping
  std::chrono::nanoseconds move_window_{};
  std::chrono::nanoseconds hold_down_{};
};

// The lookup path (lookup() and what it uses; learn() shares find()) is inline:
// it runs for every frame, and out of line the call plus the std::optional
// result (returned through memory in pieces: a failed store-to-load forward)
// more than doubled the cost of a lookup in bench/micro/mac_table_bench.cpp.

inline std::uint64_t mac_table::make_key(vlan_id vlan, const mac_address& mac) {
  return occupied_bit | ((std::uint64_t{vlan} & 0xfff) << 48) | mac.to_u64();
}

inline std::size_t mac_table::home(std::uint64_t key) const {
  return static_cast<std::size_t>((key * 0x9e3779b97f4a7c15ULL) >> shift_);
}

inline std::size_t mac_table::find(std::uint64_t key) const {
  std::size_t i = home(key);
  while (keys_[i] != empty_key && keys_[i] != key) i = (i + 1) & mask_;
  return i;
}

inline bool mac_table::expired(const slot& s, time_point now) const {
  return !s.is_static && now - s.last_seen > aging_;
}

inline std::optional<port_id> mac_table::lookup(vlan_id vlan, const mac_address& mac, time_point now) const {
  const std::size_t i = find(make_key(vlan, mac));
  if (keys_[i] == empty_key) return std::nullopt;
  const slot& s = slots_[i];
  if (expired(s, now)) return std::nullopt;
  return s.port;
}

}  // namespace l2
