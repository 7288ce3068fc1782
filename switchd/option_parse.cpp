// option_parse: the command line and --config files read through the option
// table (switchd/option_table.cpp): Boost.Program_options' descriptions made
// from the rows, the checks that need several options at once, --help and
// docs/options.md.
#include "switchd/option_table.hpp"

#include <boost/program_options.hpp>
#include <fstream>
#include <set>
#include <sstream>

#include "switchd/markdown.hpp"

namespace switchd {
namespace po = boost::program_options;

namespace {

/// The options' descriptions for Boost.Program_options, from the table.
po::options_description describe(bool with_defaults) {
  po::options_description d("Options", 100, 50);
  for (const option_row& r : option_table()) {
    std::string help = r.help;
    if (with_defaults && !r.default_text.empty()) help += " (default " + r.default_text + ")";
    const std::string name = r.name == "help" ? "help,h" : r.name;
    if (r.value_name.empty() && r.reload == reload_effect::none) {
      d.add_options()(name.c_str(), help.c_str());  // an action: --help
    } else if (r.value_name.empty()) {
      d.add_options()(name.c_str(), po::bool_switch(), help.c_str());  // `clamp-mss = true` in a file
    } else if (r.repeatable) {
      d.add_options()(name.c_str(),
                      po::value<std::vector<std::string>>()->value_name(r.value_name)->composing(),
                      help.c_str());
    } else {
      d.add_options()(name.c_str(), po::value<std::string>()->value_name(r.value_name),
                      help.c_str());
    }
  }
  return d;
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

/// Checks that need several options at once; `given` names the options set.
void check_combinations(const options& o, const std::set<std::string>& given) {
  if ((given.count("stream-mode") != 0 || given.count("stream-group") != 0) &&
      o.stream_listens.empty()) {
    throw options_error(std::string(given.count("stream-mode") != 0 ? "--stream-mode" : "--stream-group") +
                        ": has no effect without --stream-listen unix:PATH; add one or drop it");
  }
  if (given.count("relay") != 0 && !o.identity) {
    throw options_error("--relay: only hosts with --identity introduce and relay; add --identity FILE or drop it");
  }
  for (const host_port& hp : o.uplinks) {
    if (o.identity && !hp.key) {
      throw options_error("--uplink " + hp.text + ": with --identity each peer is named by its public key; "
                          "write --uplink " + hp.text + ",key=KEY (`vswitchd --public-key FILE` on that "
                          "host prints it)");
    }
    if (!o.identity && hp.key) {
      throw options_error("--uplink " + hp.text + ",key=...: a peer's key needs --identity (this host's "
                          "own key pair); add --identity FILE or drop key=");
    }
    if (!hp.vni_map.empty() && (o.key_file || o.identity)) {
      throw options_error("--uplink " + hp.text + ",vni-map=...: is for plain VXLAN peers (the "
                          "kernel's vxlan); sealed uplinks carry the tags themselves: drop vni-map");
    }
  }
  if (o.peer_timeout <= o.keepalive) {
    throw options_error("--peer-timeout " + std::to_string(o.peer_timeout) +
                        ": must be longer than --keepalive " + std::to_string(o.keepalive) +
                        " (a peer needs a few probes to answer); e.g. --peer-timeout " +
                        std::to_string(o.keepalive * 4));
  }
  for (const auto& [name, value] : {std::pair{"ca", &o.ca}, std::pair{"certificate", &o.certificate},
                                    std::pair{"revoked", &o.revoked}}) {
    if (*value && !o.identity) {
      throw options_error(std::string("--") + name + " " + **value +
                          ": certificates name host keys, which need --identity (this host's own key "
                          "pair); add --identity FILE");
    }
  }
  if (o.allowed_keys && !o.identity) {
    throw options_error("--allowed-keys " + *o.allowed_keys + ": lists public keys, which need --identity "
                        "(this host's own key pair); add --identity FILE");
  }
  if (o.group && o.identity) {
    throw options_error("--group " + *o.group + ": a multicast group is plain VXLAN; it cannot be used "
                        "with --identity: list the peers with --uplink or --peers-file");
  }
  if (o.group && o.key_file) {
    throw options_error("--group " + *o.group +
                        ": is plain VXLAN only (sealed peers need a handshake each); drop "
                        "--key-file, or list the peers with --uplink or --peers-file");
  }
  if (o.group_dev && !o.group) {
    throw options_error("--group-dev " + *o.group_dev +
                        ": has no effect without --group; add --group ADDR");
  }
  // --listen alone opens the uplink socket for uplinks added at runtime.
  const bool any_uplink =
      !o.uplinks.empty() || o.peers_file || o.group || o.listen || o.allowed_keys || o.ca;
  if (!any_uplink) {
    for (const char* name : {"key-file", "identity", "rekey-interval", "keepalive", "peer-timeout",
                             "underlay-mtu", "clamp-mss"}) {
      if (given.count(name) != 0) {
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
}

/// Reads a --config file into `vm` (after the command line: the command line wins).
void store_config_file(const std::string& file, const po::options_description& d,
                       po::variables_map& vm, const std::string& no_percent) {
  std::ifstream stream(file);
  if (!stream) throw options_error("--config " + file + ": cannot read the file; check the path");
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
    po::store(po::parse_config_file(in, d), vm);
  } catch (const po::error& e) {
    throw options_error("--config " + file + ": " + e.what() +
                        "; keys are the long options without dashes, e.g. `port = tap0`");
  }
}

}  // namespace

std::string help_text() {
  std::ostringstream out;
  out << usage_text << "\n" << describe(true);
  return out.str();
}

std::string options_markdown() {
  std::string out =
      "# vswitchd options\n\n"
      "Generated from the option table (`switchd/option_table.cpp`); "
      "`tests/switchd/docs_test.cpp` fails when this file and the table disagree "
      "(regenerate it with `build/switchd/vswitchd-docs docs`).\n\n"
      "Every option can also be written in a `--config` file as `name = value` (without the "
      "dashes). *Reload* says what SIGHUP or `vswitchctl reload` does with a changed value: "
      "*at once* applies it, *diff* adds, removes and reopens what changed, *restart* keeps the "
      "running value and reports that a restart is needed.\n\n"
      "| option | default | reload | meaning |\n"
      "|---|---|---|---|\n";
  using markdown::cell;
  for (const option_row& r : option_table()) {
    std::string name = "`--" + r.name + (r.value_name.empty() ? "" : " " + r.value_name) + "`";
    if (r.repeatable) name += " (repeatable)";
    out += "| " + cell(name) + " | " + cell(r.default_text) + " | " +
           std::string(to_string(r.reload)) + " | " + cell(r.help) + " |\n";
  }
  return out;
}

command parse_options(int argc, const char* const argv[]) {
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
  const po::options_description d = describe(false);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(d).run(), vm);
    if (vm.count("config") != 0) {
      store_config_file(vm["config"].as<std::string>(), d, vm, no_percent);
    }
    po::notify(vm);
  } catch (const po::unknown_option& e) {
    throw options_error(std::string(e.what()) + "; see vswitchd --help for the options");
  } catch (const po::error& e) {
    throw options_error(std::string(e.what()) + "; see vswitchd --help");
  }

  command cmd;
  if (vm.count("help") != 0) {
    cmd.what = command::action::help;
    cmd.text = help_text();
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
  if (vm.count("ca-sign") != 0) {
    cmd.what = command::action::ca_sign;
    cmd.argument = vm["ca-sign"].as<std::string>();
    if (vm.count("name") == 0) throw options_error("--ca-sign: needs --name NAME, the host's name in the certificate");
    if (vm.count("public-key") == 0) {
      throw options_error("--ca-sign: needs --public-key KEY, the host's public key (`vswitchd --public-key FILE` "
                          "on that host prints it)");
    }
    cmd.cert_name = vm["name"].as<std::string>();
    cmd.cert_key = vm["public-key"].as<std::string>();
    if (vm.count("valid") != 0) {
      cmd.cert_days = static_cast<std::uint32_t>(
          parse_number(vm["valid"].as<std::string>(), "--valid", 1, 36500, "days from 1 to 36500"));
    }
    if (vm.count("vlans") != 0) {
      const l2::vlan_set set = parse_vlan_list(vm["vlans"].as<std::string>(), "--vlans");
      for (unsigned v = 1; v <= l2::max_vlan_id; ++v) {
        if (set.test(static_cast<l2::vlan_id>(v))) cmd.cert_vlans.push_back(static_cast<std::uint16_t>(v));
      }
      if (cmd.cert_vlans.size() > 64) throw options_error("--vlans: at most 64 VLANs in a certificate");
    }
    return cmd;
  }
  for (const char* name : {"name", "valid", "vlans"}) {
    if (vm.count(name) != 0) throw options_error(std::string("--") + name + ": only with --ca-sign DIR");
  }
  for (const auto& [name, what] : {std::pair{"generate-identity", command::action::generate_identity},
                                   std::pair{"public-key", command::action::public_key},
                                   std::pair{"ca-init", command::action::ca_init}}) {
    if (vm.count(name) == 0) continue;
    cmd.what = what;
    cmd.argument = vm[name].as<std::string>();
    if (cmd.argument.empty()) throw options_error(std::string("--") + name + ": empty; give a FILE");
    return cmd;
  }
  std::set<std::string> given;
  for (const option_row& r : option_table()) {
    if (vm.count(r.name) == 0) continue;
    if (r.value_name.empty()) {
      if (vm[r.name].as<bool>()) {
        given.insert(r.name);
        r.set(cmd.opts, "");
      }
      continue;
    }
    given.insert(r.name);
    if (r.repeatable) {
      for (const std::string& value : vm[r.name].as<std::vector<std::string>>()) r.set(cmd.opts, value);
    } else {
      r.set(cmd.opts, vm[r.name].as<std::string>());
    }
  }
  check_combinations(cmd.opts, given);
  return cmd;
}

}  // namespace switchd
