#include "switchd/port_spec.hpp"

#include <optional>
#include <set>
#include <vector>

#include "ports/dgram_port.hpp"
#include "ports/netdev.hpp"
#include "switchd/options.hpp"

namespace switchd {

/// The options after a port's name: ",KEY=VALUE" each. `where` starts error
/// messages; `example` names the port in them.
port_options parse_port_options(std::string_view options, const std::string& where,
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
  spec.options = parse_port_options(options, "--port " + text + ": ", spec.name);
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

}  // namespace switchd
