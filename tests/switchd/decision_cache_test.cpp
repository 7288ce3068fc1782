// decision_cache: a worker's memory of known-unicast decisions holds for the
// same ingress, tag and MACs, in the same table generation, for under a second.
#include "switchd/decision_cache.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace switchd {
namespace {

using namespace std::chrono_literals;

const l2::mac_address a{{0x02, 0, 0, 0, 0, 0x0a}};
const l2::mac_address b{{0x02, 0, 0, 0, 0, 0x0b}};

std::vector<std::byte> frame(const l2::mac_address& dst, const l2::mac_address& src,
                             std::optional<l2::vlan_tag> tag = std::nullopt) {
  std::vector<std::byte> f(64, std::byte{0});
  l2::emit(l2::frame_header{dst, src, tag, 0x0800}, f);
  return f;
}

decision_cache::key key_of(l2::port_id ingress, const std::vector<std::byte>& f) {
  const l2::frame_parse_result parsed = l2::frame_view::parse(f);
  EXPECT_TRUE(parsed);
  return decision_cache::key_of(ingress, *parsed.frame);
}

const l2::time_point t0 = l2::time_point{} + 100s;

TEST(decision_cache, remembers_a_decision_for_the_same_flow_in_the_same_generation) {
  decision_cache cache;
  const auto k = key_of(1, frame(a, b));
  EXPECT_FALSE(cache.find(k, 7, t0)) << "nothing remembered yet";
  cache.insert(k, {3, 0}, 7, t0);
  const auto u = cache.find(key_of(1, frame(a, b)), 7, t0 + 10ms);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->port, 3);
  EXPECT_EQ(u->vlan, 0);
  EXPECT_FALSE(cache.find(k, 8, t0 + 10ms)) << "the table changed since";
}

TEST(decision_cache, holds_for_under_a_second) {
  decision_cache cache;
  const auto k = key_of(1, frame(a, b));
  cache.insert(k, {3, 0}, 1, t0);
  EXPECT_TRUE(cache.find(k, 1, t0 + 999ms));
  EXPECT_FALSE(cache.find(k, 1, t0 + 1s)) << "a second old: learn the source again";
  EXPECT_FALSE(cache.find(k, 1, t0 - 1ms)) << "a clock that went back";
}

TEST(decision_cache, holds_for_under_half_the_aging_time_when_that_is_shorter) {
  // (--mac-aging 1: a busy source is learned again before its entry ages out.)
  decision_cache cache;
  cache.set_aging(1s);
  const auto k = key_of(1, frame(a, b));
  cache.insert(k, {3, 0}, 1, t0);
  EXPECT_TRUE(cache.find(k, 1, t0 + 499ms));
  EXPECT_FALSE(cache.find(k, 1, t0 + 500ms));
  cache.set_aging(300s);
  EXPECT_TRUE(cache.find(k, 1, t0 + 999ms)) << "a second at most otherwise";
  EXPECT_FALSE(cache.find(k, 1, t0 + 1s));
}

TEST(decision_cache, another_ingress_tag_or_address_is_another_flow) {
  decision_cache cache;
  cache.insert(key_of(1, frame(a, b)), {3, 0}, 1, t0);
  EXPECT_FALSE(cache.find(key_of(2, frame(a, b)), 1, t0)) << "another ingress port";
  EXPECT_FALSE(cache.find(key_of(1, frame(b, a)), 1, t0)) << "the other way";
  EXPECT_FALSE(cache.find(key_of(1, frame(a, b, l2::vlan_tag{0, false, 10})), 1, t0)) << "tagged";

  cache.insert(key_of(1, frame(a, b, l2::vlan_tag{0, false, 10})), {4, 10}, 1, t0);
  EXPECT_FALSE(cache.find(key_of(1, frame(a, b, l2::vlan_tag{0, false, 11})), 1, t0)) << "another VLAN";
  EXPECT_FALSE(cache.find(key_of(1, frame(a, b, l2::vlan_tag{5, false, 10})), 1, t0)) << "another priority";
  const auto u = cache.find(key_of(1, frame(a, b, l2::vlan_tag{0, false, 10})), 1, t0);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->vlan, 10);
}

TEST(decision_cache, a_colliding_flow_replaces_the_older_one) {
  decision_cache cache(1);  // one slot: every flow collides
  const auto first = key_of(1, frame(a, b));
  const auto second = key_of(2, frame(b, a));
  cache.insert(first, {2, 0}, 1, t0);
  cache.insert(second, {1, 0}, 1, t0);
  EXPECT_FALSE(cache.find(first, 1, t0));
  ASSERT_TRUE(cache.find(second, 1, t0));
  EXPECT_EQ(cache.find(second, 1, t0)->port, 1);
}

}  // namespace
}  // namespace switchd
