// mac_table against std::unordered_map with the same 64-bit (VLAN, MAC) keys:
// lookups of known addresses (hits), of unknown ones (misses), and learning
// (refresh of known addresses, as the data path does for every frame).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <unordered_map>
#include <vector>

#include "l2/mac_table.hpp"

namespace {

constexpr std::size_t table_capacity = 8192;

/// Keys, and the sequences the loops walk through in order (so the loop's
/// own memory traffic is a sequential stream, not a second random access).
struct keyset {
  std::vector<l2::mac_address> known;        ///< learned before the measurement
  std::vector<l2::mac_address> unknown;      ///< never learned
  std::vector<l2::mac_address> known_seq;    ///< known keys in random order, 64 Ki long
  std::vector<l2::mac_address> unknown_seq;  ///< unknown keys in random order, 64 Ki long
};

const keyset& keys(std::size_t count) {
  static std::unordered_map<std::size_t, keyset> cache;
  auto [it, fresh] = cache.try_emplace(count);
  if (fresh) {
    std::mt19937_64 rng(count);
    auto random_mac = [&] {
      std::uint64_t v = rng() & 0xfeffffffffffULL;  // unicast
      return l2::mac_address::from_u64(v | 0x020000000000ULL);
    };
    for (std::size_t i = 0; i < count; ++i) it->second.known.push_back(random_mac());
    for (std::size_t i = 0; i < count; ++i) it->second.unknown.push_back(random_mac());
    for (std::size_t i = 0; i < 1 << 16; ++i) {
      it->second.known_seq.push_back(it->second.known[rng() % count]);
      it->second.unknown_seq.push_back(it->second.unknown[rng() % count]);
    }
  }
  return it->second;
}

std::uint64_t key_of(l2::vlan_id vlan, const l2::mac_address& mac) {
  return (std::uint64_t{vlan} << 48) | mac.to_u64();
}

struct map_entry {
  l2::port_id port;
  l2::time_point last_seen;
};

void mac_table_lookup_hit(benchmark::State& state) {
  const keyset& k = keys(static_cast<std::size_t>(state.range(0)));
  l2::mac_table table(table_capacity, std::chrono::seconds(300));
  const l2::time_point now{};
  for (std::size_t i = 0; i < k.known.size(); ++i) {
    table.learn(1, k.known[i], static_cast<l2::port_id>(i % 8), now);
  }
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(table.lookup(1, k.known_seq[i++ & 0xffff], now));
  }
  state.SetItemsProcessed(state.iterations());
}

void unordered_map_lookup_hit(benchmark::State& state) {
  const keyset& k = keys(static_cast<std::size_t>(state.range(0)));
  std::unordered_map<std::uint64_t, map_entry> map;
  map.reserve(table_capacity);
  const l2::time_point now{};
  for (std::size_t i = 0; i < k.known.size(); ++i) {
    map[key_of(1, k.known[i])] = {static_cast<l2::port_id>(i % 8), now};
  }
  std::size_t i = 0;
  for (auto _ : state) {
    auto it = map.find(key_of(1, k.known_seq[i++ & 0xffff]));
    benchmark::DoNotOptimize(it != map.end() ? it->second.port : l2::no_port);
  }
  state.SetItemsProcessed(state.iterations());
}

void mac_table_lookup_miss(benchmark::State& state) {
  const keyset& k = keys(static_cast<std::size_t>(state.range(0)));
  l2::mac_table table(table_capacity, std::chrono::seconds(300));
  const l2::time_point now{};
  for (std::size_t i = 0; i < k.known.size(); ++i) table.learn(1, k.known[i], 1, now);
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(table.lookup(1, k.unknown_seq[i++ & 0xffff], now));
  }
  state.SetItemsProcessed(state.iterations());
}

void unordered_map_lookup_miss(benchmark::State& state) {
  const keyset& k = keys(static_cast<std::size_t>(state.range(0)));
  std::unordered_map<std::uint64_t, map_entry> map;
  map.reserve(table_capacity);
  for (std::size_t i = 0; i < k.known.size(); ++i) map[key_of(1, k.known[i])] = {1, {}};
  std::size_t i = 0;
  for (auto _ : state) {
    auto it = map.find(key_of(1, k.unknown_seq[i++ & 0xffff]));
    benchmark::DoNotOptimize(it != map.end() ? it->second.port : l2::no_port);
  }
  state.SetItemsProcessed(state.iterations());
}

void mac_table_learn_refresh(benchmark::State& state) {
  const keyset& k = keys(static_cast<std::size_t>(state.range(0)));
  l2::mac_table table(table_capacity, std::chrono::seconds(300));
  l2::time_point now{};
  for (std::size_t i = 0; i < k.known.size(); ++i) table.learn(1, k.known[i], 1, now);
  std::size_t i = 0;
  for (auto _ : state) {
    now += std::chrono::nanoseconds(1);
    benchmark::DoNotOptimize(table.learn(1, k.known_seq[i++ & 0xffff], 1, now));
  }
  state.SetItemsProcessed(state.iterations());
}

void unordered_map_learn_refresh(benchmark::State& state) {
  const keyset& k = keys(static_cast<std::size_t>(state.range(0)));
  std::unordered_map<std::uint64_t, map_entry> map;
  map.reserve(table_capacity);
  l2::time_point now{};
  for (std::size_t i = 0; i < k.known.size(); ++i) map[key_of(1, k.known[i])] = {1, now};
  std::size_t i = 0;
  for (auto _ : state) {
    now += std::chrono::nanoseconds(1);
    map_entry& e = map[key_of(1, k.known_seq[i++ & 0xffff])];
    e.port = 1;
    e.last_seen = now;
    benchmark::DoNotOptimize(e);
  }
  state.SetItemsProcessed(state.iterations());
}

}  // namespace

BENCHMARK(mac_table_lookup_hit)->Arg(64)->Arg(4096);
BENCHMARK(unordered_map_lookup_hit)->Arg(64)->Arg(4096);
BENCHMARK(mac_table_lookup_miss)->Arg(64)->Arg(4096);
BENCHMARK(unordered_map_lookup_miss)->Arg(64)->Arg(4096);
BENCHMARK(mac_table_learn_refresh)->Arg(64)->Arg(4096);
BENCHMARK(unordered_map_learn_refresh)->Arg(64)->Arg(4096);
