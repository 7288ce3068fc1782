// Tests of mac_table: learn results and counters, lookup, aging with fake
// time, the capacity and per-port limits, static entries, flushes, and a
// randomized comparison against a std::map model that exercises probe runs,
// backward-shift deletion and wraparound at the end of the slot array.
#include "l2/mac_table.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <tuple>

#include "test_bytes.hpp"

namespace {

using l2::learn_result;
using l2::mac_address;
using l2::mac_table;
using l2_test::at;
using l2_test::mac;
using namespace std::chrono_literals;

const mac_address a = mac("02:00:00:00:00:0a");
const mac_address b = mac("02:00:00:00:00:0b");
const mac_address c = mac("02:00:00:00:00:0c");

TEST(mac_table, construction) {
  const mac_table table(100, 300s);
  EXPECT_EQ(table.capacity(), 100u);
  EXPECT_EQ(table.aging(), 300s);
  EXPECT_EQ(table.count(), 0u);
  EXPECT_EQ(table.port_count(0), 0u);
  EXPECT_EQ(table.port_count(l2::no_port), 0u);
}

TEST(mac_table, learn_refresh_move) {
  mac_table table(16, 300s);
  struct step {
    l2::vlan_id vlan;
    mac_address address;
    l2::port_id port;
    long time;
    learn_result expected;
  };
  const step steps[] = {
      {0, a, 1, 0, learn_result::learned},
      {0, a, 1, 1, learn_result::refreshed},
      {0, b, 1, 2, learn_result::learned},
      {0, a, 2, 3, learn_result::moved},
      {0, a, 2, 4, learn_result::refreshed},
      {0, a, 1, 5, learn_result::moved},
      {7, a, 3, 6, learn_result::learned},  // same MAC, another VLAN: another entry
  };
  for (const step& s : steps) {
    EXPECT_EQ(table.learn(s.vlan, s.address, s.port, at(s.time)), s.expected)
        << s.address.to_string() << " vlan " << s.vlan << " port " << s.port;
  }
  EXPECT_EQ(table.count(), 3u);
  EXPECT_EQ(table.counters().learned, 3u);
  EXPECT_EQ(table.counters().moved, 2u);
  EXPECT_EQ(table.counters().expired, 0u);
  EXPECT_EQ(table.counters().refused, 0u);
  EXPECT_EQ(table.lookup(0, a, at(6)), std::optional<l2::port_id>(1));
  EXPECT_EQ(table.lookup(0, b, at(6)), std::optional<l2::port_id>(1));
  EXPECT_EQ(table.lookup(7, a, at(6)), std::optional<l2::port_id>(3));
  EXPECT_EQ(table.port_count(1), 2u);
  EXPECT_EQ(table.port_count(2), 0u);
  EXPECT_EQ(table.port_count(3), 1u);
}

TEST(mac_table, lookup_miss) {
  mac_table table(16, 300s);
  EXPECT_EQ(table.lookup(0, a, at(0)), std::nullopt);
  table.learn(0, a, 1, at(0));
  EXPECT_EQ(table.lookup(0, b, at(0)), std::nullopt);
  EXPECT_EQ(table.lookup(1, a, at(0)), std::nullopt);  // other VLAN
}

TEST(mac_table, find_reports_an_entry_as_held) {
  mac_table table(16, 300s);
  EXPECT_EQ(table.find(0, a), std::nullopt);
  table.learn(10, a, 1, at(0));
  ASSERT_TRUE(table.add_static(0, b, 2));
  const auto dynamic = table.find(10, a);
  ASSERT_TRUE(dynamic);
  EXPECT_EQ(dynamic->port, 1);
  EXPECT_FALSE(dynamic->is_static);
  EXPECT_EQ(dynamic->last_seen, at(0));
  EXPECT_EQ(table.find(0, a), std::nullopt);  // other VLAN
  ASSERT_TRUE(table.find(0, b));
  EXPECT_TRUE(table.find(0, b)->is_static);
  // Expired but not swept: still held (lookup misses it, find reports it).
  EXPECT_EQ(table.lookup(10, a, at(301)), std::nullopt);
  EXPECT_TRUE(table.find(10, a));
  table.age(at(301));
  EXPECT_EQ(table.find(10, a), std::nullopt);
}

TEST(mac_table, same_mac_in_two_vlans_is_two_entries) {
  mac_table table(16, 300s);
  EXPECT_EQ(table.learn(10, a, 1, at(0)), learn_result::learned);
  EXPECT_EQ(table.learn(20, a, 2, at(0)), learn_result::learned);
  EXPECT_EQ(table.count(), 2u);
  EXPECT_EQ(table.lookup(10, a, at(0)), 1);
  EXPECT_EQ(table.lookup(20, a, at(0)), 2);
  EXPECT_TRUE(table.remove(10, a));
  EXPECT_EQ(table.lookup(10, a, at(0)), std::nullopt);
  EXPECT_EQ(table.lookup(20, a, at(0)), 2);
  // VLAN 4095 and the highest MAC still pack into distinct keys.
  const mac_address top = mac("ff:ff:ff:ff:ff:ff");
  EXPECT_EQ(table.learn(4095, top, 3, at(0)), learn_result::learned);
  EXPECT_EQ(table.learn(0, top, 4, at(0)), learn_result::learned);
  EXPECT_EQ(table.lookup(4095, top, at(0)), 3);
  EXPECT_EQ(table.lookup(0, top, at(0)), 4);
}

TEST(mac_table, aging) {
  mac_table table(16, 300s);
  table.learn(0, a, 1, at(0));
  table.learn(0, b, 2, at(100));
  // Found up to and including the aging time, gone after it.
  EXPECT_EQ(table.lookup(0, a, at(299)), 1);
  EXPECT_EQ(table.lookup(0, a, at(300)), 1);
  EXPECT_EQ(table.lookup(0, a, l2::time_point{} + 300s + 1ns), std::nullopt);
  EXPECT_EQ(table.lookup(0, a, at(301)), std::nullopt);
  // Not yet swept: still counted.
  EXPECT_EQ(table.count(), 2u);
  EXPECT_EQ(table.age(at(300)), 0u);
  EXPECT_EQ(table.count(), 2u);
  EXPECT_EQ(table.age(at(301)), 1u);
  EXPECT_EQ(table.count(), 1u);
  EXPECT_EQ(table.counters().expired, 1u);
  EXPECT_EQ(table.port_count(1), 0u);
  EXPECT_EQ(table.lookup(0, b, at(301)), 2);
  // A refresh restarts the clock.
  EXPECT_EQ(table.learn(0, b, 2, at(350)), learn_result::refreshed);
  EXPECT_EQ(table.age(at(401)), 0u);
  EXPECT_EQ(table.lookup(0, b, at(650)), 2);
  EXPECT_EQ(table.age(at(651)), 1u);
  EXPECT_EQ(table.count(), 0u);
  EXPECT_EQ(table.counters().expired, 2u);
  EXPECT_EQ(table.age(at(10000)), 0u);
}

TEST(mac_table, expired_entry_learned_again_counts_as_learned) {
  mac_table table(16, 10s);
  table.learn(0, a, 1, at(0));
  table.learn(0, b, 1, at(0));
  // Expired but not swept: same port, then another port.
  EXPECT_EQ(table.learn(0, a, 1, at(20)), learn_result::learned);
  EXPECT_EQ(table.learn(0, b, 2, at(20)), learn_result::learned);
  EXPECT_EQ(table.counters().learned, 4u);
  EXPECT_EQ(table.counters().moved, 0u);
  EXPECT_EQ(table.count(), 2u);
  EXPECT_EQ(table.port_count(1), 1u);
  EXPECT_EQ(table.port_count(2), 1u);
  EXPECT_EQ(table.lookup(0, a, at(25)), 1);
  EXPECT_EQ(table.lookup(0, b, at(25)), 2);
}

TEST(mac_table, table_full_refuses_new_but_refreshes_and_moves) {
  mac_table table(3, 300s);
  EXPECT_EQ(table.learn(0, a, 1, at(0)), learn_result::learned);
  EXPECT_EQ(table.learn(0, b, 1, at(0)), learn_result::learned);
  EXPECT_EQ(table.learn(0, c, 1, at(0)), learn_result::learned);
  const mac_address d = mac("02:00:00:00:00:0d");
  EXPECT_EQ(table.learn(0, d, 1, at(1)), learn_result::table_full);
  EXPECT_EQ(table.learn(1, a, 1, at(1)), learn_result::table_full);
  EXPECT_EQ(table.counters().refused, 2u);
  EXPECT_EQ(table.count(), 3u);
  EXPECT_EQ(table.lookup(0, d, at(1)), std::nullopt);
  EXPECT_EQ(table.learn(0, a, 1, at(2)), learn_result::refreshed);
  EXPECT_EQ(table.learn(0, b, 2, at(2)), learn_result::moved);
  EXPECT_EQ(table.lookup(0, b, at(2)), 2);
  EXPECT_FALSE(table.add_static(0, d, 1));
  // Room again after a removal.
  EXPECT_TRUE(table.remove(0, c));
  EXPECT_EQ(table.learn(0, d, 1, at(3)), learn_result::learned);
  EXPECT_EQ(table.count(), 3u);
}

TEST(mac_table, count_never_exceeds_capacity) {
  for (std::size_t capacity : {1u, 2u, 5u, 64u, 1000u}) {
    mac_table table(capacity, 60s);
    std::mt19937_64 rng(capacity);
    std::size_t full = 0;
    for (int i = 0; i < 20000; ++i) {
      const learn_result r = table.learn(static_cast<l2::vlan_id>(rng() % 4),
                                         mac_address::from_u64(rng() & 0xfeffffffffffu),
                                         static_cast<l2::port_id>(rng() % 8), at(i / 100));
      if (r == learn_result::table_full) ++full;
      ASSERT_LE(table.count(), capacity);
      if (i % 1000 == 999) table.age(at(i / 100));
    }
    EXPECT_GT(full, 0u) << capacity;
    EXPECT_EQ(table.counters().refused, full);
    std::size_t seen = 0;
    table.for_each([&](const l2::mac_entry&) { ++seen; });
    EXPECT_EQ(seen, table.count());
  }
}

TEST(mac_table, port_limit) {
  mac_table table(16, 300s);
  table.set_port_limit(1, 2);
  EXPECT_EQ(table.learn(0, a, 1, at(0)), learn_result::learned);
  EXPECT_EQ(table.learn(0, b, 1, at(0)), learn_result::learned);
  EXPECT_EQ(table.learn(0, c, 1, at(0)), learn_result::port_limit);
  EXPECT_EQ(table.counters().refused, 1u);
  EXPECT_EQ(table.port_count(1), 2u);
  EXPECT_EQ(table.lookup(0, c, at(0)), std::nullopt);
  // Refreshes still work; other ports are not limited.
  EXPECT_EQ(table.learn(0, a, 1, at(1)), learn_result::refreshed);
  EXPECT_EQ(table.learn(0, c, 2, at(1)), learn_result::learned);
  // A move onto the full port is refused too; the entry stays where it was.
  EXPECT_EQ(table.learn(0, c, 1, at(2)), learn_result::port_limit);
  EXPECT_EQ(table.lookup(0, c, at(2)), 2);
  EXPECT_EQ(table.counters().refused, 2u);
  // A move off the port makes room.
  EXPECT_EQ(table.learn(0, a, 3, at(3)), learn_result::moved);
  EXPECT_EQ(table.port_count(1), 1u);
  EXPECT_EQ(table.learn(0, c, 1, at(3)), learn_result::moved);
  EXPECT_EQ(table.port_count(1), 2u);
  // Static entries do not count toward the limit.
  EXPECT_TRUE(table.add_static(0, mac("02:00:00:00:00:99"), 1));
  EXPECT_EQ(table.port_count(1), 2u);
  // 0 removes the limit.
  table.set_port_limit(1, 0);
  EXPECT_EQ(table.learn(0, mac("02:00:00:00:00:0d"), 1, at(4)), learn_result::learned);
  EXPECT_EQ(table.port_count(1), 3u);
  // Out-of-range ports are ignored, not a crash.
  table.set_port_limit(l2::no_port, 1);
}

TEST(mac_table, static_entries) {
  mac_table table(16, 10s);
  EXPECT_TRUE(table.add_static(0, a, 1));
  EXPECT_EQ(table.count(), 1u);
  EXPECT_EQ(table.port_count(1), 0u);  // not a dynamic entry
  // Never moves, even when learned elsewhere; same port reports static_entry too.
  EXPECT_EQ(table.learn(0, a, 2, at(0)), learn_result::static_entry);
  EXPECT_EQ(table.learn(0, a, 1, at(0)), learn_result::static_entry);
  EXPECT_EQ(table.lookup(0, a, at(0)), 1);
  EXPECT_EQ(table.counters().moved, 0u);
  EXPECT_EQ(table.counters().learned, 0u);
  // Never ages.
  EXPECT_EQ(table.age(at(1000000)), 0u);
  EXPECT_EQ(table.lookup(0, a, at(1000000)), 1);
  // Survives flushes.
  table.learn(0, b, 1, at(0));
  EXPECT_EQ(table.flush_port(1), 1u);
  EXPECT_EQ(table.flush(), 0u);
  EXPECT_EQ(table.lookup(0, a, at(0)), 1);
  EXPECT_EQ(table.count(), 1u);
  // Replacing changes its port.
  EXPECT_TRUE(table.add_static(0, a, 5));
  EXPECT_EQ(table.lookup(0, a, at(0)), 5);
  EXPECT_EQ(table.count(), 1u);
  bool seen = false;
  table.for_each([&](const l2::mac_entry& e) {
    seen = true;
    EXPECT_EQ(e.vlan, 0);
    EXPECT_EQ(e.mac, a);
    EXPECT_EQ(e.port, 5);
    EXPECT_TRUE(e.is_static);
  });
  EXPECT_TRUE(seen);
  // remove() does remove it.
  EXPECT_TRUE(table.remove(0, a));
  EXPECT_FALSE(table.remove(0, a));
  EXPECT_EQ(table.count(), 0u);
}

TEST(mac_table, add_static_converts_dynamic_entry) {
  mac_table table(16, 10s);
  table.learn(0, a, 1, at(0));
  table.learn(0, b, 1, at(0));
  EXPECT_EQ(table.port_count(1), 2u);
  EXPECT_TRUE(table.add_static(0, a, 2));
  EXPECT_EQ(table.count(), 2u);
  EXPECT_EQ(table.port_count(1), 1u);
  EXPECT_EQ(table.port_count(2), 0u);
  EXPECT_EQ(table.lookup(0, a, at(100)), 2);
  EXPECT_EQ(table.age(at(100)), 1u);  // b only
  EXPECT_EQ(table.port_count(1), 0u);
  // Works when the table is full: no new slot needed.
  mac_table small(1, 10s);
  small.learn(0, a, 1, at(0));
  EXPECT_TRUE(small.add_static(0, a, 1));
  EXPECT_EQ(small.port_count(1), 0u);
}

TEST(mac_table, counts_capacity_includes_static) {
  mac_table table(2, 10s);
  EXPECT_TRUE(table.add_static(0, a, 1));
  EXPECT_TRUE(table.add_static(0, b, 1));
  EXPECT_FALSE(table.add_static(0, c, 1));
  EXPECT_EQ(table.learn(0, c, 1, at(0)), learn_result::table_full);
}

TEST(mac_table, flush_and_flush_port) {
  mac_table table(16, 300s);
  table.learn(0, a, 1, at(0));
  table.learn(0, b, 2, at(0));
  table.learn(5, b, 2, at(0));
  table.learn(0, c, 3, at(0));
  EXPECT_EQ(table.flush_port(2), 2u);
  EXPECT_EQ(table.port_count(2), 0u);
  EXPECT_EQ(table.lookup(0, b, at(0)), std::nullopt);
  EXPECT_EQ(table.lookup(5, b, at(0)), std::nullopt);
  EXPECT_EQ(table.lookup(0, a, at(0)), 1);
  EXPECT_EQ(table.lookup(0, c, at(0)), 3);
  EXPECT_EQ(table.flush_port(2), 0u);
  EXPECT_EQ(table.flush_port(l2::no_port), 0u);
  EXPECT_EQ(table.count(), 2u);
  EXPECT_EQ(table.flush(), 2u);
  EXPECT_EQ(table.count(), 0u);
  EXPECT_EQ(table.port_count(1), 0u);
  EXPECT_EQ(table.port_count(3), 0u);
  EXPECT_EQ(table.counters().expired, 0u);  // flushes are not expiries
}

TEST(mac_table, remove) {
  mac_table table(16, 300s);
  table.learn(0, a, 1, at(0));
  table.learn(0, b, 1, at(0));
  EXPECT_TRUE(table.remove(0, a));
  EXPECT_FALSE(table.remove(0, a));
  EXPECT_FALSE(table.remove(1, b));
  EXPECT_EQ(table.count(), 1u);
  EXPECT_EQ(table.port_count(1), 1u);
  EXPECT_EQ(table.lookup(0, a, at(0)), std::nullopt);
  EXPECT_EQ(table.lookup(0, b, at(0)), 1);
}

TEST(mac_table, for_each_reports_entries) {
  mac_table table(16, 300s);
  table.learn(3, a, 1, at(5));
  table.learn(0, b, 2, at(6));
  table.add_static(9, c, 4);
  std::set<std::tuple<l2::vlan_id, std::uint64_t, l2::port_id, bool>> seen;
  table.for_each([&](const l2::mac_entry& e) {
    seen.emplace(e.vlan, e.mac.to_u64(), e.port, e.is_static);
    if (!e.is_static) {
      EXPECT_EQ(e.last_seen, e.mac == a ? at(5) : at(6));
    }
  });
  const std::set<std::tuple<l2::vlan_id, std::uint64_t, l2::port_id, bool>> expected = {
      {3, a.to_u64(), 1, false}, {0, b.to_u64(), 2, false}, {9, c.to_u64(), 4, true}};
  EXPECT_EQ(seen, expected);
}

TEST(mac_table, ports_beyond_max_ports_are_not_counted) {
  mac_table table(4, 300s);
  EXPECT_EQ(table.learn(0, a, l2::no_port, at(0)), learn_result::learned);
  EXPECT_EQ(table.port_count(l2::no_port), 0u);
  EXPECT_EQ(table.learn(0, a, 1, at(0)), learn_result::moved);
  EXPECT_EQ(table.port_count(1), 1u);
  EXPECT_TRUE(table.remove(0, a));
  EXPECT_EQ(table.port_count(1), 0u);
}

// The model: what the table should hold, as a std::map, with the same rules.
struct model_entry {
  l2::port_id port;
  l2::time_point last_seen;
  bool is_static;
};
using model_key = std::pair<l2::vlan_id, std::uint64_t>;

class table_model {
 public:
  table_model(std::size_t capacity, std::chrono::nanoseconds aging) : capacity_(capacity), aging_(aging) {}

  learn_result learn(l2::vlan_id vlan, const mac_address& m, l2::port_id port, l2::time_point now) {
    const auto it = entries_.find({vlan, m.to_u64()});
    if (it != entries_.end()) {
      model_entry& e = it->second;
      if (e.is_static) return learn_result::static_entry;
      const bool stale = expired(e, now);
      if (e.port == port) {
        e.last_seen = now;
        return stale ? learn_result::learned : learn_result::refreshed;
      }
      if (at_limit(port)) return learn_result::port_limit;
      e.port = port;
      e.last_seen = now;
      return stale ? learn_result::learned : learn_result::moved;
    }
    if (at_limit(port)) return learn_result::port_limit;
    if (entries_.size() >= capacity_) return learn_result::table_full;
    entries_[{vlan, m.to_u64()}] = {port, now, false};
    return learn_result::learned;
  }

  std::optional<l2::port_id> lookup(l2::vlan_id vlan, const mac_address& m, l2::time_point now) const {
    const auto it = entries_.find({vlan, m.to_u64()});
    if (it == entries_.end() || expired(it->second, now)) return std::nullopt;
    return it->second.port;
  }

  template <typename Pred>
  std::size_t erase_if(Pred pred) {
    return std::erase_if(entries_, [&](const auto& kv) { return pred(kv.second); });
  }
  std::size_t age(l2::time_point now) {
    return erase_if([&](const model_entry& e) { return expired(e, now); });
  }
  std::size_t flush_port(l2::port_id port) {
    return erase_if([&](const model_entry& e) { return !e.is_static && e.port == port; });
  }
  bool remove(l2::vlan_id vlan, const mac_address& m) { return entries_.erase({vlan, m.to_u64()}) > 0; }
  bool add_static(l2::vlan_id vlan, const mac_address& m, l2::port_id port) {
    const auto it = entries_.find({vlan, m.to_u64()});
    if (it == entries_.end() && entries_.size() >= capacity_) return false;
    entries_[{vlan, m.to_u64()}] = {port, {}, true};
    return true;
  }
  void set_port_limit(l2::port_id port, std::size_t limit) { limits_[port] = limit; }
  std::size_t port_count(l2::port_id port) const {
    std::size_t n = 0;
    for (const auto& [key, e] : entries_) n += (!e.is_static && e.port == port) ? 1 : 0;
    return n;
  }
  const std::map<model_key, model_entry>& entries() const { return entries_; }

 private:
  bool expired(const model_entry& e, l2::time_point now) const {
    return !e.is_static && now - e.last_seen > aging_;
  }
  bool at_limit(l2::port_id port) const {
    const auto it = limits_.find(port);
    return it != limits_.end() && it->second != 0 && port_count(port) >= it->second;
  }

  std::size_t capacity_;
  std::chrono::nanoseconds aging_;
  std::map<model_key, model_entry> entries_;
  std::map<l2::port_id, std::size_t> limits_;
};

// Random operations on a small table and on the model; every result, every
// lookup of every key in the pool, and the full contents must agree.
void run_model_test(std::size_t capacity, std::uint64_t seed, bool with_limits) {
  SCOPED_TRACE(testing::Message() << "capacity " << capacity << " seed " << seed);
  const auto aging = 20s;
  mac_table table(capacity, aging);
  table_model model(capacity, aging);
  std::mt19937_64 rng(seed);
  // A pool of about three times the capacity, in two VLANs: collisions,
  // full-table refusals and long probe runs that wrap around the array.
  std::vector<std::pair<l2::vlan_id, mac_address>> pool;
  for (std::size_t i = 0; i < 3 * capacity + 2; ++i) {
    pool.emplace_back(static_cast<l2::vlan_id>(rng() % 2),
                      mac_address::from_u64((rng() & 0xfeffffffffffu) | 0x020000000000u));
  }
  if (with_limits) {
    table.set_port_limit(0, 2);
    model.set_port_limit(0, 2);
    table.set_port_limit(1, capacity / 2 + 1);
    model.set_port_limit(1, capacity / 2 + 1);
  }
  long now = 0;
  for (int op = 0; op < 4000; ++op) {
    now += static_cast<long>(rng() % 3);
    const auto& [vlan, m] = pool[rng() % pool.size()];
    const l2::port_id port = static_cast<l2::port_id>(rng() % 4);
    const unsigned kind = static_cast<unsigned>(rng() % 100);
    if (kind < 60) {
      ASSERT_EQ(table.learn(vlan, m, port, at(now)), model.learn(vlan, m, port, at(now))) << "op " << op;
    } else if (kind < 75) {
      ASSERT_EQ(table.remove(vlan, m), model.remove(vlan, m)) << "op " << op;
    } else if (kind < 85) {
      ASSERT_EQ(table.age(at(now)), model.age(at(now))) << "op " << op;
    } else if (kind < 90) {
      ASSERT_EQ(table.flush_port(port), model.flush_port(port)) << "op " << op;
    } else if (kind < 93) {
      ASSERT_EQ(table.add_static(vlan, m, port), model.add_static(vlan, m, port)) << "op " << op;
    } else if (kind < 94) {
      ASSERT_EQ(table.flush(), model.erase_if([](const model_entry& e) { return !e.is_static; }));
    }
    // Every key agrees.
    for (const auto& [v, k] : pool) {
      ASSERT_EQ(table.lookup(v, k, at(now)), model.lookup(v, k, at(now)))
          << "op " << op << " key " << v << "/" << k.to_string();
    }
    ASSERT_EQ(table.count(), model.entries().size()) << "op " << op;
    ASSERT_LE(table.count(), capacity);
    for (l2::port_id p = 0; p < 4; ++p) ASSERT_EQ(table.port_count(p), model.port_count(p));
  }
  // Full contents agree.
  std::map<model_key, model_entry> contents;
  table.for_each([&](const l2::mac_entry& e) {
    const bool inserted = contents.emplace(model_key{e.vlan, e.mac.to_u64()},
                                           model_entry{e.port, e.last_seen, e.is_static})
                              .second;
    EXPECT_TRUE(inserted) << "duplicate key";
  });
  ASSERT_EQ(contents.size(), model.entries().size());
  for (const auto& [key, e] : model.entries()) {
    const auto it = contents.find(key);
    ASSERT_NE(it, contents.end());
    EXPECT_EQ(it->second.port, e.port);
    EXPECT_EQ(it->second.is_static, e.is_static);
    if (!e.is_static) {
      EXPECT_EQ(it->second.last_seen, e.last_seen);
    }
  }
}

TEST(mac_table_model, random_operations_agree) {
  for (std::size_t capacity : {1u, 2u, 3u, 8u, 16u}) {
    for (std::uint64_t seed = 1; seed <= 12; ++seed) {
      run_model_test(capacity, seed, false);
      if (testing::Test::HasFatalFailure()) return;
    }
  }
}

TEST(mac_table_model, random_operations_agree_with_port_limits) {
  for (std::size_t capacity : {4u, 8u, 16u}) {
    for (std::uint64_t seed = 100; seed <= 106; ++seed) {
      run_model_test(capacity, seed, true);
      if (testing::Test::HasFatalFailure()) return;
    }
  }
}

// Fill a table to capacity so probe runs are long, then delete from the
// middle of runs in every order; survivors must stay reachable.
TEST(mac_table_model, deletion_keeps_every_survivor_reachable) {
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    const std::size_t capacity = 8;
    mac_table table(capacity, 300s);
    std::mt19937_64 rng(seed);
    std::vector<mac_address> keys;
    while (keys.size() < capacity) {
      const mac_address m = mac_address::from_u64(rng() & 0xfeffffffffffu);
      if (table.learn(0, m, static_cast<l2::port_id>(keys.size()), at(0)) == learn_result::learned) {
        keys.push_back(m);
      }
    }
    std::shuffle(keys.begin(), keys.end(), rng);
    for (std::size_t i = 0; i < keys.size(); ++i) {
      ASSERT_TRUE(table.remove(0, keys[i]));
      for (std::size_t j = i + 1; j < keys.size(); ++j) {
        ASSERT_TRUE(table.lookup(0, keys[j], at(0)).has_value()) << "seed " << seed;
      }
      ASSERT_FALSE(table.lookup(0, keys[i], at(0)).has_value());
    }
    EXPECT_EQ(table.count(), 0u);
  }
}

// Age() sweeps in place while entries shift; with mixed ages every stale
// entry must go and every fresh one stay, for many layouts.
TEST(mac_table_model, age_sweep_with_shifts) {
  for (std::uint64_t seed = 0; seed < 300; ++seed) {
    const std::size_t capacity = 16;
    mac_table table(capacity, 10s);
    std::mt19937_64 rng(seed);
    std::vector<std::pair<mac_address, bool>> keys;  // (address, fresh)
    while (table.count() < capacity) {
      const mac_address m = mac_address::from_u64(rng() & 0xfeffffffffffu);
      const bool fresh = rng() % 2 != 0;
      if (table.learn(0, m, 1, fresh ? at(15) : at(0)) == learn_result::learned) {
        keys.emplace_back(m, fresh);
      }
    }
    std::size_t stale = 0;
    for (const auto& [m, fresh] : keys) stale += fresh ? 0 : 1;
    ASSERT_EQ(table.age(at(20)), stale) << "seed " << seed;
    for (const auto& [m, fresh] : keys) {
      ASSERT_EQ(table.lookup(0, m, at(20)).has_value(), fresh) << "seed " << seed;
    }
    ASSERT_EQ(table.count(), capacity - stale);
  }
}

// flush_port() sweeps the same way: on a full table of mixed ports only that
// port's entries go.
TEST(mac_table_model, flush_port_sweep_with_shifts) {
  for (std::uint64_t seed = 0; seed < 300; ++seed) {
    const std::size_t capacity = 16;
    mac_table table(capacity, 10s);
    std::mt19937_64 rng(seed);
    std::vector<std::pair<mac_address, l2::port_id>> keys;
    while (table.count() < capacity) {
      const mac_address m = mac_address::from_u64(rng() & 0xfeffffffffffu);
      const auto port = static_cast<l2::port_id>(rng() % 3);
      if (table.learn(0, m, port, at(0)) == learn_result::learned) keys.emplace_back(m, port);
    }
    const std::size_t on_port_1 = table.port_count(1);
    ASSERT_EQ(table.flush_port(1), on_port_1) << "seed " << seed;
    for (const auto& [m, port] : keys) {
      const std::optional<l2::port_id> found = table.lookup(0, m, at(0));
      if (port == 1) {
        ASSERT_FALSE(found.has_value()) << "seed " << seed;
      } else {
        ASSERT_EQ(found, port) << "seed " << seed;
      }
    }
    ASSERT_EQ(table.count(), capacity - on_port_1);
  }
}

}  // namespace

namespace l2 {
namespace {

TEST(mac_table, forget_port_removes_static_entries_and_the_limit) {
  using namespace std::chrono_literals;
  mac_table table(16, 300s);
  const time_point t0{};
  const mac_address x = *mac_address::parse("02:00:00:00:00:01");
  const mac_address y = *mac_address::parse("02:00:00:00:00:02");
  const mac_address z = *mac_address::parse("02:00:00:00:00:03");
  table.set_port_limit(1, 1);
  ASSERT_TRUE(table.add_static(0, x, 1));
  ASSERT_EQ(table.learn(0, y, 1, t0), learn_result::learned);
  ASSERT_EQ(table.learn(0, z, 2, t0), learn_result::learned);
  EXPECT_EQ(table.flush_port(1), 1u) << "flush_port keeps static entries";
  ASSERT_EQ(table.learn(0, y, 1, t0), learn_result::learned);
  EXPECT_EQ(table.forget_port(1), 2u) << "the static entry and the dynamic one";
  EXPECT_FALSE(table.lookup(0, x, t0));
  EXPECT_EQ(table.lookup(0, z, t0), port_id{2}) << "other ports untouched";
  EXPECT_EQ(table.learn(0, x, 1, t0), learn_result::learned);
  EXPECT_EQ(table.learn(0, y, 1, t0), learn_result::learned) << "the limit went too";
}

TEST(mac_table, set_aging_applies_to_existing_entries) {
  using namespace std::chrono_literals;
  mac_table table(16, 300s);
  const time_point t0{};
  const mac_address x = *mac_address::parse("02:00:00:00:00:01");
  ASSERT_EQ(table.learn(0, x, 1, t0), learn_result::learned);
  table.set_aging(10s);
  EXPECT_TRUE(table.lookup(0, x, t0 + 10s));
  EXPECT_FALSE(table.lookup(0, x, t0 + 11s));
  EXPECT_EQ(table.age(t0 + 11s), 1u);
}

}  // namespace
}  // namespace l2

namespace l2 {
namespace {

using namespace std::chrono_literals;

mac_address nth(unsigned n) {
  return mac_address::from_u64(0x020000000000ULL | n);
}

TEST(mac_table_flood, refuse_keeps_everyone_and_refuses_the_new) {
  mac_table t(4, 300s);
  const time_point t0{};
  for (unsigned n = 0; n < 4; ++n) ASSERT_EQ(t.learn(0, nth(n), 1, t0), learn_result::learned);
  EXPECT_EQ(t.learn(0, nth(9), 2, t0), learn_result::table_full);
  EXPECT_EQ(t.counters().refused, 1u);
  EXPECT_EQ(t.counters().evicted, 0u);
}

TEST(mac_table_flood, evict_takes_from_the_port_holding_the_most) {
  mac_table t(8, 300s);
  t.set_full_policy(full_policy::evict);
  const time_point t0{};
  // Port 1 (a flooder) holds 6 entries learned over time, port 2 two.
  for (unsigned n = 0; n < 6; ++n) ASSERT_EQ(t.learn(0, nth(n), 1, t0 + n * 1s), learn_result::learned);
  ASSERT_EQ(t.learn(0, nth(100), 2, t0), learn_result::learned);
  ASSERT_EQ(t.learn(0, nth(101), 2, t0), learn_result::learned);
  // Full: a new address on port 3 evicts from port 1, never from port 2.
  EXPECT_EQ(t.learn(0, nth(200), 3, t0 + 10s), learn_result::learned);
  EXPECT_EQ(t.count(), 8u);
  EXPECT_EQ(t.counters().evicted, 1u);
  EXPECT_EQ(t.port_count(1), 5u);
  EXPECT_EQ(t.port_count(2), 2u);
  EXPECT_TRUE(t.lookup(0, nth(200), t0 + 10s));
  EXPECT_FALSE(t.lookup(0, nth(0), t0 + 10s)) << "port 1's oldest entry went";
  // A flood of new addresses from port 1 itself only rotates its own entries.
  for (unsigned n = 1000; n < 1100; ++n) t.learn(0, nth(n), 1, t0 + 20s);
  EXPECT_EQ(t.count(), 8u);
  EXPECT_TRUE(t.lookup(0, nth(100), t0 + 20s));
  EXPECT_TRUE(t.lookup(0, nth(101), t0 + 20s));
  EXPECT_TRUE(t.lookup(0, nth(200), t0 + 20s));
}

TEST(mac_table_flood, evict_never_takes_static_entries) {
  mac_table t(2, 300s);
  t.set_full_policy(full_policy::evict);
  ASSERT_TRUE(t.add_static(0, nth(1), 1));
  ASSERT_TRUE(t.add_static(0, nth(2), 1));
  EXPECT_EQ(t.learn(0, nth(3), 2, time_point{}), learn_result::table_full);
  EXPECT_EQ(t.count(), 2u);
}

TEST(mac_table_flap, an_address_moving_too_often_is_pinned_to_its_first_port) {
  mac_table t(16, 300s);
  t.set_move_damping(3, 10s, 30s);
  const time_point t0{};
  ASSERT_EQ(t.learn(0, nth(1), 1, t0), learn_result::learned);
  // Three moves inside the window are moves.
  EXPECT_EQ(t.learn(0, nth(1), 2, t0 + 1s), learn_result::moved);
  EXPECT_EQ(t.learn(0, nth(1), 1, t0 + 2s), learn_result::moved);
  EXPECT_EQ(t.learn(0, nth(1), 2, t0 + 3s), learn_result::moved);
  // The fourth: flapping, back on port 1 (where it was when the moves began).
  EXPECT_EQ(t.learn(0, nth(1), 1, t0 + 4s), learn_result::flapping);
  EXPECT_EQ(t.lookup(0, nth(1), t0 + 4s), port_id{1});
  EXPECT_EQ(t.counters().flaps, 1u);
  // Pinned for the hold-down: port 2 cannot take it, port 1 refreshes it.
  EXPECT_EQ(t.learn(0, nth(1), 2, t0 + 5s), learn_result::pinned);
  EXPECT_EQ(t.learn(0, nth(1), 1, t0 + 6s), learn_result::refreshed);
  EXPECT_EQ(t.lookup(0, nth(1), t0 + 20s), port_id{1});
  EXPECT_EQ(t.counters().flaps, 1u) << "counted once, not per refused move";
  // After the hold-down it may move again.
  EXPECT_EQ(t.learn(0, nth(1), 2, t0 + 40s), learn_result::moved);
}

TEST(mac_table_flap, moves_spread_over_time_are_not_flapping) {
  mac_table t(16, 3000s);
  t.set_move_damping(3, 10s, 30s);
  const time_point t0{};
  t.learn(0, nth(1), 1, t0);
  for (int k = 1; k <= 20; ++k) {
    EXPECT_EQ(t.learn(0, nth(1), k % 2 == 1 ? 2 : 1, t0 + k * 4s), learn_result::moved) << k;
  }
  EXPECT_EQ(t.counters().flaps, 0u);
}

TEST(mac_table_flap, static_entries_never_move) {
  mac_table t(16, 300s);
  t.set_move_damping(1, 10s, 30s);
  ASSERT_TRUE(t.add_static(0, nth(1), 1));
  for (int k = 0; k < 5; ++k) EXPECT_EQ(t.learn(0, nth(1), 2, time_point{} + k * 1s), learn_result::static_entry);
  EXPECT_EQ(t.counters().flaps, 0u);
}

}  // namespace
}  // namespace l2

namespace l2 {
namespace {

using namespace std::chrono_literals;

TEST(mac_table_flap, a_flap_never_pins_to_a_port_that_went_away) {
  mac_table t(16, 300s);
  t.set_move_damping(3, 10s, 30s);
  const time_point t0{};
  const mac_address x = *mac_address::parse("02:00:00:00:00:01");
  ASSERT_EQ(t.learn(0, x, 1, t0), learn_result::learned);
  ASSERT_EQ(t.learn(0, x, 2, t0 + 1s), learn_result::moved);  // the window starts on port 1
  t.forget_port(1);                                             // port 1 is removed
  EXPECT_EQ(t.learn(0, x, 3, t0 + 2s), learn_result::moved);
  EXPECT_EQ(t.learn(0, x, 2, t0 + 3s), learn_result::moved);
  EXPECT_EQ(t.learn(0, x, 3, t0 + 4s), learn_result::moved);
  EXPECT_EQ(t.learn(0, x, 2, t0 + 5s), learn_result::flapping);
  EXPECT_NE(t.lookup(0, x, t0 + 5s), port_id{1}) << "pinned where it is, not to the removed port";
  EXPECT_EQ(t.port_count(1), 0u);
}

TEST(mac_table_flap, a_move_refused_by_a_port_limit_is_not_a_move) {
  mac_table t(16, 300s);
  t.set_move_damping(2, 10s, 30s);
  t.set_port_limit(2, 1);
  const time_point t0{};
  ASSERT_EQ(t.learn(0, *mac_address::parse("02:00:00:00:00:09"), 2, t0), learn_result::learned);
  const mac_address x = *mac_address::parse("02:00:00:00:00:01");
  ASSERT_EQ(t.learn(0, x, 1, t0), learn_result::learned);
  for (int k = 1; k <= 10; ++k) EXPECT_EQ(t.learn(0, x, 2, t0 + k * 100ms), learn_result::port_limit);
  EXPECT_EQ(t.counters().flaps, 0u);
}

}  // namespace
}  // namespace l2
