// The port registry with a fake port factory: ports opened with their port
// options, open failures named by option, static MAC entries kept across a
// reopen, ports whose interface went away attached again when it is back (or
// waited for while their name is something else), and a reload plan applied.
#include "switchd/port_registry.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <vector>

#include "l2/frame.hpp"
#include "tests/switchd/fake_port.hpp"

namespace switchd {
namespace {

using testing::fake_port;

l2::time_point fake_now_value{};
l2::time_point fake_now() { return fake_now_value; }

/// Makes fake ports; names in `refuse` fail to open, as a missing device would.
class fake_factory final : public port_factory {
 public:
  std::unique_ptr<ports::port> open(const port_spec& spec, l2::port_id id) override {
    if (refuse.count(spec.name) != 0) {
      throw ports::port_error(spec.name + ": is a veth now, not a TAP; delete it or choose another name");
    }
    ++opened;
    auto p = std::make_unique<fake_port>(id, spec.name);
    last = p.get();
    return p;
  }
  bool interface_exists(const std::string& name) const override { return exists.count(name) != 0; }
  std::unique_ptr<ports::port> open_stream(ports::stream_connection, l2::port_id id,
                                           const std::string& name, gone_handler) override {
    return std::make_unique<fake_port>(id, name, ports::port_kind::stream);
  }

  std::set<std::string> refuse;
  std::set<std::string> exists;
  int opened = 0;
  fake_port* last = nullptr;
};

const l2::mac_address static_mac{{0x02, 0, 0, 0, 0, 0x51}};

class port_registry_test : public ::testing::Test {
 protected:
  port_registry_test() : dp_(io_, 64, std::chrono::seconds(300), &fake_now), registry_(dp_, factory_) {}

  fake_port& port(const std::string& name) {
    return static_cast<fake_port&>(*dp_.ports()[*registry_.named(name)]);
  }
  /// A frame from `src` arrives on `p` (its source is learned there).
  void frame_from(fake_port& p, std::uint8_t src) {
    std::vector<std::byte> frame(60, std::byte{0});
    const l2::mac_address dst{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
    const l2::mac_address from{{0x02, 0, 0, 0, 1, src}};
    l2::emit(l2::frame_header{dst, from, std::nullopt, 0x0800}, frame);
    p.inject(frame);
  }

  boost::asio::io_context io_;
  datapath dp_;
  fake_factory factory_;
  port_registry registry_;
};

TEST_F(port_registry_test, opens_a_port_with_its_port_options) {
  registry_.open(parse_port_spec("tap0,max-macs=2"));
  registry_.open(parse_port_spec("tap1"));
  dp_.start();
  ASSERT_TRUE(registry_.named("tap0"));
  EXPECT_EQ(registry_.opened().at("tap0").options.max_macs, 2u);
  for (std::uint8_t i = 0; i < 5; ++i) frame_from(port("tap0"), i);
  EXPECT_EQ(dp_.forwarder().table().port_count(*registry_.named("tap0")), 2u);  // max-macs=2
  EXPECT_EQ(port("tap1").sent.size(), 5u);  // (flooded all the same)
}

TEST_F(port_registry_test, an_open_failure_names_the_option_and_the_fix) {
  factory_.refuse.insert("tap9");
  try {
    registry_.open(parse_port_spec("tap:tap9"), "port add");
    FAIL() << "no error";
  } catch (const startup_error& e) {
    EXPECT_STREQ(e.what(), "port add tap:tap9: is a veth now, not a TAP; delete it or choose another name");
  }
  EXPECT_FALSE(registry_.named("tap9"));
  EXPECT_EQ(registry_.opened().count("tap9"), 0u);
}

TEST_F(port_registry_test, one_port_too_many_is_refused_by_name) {
  for (std::size_t i = 0; i < l2::max_ports; ++i) {
    std::string name = "p";  // (appends only: GCC 12 -O3 warns falsely, -Wrestrict, on "p" + string)
    name += std::to_string(i);
    registry_.open(parse_port_spec(name));
  }
  try {
    registry_.open(parse_port_spec("tap:one-more"), "port add");
    FAIL() << "no error";
  } catch (const startup_error& e) {
    EXPECT_STREQ(e.what(), "port add tap:one-more: too many ports (at most 1024 ports and uplinks together)");
  }
  EXPECT_EQ(factory_.opened, static_cast<int>(l2::max_ports));  // nothing opened for it
}

TEST_F(port_registry_test, removal_runs_the_hook_first_and_forgets_the_spec) {
  registry_.open(parse_port_spec("tap0"));
  std::vector<std::string> seen;
  registry_.on_remove([&](l2::port_id id) { seen.push_back(dp_.ports()[id]->name()); });
  registry_.remove(*registry_.named("tap0"));
  EXPECT_EQ(seen, std::vector<std::string>{"tap0"});
  EXPECT_FALSE(registry_.named("tap0"));
  EXPECT_TRUE(registry_.opened().empty());
}

TEST_F(port_registry_test, static_entries_stay_with_a_port_opened_again) {
  registry_.open(parse_port_spec("tap0"));
  ASSERT_TRUE(dp_.forwarder().table().add_static(0, static_mac, *registry_.named("tap0")));
  registry_.remove_to_reopen(*registry_.named("tap0"));
  EXPECT_FALSE(dp_.forwarder().table().lookup(0, static_mac, fake_now()));
  registry_.reopen(parse_port_spec("tap0,max-macs=9"), "--port");
  EXPECT_EQ(dp_.forwarder().table().lookup(0, static_mac, fake_now()), registry_.named("tap0"));
}

TEST_F(port_registry_test, a_newer_fdb_del_wins_over_a_held_entry) {
  registry_.open(parse_port_spec("tap0"));
  ASSERT_TRUE(dp_.forwarder().table().add_static(0, static_mac, *registry_.named("tap0")));
  registry_.remove_to_reopen(*registry_.named("tap0"));
  EXPECT_TRUE(registry_.forget_held_static(0, static_mac));
  registry_.reopen(parse_port_spec("tap0"), "--port");
  EXPECT_FALSE(dp_.forwarder().table().lookup(0, static_mac, fake_now()));
}

TEST_F(port_registry_test, an_interface_deleted_and_back_is_attached_again_with_its_entries) {
  registry_.open(parse_port_spec("tap0,max-macs=3"));
  ASSERT_TRUE(dp_.forwarder().table().add_static(0, static_mac, *registry_.named("tap0")));
  factory_.last->gone = true;
  registry_.reattach_gone();  // not back yet: nothing happens
  EXPECT_EQ(factory_.opened, 1);
  factory_.exists.insert("tap0");
  registry_.reattach_gone();
  EXPECT_EQ(factory_.opened, 2);
  EXPECT_FALSE(port("tap0").gone);
  EXPECT_EQ(registry_.opened().at("tap0").options.max_macs, 3u);
  EXPECT_EQ(dp_.forwarder().table().lookup(0, static_mac, fake_now()), registry_.named("tap0"));
}

TEST_F(port_registry_test, a_name_back_as_something_else_is_waited_for_until_it_fits) {
  registry_.open(parse_port_spec("tap0"));
  ASSERT_TRUE(dp_.forwarder().table().add_static(0, static_mac, *registry_.named("tap0")));
  factory_.last->gone = true;
  factory_.exists.insert("tap0");
  factory_.refuse.insert("tap0");  // back as a veth
  registry_.reattach_gone();
  EXPECT_FALSE(registry_.named("tap0"));
  EXPECT_EQ(registry_.waited_for(), std::set<std::string>{"tap0"});
  registry_.reattach_gone();  // still a veth: still waited for
  EXPECT_EQ(registry_.waited_for().size(), 1u);
  factory_.refuse.clear();  // a TAP again
  registry_.reattach_gone();
  EXPECT_TRUE(registry_.named("tap0"));
  EXPECT_TRUE(registry_.waited_for().empty());
  EXPECT_EQ(dp_.forwarder().table().lookup(0, static_mac, fake_now()), registry_.named("tap0"));
}

TEST_F(port_registry_test, a_port_waited_for_can_be_given_up) {
  registry_.open(parse_port_spec("tap0"));
  factory_.last->gone = true;
  factory_.exists.insert("tap0");
  factory_.refuse.insert("tap0");
  registry_.reattach_gone();
  EXPECT_FALSE(registry_.stop_waiting("tap1"));
  EXPECT_TRUE(registry_.stop_waiting("tap0"));  // vswitchctl port del tap0
  EXPECT_TRUE(registry_.waited_for().empty());
  EXPECT_TRUE(registry_.opened().empty());
  factory_.refuse.clear();
  registry_.reattach_gone();
  EXPECT_FALSE(registry_.named("tap0"));  // not coming back
}

TEST_F(port_registry_test, a_reload_plan_is_applied_port_by_port) {
  registry_.open(parse_port_spec("tap0"));
  registry_.open(parse_port_spec("tap1"));
  registry_.open(parse_port_spec("tap2"));
  factory_.refuse.insert("tap4");
  reload_plan plan;
  plan.ports_to_remove = {"tap1"};
  plan.ports_to_open = {{parse_port_spec("tap2,max-macs=7"), true, false},
                        {parse_port_spec("tap3"), false, false},
                        {parse_port_spec("tap4"), false, false}};
  const port_changes done = registry_.apply(plan);
  EXPECT_EQ(done.removed, std::vector<std::string>{"tap1"});
  EXPECT_EQ(done.changed, std::vector<std::string>{"tap2"});
  EXPECT_EQ(done.added, std::vector<std::string>{"tap3"});
  ASSERT_EQ(done.failed.size(), 1u);
  EXPECT_NE(done.failed[0].find("--port tap4: is a veth now"), std::string::npos);
  EXPECT_TRUE(registry_.named("tap0"));
  EXPECT_FALSE(registry_.named("tap1"));
  EXPECT_EQ(registry_.opened().at("tap2").options.max_macs, 7u);
  EXPECT_TRUE(registry_.named("tap3"));
}

}  // namespace
}  // namespace switchd
