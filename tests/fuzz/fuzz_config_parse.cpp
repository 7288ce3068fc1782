// config_parse: the daemon's option parsers (switchd/options.hpp) on text.
//
// Why: options come from the command line, from --config files, from
// --peers-file files (re-read while running) and, through the control socket,
// from `vswitchctl port add` / `uplink add`. A bad option must be an
// options_error naming it (ports::port_error from the ports' own address
// parsers); anything else escaping (std::out_of_range, a Boost exception, a
// crash) is a bug: the target lets it escape, and libFuzzer reports it.
//
// Each input is given, whole, to parse_port_spec, parse_uplink,
// parse_host_port, parse_stream_listen, parse_vlan_list, parse_peers_file,
// ports::parse_dgram_spec, ports::parse_stream_address and
// ports::netdev::name_problem; and what they accept is checked (names valid,
// VLANs in 1..4094, a trunk not empty, ports non-zero, vni-map entries
// unique and in range, peers unique). Then switchd::parse_options runs twice:
// on `--config FILE` where FILE (a memfd, /proc/self/fd/N) holds the input,
// and on an argv made of the input's words split at NUL bytes (words that
// could name another file for --config are dropped: /dev/zero would hang).
#include <sys/mman.h>
#include <unistd.h>

#include <set>
#include <vector>

#include "fuzz_util.hpp"
#include "ports/dgram_port.hpp"
#include "ports/netdev.hpp"
#include "ports/port.hpp"
#include "ports/stream_listener.hpp"
#include "switchd/options.hpp"

namespace {

using switchd::options_error;

void check_vlans(const l2::vlan_mode& m) {
  switch (m.mode) {
    case l2::vlan_mode::kind::transparent:
      break;
    case l2::vlan_mode::kind::access:
      FUZZ_CHECK(m.access_vlan >= 1 && m.access_vlan <= l2::max_vlan_id);
      break;
    case l2::vlan_mode::kind::trunk:
      FUZZ_CHECK(m.trunk_vlans.any() && !m.trunk_vlans.test(0) && !m.trunk_vlans.test(4095));
      if (m.native) FUZZ_CHECK(*m.native >= 1 && *m.native <= l2::max_vlan_id);
      break;
  }
}

void check_host_port(const switchd::host_port& hp) {
  FUZZ_CHECK(!hp.host.empty() && hp.port != 0);
  std::set<l2::vlan_id> vlans;
  std::set<std::uint32_t> vnis;
  for (const auto& [vlan, vni] : hp.vni_map) {
    FUZZ_CHECK(vlan >= 1 && vlan <= l2::max_vlan_id && vni <= 0xffffff);
    FUZZ_CHECK(vlans.insert(vlan).second && vnis.insert(vni).second);
  }
}

void check_single(const std::string& text) {
  try {
    const switchd::port_spec spec = switchd::parse_port_spec(text);
    if (spec.mode != switchd::port_mode::dgram) FUZZ_CHECK(!ports::netdev::name_problem(spec.name));
    FUZZ_CHECK(spec.name.find(',') == std::string::npos);
    check_vlans(spec.options.vlans);
    FUZZ_CHECK(spec.options.max_macs <= (1u << 24));
  } catch (const options_error&) {
  }
  try {
    check_host_port(switchd::parse_uplink(text, "--uplink"));
  } catch (const options_error&) {
  }
  try {
    const switchd::host_port hp = switchd::parse_host_port(text, "--listen");
    check_host_port(hp);
    FUZZ_CHECK(hp.vni_map.empty());
  } catch (const options_error&) {
  }
  try {
    const switchd::stream_listen_spec spec = switchd::parse_stream_listen(text);
    FUZZ_CHECK(spec.address.starts_with("unix:") || spec.address.starts_with("tcp:"));
    check_vlans(spec.options.vlans);
  } catch (const options_error&) {
  }
  try {
    const l2::vlan_set set = switchd::parse_vlan_list(text, "trunk");
    FUZZ_CHECK(set.any() && !set.test(0) && !set.test(4095));
  } catch (const options_error&) {
  }
  try {
    const auto peers = switchd::parse_peers_file(text, "peers");
    std::set<std::pair<std::string, std::uint16_t>> seen;
    for (const auto& hp : peers) {
      check_host_port(hp);
      FUZZ_CHECK(seen.insert({hp.host, hp.port}).second);
    }
  } catch (const options_error&) {
  }
  try {
    const ports::dgram_spec spec = ports::parse_dgram_spec(text);
    FUZZ_CHECK(spec.local.is_unix() == spec.remote.is_unix());
  } catch (const ports::port_error&) {
  }
  try {
    (void)ports::parse_stream_address(text, "--stream-listen");
  } catch (const ports::port_error&) {
  }
  (void)ports::netdev::name_problem(text);
}

void check_command(const switchd::command& cmd) {
  if (cmd.what != switchd::command::action::run) return;
  const switchd::options& o = cmd.opts;
  FUZZ_CHECK(!o.ports.empty() || !o.uplinks.empty() || o.peers_file || o.group || o.listen ||
             !o.stream_listens.empty());
  for (const auto& p : o.ports) check_vlans(p.options.vlans);
  for (const auto& u : o.uplinks) check_host_port(u);
  FUZZ_CHECK(o.peer_timeout > o.keepalive);
  FUZZ_CHECK(o.vni <= 0xffffff && o.mac_table_size >= 1 && o.stream_mode <= 0777);
}

void parse_options(const std::vector<std::string>& words) {
  std::vector<const char*> argv;
  for (const auto& w : words) argv.push_back(w.c_str());
  argv.push_back(nullptr);
  try {
    check_command(switchd::parse_options(static_cast<int>(words.size()), argv.data()));
  } catch (const options_error& e) {
    FUZZ_CHECK(*e.what() != '\0');
  }
}

/// The --config file: a memfd, rewritten for every input.
const std::string& config_path(std::span<const std::byte> text) {
  static const int fd = memfd_create("vswitchd-fuzz.conf", MFD_CLOEXEC);
  static const std::string path = "/proc/self/fd/" + std::to_string(fd);
  FUZZ_CHECK(fd >= 0);
  FUZZ_CHECK(ftruncate(fd, 0) == 0);
  FUZZ_CHECK(pwrite(fd, text.data(), text.size(), 0) == static_cast<ssize_t>(text.size()));
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes = fuzz::as_bytes(data, size);
  const std::string text = fuzz::to_string(bytes);
  check_single(text);

  parse_options({"vswitchd", "--config", config_path(bytes)});

  // argv from the words between NUL bytes. Boost accepts any unambiguous
  // prefix of a long option ("--conf"), so those words go.
  std::vector<std::string> words{"vswitchd"};
  std::string word;
  bool drop = false;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    if (i < text.size() && text[i] != '\0') {
      word.push_back(text[i]);
      continue;
    }
    if (word.starts_with("--conf")) drop = true;
    words.push_back(std::move(word));
    word.clear();
  }
  if (!drop) parse_options(words);
  return 0;
}
