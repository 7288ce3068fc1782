// The whole forwarding decision for one frame: parse, learn the source, look
// up the destination; for known unicast between two of 8 ports, and for a
// broadcast (flood set computation). Then the scaling figures of bench/run.sh's
// companion table: known unicast to random destinations of a table of 1 Ki to
// 1 Mi entries (the table's memory outgrows the caches), and a broadcast over
// 2 to 32 ports.
#include <benchmark/benchmark.h>

#include <array>
#include <cstring>
#include <random>
#include <vector>

#include "l2/forwarder.hpp"

namespace {

std::vector<std::byte> frame(const l2::mac_address& dst, const l2::mac_address& src) {
  std::vector<std::byte> bytes(64, std::byte{0});
  l2::emit(l2::frame_header{dst, src, std::nullopt, 0x0800}, bytes);
  return bytes;
}

const l2::mac_address mac_a{{0x02, 0, 0, 0, 0, 0x0a}};
const l2::mac_address mac_b{{0x02, 0, 0, 0, 0, 0x0b}};
const l2::mac_address broadcast{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};

l2::forwarder make_forwarder() {
  l2::forwarder f(8192, std::chrono::seconds(300));
  for (l2::port_id p = 0; p < 8; ++p) {
    f.add_port(p, p < 6 ? l2::port_role::local : l2::port_role::uplink);
  }
  return f;
}

void decide_known_unicast(benchmark::State& state) {
  l2::forwarder f = make_forwarder();
  l2::time_point now{};
  const auto a_to_b = frame(mac_b, mac_a);
  const auto b_to_a = frame(mac_a, mac_b);
  f.decide(1, b_to_a, now);
  for (auto _ : state) {
    now += std::chrono::nanoseconds(1);
    benchmark::DoNotOptimize(f.decide(0, a_to_b, now));
  }
  state.SetItemsProcessed(state.iterations());
}

/// Broadcasts from port 0 through `f`.
void broadcasts(benchmark::State& state, l2::forwarder& f) {
  l2::time_point now{};
  const auto bcast = frame(broadcast, mac_a);
  for (auto _ : state) {
    now += std::chrono::nanoseconds(1);
    benchmark::DoNotOptimize(f.decide(0, bcast, now));
  }
  state.SetItemsProcessed(state.iterations());
}

void decide_broadcast(benchmark::State& state) {
  l2::forwarder f = make_forwarder();
  broadcasts(state, f);
}

/// Known unicast from port 0 to random ones of `range(0)` learned addresses
/// (spread over 8 ports), each frame refreshing the sender's entry.
void decide_unicast_table_size(benchmark::State& state) {
  const auto entries = static_cast<std::size_t>(state.range(0));
  l2::forwarder f(entries + 1, std::chrono::seconds(300));
  for (l2::port_id p = 0; p < 8; ++p) f.add_port(p, l2::port_role::local);
  std::mt19937_64 rng(entries);
  std::vector<l2::mac_address> known;
  l2::time_point now{};
  for (std::size_t i = 0; i < entries; ++i) {
    const l2::mac_address m = l2::mac_address::from_u64((rng() & 0xfeffffffffffULL) | 0x020000000000ULL);
    known.push_back(m);
    f.decide(static_cast<l2::port_id>(1 + i % 7), frame(broadcast, m), now);
  }
  std::vector<std::size_t> order(1 << 16);
  for (std::size_t& o : order) o = rng() % entries;
  auto bytes = frame(mac_b, mac_a);
  std::size_t i = 0;
  for (auto _ : state) {
    const l2::mac_address& dst = known[order[i++ & 0xffff]];
    std::memcpy(bytes.data(), dst.octets().data(), 6);
    now += std::chrono::nanoseconds(1);
    benchmark::DoNotOptimize(f.decide(0, bytes, now));
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["entries"] = static_cast<double>(f.table().count());
}

/// A broadcast from port 0 with `range(0)` ports.
void decide_broadcast_ports(benchmark::State& state) {
  l2::forwarder f(8192, std::chrono::seconds(300));
  for (l2::port_id p = 0; p < state.range(0); ++p) f.add_port(p, l2::port_role::local);
  broadcasts(state, f);
}

}  // namespace

BENCHMARK(decide_known_unicast);
BENCHMARK(decide_broadcast);
BENCHMARK(decide_unicast_table_size)->Arg(1 << 10)->Arg(1 << 14)->Arg(1 << 17)->Arg(1 << 20);
BENCHMARK(decide_broadcast_ports)->Arg(2)->Arg(8)->Arg(32);
