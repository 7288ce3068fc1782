// mac_table: open addressing with linear probing and backward-shift deletion
// (see the header for the design). A few details worth knowing:
//
// - The home slot of a key is the top bits of the key times 2^64/phi
//   (Fibonacci hashing): one multiplication, and keys that differ only in a
//   few MAC bits or only in the VLAN still spread over the whole array.
// - The array has at least 2 * capacity slots and never holds more than
//   capacity entries, so there is always an empty slot and every probe ends.
// - An entry that has expired but not yet been swept by age() is a miss for
//   lookup(). learn() treats it the same way: learning such an address
//   (on any port) counts as `learned`, not `refreshed` or `moved`, and reuses
//   the slot in place (no capacity check; the port limit applies when the
//   port changes).
// - The port limit also applies to moves: a move onto a port that is at its
//   limit is refused (port_limit) and the entry stays where it was, so a
//   port's dynamic entry count never grows past its limit.
// - counters().refused counts every learn() that returned table_full or
//   port_limit.
// - make_key(), home(), find(), expired() and lookup() are inline in the
//   header (the per-frame path); everything else is here.
#include "l2/mac_table.hpp"

#include <algorithm>
#include <bit>
#include <limits>

namespace l2 {
namespace {

constexpr std::uint64_t mac_mask = (std::uint64_t{1} << 48) - 1;

}  // namespace

mac_table::mac_table(std::size_t capacity, std::chrono::nanoseconds aging)
    : capacity_(std::max<std::size_t>(capacity, 1)),
      aging_(aging),
      port_counts_(max_ports, 0),
      port_limits_(max_ports, 0) {
  const std::size_t size = std::bit_ceil(std::max<std::size_t>(2 * capacity_, 2));
  keys_.assign(size, empty_key);
  slots_.resize(size);
  mask_ = size - 1;
  shift_ = static_cast<unsigned>(64 - std::countr_zero(size));
}

mac_entry mac_table::to_entry(std::size_t index) const {
  const slot& s = slots_[index];
  mac_entry entry;
  entry.vlan = static_cast<vlan_id>((keys_[index] >> 48) & 0xfff);
  entry.mac = mac_address::from_u64(keys_[index] & mac_mask);
  entry.port = s.port;
  entry.last_seen = s.last_seen;
  entry.is_static = s.is_static;
  return entry;
}

bool mac_table::at_limit(port_id port) const {
  return port < max_ports && port_limits_[port] != 0 && port_counts_[port] >= port_limits_[port];
}

void mac_table::add_to_port(port_id port) {
  if (port < max_ports) ++port_counts_[port];
}

void mac_table::remove_from_port(port_id port) {
  if (port < max_ports && port_counts_[port] > 0) --port_counts_[port];
}

void mac_table::erase_at(std::size_t index) {
  if (!slots_[index].is_static) remove_from_port(slots_[index].port);
  --count_;
  // Backward shift: walk the rest of the probe run; an entry may move into the
  // hole when the hole lies on its probe path, i.e. between its home slot and
  // where it sits now (cyclically). Then the hole moves to where it was.
  std::size_t hole = index;
  for (std::size_t j = (index + 1) & mask_; keys_[j] != empty_key; j = (j + 1) & mask_) {
    const std::size_t from_home = (j - home(keys_[j])) & mask_;
    const std::size_t from_hole = (j - hole) & mask_;
    if (from_home >= from_hole) {
      keys_[hole] = keys_[j];
      slots_[hole] = slots_[j];
      hole = j;
    }
  }
  keys_[hole] = empty_key;
  slots_[hole] = slot{};
}

template <typename Pred>
std::size_t mac_table::erase_if(Pred pred) {
  // Sweep once from slot 0. After erasing at i another entry may have shifted
  // into slot i, so i is examined again. Entries only ever shift backwards
  // towards the hole, which lies at or after i (an unexamined entry never lands
  // before i), and entries that wrap around from the start were already kept.
  std::size_t removed = 0;
  std::size_t i = 0;
  while (i < keys_.size()) {
    if (keys_[i] != empty_key && pred(slots_[i])) {
      erase_at(i);
      ++removed;
    } else {
      ++i;
    }
  }
  return removed;
}

learn_result mac_table::learn(vlan_id vlan, const mac_address& mac, port_id port, time_point now) {
  const std::uint64_t key = make_key(vlan, mac);
  const std::size_t i = find(key);

  // Known address.
  if (keys_[i] != empty_key) {
    slot& s = slots_[i];
    if (s.is_static) return learn_result::static_entry;
    const bool stale = expired(s, now);
    if (s.port == port) {
      s.last_seen = now;
      if (stale) {
        ++counters_.learned;
        return learn_result::learned;
      }
      return learn_result::refreshed;
    }
    if (!stale) return move(s, port, now);
    if (at_limit(port)) {
      ++counters_.refused;
      return learn_result::port_limit;
    }
    remove_from_port(s.port);
    add_to_port(port);
    s.port = port;
    s.last_seen = now;
    s.moves = 0;
    s.pinned_until = time_point{};
    ++counters_.learned;
    return learn_result::learned;
  }

  // New address: slot i is the empty slot at the end of its probe run.
  if (at_limit(port)) {
    ++counters_.refused;
    return learn_result::port_limit;
  }
  std::size_t at = i;
  if (count_ >= capacity_) {
    if (full_policy_ != full_policy::evict || !evict_one()) {
      ++counters_.refused;
      return learn_result::table_full;
    }
    at = find(key);  // the eviction shifted entries: find the empty slot again
  }
  slot& s = slots_[at];
  s = slot{};
  keys_[at] = key;
  s.last_seen = now;
  s.port = port;
  s.is_static = false;
  ++count_;
  add_to_port(port);
  ++counters_.learned;
  return learn_result::learned;
}

learn_result mac_table::move(slot& s, port_id port, time_point now) {
  if (move_limit_ != 0 && now < s.pinned_until) return learn_result::pinned;  // stays put
  if (at_limit(port)) {  // (a refused move is not a move)
    ++counters_.refused;
    return learn_result::port_limit;
  }
  if (move_limit_ != 0) {
    if (s.moves == 0 || now - s.window_start > move_window_) {
      s.window_start = now;
      s.moves = 0;
      s.first_port = s.port;
    }
    if (++s.moves > move_limit_) {
      // Flapping (a loop, or two hosts with one address): back to where it
      // was when this began (if that port is still there: flush_port and
      // forget_port forget it), and there it stays for the hold-down.
      s.pinned_until = now + hold_down_;
      s.moves = 0;
      ++counters_.flaps;
      if (s.first_port != no_port && s.port != s.first_port && !at_limit(s.first_port)) {
        remove_from_port(s.port);
        add_to_port(s.first_port);
        s.port = s.first_port;
      }
      s.last_seen = now;
      return learn_result::flapping;
    }
  }
  remove_from_port(s.port);
  add_to_port(port);
  s.port = port;
  s.last_seen = now;
  ++counters_.moved;
  return learn_result::moved;
}

void mac_table::forget_first_port(port_id port) {
  for (slot& s : slots_) {
    if (s.first_port == port) {
      s.first_port = no_port;
      s.moves = 0;
    }
  }
}

bool mac_table::evict_one() {
  // The victim: the port holding the most dynamic entries.
  port_id victim = no_port;
  std::uint32_t most = 0;
  for (std::size_t p = 0; p < port_counts_.size(); ++p) {
    if (port_counts_[p] > most) {
      most = port_counts_[p];
      victim = static_cast<port_id>(p);
    }
  }
  if (victim == no_port) return false;  // only static entries
  // Its oldest among the first few of its entries from the cursor on. It
  // holds the most entries, so a short scan finds some; the scan is bounded
  // (a flood must not make every frame sweep the table): nothing found
  // there, and the new address is refused this time.
  constexpr int candidates = 8;
  constexpr std::size_t most_scanned = 256;
  std::size_t oldest = keys_.size();
  int found = 0;
  std::size_t j = evict_cursor_ & mask_;
  const std::size_t limit = std::min(keys_.size(), most_scanned);
  for (std::size_t scanned = 0; scanned < limit && found < candidates; ++scanned, j = (j + 1) & mask_) {
    if (keys_[j] == empty_key || slots_[j].is_static || slots_[j].port != victim) continue;
    if (oldest == keys_.size() || slots_[j].last_seen < slots_[oldest].last_seen) oldest = j;
    ++found;
  }
  evict_cursor_ = j;
  if (oldest == keys_.size()) return false;
  erase_at(oldest);
  ++counters_.evicted;
  return true;
}

void mac_table::set_move_damping(unsigned limit, std::chrono::nanoseconds window,
                                 std::chrono::nanoseconds hold_down) {
  move_limit_ = limit;
  move_window_ = window;
  hold_down_ = hold_down;
}

std::size_t mac_table::age(time_point now) {
  const std::size_t removed = erase_if([&](const slot& s) { return expired(s, now); });
  counters_.expired += removed;
  return removed;
}

std::size_t mac_table::flush() {
  return erase_if([](const slot& s) { return !s.is_static; });
}

std::size_t mac_table::flush_port(port_id port) {
  if (move_limit_ != 0) forget_first_port(port);  // a flap must not pin anything there
  return erase_if([port](const slot& s) { return !s.is_static && s.port == port; });
}

std::size_t mac_table::forget_port(port_id port) {
  if (move_limit_ != 0) forget_first_port(port);
  const std::size_t n = erase_if([port](const slot& s) { return s.port == port; });
  set_port_limit(port, 0);
  return n;
}

bool mac_table::add_static(vlan_id vlan, const mac_address& mac, port_id port) {
  const std::uint64_t key = make_key(vlan, mac);
  const std::size_t i = find(key);
  slot& s = slots_[i];
  if (keys_[i] != empty_key) {
    if (!s.is_static) remove_from_port(s.port);  // dynamic -> static
  } else {
    if (count_ >= capacity_) return false;
    keys_[i] = key;
    ++count_;
  }
  s.port = port;
  s.is_static = true;
  s.last_seen = time_point{};
  return true;
}

std::optional<mac_entry> mac_table::find(vlan_id vlan, const mac_address& mac) const {
  const std::size_t i = find(make_key(vlan, mac));
  if (keys_[i] == empty_key) return std::nullopt;
  return to_entry(i);
}

bool mac_table::remove(vlan_id vlan, const mac_address& mac) {
  const std::size_t i = find(make_key(vlan, mac));
  if (keys_[i] == empty_key) return false;
  erase_at(i);
  return true;
}

void mac_table::set_port_limit(port_id port, std::size_t limit) {
  if (port >= max_ports) return;
  port_limits_[port] = static_cast<std::uint32_t>(std::min<std::size_t>(limit, std::numeric_limits<std::uint32_t>::max()));
}

std::size_t mac_table::port_count(port_id port) const {
  return port < max_ports ? port_counts_[port] : 0;
}

}  // namespace l2
