// Tests of forwarder::decide: one table of scenarios over a fixed topology
// (local ports 1, 2, 3; uplinks 10, 11), each with its own set-up, then the
// side effects that a decision table cannot show (learning, counters, port
// state changes flushing the MAC table).
#include "l2/forwarder.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "test_bytes.hpp"

namespace {

using action = l2::forward_decision::action;
using l2::drop_reason;
using l2::forwarder;
using l2::learn_result;
using l2::port_id;
using l2::port_role;
using l2_test::at;
using l2_test::byte_vector;
using l2_test::make_frame;
using l2_test::mac;
using namespace std::chrono_literals;

// Hosts: hN sits behind port N (local), rN behind uplink N.
constexpr std::string_view h1 = "02:00:00:00:00:01";
constexpr std::string_view h2 = "02:00:00:00:00:02";
constexpr std::string_view h3 = "02:00:00:00:00:03";
constexpr std::string_view r10 = "02:00:00:00:00:10";
constexpr std::string_view r11 = "02:00:00:00:00:11";
constexpr std::string_view broadcast = "ff:ff:ff:ff:ff:ff";

// The standard topology.
forwarder make_forwarder() {
  forwarder f(1024, 300s);
  f.add_port(1, port_role::local);
  f.add_port(2, port_role::local);
  f.add_port(3, port_role::local);
  f.add_port(10, port_role::uplink);
  f.add_port(11, port_role::uplink);
  return f;
}

// Teaches `f` that `host` is behind `port` (a broadcast from it, at time 0).
void teach(forwarder& f, port_id port, std::string_view host, std::optional<l2::vlan_id> vid = {}) {
  f.decide(port, make_frame(broadcast, host, vid), at(0));
}

l2::port_set set_of(std::initializer_list<port_id> ports) {
  l2::port_set s;
  for (port_id p : ports) s.insert(p);
  return s;
}

std::string describe(const l2::forward_decision& d) {
  std::string out;
  switch (d.kind) {
    case action::drop: return "drop " + std::string(l2::to_string(d.reason));
    case action::unicast: return "unicast " + std::to_string(d.port);
    case action::flood:
      out = "flood {";
      d.ports.for_each([&](port_id p) { out += " " + std::to_string(p); });
      return out + " }";
  }
  return "?";
}

struct scenario {
  std::string name;
  std::function<void(forwarder&)> setup;  // ports already added; may learn, set down, ...
  port_id ingress;
  byte_vector frame;
  action kind;
  drop_reason reason = drop_reason::runt;   // when drop
  port_id port = l2::no_port;               // when unicast
  std::vector<port_id> flood = {};          // when flood
  l2::vlan_id vlan = 0;
};

TEST(forwarder, decisions) {
  const auto none = [](forwarder&) {};
  const scenario scenarios[] = {
      // Known and unknown unicast, broadcast, multicast.
      {"known unicast", [](forwarder& f) { teach(f, 2, h2); }, 1, make_frame(h2, h1),
       action::unicast, {}, 2},
      {"unknown unicast floods", none, 1, make_frame(h2, h1), action::flood, {}, {},
       {2, 3, 10, 11}},
      {"broadcast floods", none, 1, make_frame(broadcast, h1), action::flood, {}, {},
       {2, 3, 10, 11}},
      {"broadcast floods even when the source is known elsewhere",
       [](forwarder& f) { teach(f, 2, h1); }, 1, make_frame(broadcast, h1), action::flood, {}, {},
       {2, 3, 10, 11}},
      {"IPv4 multicast floods", none, 2, make_frame("01:00:5e:00:00:fb", h2), action::flood, {},
       {}, {1, 3, 10, 11}},
      {"IPv6 multicast floods", none, 3, make_frame("33:33:00:00:00:01", h3), action::flood, {},
       {}, {1, 2, 10, 11}},
      {"multicast 01:80:c2:00:00:10 is not link-local: floods", none, 1,
       make_frame("01:80:c2:00:00:10", h1), action::flood, {}, {}, {2, 3, 10, 11}},
      // Reflection.
      {"reflection: destination behind the ingress port",
       [](forwarder& f) { teach(f, 1, h2); }, 1, make_frame(h2, h1), action::drop,
       drop_reason::reflection},
      // Split horizon.
      {"uplink broadcast goes to local ports only", none, 10, make_frame(broadcast, r10),
       action::flood, {}, {}, {1, 2, 3}},
      {"uplink unknown unicast goes to local ports only", none, 10, make_frame(h1, r10),
       action::flood, {}, {}, {1, 2, 3}},
      {"uplink to known local: unicast", [](forwarder& f) { teach(f, 1, h1); }, 10,
       make_frame(h1, r10), action::unicast, {}, 1},
      {"local to known uplink: unicast", [](forwarder& f) { teach(f, 10, r10); }, 1,
       make_frame(r10, h1), action::unicast, {}, 10},
      {"local broadcast reaches every uplink", none, 3, make_frame(broadcast, h3),
       action::flood, {}, {}, {1, 2, 10, 11}},
      {"uplink to known uplink: never", [](forwarder& f) { teach(f, 11, r11); }, 10,
       make_frame(r11, r10), action::drop, drop_reason::split_horizon},
      {"uplink broadcast with no local port up",
       [](forwarder& f) {
         f.set_port_up(1, false);
         f.set_port_up(2, false);
         f.set_port_up(3, false);
       },
       10, make_frame(broadcast, r10), action::drop, drop_reason::no_egress},
      // Link-local and bad sources.
      {"STP BPDU not forwarded", none, 1, make_frame("01:80:c2:00:00:00", h1), action::drop,
       drop_reason::link_local},
      {"LLDP not forwarded", none, 1, make_frame("01:80:c2:00:00:0e", h1), action::drop,
       drop_reason::link_local},
      {"link-local from an uplink not forwarded", none, 10,
       make_frame("01:80:c2:00:00:0f", r10), action::drop, drop_reason::link_local},
      {"multicast source dropped", none, 1, make_frame(broadcast, "01:00:5e:00:00:01"),
       action::drop, drop_reason::multicast_source},
      {"broadcast source dropped", none, 1, make_frame(h2, broadcast), action::drop,
       drop_reason::multicast_source},
      {"zero source forwarded", none, 1, make_frame(broadcast, "00:00:00:00:00:00"),
       action::flood, {}, {}, {2, 3, 10, 11}},
      // Port state.
      {"ingress down", [](forwarder& f) { f.set_port_up(1, false); }, 1, make_frame(h2, h1),
       action::drop, drop_reason::port_down},
      {"unknown ingress port", none, 7, make_frame(h2, h1), action::drop,
       drop_reason::port_down},
      {"ingress no_port", none, l2::no_port, make_frame(h2, h1), action::drop,
       drop_reason::port_down},
      {"ingress removed", [](forwarder& f) { f.remove_port(1); }, 1, make_frame(h2, h1),
       action::drop, drop_reason::port_down},
      {"down port left out of the flood", [](forwarder& f) { f.set_port_up(3, false); }, 1,
       make_frame(broadcast, h1), action::flood, {}, {}, {2, 10, 11}},
      {"egress down: its entries flushed, so the frame floods",
       [](forwarder& f) {
         teach(f, 2, h2);
         f.set_port_up(2, false);
       },
       1, make_frame(h2, h1), action::flood, {}, {}, {3, 10, 11}},
      {"egress down again after up: still flushed",
       [](forwarder& f) {
         teach(f, 2, h2);
         f.set_port_up(2, false);
         f.set_port_up(2, true);
       },
       1, make_frame(h2, h1), action::flood, {}, {}, {2, 3, 10, 11}},
      {"egress removed: floods to the rest",
       [](forwarder& f) {
         teach(f, 2, h2);
         f.remove_port(2);
       },
       1, make_frame(h2, h1), action::flood, {}, {}, {3, 10, 11}},
      {"static entry on a down port: port_down",
       [](forwarder& f) {
         f.table().add_static(0, mac(h2), 2);
         f.set_port_up(2, false);
       },
       1, make_frame(h2, h1), action::drop, drop_reason::port_down},
      {"static entry on a port that does not exist: port_down",
       [](forwarder& f) { f.table().add_static(0, mac(h2), 99); }, 1, make_frame(h2, h1),
       action::drop, drop_reason::port_down},
      // Malformed.
      {"runt", none, 1, l2_test::bytes({0xff, 0xff, 0xff}), action::drop, drop_reason::runt},
      {"empty", none, 1, {}, action::drop, drop_reason::runt},
      {"truncated tag", none, 1,
       l2_test::bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x81, 0x00, 0x00}),
       action::drop, drop_reason::truncated_tag},
      {"giant", none, 1, byte_vector(l2::max_frame_size + 1), action::drop, drop_reason::giant},
      {"malformed on a down port is still malformed",
       [](forwarder& f) { f.set_port_up(1, false); }, 1, byte_vector(5), action::drop,
       drop_reason::runt},
      // VLANs (transparent: learning per VLAN, decision reports the VLAN).
      {"known in the same VLAN", [](forwarder& f) { teach(f, 2, h2, 10); }, 1,
       make_frame(h2, h1, 10), action::unicast, {}, 2, {}, 10},
      {"known in another VLAN only: floods", [](forwarder& f) { teach(f, 2, h2, 10); }, 1,
       make_frame(h2, h1, 20), action::flood, {}, {}, {2, 3, 10, 11}, 20},
      {"known untagged, frame tagged: floods", [](forwarder& f) { teach(f, 2, h2); }, 1,
       make_frame(h2, h1, 5), action::flood, {}, {}, {2, 3, 10, 11}, 5},
      {"priority tag (VID 0) is VLAN 0", [](forwarder& f) { teach(f, 2, h2); }, 1,
       make_frame(h2, h1, 0), action::unicast, {}, 2, {}, 0},
      {"drop reports the VLAN", [](forwarder& f) { teach(f, 1, h2, 42); }, 1,
       make_frame(h2, h1, 42), action::drop, drop_reason::reflection, {}, {}, 42},
  };

  for (const scenario& s : scenarios) {
    SCOPED_TRACE(s.name);
    forwarder f = make_forwarder();
    s.setup(f);
    const l2::drop_counters before = f.drops();  // set-up may have dropped frames too
    const l2::forward_decision d = f.decide(s.ingress, s.frame, at(1));
    ASSERT_EQ(d.kind, s.kind) << describe(d);
    EXPECT_EQ(d.vlan, s.vlan);
    switch (s.kind) {
      case action::drop:
        EXPECT_EQ(d.reason, s.reason) << describe(d);
        break;
      case action::unicast:
        EXPECT_EQ(d.port, s.port) << describe(d);
        break;
      case action::flood: {
        l2::port_set expected;
        for (port_id p : s.flood) expected.insert(p);
        EXPECT_EQ(d.ports, expected) << describe(d);
        EXPECT_FALSE(d.ports.empty());
        break;
      }
    }
    // Exactly the drops are counted, each under its reason.
    if (s.kind == action::drop) {
      EXPECT_EQ(f.drops()[s.reason], before[s.reason] + 1);
      EXPECT_EQ(f.drops().total(), before.total() + 1);
    } else {
      EXPECT_EQ(f.drops().total(), before.total());
    }
  }
}

TEST(forwarder, learns_the_source_per_vlan) {
  forwarder f = make_forwarder();
  f.decide(1, make_frame(h2, h1), at(0));
  f.decide(2, make_frame(h1, h2, 7), at(0));
  EXPECT_EQ(f.table().lookup(0, mac(h1), at(0)), 1);
  EXPECT_EQ(f.table().lookup(7, mac(h2), at(0)), 2);
  EXPECT_EQ(f.table().lookup(0, mac(h2), at(0)), std::nullopt);
  // Now the reply is unicast and the host moves when seen elsewhere.
  EXPECT_EQ(f.decide(2, make_frame(h1, h2), at(1)).port, 1);
  f.decide(3, make_frame(broadcast, h1), at(2));
  EXPECT_EQ(f.table().lookup(0, mac(h1), at(2)), 3);
  EXPECT_EQ(f.table().counters().moved, 1u);
}

TEST(forwarder, the_decision_says_what_learning_the_source_did) {
  // (A worker that remembers decisions needs to know which ones changed the table.)
  forwarder f = make_forwarder();
  EXPECT_EQ(f.decide(1, make_frame(broadcast, h1), at(0)).learned, learn_result::learned);
  EXPECT_EQ(f.decide(2, make_frame(h1, h2), at(0)).learned, learn_result::learned);
  EXPECT_EQ(f.decide(2, make_frame(h1, h2), at(1)).learned, learn_result::refreshed);
  EXPECT_EQ(f.decide(3, make_frame(h1, h2), at(2)).learned, learn_result::moved);
  EXPECT_EQ(f.decide(3, make_frame(h2, h1), at(2)).learned, learn_result::moved)
      << "also on a frame dropped after learning (reflection)";
  EXPECT_EQ(f.decide(1, make_frame(broadcast, "00:00:00:00:00:00"), at(3)).learned, std::nullopt)
      << "a zero source is not learned";
  f.set_port_up(2, false);
  EXPECT_EQ(f.decide(2, make_frame(broadcast, h2), at(3)).learned, std::nullopt) << "dropped before learning";
}

TEST(forwarder, learns_before_dropping_link_local_and_reflection) {
  forwarder f = make_forwarder();
  EXPECT_EQ(f.decide(1, make_frame("01:80:c2:00:00:0e", h1), at(0)).reason, drop_reason::link_local);
  EXPECT_EQ(f.table().lookup(0, mac(h1), at(0)), 1);
  teach(f, 2, h3);
  EXPECT_EQ(f.decide(2, make_frame(h3, h2), at(0)).reason, drop_reason::reflection);
  EXPECT_EQ(f.table().lookup(0, mac(h2), at(0)), 2);
}

TEST(forwarder, multicast_source_is_not_learned) {
  forwarder f = make_forwarder();
  const std::string_view group = "01:00:5e:00:00:01";
  EXPECT_EQ(f.decide(1, make_frame(broadcast, group), at(0)).reason, drop_reason::multicast_source);
  EXPECT_EQ(f.table().lookup(0, mac(group), at(0)), std::nullopt);
  EXPECT_EQ(f.table().count(), 0u);
  EXPECT_EQ(f.drops()[drop_reason::multicast_source], 1u);
}

TEST(forwarder, zero_source_is_not_learned) {
  forwarder f = make_forwarder();
  f.decide(1, make_frame(broadcast, "00:00:00:00:00:00"), at(0));
  EXPECT_EQ(f.table().count(), 0u);
}

TEST(forwarder, down_ingress_does_not_learn) {
  forwarder f = make_forwarder();
  f.set_port_up(1, false);
  f.decide(1, make_frame(broadcast, h1), at(0));
  EXPECT_EQ(f.table().count(), 0u);
}

TEST(forwarder, port_state) {
  forwarder f = make_forwarder();
  EXPECT_TRUE(f.is_port_up(1));
  EXPECT_FALSE(f.is_port_up(7));
  EXPECT_FALSE(f.is_port_up(l2::no_port));
  teach(f, 1, h1);
  teach(f, 1, h3);
  teach(f, 2, h2);
  f.table().add_static(0, mac("02:00:00:00:00:99"), 1);
  EXPECT_EQ(f.table().count(), 4u);
  f.set_port_up(1, false);
  EXPECT_FALSE(f.is_port_up(1));
  EXPECT_EQ(f.table().port_count(1), 0u);
  EXPECT_EQ(f.table().count(), 2u);  // h2 and the static entry
  f.set_port_up(1, true);
  EXPECT_TRUE(f.is_port_up(1));
  // Unknown ports cannot be brought up; out-of-range ids are ignored.
  f.set_port_up(7, true);
  EXPECT_FALSE(f.is_port_up(7));
  f.set_port_up(l2::no_port, true);
  f.set_port_up(l2::no_port, false);
  f.remove_port(l2::no_port);
  // remove_port flushes the port's dynamic entries and forgets the port.
  f.remove_port(2);
  EXPECT_FALSE(f.is_port_up(2));
  EXPECT_EQ(f.table().lookup(0, mac(h2), at(0)), std::nullopt);
  EXPECT_THROW(f.add_port(static_cast<port_id>(l2::max_ports), port_role::local), std::out_of_range);
}

TEST(forwarder, re_adding_a_port_changes_its_role_only) {
  forwarder f = make_forwarder();
  f.set_port_up(3, false);
  f.add_port(3, port_role::uplink);
  EXPECT_FALSE(f.is_port_up(3));
  f.set_port_up(3, true);
  // 3 is now an uplink: a broadcast from uplink 10 no longer reaches it.
  const l2::forward_decision d = f.decide(10, make_frame(broadcast, r10), at(0));
  EXPECT_EQ(d.ports, set_of({1, 2}));
  // And back to local.
  f.add_port(3, port_role::local);
  EXPECT_EQ(f.decide(10, make_frame(broadcast, r10), at(0)).ports, set_of({1, 2, 3}));
}

TEST(forwarder, learned_uplink_gets_unicast_but_never_floods) {
  // Group mode: uplink 10 is the multicast group, 12 a peer learned from its traffic.
  forwarder f = make_forwarder();
  f.remove_port(11);
  f.add_port(12, port_role::learned_uplink);
  constexpr std::string_view r12 = "02:00:00:00:00:12";
  // Broadcast from a local port: every local port and the group, not the learned peer.
  EXPECT_EQ(f.decide(1, make_frame(broadcast, h1), at(0)).ports, set_of({2, 3, 10}));
  // From the learned peer: split horizon, local ports only.
  EXPECT_EQ(f.decide(12, make_frame(broadcast, r12), at(0)).ports, set_of({1, 2, 3}));
  // Known unicast to a MAC behind the learned peer goes to it directly.
  const l2::forward_decision d = f.decide(1, make_frame(r12, h1), at(0));
  EXPECT_EQ(d.kind, l2::forward_decision::action::unicast) << describe(d);
  EXPECT_EQ(d.port, 12);
  // Unicast from the learned peer to a MAC behind the group port: split horizon.
  teach(f, 10, r10);
  EXPECT_EQ(f.decide(12, make_frame(r10, r12), at(0)).reason, l2::drop_reason::split_horizon);
  // Re-added as a plain uplink it floods again; removed, nothing remains.
  f.add_port(12, port_role::uplink);
  EXPECT_EQ(f.decide(1, make_frame(broadcast, h1), at(0)).ports, set_of({2, 3, 10, 12}));
  f.add_port(12, port_role::learned_uplink);
  f.remove_port(12);
  f.add_port(12, port_role::uplink);
  EXPECT_EQ(f.decide(1, make_frame(broadcast, h1), at(0)).ports, set_of({2, 3, 10, 12}));
}

TEST(forwarder, runt_counted_in_drops) {
  forwarder f = make_forwarder();
  const byte_vector runt = l2_test::bytes({0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09,
                                           0x0a, 0x0b, 0x0c, 0x0d});
  EXPECT_EQ(f.decide(1, runt, at(0)).reason, drop_reason::runt);
  EXPECT_EQ(f.decide(1, runt, at(0)).reason, drop_reason::runt);
  EXPECT_EQ(f.drops()[drop_reason::runt], 2u);
  EXPECT_EQ(f.drops().total(), 2u);
}

TEST(forwarder, single_port_has_no_egress) {
  forwarder f(16, 300s);
  f.add_port(0, port_role::local);
  const l2::forward_decision d = f.decide(0, make_frame(broadcast, h1), at(0));
  EXPECT_EQ(d.kind, action::drop);
  EXPECT_EQ(d.reason, drop_reason::no_egress);
  EXPECT_EQ(f.drops()[drop_reason::no_egress], 1u);
  // The source was still learned.
  EXPECT_EQ(f.table().lookup(0, mac(h1), at(0)), 0);
}

TEST(forwarder, aging_turns_unicast_into_flood) {
  forwarder f = make_forwarder();
  teach(f, 2, h2);  // at time 0
  EXPECT_EQ(f.decide(1, make_frame(h2, h1), at(300)).kind, action::unicast);
  EXPECT_EQ(f.decide(1, make_frame(h2, h1), at(301)).kind, action::flood);
  EXPECT_EQ(f.age(at(301)), 1u);  // h2; h1 was refreshed at 300
  EXPECT_EQ(f.table().count(), 1u);
}

TEST(forwarder, full_table_still_forwards_by_flooding) {
  forwarder f(1, 300s);
  f.add_port(1, port_role::local);
  f.add_port(2, port_role::local);
  teach(f, 1, h1);
  EXPECT_EQ(f.table().learn(0, mac(h2), 2, at(0)), l2::learn_result::table_full);
  const l2::forward_decision d = f.decide(2, make_frame(h1, h2), at(0));
  EXPECT_EQ(d.kind, action::unicast);
  EXPECT_EQ(d.port, 1);
  EXPECT_EQ(f.decide(1, make_frame(h2, h1), at(0)).ports, set_of({2}));
}

TEST(port_set, basics) {
  l2::port_set s;
  EXPECT_TRUE(s.empty());
  s.insert(0);
  s.insert(5);
  s.insert(static_cast<port_id>(l2::max_ports - 1));
  EXPECT_EQ(s.count(), 3u);
  EXPECT_TRUE(s.contains(5));
  EXPECT_FALSE(s.contains(4));
  EXPECT_FALSE(s.contains(l2::no_port));
  std::vector<port_id> members;
  s.for_each([&](port_id p) { members.push_back(p); });
  EXPECT_EQ(members, (std::vector<port_id>{0, 5, static_cast<port_id>(l2::max_ports - 1)}));
  s.erase(5);
  EXPECT_FALSE(s.contains(5));
  l2::port_set t = set_of({0, 7});
  t &= s;
  EXPECT_EQ(t, set_of({0}));
  t |= set_of({3});
  EXPECT_EQ(t, set_of({0, 3}));
  t.clear();
  EXPECT_TRUE(t.empty());
  members.clear();
  t.for_each([&](port_id p) { members.push_back(p); });
  EXPECT_TRUE(members.empty());
}

}  // namespace

namespace {

// VLANs: ports 1 and 2 access VLAN 10, port 3 access VLAN 20, port 4 a trunk
// of 10 and 20 (native 1), port 5 transparent, uplink 10 transparent.
forwarder make_vlan_forwarder() {
  forwarder f(1024, 300s);
  f.add_port(1, port_role::local, l2::vlan_mode::access(10));
  f.add_port(2, port_role::local, l2::vlan_mode::access(10));
  f.add_port(3, port_role::local, l2::vlan_mode::access(20));
  l2::vlan_set trunk;
  trunk.set(10);
  trunk.set(20);
  f.add_port(4, port_role::local, l2::vlan_mode::trunk(trunk, 1));
  f.add_port(5, port_role::local);
  f.add_port(10, port_role::uplink);
  return f;
}

TEST(forwarder_vlans, a_flood_stays_in_its_vlan) {
  forwarder f = make_vlan_forwarder();
  const auto d = f.decide(1, make_frame(broadcast, h1), at(0));
  ASSERT_EQ(d.kind, action::flood);
  EXPECT_EQ(d.vlan, 10);
  EXPECT_EQ(d.ports, set_of({2, 4, 5, 10})) << "not port 3 (VLAN 20)";
  const auto d20 = f.decide(4, make_frame(broadcast, h2, 20), at(0));
  EXPECT_EQ(d20.vlan, 20);
  EXPECT_EQ(d20.ports, set_of({3, 5, 10}));
  const auto native = f.decide(4, make_frame(broadcast, h3), at(0));
  EXPECT_EQ(native.vlan, 1);
  EXPECT_EQ(native.ports, set_of({5, 10})) << "only the ports carrying VLAN 1";
}

TEST(forwarder_vlans, the_same_mac_in_two_vlans_is_two_entries) {
  forwarder f = make_vlan_forwarder();
  f.decide(1, make_frame(broadcast, h1), at(0));      // h1 in VLAN 10 on port 1
  f.decide(3, make_frame(broadcast, h1), at(0));      // h1 in VLAN 20 on port 3: not a move
  EXPECT_EQ(f.table().count(), 2u);
  EXPECT_EQ(f.table().counters().moved, 0u);
  EXPECT_EQ(f.table().lookup(10, mac(h1), at(0)), port_id{1});
  EXPECT_EQ(f.table().lookup(20, mac(h1), at(0)), port_id{3});
  const auto to10 = f.decide(4, make_frame(h1, h2, 10), at(0));
  EXPECT_EQ(to10.kind, action::unicast);
  EXPECT_EQ(to10.port, 1);
  const auto to20 = f.decide(4, make_frame(h1, h2, 20), at(0));
  EXPECT_EQ(to20.port, 3);
}

TEST(forwarder_vlans, frames_a_port_does_not_take_are_dropped) {
  forwarder f = make_vlan_forwarder();
  EXPECT_EQ(f.decide(1, make_frame(broadcast, h1, 10), at(0)).reason, drop_reason::vlan_not_allowed)
      << "a tagged frame on an access port";
  EXPECT_EQ(f.decide(4, make_frame(broadcast, h1, 30), at(0)).reason, drop_reason::vlan_not_allowed)
      << "a VLAN the trunk does not list";
  EXPECT_EQ(f.drops()[drop_reason::vlan_not_allowed], 2u);
  EXPECT_EQ(f.table().count(), 0u) << "nothing learned from them";
  // A static entry can point across VLANs; the frame is dropped, not leaked.
  ASSERT_TRUE(f.table().add_static(20, mac(h3), 1));
  EXPECT_EQ(f.decide(3, make_frame(h3, h2), at(0)).reason, drop_reason::vlan_not_allowed);
}

TEST(forwarder_vlans, the_decision_carries_the_tag_as_it_arrived) {
  forwarder f = make_vlan_forwarder();
  l2::frame_header h;
  h.destination = mac(broadcast);
  h.source = mac(h2);
  h.tag = l2::vlan_tag{5, false, 20};
  h.ethertype = 0x0800;
  const auto d = f.decide(4, l2_test::make_frame(h), at(0));
  ASSERT_TRUE(d.tag);
  EXPECT_EQ(d.tag->pcp, 5);
  EXPECT_EQ(d.tag->vid, 20);
  EXPECT_FALSE(f.decide(1, make_frame(broadcast, h1), at(0)).tag);
}

}  // namespace

namespace {

TEST(forwarder_storm, broadcast_over_the_limit_is_dropped_per_port_and_kind) {
  forwarder f = make_forwarder();
  f.set_storm_limits(1, {100, 0, 50});  // 100 broadcasts/s, 50 unknown unicasts/s
  // In one instant: the burst (a tenth of a second's worth, at least 8) passes.
  int passed = 0;
  for (int k = 0; k < 100; ++k) {
    if (f.decide(1, make_frame(broadcast, h1), at(0)).kind == action::flood) ++passed;
  }
  EXPECT_EQ(passed, 10);
  EXPECT_EQ(f.drops()[drop_reason::storm_broadcast], 90u);
  // Another port is not limited; unknown unicast has its own bucket (burst 8).
  EXPECT_EQ(f.decide(2, make_frame(broadcast, h2), at(0)).kind, action::flood);
  passed = 0;
  for (int k = 0; k < 20; ++k) {
    if (f.decide(1, make_frame(r11, h1), at(0)).kind == action::flood) ++passed;
  }
  EXPECT_EQ(passed, 8);
  EXPECT_EQ(f.drops()[drop_reason::storm_unknown], 12u);
  // Known unicast is never limited.
  teach(f, 2, h2);
  EXPECT_EQ(f.decide(1, make_frame(h2, h1), at(0)).kind, action::unicast);
  // The bucket refills at the rate: 1 s later, 100 more (capped at the burst of 10).
  passed = 0;
  for (int k = 0; k < 100; ++k) {
    if (f.decide(1, make_frame(broadcast, h1), at(1)).kind == action::flood) ++passed;
  }
  EXPECT_EQ(passed, 10);
}

TEST(forwarder_storm, multicast_has_its_own_limit) {
  forwarder f = make_forwarder();
  f.set_storm_limits(1, {0, 10, 0});
  int passed = 0;
  for (int k = 0; k < 20; ++k) {
    if (f.decide(1, make_frame("01:00:5e:00:00:01", h1), at(0)).kind == action::flood) ++passed;
  }
  EXPECT_EQ(passed, 8);
  EXPECT_EQ(f.drops()[drop_reason::storm_multicast], 12u);
  EXPECT_EQ(f.decide(1, make_frame(broadcast, h1), at(0)).kind, action::flood) << "broadcast is not limited";
  f.set_storm_limits(1, {});
  EXPECT_EQ(f.decide(1, make_frame("01:00:5e:00:00:01", h1), at(0)).kind, action::flood);
}

TEST(forwarder_flap, the_decision_says_when_a_source_starts_flapping) {
  forwarder f = make_forwarder();
  f.table().set_move_damping(2, 10s, 30s);
  EXPECT_FALSE(f.decide(1, make_frame(broadcast, h1), at(0)).flapped);
  EXPECT_FALSE(f.decide(2, make_frame(broadcast, h1), at(1)).flapped);
  EXPECT_FALSE(f.decide(1, make_frame(broadcast, h1), at(2)).flapped);
  EXPECT_TRUE(f.decide(2, make_frame(broadcast, h1), at(3)).flapped);
  EXPECT_FALSE(f.decide(2, make_frame(broadcast, h1), at(4)).flapped) << "once";
  EXPECT_EQ(f.table().lookup(0, mac(h1), at(4)), port_id{1});
}

}  // namespace
