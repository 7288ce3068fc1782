#include "switchd/options.hpp"

#include <boost/program_options.hpp>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

#include "l2/vxlan.hpp"
#include "ports/netdev.hpp"

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
    "interface's kernel side (QEMU TAPs, veths, NICs)";

}  // namespace

port_spec parse_port_spec(const std::string& text) {
  port_spec spec;
  spec.text = text;
  std::string_view rest = text;
  if (rest.starts_with("tap:")) {
    spec.mode = port_mode::tap;
    rest.remove_prefix(4);
  } else if (rest.starts_with("dev:")) {
    spec.mode = port_mode::device;
    rest.remove_prefix(4);
  } else if (auto colon = rest.find(':'); colon != std::string_view::npos) {
    throw options_error("--port " + text + ": unknown port kind '" +
                        std::string(rest.substr(0, colon)) +
                        "'; write NAME, tap:NAME or dev:NAME");
  }
  spec.name = std::string(rest);
  if (auto problem = ports::netdev::name_problem(spec.name)) {
    throw options_error("--port " + text + ": " + *problem);
  }
  return spec;
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

command parse_options(int argc, const char* const argv[]) {
  std::vector<std::string> port_texts;
  std::vector<std::string> uplink_texts;
  std::string listen_text;
  std::string vni_text;
  std::string aging_text;
  std::string table_text;
  std::string log_level;
  std::string config_file;

  po::options_description general("Options", 100, 50);
  // clang-format off
  general.add_options()
      ("help,h", "show this help and exit")
      ("version", "show the version and exit")
      ("config", po::value(&config_file)->value_name("FILE"),
       "read options from FILE: one `key = value` per line, keys as the long options "
       "without dashes; `#` starts a comment")
      ("port", po::value(&port_texts)->value_name("[tap:|dev:]NAME")->composing(), port_help)
      ("uplink", po::value(&uplink_texts)->value_name("HOST:PORT")->composing(),
       "a VXLAN peer, repeatable: a name, an IPv4 address or [IPv6]:PORT")
      ("listen", po::value(&listen_text)->value_name("ADDR:PORT"),
       "local UDP endpoint for uplinks (default 0.0.0.0:4789, or [::]:4789 when a peer is IPv6)")
      ("vni", po::value(&vni_text)->value_name("N"), "VXLAN network identifier, 0-16777215 (default 1)")
      ("mac-aging", po::value(&aging_text)->value_name("SECONDS"),
       "forget a MAC address not seen for this long (default 300)")
      ("mac-table-size", po::value(&table_text)->value_name("N"),
       "most MAC addresses learned; new ones are refused (and flooded to) when full (default 8192)")
      ("log-level", po::value(&log_level)->value_name("LEVEL"),
       "trace, debug, info, warn or error (default info)");
  // clang-format on

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(general).run(), vm);
    if (vm.count("config") != 0) {
      const std::string file = vm["config"].as<std::string>();
      std::ifstream in(file);
      if (!in) {
        throw options_error("--config " + file + ": cannot read the file; check the path");
      }
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
    host_port hp = parse_host_port(text, "--uplink");
    if (!peers.insert(hp.host + "|" + std::to_string(hp.port)).second) {
      throw options_error("--uplink " + text + ": this peer is given twice; give each peer once");
    }
    o.uplinks.push_back(std::move(hp));
  }
  if (!listen_text.empty()) o.listen = parse_host_port(listen_text, "--listen");
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
  if (!log_level.empty()) {
    static const std::set<std::string> levels = {"trace", "debug", "info", "warn", "error"};
    if (levels.count(log_level) == 0) {
      throw options_error("--log-level " + log_level +
                          ": unknown level; use trace, debug, info, warn or error");
    }
    o.log_level = log_level;
  }
  if (o.ports.empty() && o.uplinks.empty()) {
    throw options_error(
        "no ports: give at least one --port NAME (or --uplink HOST:PORT); see vswitchd --help");
  }
  if (o.listen && o.uplinks.empty()) {
    throw options_error("--listen " + o.listen->text +
                        ": has no effect without --uplink; add an --uplink HOST:PORT or drop it");
  }
  return cmd;
}

}  // namespace switchd
