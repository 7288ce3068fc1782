// Command line and config file parsing: good input gives the settings; every
// bad input names the option and the fix.
#include "switchd/options.hpp"
#include "ports/identity.hpp"

#include <gtest/gtest.h>

#include "tests/switchd/parse_args.hpp"

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace switchd {
namespace {

using testing::parse;

/// The options_error message parse() throws, or "" if it does not throw.
std::string error_of(std::vector<std::string> args) {
  try {
    parse(std::move(args));
  } catch (const options_error& e) {
    return e.what();
  }
  return "";
}

TEST(options, defaults_and_ports) {
  const command cmd = parse({"--port", "tap0", "--port", "tap:tap1", "--port", "dev:qtap0"});
  ASSERT_EQ(cmd.what, command::action::run);
  const options& o = cmd.opts;
  ASSERT_EQ(o.ports.size(), 3u);
  EXPECT_EQ(o.ports[0].mode, port_mode::automatic);
  EXPECT_EQ(o.ports[0].name, "tap0");
  EXPECT_EQ(o.ports[1].mode, port_mode::tap);
  EXPECT_EQ(o.ports[1].name, "tap1");
  EXPECT_EQ(o.ports[2].mode, port_mode::device);
  EXPECT_EQ(o.ports[2].name, "qtap0");
  EXPECT_EQ(o.vni, 1u);
  EXPECT_EQ(o.mac_aging, 300u);
  EXPECT_EQ(o.mac_table_size, 8192u);
  EXPECT_EQ(o.log_level, "info");
  EXPECT_FALSE(o.listen.has_value());
}

TEST(options, uplinks_in_every_address_form) {
  const command cmd = parse({"--uplink", "otherhost:4789", "--uplink", "192.0.2.1:5000",
                             "--uplink", "[2001:db8::1]:4790", "--listen", "[::]:4789", "--vni",
                             "16777215"});
  const options& o = cmd.opts;
  ASSERT_EQ(o.uplinks.size(), 3u);
  EXPECT_EQ(o.uplinks[0].host, "otherhost");
  EXPECT_EQ(o.uplinks[0].port, 4789);
  EXPECT_EQ(o.uplinks[1].host, "192.0.2.1");
  EXPECT_EQ(o.uplinks[2].host, "2001:db8::1");
  EXPECT_EQ(o.uplinks[2].port, 4790);
  ASSERT_TRUE(o.listen.has_value());
  EXPECT_EQ(o.listen->host, "::");
  EXPECT_EQ(o.vni, 16777215u);
}

TEST(options, help_and_version) {
  const command help = parse({"--help"});
  EXPECT_EQ(help.what, command::action::help);
  EXPECT_NE(help.text.find("--port"), std::string::npos);
  EXPECT_NE(help.text.find("default 300"), std::string::npos);
  EXPECT_EQ(parse({"--version"}).what, command::action::version);
}

TEST(options, config_file_takes_the_same_options) {
  const std::string path = ::testing::TempDir() + "vswitchd_options_test.conf";
  {
    std::ofstream out(path);
    out << "# a comment\nport = tap0\nport = dev:veth1\nuplink = 192.0.2.7:4789\n"
           "vni = 42\nmac-aging = 60\nmac-table-size = 100\nlog-level = debug\n";
  }
  const command cmd = parse({"--config", path, "--port", "tap9"});
  const options& o = cmd.opts;
  ASSERT_EQ(o.ports.size(), 3u);
  EXPECT_EQ(o.ports[0].name, "tap9") << "the command line comes first";
  EXPECT_EQ(o.ports[2].name, "veth1");
  EXPECT_EQ(o.vni, 42u);
  EXPECT_EQ(o.mac_aging, 60u);
  EXPECT_EQ(o.mac_table_size, 100u);
  EXPECT_EQ(o.log_level, "debug");
  std::remove(path.c_str());
}

TEST(options, port_options_follow_the_name) {
  const options o = parse({"--port", "tap0,max-macs=64", "--port", "dev:veth1"}).opts;
  ASSERT_EQ(o.ports.size(), 2u);
  EXPECT_EQ(o.ports[0].name, "tap0");
  EXPECT_EQ(o.ports[0].options.max_macs, 64u);
  EXPECT_EQ(o.ports[0].text, "tap0,max-macs=64");
  EXPECT_EQ(o.ports[1].options.max_macs, 0u) << "no limit unless asked";
  EXPECT_FALSE(parse_port_spec("tap0") == parse_port_spec("tap0,max-macs=5"));
  EXPECT_TRUE(parse_port_spec("tap:tap0,max-macs=5") == parse_port_spec("tap:tap0,max-macs=5"));
  EXPECT_FALSE(parse_port_spec("tap:tap0") == parse_port_spec("dev:tap0"));
}

TEST(options, vlan_port_options) {
  const options o = parse({"--port", "tap0,vlan=10", "--port", "tap1,trunk=10,20-22,native=1",
                           "--port", "tap2,trunk=30,max-macs=4", "--port", "tap3"}).opts;
  EXPECT_EQ(o.ports[0].options.vlans, l2::vlan_mode::access(10));
  l2::vlan_set s;
  for (int v : {10, 20, 21, 22}) s.set(static_cast<std::size_t>(v));
  EXPECT_EQ(o.ports[1].options.vlans, l2::vlan_mode::trunk(s, 1));
  l2::vlan_set thirty;
  thirty.set(30);
  EXPECT_EQ(o.ports[2].options.vlans, l2::vlan_mode::trunk(thirty));
  EXPECT_EQ(o.ports[2].options.max_macs, 4u);
  EXPECT_EQ(o.ports[3].options.vlans, l2::vlan_mode::transparent());
}

TEST(options, uplink_vni_map) {
  const options o = parse({"--uplink", "h2:4789,vni-map=10:1010,20:1020", "--uplink", "[2001:db8::1]:4789"}).opts;
  ASSERT_EQ(o.uplinks.size(), 2u);
  EXPECT_EQ(o.uplinks[0].text, "h2:4789");
  EXPECT_EQ(o.uplinks[0].host, "h2");
  const std::vector<std::pair<l2::vlan_id, std::uint32_t>> want = {{10, 1010}, {20, 1020}};
  EXPECT_EQ(o.uplinks[0].vni_map, want);
  EXPECT_TRUE(o.uplinks[1].vni_map.empty());
}

TEST(options, flood_and_storm_protection) {
  const options d = parse({"--port", "tap0"}).opts;
  EXPECT_TRUE(d.mac_table_evict);
  EXPECT_EQ(d.mac_move_limit, 5u);
  EXPECT_EQ(d.mac_move_window, 10u);
  EXPECT_EQ(d.mac_hold_down, 30u);
  const options o = parse({"--port", "tap0,bcast-limit=100,mcast-limit=200,unknown-limit=300,max-macs=64",
                           "--mac-table-full", "refuse", "--mac-move-limit", "0"}).opts;
  EXPECT_FALSE(o.mac_table_evict);
  EXPECT_EQ(o.mac_move_limit, 0u);
  EXPECT_EQ(o.ports[0].options.storm, (l2::storm_limits{100, 200, 300}));
  EXPECT_EQ(o.ports[0].options.max_macs, 64u);
}

TEST(options, control_socket_and_metrics) {
  const options d = parse({"--port", "tap0"}).opts;
  EXPECT_EQ(d.control, "/run/vswitchd/vswitchd.ctl");
  EXPECT_FALSE(d.metrics);
  const options o = parse({"--port", "tap0", "--control", "/tmp/x.ctl", "--metrics", "127.0.0.1:9310"}).opts;
  EXPECT_EQ(o.control, "/tmp/x.ctl");
  ASSERT_TRUE(o.metrics);
  EXPECT_EQ(o.metrics->host, "127.0.0.1");
  EXPECT_EQ(o.metrics->port, 9310);
  EXPECT_EQ(parse({"--port", "tap0", "--control", "none"}).opts.control, "none");
}

TEST(options, listen_alone_opens_the_uplink_socket_for_runtime_uplinks) {
  const options o = parse({"--listen", "0.0.0.0:4789"}).opts;
  EXPECT_TRUE(o.ports.empty());
  ASSERT_TRUE(o.listen);
  EXPECT_EQ(o.listen->port, 4789);
}

TEST(options, every_option_and_port_options_in_the_config_file) {
  const std::string path = ::testing::TempDir() + "vswitchd_options_every.conf";
  {
    std::ofstream out(path);
    out << "port = tap0,max-macs=10\nport = dev:veth1\nuplink = 192.0.2.7:4789\n"
           "listen = 0.0.0.0:4790\nvni = 42\nmac-aging = 60\nmac-table-size = 100\n"
           "log-level = debug\nlog-file = /tmp/v.log\npid-file = /tmp/v.pid\nuser = nobody\n"
           "control = /tmp/v.ctl\nmetrics = 127.0.0.1:9310\nkey-file = /tmp/k\n"
           "keepalive = 2\npeer-timeout = 9\nresolve-interval = 30\nunderlay-mtu = 9000\n"
           "clamp-mss = true\npeers-file = /tmp/peers\nbusy-poll = 50\n";
  }
  const options o = parse({"--config", path}).opts;
  ASSERT_EQ(o.ports.size(), 2u);
  EXPECT_EQ(o.ports[0].options.max_macs, 10u);
  EXPECT_EQ(o.listen->port, 4790);
  EXPECT_EQ(o.vni, 42u);
  EXPECT_EQ(o.log_file, "/tmp/v.log");
  EXPECT_EQ(o.pid_file, "/tmp/v.pid");
  EXPECT_EQ(o.user, "nobody");
  EXPECT_EQ(o.control, "/tmp/v.ctl");
  EXPECT_EQ(o.metrics->port, 9310);
  EXPECT_EQ(o.key_file, "/tmp/k");
  EXPECT_EQ(o.keepalive, 2u);
  EXPECT_EQ(o.peer_timeout, 9u);
  EXPECT_EQ(o.resolve_interval, 30u);
  EXPECT_EQ(o.underlay_mtu, 9000u);
  EXPECT_TRUE(o.clamp_mss);
  EXPECT_EQ(o.peers_file, "/tmp/peers");
  EXPECT_EQ(o.busy_poll, 50u);
  EXPECT_EQ(o.config_file, path);
  std::remove(path.c_str());
}

struct bad_case {
  std::vector<std::string> args;
  std::vector<std::string> expected;  ///< fragments the message must contain
};

class options_errors : public ::testing::TestWithParam<bad_case> {};

TEST_P(options_errors, name_the_option_and_the_fix) {
  const std::string message = error_of(GetParam().args);
  ASSERT_FALSE(message.empty()) << "no error for a bad command line";
  for (const std::string& fragment : GetParam().expected) {
    EXPECT_NE(message.find(fragment), std::string::npos)
        << "message: " << message << "\nmissing: " << fragment;
  }
}

INSTANTIATE_TEST_SUITE_P(
    all, options_errors,
    ::testing::Values(
        bad_case{{"--prot", "tap0"}, {"prot", "--help"}},
        bad_case{{}, {"no ports", "--port"}},
        bad_case{{"--port", "tap0", "--port", "tap0"}, {"tap0", "twice"}},
        bad_case{{"--port", "tap0", "--port", "dev:tap0"}, {"twice"}},
        bad_case{{"--port", "averyveryverylongname"}, {"--port", "15 characters"}},
        bad_case{{"--port", "foo:tap0"}, {"unknown port kind", "dev:NAME"}},
        bad_case{{"--port", "tap:"}, {"--port", "empty"}},
        bad_case{{"--uplink", "otherhost"}, {"--uplink otherhost", "HOST:PORT"}},
        bad_case{{"--uplink", "otherhost:0"}, {"--uplink", "1 to 65535"}},
        bad_case{{"--uplink", "otherhost:65536"}, {"--uplink", "1 to 65535"}},
        bad_case{{"--uplink", "otherhost:http"}, {"--uplink", "not a number"}},
        bad_case{{"--uplink", "2001:db8::1:4789"}, {"--uplink", "brackets"}},
        bad_case{{"--uplink", "[2001:db8::1]4789"}, {"--uplink", "[ADDR]:PORT"}},
        bad_case{{"--uplink", ":4789"}, {"--uplink", "no host or address"}},
        bad_case{{"--uplink", "h:1", "--uplink", "h:1"}, {"--uplink h:1", "twice"}},
        bad_case{{"--port", "tap0", "--vni", "16777216"}, {"--vni", "24 bits"}},
        bad_case{{"--port", "tap0", "--vni", "-1"}, {"--vni", "not a number"}},
        bad_case{{"--port", "tap0", "--mac-aging", "0"}, {"--mac-aging", "1 to"}},
        bad_case{{"--port", "tap0", "--mac-table-size", "0"}, {"--mac-table-size"}},
        bad_case{{"--port", "tap0", "--log-level", "loud"}, {"--log-level", "trace"}},
        bad_case{{"--port", "tap0,max-macs=0"}, {"--port tap0,max-macs=0", "1 to 16777216"}},
        bad_case{{"--port", "tap0,max-macs"}, {"'max-macs' is not an option", "tap0,max-macs=64"}},
        bad_case{{"--port", "tap0,speed=10"}, {"unknown port option 'speed'", "max-macs=N"}},
        bad_case{{"--port", "tap0,max-macs=1,max-macs=2"}, {"max-macs is given twice"}},
        bad_case{{"--port", "tap0,vlan=0"}, {"--port tap0,vlan=0: vlan", "1 to 4094"}},
        bad_case{{"--port", "tap0,vlan=4095"}, {"vlan", "1 to 4094"}},
        bad_case{{"--port", "tap0,vlan=10,trunk=20"}, {"exclude each other"}},
        bad_case{{"--port", "tap0,native=1"}, {"native= belongs to a trunk", "vlan=1"}},
        bad_case{{"--port", "tap0,trunk=20-10"}, {"runs backwards", "10-20"}},
        bad_case{{"--port", "tap0,trunk=10,x"}, {"trunk x", "not a number", "10,20,30-39"}},
        bad_case{{"--port", "tap0,trunk="}, {"trunk: empty"}},
        bad_case{{"--port", "tap0,bcast-limit=0"}, {"bcast-limit", "from 1 to 100000000"}},
        bad_case{{"--port", "tap0", "--mac-table-full", "drop"}, {"--mac-table-full drop", "evict or refuse"}},
        bad_case{{"--port", "tap0", "--mac-move-window", "0"}, {"--mac-move-window", "1 to 3600"}},
        bad_case{{"--port", "tap0", "--busy-poll", "2000000"}, {"--busy-poll", "0 (off) to 1000000"}},
        bad_case{{"--port", "tap0", "--busy-poll", "1ms"}, {"--busy-poll", "not a number"}},
        bad_case{{"--uplink", "h:1,vni-map=10"}, {"'10' is not VLAN:VNI", "10:1010"}},
        bad_case{{"--uplink", "h:1,vni-map=0:5"}, {"vni-map 0:5: VLAN", "1 to 4094"}},
        bad_case{{"--uplink", "h:1,vni-map=10:16777216"}, {"VNI", "0 to 16777215"}},
        bad_case{{"--uplink", "h:1,vni-map=10:5,10:6"}, {"mapped twice"}},
        bad_case{{"--uplink", "h:1,map=10:5"}, {"unknown uplink option 'map'", "vni-map=VLAN:VNI"}},
        bad_case{{"--uplink", "h:1,vni-map=10:5", "--key-file", "/k"}, {"plain VXLAN", "drop vni-map"}},
        bad_case{{"--port", "tap0", "--metrics", "9100"}, {"--metrics 9100", "ADDR:PORT", "127.0.0.1:9100"}},
        bad_case{{"--port", "tap0", "--metrics", "localhost:x"}, {"--metrics localhost:x", "not a number"}},
        bad_case{{"--config", "/nonexistent/vswitchd.conf"}, {"--config", "cannot read"}},
        bad_case{{"--port"}, {"port"}},
        bad_case{{"--port", "tap0", "--key-file", "/k"}, {"--key-file", "without uplinks"}},
        bad_case{{"--port", "tap0", "--clamp-mss"}, {"--clamp-mss", "without uplinks"}},
        bad_case{{"--uplink", "h:1", "--keepalive", "0"}, {"--keepalive", "1 to 3600"}},
        bad_case{{"--uplink", "h:1", "--keepalive", "5", "--peer-timeout", "5"},
                 {"--peer-timeout 5", "longer than --keepalive", "--peer-timeout 20"}},
        bad_case{{"--uplink", "h:1", "--peer-timeout", "1"}, {"--peer-timeout", "2 to"}},
        bad_case{{"--uplink", "h:1", "--underlay-mtu", "100"}, {"--underlay-mtu", "576"}},
        bad_case{{"--uplink", "h:1", "--resolve-interval", "x"}, {"--resolve-interval", "not a number"}}));

TEST(options, uplink_settings) {
  const command cmd = parse({"--uplink", "h:1", "--key-file", "/etc/vswitchd/key", "--keepalive",
                             "2", "--peer-timeout", "9", "--underlay-mtu", "9000", "--clamp-mss",
                             "--peers-file", "/etc/vswitchd/peers", "--resolve-interval", "30"});
  const options& o = cmd.opts;
  EXPECT_EQ(o.key_file, "/etc/vswitchd/key");
  EXPECT_EQ(o.keepalive, 2u);
  EXPECT_EQ(o.peer_timeout, 9u);
  EXPECT_EQ(o.underlay_mtu, 9000u);
  EXPECT_TRUE(o.clamp_mss);
  EXPECT_EQ(o.peers_file, "/etc/vswitchd/peers");
  EXPECT_EQ(o.resolve_interval, 30u);
  // Defaults.
  const options d = parse({"--uplink", "h:1"}).opts;
  EXPECT_FALSE(d.key_file);
  EXPECT_EQ(d.keepalive, 1u);
  EXPECT_EQ(d.peer_timeout, 5u);
  EXPECT_EQ(d.underlay_mtu, 0u);
  EXPECT_FALSE(d.clamp_mss);
  EXPECT_EQ(d.resolve_interval, 60u);
  // A peers file alone is enough to run (peers may come later).
  EXPECT_NO_THROW(parse({"--peers-file", "/p"}));
  EXPECT_EQ(parse({"--generate-key"}).what, command::action::generate_key);
}

TEST(options, service_settings) {
  const options o = parse({"--port", "tap0", "--pid-file", "/run/vswitchd/vswitchd.pid",
                           "--log-file", "/var/log/vswitchd.log", "--user", "vswitchd"}).opts;
  EXPECT_EQ(o.user, "vswitchd");
  EXPECT_EQ(o.pid_file, "/run/vswitchd/vswitchd.pid");
  EXPECT_EQ(o.log_file, "/var/log/vswitchd.log");
  const options d = parse({"--port", "tap0"}).opts;
  EXPECT_FALSE(d.pid_file);
  EXPECT_FALSE(d.log_file);
  EXPECT_FALSE(d.user);
}

TEST(options, peers_file_lines) {
  const std::vector<host_port> peers = parse_peers_file(
      "# the overlay\n10.0.0.2:4789\n  hostb   # comment\n\n[2001:db8::7]:5000\r\n", "p");
  ASSERT_EQ(peers.size(), 3u);
  EXPECT_EQ(peers[0].host, "10.0.0.2");
  EXPECT_EQ(peers[0].port, 4789);
  EXPECT_EQ(peers[1].host, "hostb");
  EXPECT_EQ(peers[1].port, 4789);
  EXPECT_EQ(peers[1].text, "hostb");
  EXPECT_EQ(peers[2].host, "2001:db8::7");
  EXPECT_EQ(peers[2].port, 5000);
  EXPECT_TRUE(parse_peers_file("# nobody yet\n", "p").empty());

  struct bad {
    const char* text;
    const char* expect;
  };
  for (const bad& b : {bad{"a:1\nb c\n", "line 2"}, bad{"a:1\na:1\n", "twice"},
                       bad{"a:0\n", "1 to 65535"}, bad{"2001:db8::1:4789\n", "brackets"}}) {
    try {
      parse_peers_file(b.text, "peers.txt");
      ADD_FAILURE() << "accepted: " << b.text;
    } catch (const options_error& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("peers.txt"), std::string::npos) << m;
      EXPECT_NE(m.find(b.expect), std::string::npos) << m;
    }
  }
}

TEST(options, unknown_key_in_config_file_is_named) {
  const std::string path = ::testing::TempDir() + "vswitchd_options_bad.conf";
  {
    std::ofstream out(path);
    out << "port = tap0\nprot = tap1\n";
  }
  const std::string message = error_of({"--config", path});
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("prot"), std::string::npos) << message;
  std::remove(path.c_str());
}

// ---- identities: peers by key, allowed keys ----

constexpr const char* alice = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=";
constexpr const char* bob = "ERa3K9QytDTrVc3yEH4V3PDUMCJR9TdwbyjCWEStihs=";

TEST(identity_options, uplinks_and_peers_files_name_peers_by_key) {
  const command c = testing::parse({"--identity", "/etc/id", "--uplink", std::string("10.0.0.2:4789,key=") + alice,
                                    "--uplink", std::string("h3:4789,key=") + bob});
  ASSERT_EQ(c.opts.uplinks.size(), 2u);
  EXPECT_EQ(ports::identity::to_base64(*c.opts.uplinks[0].key), alice);
  EXPECT_EQ(c.opts.uplinks[0].text, "10.0.0.2:4789");
  const std::vector<host_port> peers =
      parse_peers_file(std::string("10.0.0.2:4789 key=") + alice + "\nh3\tkey=" + bob + "  # third\n", "p");
  ASSERT_EQ(peers.size(), 2u);
  EXPECT_EQ(ports::identity::to_base64(*peers[1].key), bob);
  EXPECT_EQ(peers[1].port, 4789);
}

TEST(identity_options, peers_named_by_key_alone_and_names) {
  const command c = testing::parse({"--identity", "/etc/id", "--uplink", std::string("key=") + alice + ",name=laptop",
                                    "--uplink", std::string("key=") + bob, "--uplink",
                                    std::string("192.0.2.1:4789,key=") + alice + ",name=lighthouse"});
  ASSERT_EQ(c.opts.uplinks.size(), 3u);
  EXPECT_TRUE(c.opts.uplinks[0].key_only());
  EXPECT_EQ(c.opts.uplinks[0].text, "laptop");
  EXPECT_EQ(c.opts.uplinks[0].port, 0);
  EXPECT_EQ(c.opts.uplinks[1].text, std::string("key:") + std::string(bob).substr(0, 8));
  EXPECT_FALSE(c.opts.uplinks[2].key_only());
  EXPECT_EQ(c.opts.uplinks[2].text, "lighthouse");
  EXPECT_EQ(c.opts.uplinks[2].host, "192.0.2.1");
  const std::vector<host_port> peers = parse_peers_file(
      std::string("key=") + alice + " name=laptop\nkey=" + bob + "\n192.0.2.1 key=" + bob + " name=lh\n", "p");
  ASSERT_EQ(peers.size(), 3u);
  EXPECT_TRUE(peers[0].key_only());
  EXPECT_EQ(peers[0].text, "laptop");
  EXPECT_TRUE(peers[1].key_only());
  EXPECT_EQ(peers[2].text, "lh");
  EXPECT_EQ(peers[2].port, 4789);
  // Mistakes: a key listed twice, a bad name, vni-map without an address, no --identity.
  EXPECT_THROW(parse_peers_file(std::string("key=") + alice + "\nkey=" + alice + "\n", "p"), options_error);
  EXPECT_THROW(parse_peers_file(std::string("key=") + alice + " name=a,b\n", "p"), options_error);
  EXPECT_THROW(testing::parse({"--identity", "/i", "--uplink", std::string("key=") + alice + ",vni-map=10:1010"}),
               options_error);
  EXPECT_THROW(testing::parse({"--uplink", std::string("key=") + alice}), options_error);
  EXPECT_THROW(testing::parse({"--identity", "/i", "--uplink", "key=nope"}), options_error);
  // --relay: yes or no, with --identity.
  EXPECT_FALSE(testing::parse({"--identity", "/i", "--relay", "no", "--uplink", std::string("key=") + alice}).opts.relay);
  EXPECT_THROW(testing::parse({"--identity", "/i", "--relay", "maybe", "--uplink", std::string("key=") + alice}),
               options_error);
  EXPECT_THROW(testing::parse({"--relay", "no", "--uplink", "10.0.0.2:4789"}), options_error);
}

TEST(identity_options, every_mistake_names_itself_and_the_fix) {
  const auto error_of = [](std::vector<std::string> args) {
    try {
      testing::parse(std::move(args));
    } catch (const options_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error_of({"--identity", "/etc/id", "--uplink", "10.0.0.2:4789"}).find(",key=KEY"), std::string::npos);
  EXPECT_NE(error_of({"--uplink", std::string("10.0.0.2:4789,key=") + alice}).find("needs --identity"),
            std::string::npos);
  EXPECT_NE(error_of({"--identity", "/i", "--uplink", "10.0.0.2:4789,key=abc"}).find("44 characters"),
            std::string::npos);
  EXPECT_NE(error_of({"--identity", "/i", "--uplink", "10.0.0.2:4789,color=red"}).find("unknown uplink option"),
            std::string::npos);
  EXPECT_NE(error_of({"--allowed-keys", "/k", "--listen", "0.0.0.0:4789"}).find("need --identity"), std::string::npos);
  EXPECT_NE(error_of({"--identity", "/i"}).find("no effect without uplinks"), std::string::npos);
  EXPECT_THROW(parse_peers_file("10.0.0.2:4789 color=red\n", "p"), options_error);
}

TEST(identity_options, allowed_keys_files) {
  const std::vector<allowed_key> keys =
      parse_allowed_keys(std::string("# who may call\n") + alice + " laptop\n\n" + bob + "\n", "allowed");
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].name, "laptop");
  EXPECT_EQ(keys[1].name, "");
  EXPECT_EQ(ports::identity::to_base64(keys[1].key), bob);
  const auto error_of = [](const std::string& text) {
    try {
      parse_allowed_keys(text, "allowed");
    } catch (const options_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error_of("\nnot-a-key\n").find("--allowed-keys allowed line 2:"), std::string::npos);
  EXPECT_NE(error_of(std::string(alice) + "\n" + alice + " again\n").find("the same key"), std::string::npos);
  EXPECT_NE(error_of(std::string(alice) + " two words\n").find("one word"), std::string::npos);
  EXPECT_TRUE(parse_allowed_keys("# nobody\n", "allowed").empty());
}

}  // namespace
}  // namespace switchd
