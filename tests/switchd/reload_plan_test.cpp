// plan_reload, table by table: from the running options, the options read
// again and a view of what runs, what a reload removes, opens, adds, keeps,
// applies at once, refuses, and reports as needing a restart.
#include "switchd/reload_plan.hpp"

#include <gtest/gtest.h>

#include "tests/switchd/parse_args.hpp"

#include <algorithm>
#include <string>
#include <vector>

namespace switchd {
namespace {

using testing::parse;

options opts(std::vector<std::string> args) { return parse(std::move(args)).opts; }

/// What runs when `o` was started and everything opened: every port and --uplink peer.
running_view started(const options& o) {
  running_view v;
  for (const port_spec& p : o.ports) {
    v.opened[p.name] = p;
    v.running.insert(p.name);
  }
  for (const host_port& hp : o.uplinks) {
    v.option_peers.insert(peer_key(hp));
    v.uplinks.insert(hp.text);
    v.running.insert(hp.text);
  }
  v.has_uplink_socket = !o.uplinks.empty() || o.listen.has_value();
  v.interface_exists = [](const std::string&) { return true; };
  return v;
}

std::vector<std::string> names(const std::vector<port_to_open>& ports) {
  std::vector<std::string> out;
  for (const auto& p : ports) out.push_back(p.spec.name);
  return out;
}
std::vector<std::string> texts(const std::vector<host_port>& peers) {
  std::vector<std::string> out;
  for (const auto& p : peers) out.push_back(p.text);
  return out;
}
using strings = std::vector<std::string>;

TEST(reload_plan, the_same_options_change_nothing) {
  const options o = opts({"--port", "tap0", "--port", "dev:veth1", "--uplink", "10.0.0.2:4789"});
  const reload_plan plan = plan_reload(o, o, started(o));
  EXPECT_FALSE(plan.refusal);
  EXPECT_TRUE(plan.ports_to_remove.empty());
  EXPECT_TRUE(plan.ports_to_open.empty());
  EXPECT_TRUE(plan.peers_to_add.empty());
  EXPECT_TRUE(plan.peers_to_remove.empty());
  EXPECT_TRUE(plan.at_once.empty());
  EXPECT_TRUE(plan.restart_needed.empty());
  EXPECT_EQ(plan.unchanged, 3u);
}

TEST(reload_plan, a_port_added_removed_and_changed) {
  const options before = opts({"--port", "tap0", "--port", "tap1", "--port", "tap2,max-macs=5"});
  const options after = opts({"--port", "tap0", "--port", "tap2,max-macs=9", "--port", "tap3"});
  const reload_plan plan = plan_reload(before, after, started(before));
  EXPECT_EQ(plan.ports_to_remove, strings{"tap1"});
  EXPECT_EQ(names(plan.ports_to_open), (strings{"tap2", "tap3"}));
  EXPECT_TRUE(plan.ports_to_open[0].running);   // changed: reopened
  EXPECT_FALSE(plan.ports_to_open[1].running);  // new
  EXPECT_EQ(plan.ports_to_open[0].spec.options.max_macs, 9u);
  EXPECT_EQ(plan.unchanged, 1u);
}

TEST(reload_plan, a_port_spelled_differently_but_the_same_is_unchanged) {
  const options before = opts({"--port", "tap0,max-macs=5"});
  options after = before;
  after.ports[0].text = "tap0,max-macs=05";
  EXPECT_EQ(plan_reload(before, after, started(before)).unchanged, 1u);
}

TEST(reload_plan, a_port_added_at_runtime_and_now_listed_is_unchanged) {
  const options before = opts({"--port", "tap0"});
  const options after = opts({"--port", "tap0", "--port", "tap1"});
  running_view now = started(before);
  now.opened["tap1"] = after.ports[1];  // vswitchctl port add tap1
  now.running.insert("tap1");
  const reload_plan plan = plan_reload(before, after, now);
  EXPECT_TRUE(plan.ports_to_open.empty());
  EXPECT_EQ(plan.unchanged, 2u);
}

TEST(reload_plan, a_port_listed_but_gone_is_opened_again) {
  const options o = opts({"--port", "tap0"});
  running_view now = started(o);
  now.running.clear();  // removed with vswitchctl port del
  const reload_plan plan = plan_reload(o, o, now);
  ASSERT_EQ(names(plan.ports_to_open), strings{"tap0"});
  EXPECT_FALSE(plan.ports_to_open[0].running);
  EXPECT_FALSE(plan.ports_to_open[0].waited_for);
}

TEST(reload_plan, a_port_waited_for_stays_waited_for_unless_changed) {
  const options before = opts({"--port", "tap0"});
  running_view now = started(before);
  now.running.clear();
  now.waited_for.insert("tap0");
  EXPECT_TRUE(plan_reload(before, before, now).ports_to_open.empty());
  const options after = opts({"--port", "tap0,vlan=10"});
  const reload_plan plan = plan_reload(before, after, now);
  ASSERT_EQ(names(plan.ports_to_open), strings{"tap0"});
  EXPECT_TRUE(plan.ports_to_open[0].waited_for);
  EXPECT_FALSE(plan.ports_to_open[0].running);
}

TEST(reload_plan, a_missing_dev_interface_refuses_the_reload) {
  const options before = opts({"--port", "tap0"});
  const options after = opts({"--port", "tap0", "--port", "dev:nosuch0"});
  running_view now = started(before);
  now.interface_exists = [](const std::string& name) { return name != "nosuch0"; };
  const reload_plan plan = plan_reload(before, after, now);
  ASSERT_TRUE(plan.refusal);
  EXPECT_NE(plan.refusal->find("--port dev:nosuch0: no such interface"), std::string::npos);
  EXPECT_TRUE(plan.ports_to_open.empty());
}

TEST(reload_plan, a_missing_dev_interface_that_runs_unchanged_is_no_refusal) {
  const options o = opts({"--port", "dev:veth1"});
  running_view now = started(o);
  now.interface_exists = [](const std::string&) { return false; };  // gone meanwhile
  EXPECT_FALSE(plan_reload(o, o, now).refusal);
}

TEST(reload_plan, uplinks_without_an_uplink_socket_refuse_the_reload) {
  const options before = opts({"--port", "tap0"});
  const options after = opts({"--port", "tap0", "--uplink", "10.0.0.2:4789"});
  const reload_plan plan = plan_reload(before, after, started(before));
  ASSERT_TRUE(plan.refusal);
  EXPECT_NE(plan.refusal->find("without an uplink socket; restart it"), std::string::npos);
}

TEST(reload_plan, an_uplink_added_removed_and_remapped) {
  const options before = opts({"--uplink", "10.0.0.2:4789", "--uplink", "10.0.0.3:4789",
                               "--uplink", "10.0.0.4:4789,vni-map=10:1010"});
  const options after = opts({"--uplink", "10.0.0.2:4789", "--uplink", "10.0.0.4:4789,vni-map=10:2020",
                              "--uplink", "10.0.0.5:4789"});
  const reload_plan plan = plan_reload(before, after, started(before));
  EXPECT_EQ(texts(plan.peers_to_remove), (strings{"10.0.0.3:4789", "10.0.0.4:4789"}));
  EXPECT_EQ(texts(plan.peers_to_add), (strings{"10.0.0.4:4789", "10.0.0.5:4789"}));
  EXPECT_EQ(plan.unchanged, 1u);
}

TEST(reload_plan, an_uplink_added_at_runtime_and_now_listed_is_taken_over) {
  const options before = opts({"--listen", "0.0.0.0:4789"});
  const options after = opts({"--listen", "0.0.0.0:4789", "--uplink", "10.0.0.2:4789"});
  running_view now = started(before);
  now.uplinks.insert("10.0.0.2:4789");  // vswitchctl uplink add 10.0.0.2:4789
  const reload_plan plan = plan_reload(before, after, now);
  EXPECT_EQ(texts(plan.peers_to_adopt), strings{"10.0.0.2:4789"});
  EXPECT_TRUE(plan.peers_to_add.empty());
  EXPECT_EQ(plan.unchanged, 1u);
}

TEST(reload_plan, an_uplink_removed_at_runtime_but_listed_comes_back) {
  const options o = opts({"--uplink", "10.0.0.2:4789"});
  running_view now = started(o);
  now.option_peers.clear();  // vswitchctl uplink del
  now.uplinks.clear();
  EXPECT_EQ(texts(plan_reload(o, o, now).peers_to_add), strings{"10.0.0.2:4789"});
}

TEST(reload_plan, settings_apply_at_once_or_need_a_restart_by_the_table) {
  const options before = opts({"--port", "tap0"});
  const options after = opts({"--port", "tap0", "--log-level", "debug", "--mac-aging", "60",
                              "--mac-table-full", "refuse", "--vni", "7", "--mac-table-size", "64",
                              "--control", "/run/other.ctl"});
  const reload_plan plan = plan_reload(before, after, started(before));
  EXPECT_EQ(plan.at_once, (strings{"mac-aging", "mac-table-full", "log-level"}));
  EXPECT_EQ(plan.restart_needed, (strings{"vni", "mac-table-size", "control"}));
  // Applied at once: the new value; restart needed: the running one.
  EXPECT_EQ(plan.next.log_level, "debug");
  EXPECT_EQ(plan.next.mac_aging, 60u);
  EXPECT_FALSE(plan.next.mac_table_evict);
  EXPECT_EQ(plan.next.vni, 1u);
  EXPECT_EQ(plan.next.mac_table_size, 8192u);
  EXPECT_EQ(plan.next.control, options::default_control);
}

TEST(reload_plan, a_changed_listen_or_metrics_address_needs_a_restart) {
  const options before = opts({"--listen", "0.0.0.0:4789", "--metrics", "127.0.0.1:9310"});
  const options after = opts({"--listen", "0.0.0.0:4790", "--metrics", "127.0.0.1:9310"});
  const reload_plan plan = plan_reload(before, after, started(before));
  EXPECT_EQ(plan.restart_needed, strings{"listen"});
  EXPECT_EQ(plan.next.listen->port, 4789);
}

}  // namespace
}  // namespace switchd
