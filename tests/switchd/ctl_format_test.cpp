// vswitchctl without a daemon: each command line gives exactly the request of
// docs/control-protocol.md or a usage error naming the problem; each result shows
// as the table or line a user reads; capture writes a pcap file tcpdump reads.
#include "switchd/ctl_format.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

namespace vswitchctl {
namespace {

invocation parse(std::vector<std::string> args, const char* env_control = nullptr) {
  args.insert(args.begin(), "vswitchctl");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  return parse_args(static_cast<int>(argv.size()), argv.data(), env_control);
}

/// The request line the command line sends (without its '\n').
std::string request_of(std::vector<std::string> args) {
  const std::string line = request_line(parse(std::move(args)));
  EXPECT_TRUE(line.ends_with("\n"));
  return line.substr(0, line.size() - 1);
}

/// The usage_error message, or "" if the command line is accepted.
std::string error_of(std::vector<std::string> args) {
  try {
    parse(std::move(args));
  } catch (const usage_error& e) {
    return e.what();
  }
  return "";
}

/// The line of `text` that contains `needle`, or "".
std::string line_with(const std::string& text, const std::string& needle) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.find(needle) != std::string::npos) return line;
  }
  return "";
}

/// The whitespace-separated cells of a table line.
std::vector<std::string> cells(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string cell; in >> cell;) out.push_back(cell);
  return out;
}

// --- requests ----------------------------------------------------------------

TEST(ctl_args, every_command_sends_its_request) {
  EXPECT_EQ(request_of({"show"}), R"({"cmd":"show"})");
  EXPECT_EQ(request_of({"stats"}), R"({"cmd":"stats"})");
  EXPECT_EQ(request_of({"fdb", "show"}), R"({"cmd":"fdb/show"})");
  EXPECT_EQ(request_of({"fdb", "show", "--port", "tap0", "--vlan", "10"}),
            R"({"cmd":"fdb/show","args":{"port":"tap0","vlan":10}})");
  EXPECT_EQ(request_of({"fdb", "add", "52:54:00:00:00:01", "tap0"}),
            R"({"cmd":"fdb/add","args":{"mac":"52:54:00:00:00:01","port":"tap0"}})");
  EXPECT_EQ(request_of({"fdb", "add", "52:54:00:00:00:01", "tap0", "--vlan", "4095"}),
            R"({"cmd":"fdb/add","args":{"mac":"52:54:00:00:00:01","port":"tap0","vlan":4095}})");
  EXPECT_EQ(request_of({"fdb", "del", "52:54:00:00:00:01"}),
            R"({"cmd":"fdb/del","args":{"mac":"52:54:00:00:00:01"}})");
  EXPECT_EQ(request_of({"fdb", "del", "52:54:00:00:00:01", "--vlan", "0"}),
            R"({"cmd":"fdb/del","args":{"mac":"52:54:00:00:00:01","vlan":0}})");
  EXPECT_EQ(request_of({"fdb", "flush"}), R"({"cmd":"fdb/flush"})");
  EXPECT_EQ(request_of({"fdb", "flush", "--port", "tap1"}),
            R"({"cmd":"fdb/flush","args":{"port":"tap1"}})");
  EXPECT_EQ(request_of({"port", "add", "dev:qtap0"}),
            R"({"cmd":"port/add","args":{"spec":"dev:qtap0"}})");
  EXPECT_EQ(request_of({"port", "del", "tap3"}), R"({"cmd":"port/del","args":{"name":"tap3"}})");
  EXPECT_EQ(request_of({"uplink", "add", "otherhost:4789"}),
            R"({"cmd":"uplink/add","args":{"peer":"otherhost:4789"}})");
  EXPECT_EQ(request_of({"uplink", "del", "[2001:db8::1]:4789"}),
            R"({"cmd":"uplink/del","args":{"peer":"[2001:db8::1]:4789"}})");
  EXPECT_EQ(request_of({"log-level", "debug"}), R"({"cmd":"log-level","args":{"level":"debug"}})");
  EXPECT_EQ(request_of({"reload"}), R"({"cmd":"reload"})");
  EXPECT_EQ(request_of({"capture", "tap0", "out.pcap"}),
            R"({"cmd":"capture","args":{"port":"tap0"}})");
  EXPECT_EQ(request_of({"capture", "tap0", "out.pcap", "--count", "100", "--seconds", "10"}),
            R"({"cmd":"capture","args":{"port":"tap0","count":100,"seconds":10}})");
}

TEST(ctl_args, mac_is_sent_in_lower_case) {
  EXPECT_EQ(request_of({"fdb", "del", "52:54:00:AB:cd:EF"}),
            R"({"cmd":"fdb/del","args":{"mac":"52:54:00:ab:cd:ef"}})");
}

TEST(ctl_args, options_go_anywhere_and_take_equals) {
  const invocation inv =
      parse({"fdb", "--json", "show", "--port=tap0", "--timeout", "2.5", "--control=/tmp/vs.ctl"});
  EXPECT_EQ(inv.request.dump(), R"({"cmd":"fdb/show","args":{"port":"tap0"}})");
  EXPECT_TRUE(inv.as_json);
  EXPECT_EQ(inv.control, "/tmp/vs.ctl");
  EXPECT_DOUBLE_EQ(inv.timeout_s, 2.5);
  EXPECT_EQ(inv.what, invocation::action::run);
}

TEST(ctl_args, defaults_and_the_environment) {
  const invocation plain = parse({"show"});
  EXPECT_EQ(plain.control, "/run/vswitchd/vswitchd.ctl");
  EXPECT_FALSE(plain.as_json);
  EXPECT_DOUBLE_EQ(plain.timeout_s, 10);
  EXPECT_TRUE(plain.capture_file.empty());

  EXPECT_EQ(parse({"show"}, "/tmp/env.ctl").control, "/tmp/env.ctl");
  EXPECT_EQ(parse({"show"}, "").control, "/run/vswitchd/vswitchd.ctl");
  EXPECT_EQ(parse({"--control", "/tmp/opt.ctl", "show"}, "/tmp/env.ctl").control, "/tmp/opt.ctl");
}

TEST(ctl_args, capture_file_and_stdout) {
  EXPECT_EQ(parse({"capture", "tap0", "out.pcap"}).capture_file, "out.pcap");
  EXPECT_EQ(parse({"capture", "tap0", "-", "--count", "5"}).capture_file, "-");
  // A port named like an option, after `--`.
  EXPECT_EQ(request_of({"capture", "--", "-odd", "out.pcap"}),
            R"({"cmd":"capture","args":{"port":"-odd"}})");
}

TEST(ctl_args, help_and_version_win) {
  EXPECT_EQ(parse({"--help"}).what, invocation::action::help);
  EXPECT_EQ(parse({"fdb", "add", "-h"}).what, invocation::action::help);
  EXPECT_EQ(parse({"nonsense", "--help"}).what, invocation::action::help);
  EXPECT_EQ(parse({"--version"}).what, invocation::action::version);
}

TEST(ctl_args, help_names_every_command_and_option) {
  const std::string help = usage_text();
  for (const char* word :
       {"show", "stats", "fdb show", "fdb add", "fdb del", "fdb flush", "port add", "port del",
        "uplink add", "uplink del", "log-level", "reload", "capture", "--control", "--json",
        "--timeout", "--help", "--version", "--port", "--vlan", "--count", "--seconds",
        "VSWITCHD_CONTROL", "/run/vswitchd/vswitchd.ctl", "default 10", "Examples:"}) {
    EXPECT_NE(help.find(word), std::string::npos) << word;
  }
  for (std::istringstream in(help); !in.eof();) {
    std::string line;
    std::getline(in, line);
    EXPECT_LE(line.size(), 80u) << line;
  }
}

// --- usage errors ------------------------------------------------------------

TEST(ctl_args, commands_that_do_not_exist) {
  EXPECT_EQ(error_of({}), "no command; give one, e.g. vswitchctl show (see vswitchctl --help)");
  EXPECT_EQ(error_of({"--json"}),
            "no command; give one, e.g. vswitchctl show (see vswitchctl --help)");
  EXPECT_EQ(error_of({"shw"}),
            "unknown command 'shw'; the commands are show, stats, fdb, port, uplink, log-level, "
            "reload and capture (see vswitchctl --help)");
  EXPECT_EQ(error_of({"fdb"}),
            "fdb needs a subcommand: show, add, del or flush; e.g. vswitchctl fdb show");
  EXPECT_EQ(error_of({"fdb", "list"}),
            "unknown fdb subcommand 'list'; give show, add, del or flush");
  EXPECT_EQ(error_of({"port"}), "port needs a subcommand: add or del; e.g. vswitchctl port add");
  EXPECT_EQ(error_of({"uplink", "show"}), "unknown uplink subcommand 'show'; give add or del");
}

TEST(ctl_args, missing_and_extra_arguments) {
  EXPECT_EQ(error_of({"fdb", "add", "52:54:00:00:00:01"}),
            "fdb add: missing PORT; write vswitchctl fdb add MAC PORT [--vlan V]");
  EXPECT_EQ(error_of({"fdb", "add"}),
            "fdb add: missing MAC; write vswitchctl fdb add MAC PORT [--vlan V]");
  EXPECT_EQ(error_of({"fdb", "del"}),
            "fdb del: missing MAC; write vswitchctl fdb del MAC [--vlan V]");
  EXPECT_EQ(error_of({"port", "add"}),
            "port add: missing SPEC; write vswitchctl port add [tap:|dev:]NAME[,OPTION=V...]");
  EXPECT_EQ(error_of({"port", "del"}), "port del: missing NAME; write vswitchctl port del NAME");
  EXPECT_EQ(error_of({"uplink", "add"}),
            "uplink add: missing HOST:PORT; write vswitchctl uplink add HOST:PORT");
  EXPECT_EQ(error_of({"log-level"}),
            "log-level: missing LEVEL; write vswitchctl log-level trace|debug|info|warn|error");
  EXPECT_EQ(error_of({"capture", "tap0"}),
            "capture: missing FILE; write vswitchctl capture PORT FILE [--count N] [--seconds S]");
  EXPECT_EQ(error_of({"show", "tap0"}), "show: unexpected argument 'tap0'; write vswitchctl show");
  EXPECT_EQ(error_of({"reload", "now"}),
            "reload: unexpected argument 'now'; write vswitchctl reload");
  EXPECT_EQ(
      error_of({"fdb", "show", "tap0"}),
      "fdb show: unexpected argument 'tap0'; write vswitchctl fdb show [--port P] [--vlan V]");
  EXPECT_EQ(error_of({"port", "del", "tap0", "tap1"}),
            "port del: unexpected argument 'tap1'; write vswitchctl port del NAME");
  EXPECT_EQ(error_of({"fdb", "del", ""}),
            "fdb del: MAC is empty; write vswitchctl fdb del MAC [--vlan V]");
  EXPECT_EQ(error_of({"fdb", "add", "52:54:00:00:00:01", ""}),
            "fdb add: PORT is empty; write vswitchctl fdb add MAC PORT [--vlan V]");
}

TEST(ctl_args, options_in_the_wrong_place) {
  EXPECT_EQ(error_of({"show", "--verbose"}),
            "unknown option --verbose; see vswitchctl --help for the options");
  EXPECT_EQ(error_of({"show", "-v"}), "unknown option -v; see vswitchctl --help for the options");
  EXPECT_EQ(error_of({"fdb", "add", "52:54:00:00:00:01", "tap0", "--port", "tap1"}),
            "fdb add does not take --port; write vswitchctl fdb add MAC PORT [--vlan V]");
  EXPECT_EQ(error_of({"show", "--vlan", "1"}), "show does not take --vlan; write vswitchctl show");
  EXPECT_EQ(error_of({"fdb", "flush", "--vlan", "1"}),
            "fdb flush does not take --vlan; write vswitchctl fdb flush [--port P]");
  EXPECT_EQ(error_of({"fdb", "show", "--count", "1"}),
            "fdb show does not take --count; write vswitchctl fdb show [--port P] [--vlan V]");
  EXPECT_EQ(error_of({"fdb", "show", "--vlan"}), "--vlan needs a value; e.g. --vlan 10");
  EXPECT_EQ(error_of({"show", "--control"}),
            "--control needs a value; e.g. --control /run/vswitchd/vswitchd.ctl");
  EXPECT_EQ(error_of({"show", "--control="}), "--control needs a path to the control socket");
  EXPECT_EQ(error_of({"show", "--json", "--json"}), "--json is given twice; give it once");
  EXPECT_EQ(error_of({"show", "--json=yes"}), "--json takes no value; write just --json");
  EXPECT_EQ(error_of({"fdb", "show", "--port="}), "--port needs a port name, e.g. --port tap0");
}

TEST(ctl_args, vlan_out_of_range) {
  const std::string fix = ": not a VLAN id; give a whole number from 0 to 4095";
  EXPECT_EQ(error_of({"fdb", "show", "--vlan", "4096"}), "--vlan 4096" + fix);
  EXPECT_EQ(error_of({"fdb", "show", "--vlan", "-1"}), "--vlan -1" + fix);
  EXPECT_EQ(error_of({"fdb", "del", "52:54:00:00:00:01", "--vlan", "ten"}), "--vlan ten" + fix);
  EXPECT_EQ(error_of({"fdb", "show", "--vlan", "1.5"}), "--vlan 1.5" + fix);
  EXPECT_EQ(error_of({"fdb", "show", "--vlan", ""}), "--vlan " + fix);
}

TEST(ctl_args, count_and_seconds_must_be_positive_whole_numbers) {
  EXPECT_EQ(error_of({"capture", "tap0", "x.pcap", "--count", "0"}),
            "--count 0: not a positive whole number; give one from 1 to 4294967295, e.g. "
            "--count 100");
  EXPECT_EQ(error_of({"capture", "tap0", "x.pcap", "--count", "-5"}),
            "--count -5: not a positive whole number; give one from 1 to 4294967295, e.g. "
            "--count 100");
  EXPECT_EQ(error_of({"capture", "tap0", "x.pcap", "--seconds", "1.5"}),
            "--seconds 1.5: not a positive whole number; give one from 1 to 4294967295, e.g. "
            "--seconds 10");
  EXPECT_EQ(error_of({"capture", "tap0", "x.pcap", "--seconds", "4294967296"}),
            "--seconds 4294967296: not a positive whole number; give one from 1 to 4294967295, "
            "e.g. --seconds 10");
}

TEST(ctl_args, bad_macs) {
  const std::string fix =
      ": not a MAC address; write six two-digit hex bytes separated by colons, e.g. "
      "52:54:00:12:34:56";
  for (const char* mac : {"52:54:00:00:01", "52:54:00:00:00:01:02", "52-54-00-00-00-01",
                          "5:54:00:00:00:011", "52:54:00:00:00:0g", "525400000001"}) {
    EXPECT_EQ(error_of({"fdb", "del", mac}), std::string("MAC ") + mac + fix) << mac;
  }
  EXPECT_EQ(error_of({"fdb", "add", "01:00:5e:00:00:01", "tap0"}),
            "MAC 01:00:5e:00:00:01: a multicast address; static entries are for unicast MACs "
            "(multicast and broadcast frames are always flooded)");
  EXPECT_EQ(error_of({"fdb", "add", "ff:ff:ff:ff:ff:ff", "tap0"}).substr(0, 40),
            "MAC ff:ff:ff:ff:ff:ff: a multicast addre");
  EXPECT_EQ(error_of({"fdb", "add", "00:00:00:00:00:00", "tap0"}),
            "MAC 00:00:00:00:00:00: the all-zero address; give a station's MAC");
}

TEST(ctl_args, bad_ports_peers_and_levels) {
  // The port itself is checked by the daemon, with the same parser as --port:
  // options such as max-macs pass through as written.
  EXPECT_EQ(request_of({"port", "add", "tap:tap3,max-macs=8"}),
            R"({"cmd":"port/add","args":{"spec":"tap:tap3,max-macs=8"}})");
  EXPECT_EQ(error_of({"port", "add", ""}), "port add: SPEC is empty; write vswitchctl port add [tap:|dev:]NAME[,OPTION=V...]");
  // A peer is checked by the daemon, with --uplink's parser.
  EXPECT_EQ(request_of({"uplink", "add", "otherhost"}),
            R"({"cmd":"uplink/add","args":{"peer":"otherhost"}})");
  EXPECT_EQ(error_of({"log-level", "loud"}),
            "log-level loud: unknown level; give trace, debug, info, warn or error");
}

TEST(ctl_args, bad_global_options) {
  EXPECT_EQ(error_of({"show", "--timeout", "0"}),
            "--timeout 0: give a number of seconds above 0 and at most 86400, e.g. --timeout 30");
  EXPECT_EQ(error_of({"show", "--timeout", "soon"}),
            "--timeout soon: give a number of seconds above 0 and at most 86400, e.g. --timeout "
            "30");
  const std::string long_path = "/tmp/" + std::string(120, 'x');
  EXPECT_EQ(error_of({"show", "--control", long_path}).substr(0, 12 + long_path.size()),
            "--control " + long_path + ": ");
  EXPECT_NE(error_of({"show", "--control", long_path}).find("give a shorter path"),
            std::string::npos);
  try {
    parse({"show"}, long_path.c_str());
    ADD_FAILURE() << "a too long $VSWITCHD_CONTROL is accepted";
  } catch (const usage_error& e) {
    EXPECT_TRUE(std::string(e.what()).starts_with("VSWITCHD_CONTROL " + long_path)) << e.what();
  }
  EXPECT_EQ(error_of({"capture", "tap0", "-", "--json"}),
            "capture to standard output ('-') cannot also print --json there; give a FILE, or "
            "drop --json");
}

// --- output ------------------------------------------------------------------

const json status = json::parse(R"json({
  "version": "0.1.0", "pid": 1234, "uptime_s": 3725.5,
  "mac_table": {"entries": 3, "capacity": 8192, "aging_s": 300,
                "learned": 10, "moved": 1, "expired": 7, "refused": 2, "evicted": 4, "flaps": 1},
  "uplink": {"mode": "vxlan", "local": "0.0.0.0:4789", "vni": 42, "rx_datagrams": 5,
             "drops": {"not_peer": 3, "vxlan_short": 0, "vxlan_wrong_vni": 1}},
  "ports": [
    {"id": 0, "name": "tap0", "kind": "tap", "state": "up", "mtu": 1500,
     "description": "tap tap0: file side of TAP tap0 (created)", "mac_entries": 2,
     "rx_frames": 10, "rx_bytes": 1234, "tx_frames": 5, "tx_bytes": 600,
     "drops": {"runt": 2, "giant": 0, "vlan_not_allowed": 1}, "peer": null},
    {"id": 1, "name": "qtap1", "kind": "dev", "state": "down", "mtu": null,
     "description": "dev qtap1", "mac_entries": 0,
     "rx_frames": 0, "rx_bytes": 0, "tx_frames": 0, "tx_bytes": 0,
     "drops": {"runt": 0, "giant": 0, "vlan_not_allowed": 0}, "peer": null},
    {"id": 2, "name": "up0", "kind": "uplink", "state": "up", "mtu": 1450,
     "description": "uplink to 10.0.0.2:4789", "mac_entries": 1,
     "rx_frames": 7, "rx_bytes": 700, "tx_frames": 8, "tx_bytes": 800,
     "drops": {"runt": 0, "too_big": 4},
     "peer": {"address": "10.0.0.2:4789", "state": "up", "sealed": false, "learned": false,
              "public_key": "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=", "rtt_ms": 0.123,
              "last_seen_s": 0.4, "session_age_s": 42, "last_handshake_s": 42, "handshakes_sent": 1,
              "handshakes": 3, "rekeys": 2}},
    {"id": 3, "name": "up1", "kind": "uplink", "state": "down", "mtu": 1450,
     "description": "uplink to 10.0.0.3:4789", "mac_entries": 0,
     "rx_frames": 0, "rx_bytes": 0, "tx_frames": 0, "tx_bytes": 0,
     "drops": {"runt": 0, "too_big": 0},
     "peer": {"address": "10.0.0.3:4789", "path": "direct", "relay": null, "path_age_s": 45, "path_changes": 1,
              "state": "down", "sealed": false, "learned": false,
              "public_key": null, "rtt_ms": null, "last_seen_s": null, "session_age_s": null,
              "last_handshake_s": null, "handshakes_sent": 6, "handshakes": 0, "rekeys": 0}},
    {"id": 4, "name": "laptop", "kind": "uplink", "state": "up", "mtu": 1385,
     "description": "uplink to laptop", "mac_entries": 0,
     "rx_frames": 0, "rx_bytes": 0, "tx_frames": 0, "tx_bytes": 0,
     "drops": {},
     "peer": {"address": null, "path": "relay", "relay": "up0", "path_age_s": 3.5, "path_changes": 2,
              "state": "up", "sealed": true, "learned": false,
              "public_key": null, "rtt_ms": null, "last_seen_s": 0.2, "session_age_s": 3.5,
              "last_handshake_s": 3.5, "handshakes_sent": 1, "handshakes": 1, "rekeys": 0}}
  ]
})json");

TEST(ctl_format, show_header_names_version_uptime_mac_table_and_uplink) {
  const std::string out = format_result("show", status);
  EXPECT_EQ(line_with(out, "pid"), "vswitchd 0.1.0, pid 1234, up 1h 02m 05s");
  EXPECT_EQ(line_with(out, "mac table"), "mac table: 3 of 8192 entries, aging 300 s");
  EXPECT_EQ(line_with(out, "uplink:"), "uplink: vxlan on 0.0.0.0:4789, vni 42");
}

TEST(ctl_format, show_lists_each_port_with_its_counters) {
  const std::string out = format_result("show", status);
  EXPECT_EQ(cells(line_with(out, "RX-FRAMES")),
            (std::vector<std::string>{"NAME", "KIND", "STATE", "MTU", "MACS", "RX-FRAMES",
                                      "RX-BYTES", "TX-FRAMES", "TX-BYTES", "DROPS"}));
  EXPECT_EQ(
      cells(line_with(out, "tap0")),
      (std::vector<std::string>{"tap0", "tap", "up", "1500", "2", "10", "1234", "5", "600", "3"}));
  // No MTU: "-".
  EXPECT_EQ(cells(line_with(out, "qtap1")),
            (std::vector<std::string>{"qtap1", "dev", "down", "-", "0", "0", "0", "0", "0", "0"}));
  // Columns line up: each port's DROPS ends where the header's does.
  EXPECT_EQ(line_with(out, "RX-FRAMES").size(), line_with(out, "tap0").size());
  EXPECT_EQ(line_with(out, "RX-FRAMES").size(), line_with(out, "qtap1").size());
}

TEST(ctl_format, show_lists_the_worker_threads_only_when_there_are_some) {
  EXPECT_EQ(format_result("show", status).find("WORKER"), std::string::npos) << "one thread";
  json with = status;
  with["workers"] = json::parse(R"json([
    {"index": 0, "queues": [{"port": "tap0", "queue": 0}, {"port": "tap2", "queue": 0}],
     "frames": 1200, "busy_rounds": 100, "handed_over": 300, "handoff_full": 0, "cached": 850},
    {"index": 1, "queues": [{"port": "tap0", "queue": 1}], "frames": 0, "busy_rounds": 0,
     "handed_over": 0, "handoff_full": 3, "cached": 0}
  ])json");
  const std::string out = format_result("show", with);
  EXPECT_EQ(cells(line_with(out, "WORKER")),
            (std::vector<std::string>{"WORKER", "READS", "FRAMES", "FRAMES/WAKE", "CACHED", "TO-MAIN", "RING-FULL"}));
  EXPECT_EQ(cells(line_with(out, "tap2/q0")),
            (std::vector<std::string>{"0", "tap0/q0", "tap2/q0", "1200", "12.0", "850", "300", "0"}));
  EXPECT_EQ(cells(line_with(out, "tap0/q1")),
            (std::vector<std::string>{"1", "tap0/q1", "0", "0.0", "0", "0", "3"}));
}

TEST(ctl_format, show_lists_uplink_peers_with_rtt_or_a_dash) {
  const std::string out = format_result("show", status);
  EXPECT_EQ(cells(line_with(out, "ON-PATH")),
            (std::vector<std::string>{"NAME", "PATH", "ON-PATH", "CHANGES", "STATE", "RTT", "LAST-SEEN", "SESSION",
                                      "REKEYS", "KEY"}));
  // (No path fields, as from an older daemon: the address, and dashes.)
  EXPECT_EQ(cells(line_with(out, "10.0.0.2:4789")),
            (std::vector<std::string>{"up0", "10.0.0.2:4789", "-", "-", "up", "0.123ms", "0.4s", "42.0s", "2",
                                      "hSDwCYkw..."}));
  EXPECT_EQ(cells(line_with(out, "10.0.0.3:4789")),
            (std::vector<std::string>{"up1", "10.0.0.3:4789", "45.0s", "1", "down", "-", "-", "-", "0", "-"}));
  // Through a relay: "via" its name.
  EXPECT_EQ(cells(line_with(out, "via up0")),
            (std::vector<std::string>{"laptop", "via", "up0", "3.5s", "2", "up", "-", "0.2s", "3.5s", "0", "-"}));
}

TEST(ctl_format, show_without_uplink_or_peers) {
  json local = status;
  local["uplink"] = nullptr;
  local["ports"].erase(4);
  local["ports"].erase(3);
  local["ports"].erase(2);
  local["uptime_s"] = 12.5;
  const std::string out = format_result("show", local);
  EXPECT_EQ(line_with(out, "pid"), "vswitchd 0.1.0, pid 1234, up 12s");
  EXPECT_EQ(line_with(out, "uplink"), "");
  EXPECT_EQ(line_with(out, "ON-PATH"), "");
  EXPECT_NE(line_with(out, "tap0"), "");

  local["uplink"] = {{"mode", "sealed"}, {"local", "[::]:4789"}, {"vni", 1}};
  EXPECT_EQ(line_with(format_result("show", local), "uplink:"), "uplink: sealed on [::]:4789");
}

TEST(ctl_format, show_names_ports_waited_for) {
  EXPECT_EQ(line_with(format_result("show", status), "waited for"), "");
  json local = status;
  local["waiting"] = {"tap7", "qtap9"};
  const std::string out = format_result("show", local);
  EXPECT_NE(line_with(out, "waited for (the name is back as something vswitchd cannot attach"), "");
  EXPECT_EQ(line_with(out, "port del NAME"), "vswitchctl port del NAME stops it): tap7 qtap9");
}

TEST(ctl_format, stats_lists_the_nonzero_drops_and_mac_counters) {
  const std::string out = format_result("stats", status);
  EXPECT_EQ(cells(line_with(out, "REASON")), (std::vector<std::string>{"PORT", "REASON", "COUNT"}));
  EXPECT_EQ(cells(line_with(out, "runt")), (std::vector<std::string>{"tap0", "runt", "2"}));
  EXPECT_EQ(cells(line_with(out, "vlan_not_allowed")),
            (std::vector<std::string>{"tap0", "vlan_not_allowed", "1"}));
  EXPECT_EQ(cells(line_with(out, "too_big")), (std::vector<std::string>{"up0", "too_big", "4"}));
  EXPECT_EQ(line_with(out, "giant"), "");  // zero: not shown
  EXPECT_EQ(line_with(out, "qtap1"), "");  // no drops at all
  EXPECT_EQ(line_with(out, "uplink endpoint"),
            "uplink endpoint 0.0.0.0:4789: 5 datagrams received");
  EXPECT_EQ(cells(line_with(out, "not_peer")), (std::vector<std::string>{"not_peer", "3"}));
  EXPECT_EQ(cells(line_with(out, "vxlan_wrong_vni")),
            (std::vector<std::string>{"vxlan_wrong_vni", "1"}));
  EXPECT_EQ(line_with(out, "vxlan_short"), "");
  EXPECT_EQ(line_with(out, "learned"),
            "mac table: 10 learned, 1 moved, 7 expired, 2 refused, 4 evicted, 1 pinned for "
            "flapping; 3 of 8192 entries in use");
}

TEST(ctl_format, stats_says_no_drops) {
  json quiet = status;
  for (auto& p : quiet["ports"]) {
    for (auto& [reason, n] : p["drops"].items()) n = 0;
  }
  for (auto& [reason, n] : quiet["uplink"]["drops"].items()) n = 0;
  const std::string out = format_result("stats", quiet);
  EXPECT_EQ(line_with(out, "ports:"), "ports: no drops");
  EXPECT_EQ(line_with(out, "uplink endpoint"),
            "uplink endpoint 0.0.0.0:4789: 5 datagrams received, no drops");
  EXPECT_EQ(line_with(out, "REASON"), "");
}

TEST(ctl_format, fdb_show_is_a_table_and_a_count) {
  const json result = json::parse(R"({"entries": [
      {"mac": "52:54:00:12:34:56", "vlan": 0, "port": "tap0", "type": "dynamic", "age_s": 12},
      {"mac": "52:54:00:00:00:01", "vlan": 10, "port": "up0", "type": "static", "age_s": 0}],
    "count": 2, "capacity": 8192})");
  const std::string out = format_result("fdb/show", result);
  EXPECT_EQ(cells(line_with(out, "MAC")),
            (std::vector<std::string>{"MAC", "VLAN", "PORT", "TYPE", "AGE"}));
  EXPECT_EQ(cells(line_with(out, "52:54:00:12:34:56")),
            (std::vector<std::string>{"52:54:00:12:34:56", "0", "tap0", "dynamic", "12s"}));
  EXPECT_EQ(cells(line_with(out, "52:54:00:00:00:01")),
            (std::vector<std::string>{"52:54:00:00:00:01", "10", "up0", "static", "-"}));
  EXPECT_EQ(line_with(out, "entries"), "2 entries (of 8192)");

  const std::string empty =
      format_result("fdb/show", json::parse(R"({"entries": [], "count": 0, "capacity": 8192})"));
  EXPECT_EQ(empty, "0 entries (of 8192)\n");
  const std::string one =
      format_result("fdb/show", json::parse(R"({"entries": [{"mac": "52:54:00:12:34:56", "vlan": 0,
        "port": "tap0", "type": "dynamic", "age_s": 1}], "count": 1, "capacity": 64})"));
  EXPECT_EQ(line_with(one, "(of"), "1 entry (of 64)");
}

TEST(ctl_format, changes_are_confirmed_in_one_line) {
  EXPECT_EQ(
      format_result("fdb/add",
                    json::parse(R"({"mac": "52:54:00:00:00:01", "vlan": 0, "port": "tap0"})")),
      "added static entry 52:54:00:00:00:01 vlan 0 on tap0\n");
  EXPECT_EQ(format_result("fdb/del", json::parse(R"({"mac": "52:54:00:00:00:01", "vlan": 10,
                                                     "port": "tap1", "type": "dynamic"})")),
            "removed dynamic entry 52:54:00:00:00:01 vlan 10 on tap1\n");
  EXPECT_EQ(format_result("fdb/flush", json::parse(R"({"flushed": 3})")),
            "flushed 3 dynamic entries\n");
  EXPECT_EQ(format_result("fdb/flush", json::parse(R"({"flushed": 1})")),
            "flushed 1 dynamic entry\n");
  EXPECT_EQ(format_result("port/add", status["ports"][0]),
            "port tap0 added (id 0): tap tap0: file side of TAP tap0 (created)\n");
  EXPECT_EQ(format_result("port/del", json::parse(R"({"name": "tap3", "id": 3})")),
            "port tap3 removed (id 3)\n");
  EXPECT_EQ(format_result("port/del", json::parse(R"({"name": "tap3"})")),
            "port tap3 removed (its interface was gone; no longer waited for)\n");
  EXPECT_EQ(format_result("uplink/add", status["ports"][2]),
            "uplink up0 added (id 2), peer 10.0.0.2:4789: uplink to 10.0.0.2:4789\n");
  EXPECT_EQ(format_result("uplink/del", json::parse(R"({"name": "up0", "id": 2})")),
            "uplink up0 removed (id 2)\n");
  EXPECT_EQ(format_result("log-level", json::parse(R"({"previous": "info", "level": "debug"})")),
            "log level debug (was info)\n");
}

TEST(ctl_format, reload_says_what_changed_and_what_needs_a_restart) {
  const std::string out = format_result("reload", json::parse(R"({
      "ports_added": ["tap2", "tap3"], "ports_removed": [], "peers_added": ["10.0.0.4:4789"],
      "peers_removed": ["10.0.0.3:4789"], "unchanged": 4, "restart_needed": ["vni", "listen"]})"));
  EXPECT_EQ(line_with(out, "ports added"), "ports added:    tap2, tap3");
  EXPECT_EQ(line_with(out, "ports removed"), "ports removed:  none");
  EXPECT_EQ(line_with(out, "peers added"), "peers added:    10.0.0.4:4789");
  EXPECT_EQ(line_with(out, "peers removed"), "peers removed:  10.0.0.3:4789");
  EXPECT_EQ(line_with(out, "unchanged"), "unchanged:      4");
  EXPECT_EQ(line_with(out, "restart"),
            "restart needed: vni, listen (changed; they take effect when vswitchd restarts)");

  const std::string nothing = format_result("reload", json::parse(R"({"ports_added": [],
      "ports_removed": [], "peers_added": [], "peers_removed": [], "unchanged": 2,
      "restart_needed": []})"));
  EXPECT_EQ(line_with(nothing, "restart"), "restart needed: no");
}

TEST(ctl_format, missing_fields_show_as_dashes_not_crashes) {
  const std::string out = format_result("show", json::parse(R"({"ports": [{"name": "tap0"}]})"));
  EXPECT_EQ(line_with(out, "pid"), "vswitchd -, pid -");
  EXPECT_EQ(cells(line_with(out, "tap0")),
            (std::vector<std::string>{"tap0", "-", "-", "-", "-", "-", "-", "-", "-", "0"}));
  EXPECT_NO_THROW(format_result("stats", json::parse(R"({"ports": "oops", "uplink": 5})")));
  EXPECT_NO_THROW(format_result("fdb/show", json::parse("[]")));
  EXPECT_NO_THROW(format_result("reload", json::object()));
  // A command vswitchctl does not know the result of: its JSON.
  EXPECT_EQ(format_result("future", json::parse(R"({"a": 1})")), "{\n  \"a\": 1\n}\n");
}

// --- capture -----------------------------------------------------------------

TEST(ctl_capture, pcap_global_header_bytes) {
  const std::array<std::uint8_t, 24> golden = {
      0xd4, 0xc3, 0xb2, 0xa1,  // magic, little-endian: microsecond timestamps
      0x02, 0x00, 0x04, 0x00,  // version 2.4
      0x00, 0x00, 0x00, 0x00,  // thiszone
      0x00, 0x00, 0x00, 0x00,  // sigfigs
      0x00, 0x00, 0x04, 0x00,  // snaplen 262144
      0x01, 0x00, 0x00, 0x00,  // linktype 1: Ethernet
  };
  EXPECT_EQ(pcap_global_header(262144, 1), golden);
  const auto other = pcap_global_header(0x01020304, 0x000000e4);
  EXPECT_EQ(other[16], 0x04);
  EXPECT_EQ(other[19], 0x01);
  EXPECT_EQ(other[20], 0xe4);
}

TEST(ctl_capture, answer_gives_snaplen_and_linktype) {
  const auto start =
      parse_capture_start(json::parse(R"({"port": "tap0", "snaplen": 65535, "linktype": 1})"));
  EXPECT_EQ(start.snaplen, 65535u);
  EXPECT_EQ(start.linktype, 1u);
  EXPECT_THROW(parse_capture_start(json::parse(R"({"linktype": 1})")), protocol_error);
  EXPECT_THROW(parse_capture_start(json::parse(R"({"snaplen": 0, "linktype": 1})")),
               protocol_error);
  EXPECT_THROW(parse_capture_start(json::parse(R"({"snaplen": 1e9, "linktype": 1})")),
               protocol_error);
  EXPECT_THROW(parse_capture_start(json::parse(R"({"snaplen": 100000000, "linktype": 1})")),
               protocol_error);
  EXPECT_THROW(parse_capture_start(json::parse(R"({"snaplen": 65535, "linktype": -1})")),
               protocol_error);
}

/// A record: 16-byte header (ts 1.000002, incl_len = orig_len = payload) and payload.
std::vector<std::uint8_t> record(std::size_t payload, std::uint8_t fill = 0xab) {
  std::vector<std::uint8_t> r = {1, 0, 0, 0, 2, 0, 0, 0};
  for (int i = 0; i < 2; ++i) {
    for (int b = 0; b < 4; ++b) r.push_back(static_cast<std::uint8_t>(payload >> (8 * b)));
  }
  r.insert(r.end(), payload, fill);
  return r;
}

TEST(ctl_capture, whole_records_only_until_the_end_marker) {
  std::vector<std::uint8_t> stream = record(60);
  const auto second = record(1514, 0xff);  // payload of 0xff bytes is not the end marker
  stream.insert(stream.end(), second.begin(), second.end());
  const std::size_t two = stream.size();
  stream.insert(stream.end(), 16, 0xff);
  const std::string line = R"({"captured": 2, "dropped": 0, "reason": "count"})";
  stream.insert(stream.end(), line.begin(), line.end());

  const auto all = scan_records(stream, 262144);
  EXPECT_EQ(all.size, two);
  EXPECT_EQ(all.records, 2u);
  EXPECT_TRUE(all.ended);

  // Cut anywhere inside the second record: only the first one is whole.
  for (std::size_t cut : {76ul, 80ul, 92ul, 93ul, two - 1}) {
    const auto part = scan_records(std::span(stream).first(cut), 262144);
    EXPECT_EQ(part.size, 76u) << cut;
    EXPECT_EQ(part.records, 1u) << cut;
    EXPECT_FALSE(part.ended) << cut;
  }
  // Cut inside the end marker: the records, not yet the end.
  const auto before_end = scan_records(std::span(stream).first(two + 15), 262144);
  EXPECT_EQ(before_end.size, two);
  EXPECT_FALSE(before_end.ended);
  // Nothing yet.
  EXPECT_EQ(scan_records({}, 262144).records, 0u);
}

TEST(ctl_capture, record_longer_than_snaplen_is_refused) {
  const auto big = record(1000);
  try {
    scan_records(big, 999);
    ADD_FAILURE() << "a record longer than the snaplen is accepted";
  } catch (const protocol_error& e) {
    EXPECT_TRUE(std::string(e.what()).starts_with("bad record from vswitchd")) << e.what();
  }
  EXPECT_EQ(scan_records(big, 1000).records, 1u);

  // The good records before a bad one are kept; the bad one is refused next.
  std::vector<std::uint8_t> stream = record(60);
  stream.insert(stream.end(), big.begin(), big.end());
  const auto good = scan_records(stream, 999);
  EXPECT_EQ(good.size, 76u);
  EXPECT_EQ(good.records, 1u);
  EXPECT_FALSE(good.ended);
  EXPECT_THROW(scan_records(std::span(stream).subspan(good.size), 999), protocol_error);
}

TEST(ctl_capture, summary_line) {
  EXPECT_EQ(capture_summary(100, json::parse(R"({"captured": 100, "dropped": 2,
                                                  "reason": "count"})")),
            "100 frames captured, 2 dropped by vswitchd (ended: count)");
  EXPECT_EQ(capture_summary(1, json::parse(R"({"captured": 1, "dropped": 0,
                                                "reason": "port removed"})")),
            "1 frame captured, 0 dropped by vswitchd (ended: port removed)");
}

}  // namespace
}  // namespace vswitchctl
