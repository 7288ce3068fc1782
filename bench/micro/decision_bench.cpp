// How a worker thread gets the decision for a known-unicast frame, with 1, 2
// and 4 threads deciding at once (--workers): under the forwarder's lock
// (what every frame did before switchd/decision_cache, and what a flow's
// first frame each second still does), and by the worker's memory of it
// (parse, the key, one slot, the table generation: no lock, nothing shared
// but a read-mostly counter).
#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <vector>

#include "l2/forwarder.hpp"
#include "switchd/decision_cache.hpp"

namespace {

std::vector<std::byte> frame(const l2::mac_address& dst, const l2::mac_address& src) {
  std::vector<std::byte> bytes(64, std::byte{0});
  l2::emit(l2::frame_header{dst, src, std::nullopt, 0x0800}, bytes);
  return bytes;
}

/// Host i sits behind port i % 8; thread t sends from host 2t to host 2t+1.
l2::mac_address host(unsigned i) { return l2::mac_address{{0x02, 0, 0, 0, 0, static_cast<std::uint8_t>(i)}}; }

struct shared_state {
  shared_state() : f(8192, std::chrono::seconds(300)) {
    for (l2::port_id p = 0; p < 8; ++p) f.add_port(p, l2::port_role::local);
    for (unsigned i = 0; i < 16; ++i) f.decide(static_cast<l2::port_id>(i % 8), frame(host(i ^ 1), host(i)), now());
  }
  static l2::time_point now() { return std::chrono::steady_clock::now(); }
  l2::forwarder f;
  std::mutex lock;
  std::atomic<std::uint64_t> generation{1};
};
shared_state& state_of_all() {
  static shared_state s;
  return s;
}

void decide_under_lock(benchmark::State& state) {
  shared_state& s = state_of_all();
  const unsigned me = 2 * static_cast<unsigned>(state.thread_index());
  const auto bytes = frame(host(me + 1), host(me));
  const auto ingress = static_cast<l2::port_id>(me % 8);
  for (auto _ : state) {
    const std::lock_guard guard(s.lock);
    benchmark::DoNotOptimize(s.f.decide(ingress, bytes, shared_state::now()));
  }
  state.SetItemsProcessed(state.iterations());
}

void decide_remembered(benchmark::State& state) {
  shared_state& s = state_of_all();
  const unsigned me = 2 * static_cast<unsigned>(state.thread_index());
  const auto bytes = frame(host(me + 1), host(me));
  const auto ingress = static_cast<l2::port_id>(me % 8);
  switchd::decision_cache cache;
  {
    const std::lock_guard guard(s.lock);
    const l2::forward_decision d = s.f.decide(ingress, bytes, shared_state::now());
    const auto parsed = l2::frame_view::parse(bytes);
    cache.insert(switchd::decision_cache::key_of(ingress, *parsed.frame), {d.port, d.vlan},
                 s.generation.load(), shared_state::now());
  }
  for (auto _ : state) {
    const auto parsed = l2::frame_view::parse(bytes);
    const auto key = switchd::decision_cache::key_of(ingress, *parsed.frame);
    benchmark::DoNotOptimize(
        cache.find(key, s.generation.load(std::memory_order_acquire), shared_state::now()));
  }
  state.SetItemsProcessed(state.iterations());
}

}  // namespace

BENCHMARK(decide_under_lock)->Threads(1)->Threads(2)->Threads(4)->UseRealTime();
BENCHMARK(decide_remembered)->Threads(1)->Threads(2)->Threads(4)->UseRealTime();
