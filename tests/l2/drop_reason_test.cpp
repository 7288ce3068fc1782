// Tests of drop_reason names and drop_counters.
#include "l2/drop_reason.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace {

using l2::drop_reason;

TEST(drop_reason, names_are_the_enumerator_spellings) {
  struct case_t {
    drop_reason reason;
    std::string_view name;
  };
  const case_t cases[] = {
      {drop_reason::runt, "runt"},
      {drop_reason::giant, "giant"},
      {drop_reason::truncated_tag, "truncated_tag"},
      {drop_reason::multicast_source, "multicast_source"},
      {drop_reason::link_local, "link_local"},
      {drop_reason::reflection, "reflection"},
      {drop_reason::split_horizon, "split_horizon"},
      {drop_reason::port_down, "port_down"},
      {drop_reason::vlan_not_allowed, "vlan_not_allowed"},
      {drop_reason::no_egress, "no_egress"},
      {drop_reason::bad_vnet_header, "bad_vnet_header"},
      {drop_reason::tx_queue_full, "tx_queue_full"},
      {drop_reason::tx_error, "tx_error"},
      {drop_reason::not_peer, "not_peer"},
      {drop_reason::vxlan_short, "vxlan_short"},
      {drop_reason::vxlan_bad_flags, "vxlan_bad_flags"},
      {drop_reason::vxlan_wrong_vni, "vxlan_wrong_vni"},
      {drop_reason::too_big, "too_big"},
      {drop_reason::sealed_short, "sealed_short"},
      {drop_reason::sealed_bad_version, "sealed_bad_version"},
      {drop_reason::sealed_unknown_key, "sealed_unknown_key"},
      {drop_reason::sealed_forged, "sealed_forged"},
      {drop_reason::sealed_replayed, "sealed_replayed"},
      {drop_reason::sealed_stale, "sealed_stale"},
      {drop_reason::sealed_incomplete, "sealed_incomplete"},
      {drop_reason::sealed_no_session, "sealed_no_session"},
      {drop_reason::handshake_limited, "handshake_limited"},
      {drop_reason::rx_queue_full, "rx_queue_full"},
      {drop_reason::storm_broadcast, "storm_broadcast"},
      {drop_reason::storm_multicast, "storm_multicast"},
      {drop_reason::storm_unknown, "storm_unknown"},
  };
  static_assert(std::size(cases) == l2::drop_reason_count);
  for (const case_t& c : cases) EXPECT_EQ(l2::to_string(c.reason), c.name);
}

TEST(drop_reason, names_are_unique_and_out_of_range_is_unknown) {
  std::set<std::string, std::less<>> names;
  for (std::size_t i = 0; i < l2::drop_reason_count; ++i) {
    names.emplace(l2::to_string(static_cast<drop_reason>(i)));
  }
  EXPECT_EQ(names.size(), l2::drop_reason_count);
  EXPECT_EQ(names.count("unknown"), 0u);
  EXPECT_EQ(l2::to_string(static_cast<drop_reason>(l2::drop_reason_count)), "unknown");
}

TEST(drop_counters, count_index_and_total) {
  l2::drop_counters counters;
  EXPECT_EQ(counters.total(), 0u);
  counters.count(drop_reason::runt);
  counters.count(drop_reason::runt);
  counters.count(drop_reason::vxlan_wrong_vni);
  EXPECT_EQ(counters[drop_reason::runt], 2u);
  EXPECT_EQ(counters[drop_reason::vxlan_wrong_vni], 1u);
  EXPECT_EQ(counters[drop_reason::giant], 0u);
  EXPECT_EQ(counters.total(), 3u);
}

}  // namespace
