// The whole forwarding decision for one frame: parse, learn the source, look
// up the destination; for known unicast between two of 8 ports, and for a
// broadcast (flood set computation).
#include <benchmark/benchmark.h>

#include <array>
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

void decide_broadcast(benchmark::State& state) {
  l2::forwarder f = make_forwarder();
  l2::time_point now{};
  const auto bcast = frame(broadcast, mac_a);
  for (auto _ : state) {
    now += std::chrono::nanoseconds(1);
    benchmark::DoNotOptimize(f.decide(0, bcast, now));
  }
  state.SetItemsProcessed(state.iterations());
}

}  // namespace

BENCHMARK(decide_known_unicast);
BENCHMARK(decide_broadcast);
