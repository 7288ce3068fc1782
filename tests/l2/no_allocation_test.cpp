// Checks the performance rule "no heap allocation per frame": the global
// operator new is replaced by a counting one, and the per-frame functions
// (decide with learn and lookup, parse, the MAC table operations, and
// vxlan_decode) must not call it. Set-up outside the measured window may.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "l2/forwarder.hpp"
#include "l2/vxlan.hpp"
#include "test_bytes.hpp"

namespace {
std::atomic<std::size_t> allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  ++allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return ::operator new(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace {

using namespace std::chrono_literals;
using l2_test::at;
using l2_test::byte_vector;
using l2_test::make_frame;

TEST(no_allocation, per_frame_path) {
  l2::forwarder f(64, 10s);
  f.add_port(1, l2::port_role::local);
  f.add_port(2, l2::port_role::local);
  f.add_port(3, l2::port_role::uplink);
  f.table().set_port_limit(2, 4);
  std::vector<byte_vector> frames;
  for (int i = 0; i < 200; ++i) {
    const l2::mac_address src = l2::mac_address::from_u64(0x020000000000u + static_cast<unsigned>(i));
    const l2::mac_address dst = l2::mac_address::from_u64(0x020000000000u + static_cast<unsigned>(i * 7 % 200));
    l2::frame_header h{dst, src, std::nullopt, 0x0800};
    if (i % 3 == 0) h.tag = l2::vlan_tag{0, false, static_cast<l2::vlan_id>(i % 5)};
    frames.push_back(make_frame(h, 40));
  }
  frames.push_back(make_frame("ff:ff:ff:ff:ff:ff", "02:00:00:00:00:01"));
  frames.push_back(make_frame("01:80:c2:00:00:00", "02:00:00:00:00:01"));
  frames.push_back(make_frame("02:00:00:00:00:01", "01:00:00:00:00:01"));
  frames.push_back(byte_vector(3));
  byte_vector datagram(8 + 60);
  const auto header = l2::vxlan_encode(5);
  std::copy(header.begin(), header.end(), datagram.begin());

  // The counter works (a direct call cannot be elided by the compiler).
  const std::size_t probe = allocations.load();
  ::operator delete(::operator new(16));
  ASSERT_EQ(allocations.load(), probe + 1);

  const std::size_t before = allocations.load();
  std::size_t decided = 0;
  for (int round = 0; round < 3; ++round) {
    for (std::size_t i = 0; i < frames.size(); ++i) {
      const l2::forward_decision d =
          f.decide(static_cast<l2::port_id>(1 + i % 3), frames[i], at(round * 6));
      decided += d.kind == l2::forward_decision::action::drop ? 0 : 1;
    }
    f.age(at(round * 6));
  }
  f.set_port_up(2, false);
  f.set_port_up(2, true);
  f.table().flush_port(1);
  f.table().flush();
  const bool ok = static_cast<bool>(l2::vxlan_decode(datagram, 5));
  const std::size_t after = allocations.load();

  EXPECT_EQ(after, before) << "heap allocations on the per-frame path";
  EXPECT_GT(decided, 0u);
  EXPECT_TRUE(ok);
  EXPECT_GT(f.table().counters().refused, 0u);  // the full-table path ran too
}

}  // namespace
