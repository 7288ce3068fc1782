#include "switchd/options.hpp"

#include "ports/identity.hpp"
#include "ports/text_lines.hpp"

#include <cctype>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

#include "l2/vxlan.hpp"
#include "ports/address.hpp"
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

host_port parse_host_port(const std::string& text, const std::string& option) {
  std::string problem;
  const std::optional<ports::host_port_text> split = ports::split_host_port(text, &problem);
  if (!split) throw options_error(option + " " + text + ": " + problem);
  host_port hp;
  hp.text = text;
  hp.host = split->host;
  hp.port = static_cast<std::uint16_t>(
      parse_number(split->port, option + " " + text + ": port", 1, 65535, "a UDP port from 1 to 65535"));
  return hp;
}

std::optional<ports::noise::public_key> parse_peer_key(const std::string& value, const std::string& where) {
  std::string error;
  std::optional<ports::noise::public_key> key = ports::identity::parse_public_key(value, error);
  if (!key) throw options_error(where + "key=: " + error);
  return key;
}

std::string parse_peer_name(const std::string& value, const std::string& where) {
  if (value.empty() || value.size() > 64 ||
      value.find_first_of(" \t,=#") != std::string::npos)
    throw options_error(where + "name=" + value + ": a peer's name is one word of at most 64 characters "
                        "without commas, e.g. name=laptop");
  return value;
}

std::string key_only_name(const host_port& hp) {
  return !hp.name.empty() ? hp.name : "key:" + ports::identity::to_base64(*hp.key).substr(0, 8);
}

host_port parse_uplink(const std::string& text, const std::string& option) {
  // HOST:PORT[,OPTION...], or key=PUB[,name=NAME]: a peer named by its key alone.
  const bool by_key = text.starts_with("key=");
  const auto comma = text.find(',');
  host_port hp;
  if (!by_key) {
    hp = parse_host_port(text.substr(0, comma), option);
    hp.text = text.substr(0, comma);  // the peer's name; its options are in vni_map and key
  }
  const std::string where = option + " " + text + ": ";
  std::string_view rest = std::string_view(text).substr(by_key ? 0 : std::min(comma + 1, text.size()));
  if (!by_key && comma == std::string::npos) rest = {};
  std::set<std::uint32_t> vlans, vnis;
  bool in_vni_map = false;
  while (!rest.empty()) {
    const std::size_t end = std::min(rest.find(','), rest.size());
    std::string item(rest.substr(0, end));
    rest.remove_prefix(std::min(end + 1, rest.size()));
    // An option is NAME=VALUE; vni-map's list goes on with VLAN:VNI items.
    if (const auto eq = item.find('='); eq != std::string::npos) {
      const std::string name = item.substr(0, eq);
      const std::string value = item.substr(eq + 1);
      in_vni_map = name == "vni-map";
      if (name == "key") {
        if (hp.key) throw options_error(where + "key= given twice; give the peer's public key once");
        hp.key = parse_peer_key(value, where);
        continue;
      }
      if (name == "name") {
        hp.name = parse_peer_name(value, where);
        continue;
      }
      if (!in_vni_map) {
        throw options_error(where + "unknown uplink option '" + name +
                            "'; the uplink options are key=PUBLIC_KEY (with --identity), name=NAME and "
                            "vni-map=VLAN:VNI[,VLAN:VNI...], e.g. " + hp.text + ",vni-map=10:1010,20:1020");
      }
      item = value;
      if (item.empty()) continue;
    } else if (!in_vni_map) {
      throw options_error(where + "'" + item + "' is not an uplink option; write key=PUBLIC_KEY or "
                          "vni-map=VLAN:VNI[,VLAN:VNI...]");
    }
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
  if (hp.vni_map.empty() && text.find("vni-map=") != std::string::npos)
    throw options_error(where + "vni-map is empty; write e.g. vni-map=10:1010");
  if (by_key) {
    if (!hp.vni_map.empty())
      throw options_error(where + "vni-map is for plain VXLAN peers, which have addresses; drop it");
    hp.text = key_only_name(hp);
  } else if (!hp.name.empty()) {
    hp.text = hp.name;
  }
  return hp;
}

std::vector<host_port> parse_peers_file(std::string_view text, const std::string& file) {
  std::vector<host_port> peers;
  std::set<std::string> seen;
  ports::text_lines lines(text);
  while (lines.next()) {
    std::string_view line = lines.line();
    const std::string where = "--peers-file " + file + " line " + std::to_string(lines.number()) + ":";
    // HOST[:PORT], then key=PUBLIC_KEY (with --identity) and name=NAME; or
    // key=PUBLIC_KEY [name=NAME] alone: a peer named by its key.
    std::optional<ports::noise::public_key> key;
    std::string name;
    const bool by_key = line.starts_with("key=");
    std::string_view words = line;
    if (!by_key) {
      const auto space = std::min(line.find_first_of(" \t"), line.size());
      words = line.substr(space);
      line = line.substr(0, space);
    }
    while (!words.empty()) {
      while (!words.empty() && std::isspace(static_cast<unsigned char>(words.front()))) words.remove_prefix(1);
      const std::size_t stop = std::min(words.find_first_of(" \t"), words.size());
      const std::string word(words.substr(0, stop));
      words.remove_prefix(stop);
      if (word.empty()) continue;
      if (word.starts_with("key=") && !key) {
        key = parse_peer_key(word.substr(4), where + " ");
      } else if (word.starts_with("name=") && name.empty()) {
        name = parse_peer_name(word.substr(5), where + " ");
      } else {
        throw options_error(where + " '" + word +
                            "': one peer per line, written HOST:PORT or HOST (then key=PUBLIC_KEY with "
                            "--identity, and name=NAME), or key=PUBLIC_KEY [name=NAME] for a host whose "
                            "address is learned");
      }
    }
    if (by_key) {
      host_port hp;
      hp.key = key;
      hp.name = name;
      hp.text = key_only_name(hp);
      if (!seen.insert("key|" + ports::identity::to_base64(*key)).second)
        throw options_error(where + " key " + ports::identity::to_base64(*key) + " is listed twice; list each peer once");
      peers.push_back(std::move(hp));
      continue;
    }
    std::string entry(line);
    // A bare host (a name or an IPv4 address) gets the VXLAN port.
    if (entry.find(':') == std::string::npos) {
      entry += ':';  // appends only: GCC 12 at -O3 warns falsely (-Wrestrict) on ":" + string
      entry += std::to_string(l2::vxlan_default_port);
    }
    host_port hp = parse_host_port(entry, where);
    hp.text = name.empty() ? std::string(line) : name;
    hp.key = key;
    hp.name = name;
    if (!seen.insert(hp.host + "|" + std::to_string(hp.port)).second) {
      throw options_error(where + " " + hp.text + " is listed twice; list each peer once");
    }
    peers.push_back(std::move(hp));
  }
  return peers;
}

std::vector<allowed_key> parse_allowed_keys(std::string_view text, const std::string& file) {
  std::vector<allowed_key> out;
  ports::text_lines lines(text);
  while (lines.next()) {
    const std::string_view line = lines.line();
    const std::string where = "--allowed-keys " + file + " line " + std::to_string(lines.number()) + ": ";
    const std::size_t space = std::min(line.find_first_of(" \t"), line.size());
    std::string error;
    const std::optional<ports::noise::public_key> key =
        ports::identity::parse_public_key(line.substr(0, space), error);
    if (!key) throw options_error(where + error + "; a line is a public key, then optionally a name");
    std::string_view name = line.substr(space);
    while (!name.empty() && std::isspace(static_cast<unsigned char>(name.front()))) name.remove_prefix(1);
    if (name.find_first_of(" \t") != std::string_view::npos)
      throw options_error(where + "the name '" + std::string(name) + "' has spaces; use one word");
    for (const allowed_key& earlier : out) {
      if (earlier.key == *key) throw options_error(where + "the same key as an earlier line; list each key once");
    }
    out.push_back({*key, std::string(name)});
  }
  return out;
}

}  // namespace switchd
