#include "switchd/options.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/program_options.hpp>
#include <cctype>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

#include "l2/vxlan.hpp"
#include "ports/dgram_port.hpp"
#include "ports/netdev.hpp"
#include "ports/stream_listener.hpp"

namespace switchd {
namespace po = boost::program_options;

namespace {

/// Parses a decimal number in [min, max]; throws options_error naming `option`.
std::uint64_t parse_number(const std::string& text, const std::string& option, std::uint64_t min,
                           std::uint64_t max, const std::string& what) {
  std::uint64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec == std::errc::invalid_argument || ptr != end) {
    throw options_error(option + " " + text + ": not a number; give " + what);
  }
  if (ec == std::errc::result_out_of_range || value < min || value > max) {
    throw options_error(option + " " + text + ": out of range; give " + what);
  }
  return value;
}

const char* const usage_text =
    "Usage: vswitchd [OPTIONS]\n"
    "\n"
    "A userspace Ethernet switch for TAP devices, interfaces and VXLAN uplinks.\n"
    "\n"
    "Examples:\n"
    "  vswitchd --port tap0 --port tap1\n"
    "  vswitchd --port dev:qtap0 --port dev:qtap1 --uplink otherhost:4789\n"
    "  vswitchd --config /etc/vswitchd.conf\n";

const char* const port_help =
    "a port, repeatable. NAME or tap:NAME opens the TAP's file side, creating it if "
    "missing (a bare NAME that is a TAP held by another process or another kind of "
    "interface is attached by its kernel side instead); dev:NAME attaches an existing "
    "interface's kernel side (QEMU TAPs, veths, NICs). Port options follow the name: "
    ",max-macs=N caps the MAC addresses learned on the port (default: no cap); ,vlan=V makes "
    "it an access port of VLAN V (untagged); ,trunk=LIST[,native=V] a trunk carrying the "
    "listed VLANs tagged (e.g. trunk=10,20-29), untagged frames in VLAN V if given. Without "
    "VLAN options a port carries every VLAN as it comes";

}  // namespace

/// The options after a port's name: ",KEY=VALUE" each. `where` starts error
/// messages; `example` names the port in them.
static port_options parse_port_options(std::string_view options, const std::string& where,
                                       const std::string& example) {
  port_options out;
  // ",KEY=VALUE" each. A piece without '=' continues the
  // previous value, which is how lists are written: "trunk=10,20,native=1".
  std::vector<std::pair<std::string, std::string>> items;
  while (!options.empty()) {
    const std::size_t end = std::min(options.find(','), options.size());
    const std::string_view item = options.substr(0, end);
    options.remove_prefix(std::min(end + 1, options.size()));
    const auto equals = item.find('=');
    if (equals == std::string_view::npos && !items.empty() && !item.empty()) {
      items.back().second += ',';
      items.back().second += item;
      continue;
    }
    if (equals == std::string_view::npos || equals == 0) {
      throw options_error(where + "'" + std::string(item) +
                          "' is not an option; write NAME,OPTION=VALUE, e.g. " + example +
                          ",max-macs=64");
    }
    items.emplace_back(std::string(item.substr(0, equals)), std::string(item.substr(equals + 1)));
  }
  std::set<std::string> seen;
  std::optional<l2::vlan_id> access, native;
  std::optional<l2::vlan_set> trunk;
  for (const auto& [key, value] : items) {
    if (!seen.insert(key).second) throw options_error(where + key + " is given twice; give it once");
    if (key == "max-macs") {
      out.max_macs = static_cast<std::uint32_t>(parse_number(
          value, where + "max-macs", 1, 1u << 24, "a number of MAC entries from 1 to 16777216"));
    } else if (key == "vlan") {
      access = static_cast<l2::vlan_id>(
          parse_number(value, where + "vlan", 1, l2::max_vlan_id, "a VLAN id from 1 to 4094"));
    } else if (key == "trunk") {
      trunk = parse_vlan_list(value, where + "trunk");
    } else if (key == "bcast-limit" || key == "mcast-limit" || key == "unknown-limit") {
      const auto pps = static_cast<std::uint32_t>(parse_number(
          value, where + key, 1, 100'000'000, "frames per second, from 1 to 100000000"));
      (key == "bcast-limit" ? out.storm.broadcast : key == "mcast-limit" ? out.storm.multicast
                                                                         : out.storm.unknown) = pps;
    } else if (key == "native") {
      native = static_cast<l2::vlan_id>(
          parse_number(value, where + "native", 1, l2::max_vlan_id, "a VLAN id from 1 to 4094"));
    } else {
      throw options_error(where + "unknown port option '" + key +
                          "'; the port options are: max-macs=N, vlan=V, trunk=LIST[,native=V], "
                          "bcast-limit=PPS, mcast-limit=PPS, unknown-limit=PPS");
    }
  }
  if (access && trunk) {
    throw options_error(where + "vlan= (an access port) and trunk= exclude each other; give one");
  }
  if (native && !trunk) {
    throw options_error(where + "native= belongs to a trunk; add trunk=LIST, or use vlan=" +
                        std::to_string(*native) + " for an access port");
  }
  if (access) out.vlans = l2::vlan_mode::access(*access);
  if (trunk) out.vlans = l2::vlan_mode::trunk(*trunk, native);
  return out;
}


port_spec parse_port_spec(const std::string& text) {
  port_spec spec;
  spec.text = text;
  std::string_view rest = text;
  std::string_view options;
  if (const auto comma = rest.find(','); comma != std::string_view::npos) {
    options = rest.substr(comma + 1);
    rest = rest.substr(0, comma);
  }
  if (rest.starts_with("tap:")) {
    spec.mode = port_mode::tap;
    rest.remove_prefix(4);
  } else if (rest.starts_with("dev:")) {
    spec.mode = port_mode::device;
    rest.remove_prefix(4);
  } else if (rest.starts_with("dgram:")) {
    // A QEMU -netdev dgram peer: the port is named by its addresses.
    spec.mode = port_mode::dgram;
    try {
      (void)ports::parse_dgram_spec(rest, "--port");
    } catch (const ports::port_error& e) {
      throw options_error(e.what());
    }
  } else if (auto colon = rest.find(':'); colon != std::string_view::npos) {
    throw options_error("--port " + text + ": unknown port kind '" +
                        std::string(rest.substr(0, colon)) +
                        "'; write NAME, tap:NAME, dev:NAME or dgram:LOCAL=REMOTE");
  }
  spec.name = std::string(rest);
  if (spec.mode != port_mode::dgram) {
    if (auto problem = ports::netdev::name_problem(spec.name)) {
      throw options_error("--port " + text + ": " + *problem);
    }
  }
  const port_options o = parse_port_options(options, "--port " + text + ": ", spec.name);
  spec.max_macs = o.max_macs;
  spec.vlans = o.vlans;
  spec.storm = o.storm;
  return spec;
}

stream_listen_spec parse_stream_listen(const std::string& text) {
  stream_listen_spec spec;
  spec.text = text;
  const auto comma = text.find(',');
  spec.address = text.substr(0, comma);
  if (!spec.address.starts_with("unix:") && !spec.address.starts_with("tcp:")) {
    throw options_error("--stream-listen " + text +
                        ": write unix:PATH or tcp:ADDR:PORT, e.g. unix:/run/vswitchd/vm.sock");
  }
  try {
    (void)ports::parse_stream_address(spec.address, "--stream-listen");
  } catch (const ports::port_error& e) {
    throw options_error(e.what());
  }
  if (comma != std::string::npos) {
    spec.options = parse_port_options(std::string_view(text).substr(comma + 1),
                                      "--stream-listen " + text + ": ", spec.address);
  }
  return spec;
}

l2::vlan_set parse_vlan_list(std::string_view text, const std::string& what) {
  l2::vlan_set set;
  const std::string fix = "a list of VLAN ids from 1 to 4094, e.g. 10,20,30-39";
  if (text.empty()) throw options_error(what + ": empty; give " + fix);
  while (!text.empty()) {
    const std::size_t end = std::min(text.find(','), text.size());
    const std::string item(text.substr(0, end));
    text.remove_prefix(std::min(end + 1, text.size()));
    const auto dash = item.find('-');
    const std::string first = item.substr(0, dash);
    const std::string last = dash == std::string::npos ? first : item.substr(dash + 1);
    const auto a = parse_number(first, what + " " + item + ":", 1, l2::max_vlan_id, fix);
    const auto b = parse_number(last, what + " " + item + ":", 1, l2::max_vlan_id, fix);
    if (b < a) throw options_error(what + " " + item + ": the range runs backwards; write " + last + "-" + first);
    for (auto v = a; v <= b; ++v) set.set(v);
  }
  return set;
}

host_port parse_host_port(const std::string& text, const std::string& option) {
  host_port hp;
  hp.text = text;
  std::string port_text;
  if (text.starts_with("[")) {
    const auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      throw options_error(option + " " + text +
                          ": write an IPv6 address as [ADDR]:PORT, e.g. [2001:db8::1]:4789");
    }
    hp.host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos) {
      throw options_error(option + " " + text + ": missing port; write HOST:PORT, e.g. " + text +
                          ":4789");
    }
    if (text.find(':') != colon) {
      throw options_error(option + " " + text +
                          ": an IPv6 address needs brackets: [ADDR]:PORT, e.g. [2001:db8::1]:4789");
    }
    hp.host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  if (hp.host.empty()) {
    throw options_error(option + " " + text + ": missing host; write HOST:PORT");
  }
  hp.port = static_cast<std::uint16_t>(
      parse_number(port_text, option + " " + text + ": port", 1, 65535, "a UDP port from 1 to 65535"));
  return hp;
}

host_port parse_uplink(const std::string& text, const std::string& option) {
  const auto comma = text.find(',');
  host_port hp = parse_host_port(text.substr(0, comma), option);
  hp.text = text.substr(0, comma);  // the peer's name; its options are in vni_map
  if (comma == std::string::npos) return hp;
  const std::string where = option + " " + text + ": ";
  std::string_view rest = std::string_view(text).substr(comma + 1);
  if (!rest.starts_with("vni-map=")) {
    throw options_error(where + "unknown uplink option '" + std::string(rest.substr(0, rest.find('='))) +
                        "'; the uplink option is vni-map=VLAN:VNI[,VLAN:VNI...], e.g. " + hp.text +
                        ",vni-map=10:1010,20:1020");
  }
  rest.remove_prefix(8);
  std::set<std::uint32_t> vlans, vnis;
  while (!rest.empty()) {
    const std::size_t end = std::min(rest.find(','), rest.size());
    const std::string item(rest.substr(0, end));
    rest.remove_prefix(std::min(end + 1, rest.size()));
    const auto colon = item.find(':');
    if (colon == std::string::npos) {
      throw options_error(where + "'" + item + "' is not VLAN:VNI; write e.g. 10:1010");
    }
    const auto vlan = parse_number(item.substr(0, colon), where + "vni-map " + item + ": VLAN", 1,
                                   l2::max_vlan_id, "a VLAN id from 1 to 4094");
    const auto vni = parse_number(item.substr(colon + 1), where + "vni-map " + item + ": VNI", 0,
                                  l2::max_vni, "a VNI from 0 to 16777215");
    if (!vlans.insert(static_cast<std::uint32_t>(vlan)).second ||
        !vnis.insert(static_cast<std::uint32_t>(vni)).second) {
      throw options_error(where + "vni-map " + item + ": a VLAN or VNI is mapped twice; map each once");
    }
    hp.vni_map.emplace_back(static_cast<l2::vlan_id>(vlan), static_cast<std::uint32_t>(vni));
  }
  if (hp.vni_map.empty()) throw options_error(where + "vni-map is empty; write e.g. vni-map=10:1010");
  return hp;
}

std::vector<host_port> parse_peers_file(std::string_view text, const std::string& file) {
  std::vector<host_port> peers;
  std::set<std::string> seen;
  std::size_t number = 0;
  while (!text.empty()) {
    const std::size_t end = std::min(text.find('\n'), text.size());
    std::string_view line = text.substr(0, end);
    text.remove_prefix(std::min(end + 1, text.size()));
    ++number;
    if (const auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front()))) line.remove_prefix(1);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.remove_suffix(1);
    if (line.empty()) continue;
    const std::string where = "--peers-file " + file + " line " + std::to_string(number) + ":";
    if (line.find_first_of(" \t") != std::string_view::npos) {
      throw options_error(where + " '" + std::string(line) +
                          "': one peer per line, written HOST:PORT or HOST");
    }
    std::string entry(line);
    // A bare host (a name or an IPv4 address) gets the VXLAN port.
    if (entry.find(':') == std::string::npos) {
      entry += ':';  // appends only: GCC 12 at -O3 warns falsely (-Wrestrict) on ":" + string
      entry += std::to_string(l2::vxlan_default_port);
    }
    host_port hp = parse_host_port(entry, where);
    hp.text = std::string(line);
    if (!seen.insert(hp.host + "|" + std::to_string(hp.port)).second) {
      throw options_error(where + " " + hp.text + " is listed twice; list each peer once");
    }
    peers.push_back(std::move(hp));
  }
  return peers;
}

command parse_options(int argc, const char* const argv[]) {
  std::vector<std::string> port_texts;
  std::vector<std::string> uplink_texts;
  std::string listen_text;
  std::string vni_text;
  std::string aging_text;
  std::string table_text;
  std::string full_text;
  std::string move_limit_text;
  std::string move_window_text;
  std::string hold_down_text;
  std::string log_level;
  std::string config_file;
  std::string key_file;
  std::string keepalive_text;
  std::string timeout_text;
  std::string resolve_text;
  std::string mtu_text;
  std::string peers_file;
  std::string group;
  std::string group_dev;
  std::string pid_file;
  std::string log_file;
  std::string user;
  std::string control_text;
  std::string metrics_text;
  std::vector<std::string> stream_texts;
  std::string stream_mode_text;
  std::string stream_group;

  po::options_description general("Options", 100, 50);
  // clang-format off
  general.add_options()
      ("help,h", "show this help and exit")
      ("version", "show the version and exit")
      ("generate-key", "print a new random key for --key-file and exit")
      ("config", po::value(&config_file)->value_name("FILE"),
       "read options from FILE: one `key = value` per line, keys as the long options "
       "without dashes (port options too: `port = tap0,max-macs=64`); `#` starts a comment. "
       "Re-read on SIGHUP and `vswitchctl reload`, which apply the difference")
      ("port", po::value(&port_texts)->value_name("[tap:|dev:]NAME[,OPT=V...]")->composing(), port_help)
      ("stream-listen", po::value(&stream_texts)->value_name("unix:PATH|tcp:ADDR:PORT[,OPT=V]")->composing(),
       "accept QEMU -netdev stream guests there, repeatable; every connection is a port "
       "(gone when it closes), with the port options given, e.g. "
       "unix:/run/vswitchd/vm.sock,vlan=10")
      ("stream-mode", po::value(&stream_mode_text)->value_name("MODE"),
       "permissions of the --stream-listen unix sockets, octal (default 0660: the owner and "
       "--stream-group may connect)")
      ("stream-group", po::value(&stream_group)->value_name("GROUP"),
       "group of the --stream-listen unix sockets, so its members can connect VMs without root "
       "(default: vswitchd's group)")
      ("uplink", po::value(&uplink_texts)->value_name("HOST:PORT[,vni-map=V:N,...]")->composing(),
       "a VXLAN peer, repeatable: a name, an IPv4 address or [IPv6]:PORT. With "
       "vni-map=10:1010,20:1020 (plain VXLAN) each VLAN crosses untagged in its own VNI, as "
       "the kernel's vxlan devices (one per VNI) expect; without it, frames cross in --vni "
       "with their tags")
      ("listen", po::value(&listen_text)->value_name("ADDR:PORT"),
       "local UDP endpoint for uplinks (default 0.0.0.0:4789, or [::]:4789 when a peer is IPv6)")
      ("vni", po::value(&vni_text)->value_name("N"), "VXLAN network identifier, 0-16777215 (default 1)")
      ("mac-aging", po::value(&aging_text)->value_name("SECONDS"),
       "forget a MAC address not seen for this long (default 300)")
      ("mac-table-size", po::value(&table_text)->value_name("N"),
       "most MAC addresses learned; new ones are refused (and flooded to) when full (default 8192)")
      ("mac-table-full", po::value(&full_text)->value_name("evict|refuse"),
       "when the MAC table is full: evict (the port holding the most entries loses one of its "
       "oldest) or refuse (the new address is not learned; its frames are flooded) (default evict)")
      ("mac-move-limit", po::value(&move_limit_text)->value_name("N"),
       "a MAC moving between ports more than N times in --mac-move-window is logged and pinned "
       "to its first port for --mac-hold-down; 0 turns this off (default 5)")
      ("mac-move-window", po::value(&move_window_text)->value_name("SECONDS"), "see --mac-move-limit (default 10)")
      ("mac-hold-down", po::value(&hold_down_text)->value_name("SECONDS"), "see --mac-move-limit (default 30)")
      ("log-level", po::value(&log_level)->value_name("LEVEL"),
       "trace, debug, info, warn or error (default info)")
      ("log-file", po::value(&log_file)->value_name("PATH"),
       "append the log to PATH instead of writing it to stderr (the default, which the "
       "journal takes under systemd)")
      ("pid-file", po::value(&pid_file)->value_name("PATH"),
       "write the daemon's pid to PATH once it has started; removed when it exits")
      ("user", po::value(&user)->value_name("USER"),
       "once every port and uplink is open, run as USER, keeping only CAP_NET_ADMIN and "
       "CAP_NET_RAW; key and peers files must then be readable by USER")
      ("control", po::value(&control_text)->value_name("PATH"),
       "the control socket vswitchctl talks to (mode 0600), or `none` for no control socket "
       "(default /run/vswitchd/vswitchd.ctl)")
      ("metrics", po::value(&metrics_text)->value_name("ADDR:PORT"),
       "serve Prometheus metrics over HTTP at http://ADDR:PORT/metrics, e.g. 127.0.0.1:9310 "
       "(default: off)")
      ("key-file", po::value(&key_file)->value_name("PATH"),
       "seal every uplink (encrypted and authenticated) with the overlay key in PATH: one "
       "key per line as 64 hex digits (vswitchd --generate-key), at most two while rotating; "
       "the first seals; mode 0600. Reloaded on SIGHUP and when it changes. Without it, "
       "uplinks are plain, unauthenticated VXLAN")
      ("keepalive", po::value(&keepalive_text)->value_name("SECONDS"),
       "sealed uplinks: probe each peer this often (default 1)")
      ("peer-timeout", po::value(&timeout_text)->value_name("SECONDS"),
       "sealed uplinks: a peer silent this long is down and its MACs are flushed (default 5)")
      ("resolve-interval", po::value(&resolve_text)->value_name("SECONDS"),
       "look peer names up again this often; every 5 s while a peer is down (default 60)")
      ("underlay-mtu", po::value(&mtu_text)->value_name("N"),
       "MTU of the underlay towards the peers (default: the route's MTU to each peer); "
       "frames larger than it minus the encapsulation are dropped (too_big)")
      ("clamp-mss", po::bool_switch(), "lower the MSS of TCP SYNs crossing an uplink to fit its MTU")
      ("peers-file", po::value(&peers_file)->value_name("PATH"),
       "more uplink peers, one HOST:PORT (or HOST) per line; reloaded on SIGHUP and when it "
       "changes: peers added and removed without disturbing the others")
      ("group", po::value(&group)->value_name("ADDR"),
       "VXLAN multicast group (IPv4, e.g. 239.1.1.1), as the kernel's `vxlan group`: "
       "broadcast and unknown frames go to the group once; peers are learned from their "
       "traffic and get known unicast directly. Plain VXLAN only")
      ("group-dev", po::value(&group_dev)->value_name("NAME"),
       "interface to join --group on and send to it from (default: the route's)");
  // clang-format on

  // Boost.Program_options builds its error messages by replacing
  // placeholders such as %canonical_option% with the user's text until none
  // is left: text that contains one never ends (a hang, found by fuzzing).
  // '%' is refused before Boost sees it.
  const std::string no_percent = ": '%' cannot be used in vswitchd's options (the option parser "
                                 "would misread it); rename the file or value without it";
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]).find('%') != std::string_view::npos) {
      throw options_error(std::string(argv[i]) + no_percent);
    }
  }
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(general).run(), vm);
    if (vm.count("config") != 0) {
      const std::string file = vm["config"].as<std::string>();
      std::ifstream stream(file);
      if (!stream) {
        throw options_error("--config " + file + ": cannot read the file; check the path");
      }
      std::ostringstream text;
      text << stream.rdbuf();
      std::istringstream in(text.str());
      std::size_t number = 0;
      for (std::string line; std::getline(in, line);) {
        ++number;
        const std::string content = line.substr(0, line.find('#'));  // comments may say anything
        if (content.find('%') != std::string::npos) {
          throw options_error("--config " + file + " line " + std::to_string(number) + no_percent);
        }
      }
      in.clear();
      in.seekg(0);
      try {
        po::store(po::parse_config_file(in, general), vm);
      } catch (const po::error& e) {
        throw options_error("--config " + file + ": " + e.what() +
                            "; keys are the long options without dashes, e.g. `port = tap0`");
      }
    }
    po::notify(vm);
  } catch (const po::unknown_option& e) {
    throw options_error(std::string(e.what()) + "; see vswitchd --help for the options");
  } catch (const po::error& e) {
    throw options_error(std::string(e.what()) + "; see vswitchd --help");
  }

  command cmd;
  if (vm.count("help") != 0) {
    std::ostringstream out;
    out << usage_text << "\n" << general;
    cmd.what = command::action::help;
    cmd.text = out.str();
    return cmd;
  }
  if (vm.count("version") != 0) {
    cmd.what = command::action::version;
    return cmd;
  }
  if (vm.count("generate-key") != 0) {
    cmd.what = command::action::generate_key;
    return cmd;
  }

  options& o = cmd.opts;
  std::set<std::string> names;
  for (const std::string& text : port_texts) {
    port_spec spec = parse_port_spec(text);
    if (!names.insert(spec.name).second) {
      throw options_error("--port " + text + ": interface " + spec.name +
                          " is named twice; give each port once");
    }
    o.ports.push_back(std::move(spec));
  }
  std::set<std::string> peers;
  for (const std::string& text : uplink_texts) {
    host_port hp = parse_uplink(text, "--uplink");
    if (!peers.insert(hp.host + "|" + std::to_string(hp.port)).second) {
      throw options_error("--uplink " + text + ": this peer is given twice; give each peer once");
    }
    o.uplinks.push_back(std::move(hp));
  }
  std::set<std::string> listens;
  for (const std::string& text : stream_texts) {
    stream_listen_spec spec = parse_stream_listen(text);
    if (!listens.insert(spec.address).second) {
      throw options_error("--stream-listen " + text + ": " + spec.address +
                          " is given twice; give each once");
    }
    o.stream_listens.push_back(std::move(spec));
  }
  if (!stream_mode_text.empty()) {
    std::uint32_t mode = 0;
    const auto [ptr, ec] = std::from_chars(stream_mode_text.data(),
                                           stream_mode_text.data() + stream_mode_text.size(), mode, 8);
    if (ec != std::errc() || ptr != stream_mode_text.data() + stream_mode_text.size() || mode > 0777) {
      throw options_error("--stream-mode " + stream_mode_text +
                          ": not a file mode; give octal digits, e.g. 0660 or 0666");
    }
    o.stream_mode = mode;
  }
  if (!stream_group.empty()) o.stream_group = stream_group;
  if ((!stream_mode_text.empty() || !stream_group.empty()) && o.stream_listens.empty()) {
    throw options_error(std::string(!stream_mode_text.empty() ? "--stream-mode" : "--stream-group") +
                        ": has no effect without --stream-listen unix:PATH; add one or drop it");
  }
  if (!listen_text.empty()) o.listen = parse_host_port(listen_text, "--listen");
  for (const host_port& hp : o.uplinks) {
    if (!hp.vni_map.empty() && !key_file.empty()) {
      throw options_error("--uplink " + hp.text + ",vni-map=...: is for plain VXLAN peers (the "
                          "kernel's vxlan); sealed uplinks carry the tags themselves: drop vni-map");
    }
  }
  if (!vni_text.empty()) {
    o.vni = static_cast<std::uint32_t>(
        parse_number(vni_text, "--vni", 0, l2::max_vni, "a VNI from 0 to 16777215 (24 bits)"));
  }
  if (!aging_text.empty()) {
    o.mac_aging = static_cast<std::uint32_t>(
        parse_number(aging_text, "--mac-aging", 1, 1'000'000, "seconds from 1 to 1000000"));
  }
  if (!table_text.empty()) {
    o.mac_table_size = static_cast<std::uint32_t>(parse_number(
        table_text, "--mac-table-size", 1, 1u << 24, "a number of entries from 1 to 16777216"));
  }
  if (!full_text.empty()) {
    if (full_text != "evict" && full_text != "refuse") {
      throw options_error("--mac-table-full " + full_text + ": give evict or refuse");
    }
    o.mac_table_evict = full_text == "evict";
  }
  if (!move_limit_text.empty()) {
    o.mac_move_limit = static_cast<std::uint32_t>(
        parse_number(move_limit_text, "--mac-move-limit", 0, 1000, "a number of moves from 0 (off) to 1000"));
  }
  if (!move_window_text.empty()) {
    o.mac_move_window = static_cast<std::uint32_t>(
        parse_number(move_window_text, "--mac-move-window", 1, 3600, "seconds from 1 to 3600"));
  }
  if (!hold_down_text.empty()) {
    o.mac_hold_down = static_cast<std::uint32_t>(
        parse_number(hold_down_text, "--mac-hold-down", 1, 86400, "seconds from 1 to 86400"));
  }
  if (!log_level.empty()) {
    static const std::set<std::string> levels = {"trace", "debug", "info", "warn", "error"};
    if (levels.count(log_level) == 0) {
      throw options_error("--log-level " + log_level +
                          ": unknown level; use trace, debug, info, warn or error");
    }
    o.log_level = log_level;
  }
  if (!key_file.empty()) o.key_file = key_file;
  if (!pid_file.empty()) o.pid_file = pid_file;
  if (!log_file.empty()) o.log_file = log_file;
  if (!user.empty()) o.user = user;
  if (vm.count("config") != 0) o.config_file = vm["config"].as<std::string>();
  if (!control_text.empty()) {
    // (Checked for length and the directory when the daemon binds it.)
    o.control = control_text;
  }
  if (!metrics_text.empty()) {
    if (metrics_text.find(':') == std::string::npos) {
      const bool all_digits = metrics_text.find_first_not_of("0123456789") == std::string::npos;
      throw options_error("--metrics " + metrics_text + ": write ADDR:PORT, e.g. 127.0.0.1:" +
                          (all_digits ? metrics_text : std::string("9310")) +
                          " (0.0.0.0:PORT to serve every address)");
    }
    o.metrics = parse_host_port(metrics_text, "--metrics");
  }
  if (!peers_file.empty()) o.peers_file = peers_file;
  o.clamp_mss = vm.count("clamp-mss") != 0 && vm["clamp-mss"].as<bool>();
  if (!keepalive_text.empty()) {
    o.keepalive = static_cast<std::uint32_t>(
        parse_number(keepalive_text, "--keepalive", 1, 3600, "seconds from 1 to 3600"));
  }
  if (!timeout_text.empty()) {
    o.peer_timeout = static_cast<std::uint32_t>(
        parse_number(timeout_text, "--peer-timeout", 2, 86400, "seconds from 2 to 86400"));
  }
  if (o.peer_timeout <= o.keepalive) {
    throw options_error("--peer-timeout " + std::to_string(o.peer_timeout) +
                        ": must be longer than --keepalive " + std::to_string(o.keepalive) +
                        " (a peer needs a few probes to answer); e.g. --peer-timeout " +
                        std::to_string(o.keepalive * 4));
  }
  if (!resolve_text.empty()) {
    o.resolve_interval = static_cast<std::uint32_t>(
        parse_number(resolve_text, "--resolve-interval", 1, 86400, "seconds from 1 to 86400"));
  }
  if (!mtu_text.empty()) {
    o.underlay_mtu = static_cast<std::uint32_t>(
        parse_number(mtu_text, "--underlay-mtu", 576, 65535, "an MTU from 576 to 65535"));
  }
  if (!group.empty()) {
    boost::system::error_code ec;
    const auto address = boost::asio::ip::make_address(group, ec);
    if (ec || !address.is_v4() || !address.is_multicast()) {
      throw options_error("--group " + group +
                          ": not an IPv4 multicast address; give one in 224.0.0.0/4, e.g. "
                          "239.1.1.1");
    }
    if (o.key_file) {
      throw options_error("--group " + group +
                          ": is plain VXLAN only (sealed peers need a handshake each); drop "
                          "--key-file, or list the peers with --uplink or --peers-file");
    }
    o.group = group;
  }
  if (!group_dev.empty()) {
    if (group.empty()) {
      throw options_error("--group-dev " + group_dev + ": has no effect without --group; add --group ADDR");
    }
    if (auto problem = ports::netdev::name_problem(group_dev)) {
      throw options_error("--group-dev " + group_dev + ": " + *problem);
    }
    o.group_dev = group_dev;
  }
  // --listen alone opens the uplink socket for uplinks added at runtime.
  const bool any_uplink = !o.uplinks.empty() || o.peers_file || o.group || o.listen;
  if (!any_uplink) {
    for (const char* name : {"key-file", "keepalive", "peer-timeout", "underlay-mtu", "clamp-mss"}) {
      const bool given = std::string(name) == "clamp-mss" ? o.clamp_mss : vm.count(name) != 0;
      if (given) {
        throw options_error(std::string("--") + name +
                            ": has no effect without uplinks; add --uplink HOST:PORT or "
                            "--peers-file PATH, or drop it");
      }
    }
  }
  if (o.ports.empty() && !any_uplink && o.stream_listens.empty()) {
    throw options_error(
        "no ports: give at least one --port NAME (or --uplink HOST:PORT, --stream-listen "
        "unix:PATH for QEMU guests, or --listen ADDR:PORT to add uplinks at runtime); see "
        "vswitchd --help");
  }
  return cmd;
}

}  // namespace switchd
