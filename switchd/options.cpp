#include "switchd/options.hpp"

#include <boost/asio/ip/address.hpp>
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

}  // namespace switchd
