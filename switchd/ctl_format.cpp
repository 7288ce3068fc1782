#include "switchd/ctl_format.hpp"

#include "switchd/command_table.hpp"
#include "switchd/pcap.hpp"

#include <sys/un.h>

#include <algorithm>
#include <limits>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <string_view>
#include <vector>

namespace vswitchctl {

namespace {

// --- the command line --------------------------------------------------------

using control::command_row;

/// The subcommands of a command word that has them ("fdb": "show, add, del or flush").
std::string subcommands_of(std::string_view word) {
  std::vector<std::string_view> subs;
  for (const auto& c : control::command_table()) {
    if (c.words.starts_with(word) && c.words.size() > word.size() && c.words[word.size()] == ' ') {
      subs.push_back(c.words.substr(word.size() + 1));
    }
  }
  std::string out;
  for (std::size_t i = 0; i < subs.size(); ++i) {
    if (i > 0) out += i + 1 == subs.size() ? " or " : ", ";
    out += subs[i];
  }
  return out;
}

bool takes_value(std::string_view option) { return option != "--json"; }

/// vswitchctl's own options, or one a command takes.
bool is_known_option(std::string_view option) {
  if (option == "--control" || option == "--json" || option == "--timeout") return true;
  for (const command_row& c : control::command_table()) {
    for (const control::command_option& o : c.options) {
      if (o.flag == option) return true;
    }
  }
  return false;
}

/// A decimal number in [min, max], or nullopt (not a number, or out of range).
std::optional<std::uint64_t> parse_whole(std::string_view text, std::uint64_t min,
                                         std::uint64_t max) {
  std::uint64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value < min || value > max) {
    return std::nullopt;
  }
  return value;
}

std::uint64_t parse_vlan(const std::string& text) {
  auto vlan = parse_whole(text, 0, 4095);
  if (!vlan) {
    throw usage_error("--vlan " + text + ": not a VLAN id; give a whole number from 0 to 4095");
  }
  return *vlan;
}

std::uint64_t parse_positive(const std::string& option, const std::string& text,
                             const std::string& example) {
  auto value = parse_whole(text, 1, 4294967295u);
  if (!value) {
    throw usage_error(option + " " + text +
                      ": not a positive whole number; give one from 1 to 4294967295, e.g. " +
                      option + " " + example);
  }
  return *value;
}

/// "aa:bb:cc:dd:ee:ff" (either case) in lower case; throws usage_error.
std::string parse_mac(const std::string& text) {
  bool good = text.size() == 17;
  for (std::size_t i = 0; good && i < text.size(); ++i) {
    const char c = text[i];
    good = i % 3 == 2 ? c == ':' : std::isxdigit(static_cast<unsigned char>(c)) != 0;
  }
  if (!good) {
    throw usage_error("MAC " + text +
                      ": not a MAC address; write six two-digit hex bytes separated by colons, "
                      "e.g. 52:54:00:12:34:56");
  }
  std::string mac = text;
  std::transform(mac.begin(), mac.end(), mac.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return mac;
}

/// Throws when `spec` is empty. The daemon checks the rest (kind, name,
/// port options), with the same parser as --port: one place for the rules.
void check_port_spec(const std::string& spec) {
  if (spec.empty()) throw usage_error("port add: the port is empty; e.g. port add tap:tap3");
}

void check_level(const std::string& level) {
  static const std::vector<std::string> levels = {"trace", "debug", "info", "warn", "error"};
  if (std::find(levels.begin(), levels.end(), level) == levels.end()) {
    throw usage_error("log-level " + level +
                      ": unknown level; give trace, debug, info, warn or error");
  }
}

void check_name(const command_row& c, std::string_view param, const std::string& value) {
  if (value.empty()) {
    throw usage_error(std::string(c.words) + ": " + std::string(param) +
                      " is empty; write vswitchctl " + control::synopsis(c));
  }
}

/// A positional argument as the request carries it, checked by what it is.
json argument_value(const command_row& c, std::string_view arg, const std::string& text) {
  if (arg == "mac") {
    const std::string mac = parse_mac(text);
    if (c.cmd != "fdb/add") return mac;
    if ((std::stoul(mac.substr(0, 2), nullptr, 16) & 1) != 0) {
      throw usage_error("MAC " + text +
                        ": a multicast address; static entries are for unicast MACs "
                        "(multicast and broadcast frames are always flooded)");
    }
    if (mac == "00:00:00:00:00:00") {
      throw usage_error("MAC " + text + ": the all-zero address; give a station's MAC");
    }
    return mac;
  }
  if (arg == "spec") check_port_spec(text);
  if (arg == "level") check_level(text);
  return text;  // names and peers: checked by the daemon, as --port and --uplink are
}

/// A command option's value as the request carries it.
json option_value(std::string_view flag, const std::string& text) {
  if (flag == "--vlan") return parse_vlan(text);
  if (flag == "--count") return parse_positive("--count", text, "100");
  if (flag == "--seconds") return parse_positive("--seconds", text, "10");
  if (text.empty()) throw usage_error("--port needs a port name, e.g. --port tap0");
  return text;
}

/// The command line apart: options (anywhere, checked against the known
/// ones, with their values) and the words and arguments, in order.
struct split_line {
  std::vector<std::string> positional;
  std::map<std::string, std::string, std::less<>> given;  ///< option -> value
};

split_line split_tokens(const std::vector<std::string>& tokens) {
  split_line out;
  auto& positional = out.positional;
  auto& given = out.given;
  bool options_end = false;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    if (options_end || t == "-" || !t.starts_with("-")) {
      positional.push_back(t);
      continue;
    }
    if (t == "--") {
      options_end = true;
      continue;
    }
    std::string option = t;
    std::optional<std::string> value;
    if (const auto eq = t.find('='); t.starts_with("--") && eq != std::string::npos) {
      option = t.substr(0, eq);
      value = t.substr(eq + 1);
    }
    if (!is_known_option(option)) {
      throw usage_error("unknown option " + option + "; see vswitchctl --help for the options");
    }
    if (given.count(option) != 0) {
      throw usage_error(option + " is given twice; give it once");
    }
    if (!takes_value(option)) {
      if (value) throw usage_error(option + " takes no value; write just " + option);
      given[option] = "";
      continue;
    }
    if (!value) {
      if (i + 1 >= tokens.size()) {
        throw usage_error(option + " needs a value; e.g. " + option +
                          (option == "--control"   ? " /run/vswitchd/vswitchd.ctl"
                           : option == "--timeout" ? " 30"
                           : option == "--port"    ? " tap0"
                           : option == "--vlan"    ? " 10"
                                                   : " 100"));
      }
      value = tokens[++i];
    }
    given[option] = *value;
  }

  return out;
}

/// --control (or $VSWITCHD_CONTROL), --json and --timeout into `inv`.
void apply_global_options(invocation& inv, const split_line& line, const char* env_control) {
  const auto& given = line.given;
  if (auto it = given.find("--control"); it != given.end()) {
    if (it->second.empty()) throw usage_error("--control needs a path to the control socket");
    inv.control = it->second;
  } else if (env_control != nullptr && *env_control != '\0') {
    inv.control = env_control;
  }
  if (inv.control.size() >= sizeof(sockaddr_un::sun_path)) {
    const bool from_env = given.count("--control") == 0;
    throw usage_error(std::string(from_env ? "VSWITCHD_CONTROL " : "--control ") + inv.control +
                      ": " + std::to_string(inv.control.size()) +
                      " bytes, longer than a unix socket path can be (at most " +
                      std::to_string(sizeof(sockaddr_un::sun_path) - 1) +
                      "); give a shorter path, or a relative one from a nearer directory");
  }
  inv.as_json = given.count("--json") != 0;
  if (auto it = given.find("--timeout"); it != given.end()) {
    double seconds = 0;
    const std::string& text = it->second;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
    if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() ||
        !std::isfinite(seconds) || seconds <= 0 || seconds > 86400) {
      throw usage_error("--timeout " + text +
                        ": give a number of seconds above 0 and at most 86400, e.g. --timeout 30");
    }
    inv.timeout_s = seconds;
  }

}

/// The command the words name (one or two of them); `used` gets how many.
const command_row& find_command(const std::vector<std::string>& positional, std::size_t& used) {
  if (positional.empty()) {
    throw usage_error("no command; give one, e.g. vswitchctl show (see vswitchctl --help)");
  }
  std::string words = positional[0];
  used = 1;
  const std::string subs = subcommands_of(words);
  if (!subs.empty()) {
    if (positional.size() < 2) {
      throw usage_error(words + " needs a subcommand: " + subs + "; e.g. vswitchctl " + words +
                        " " + subs.substr(0, subs.find_first_of(", ")));
    }
    words += " " + positional[1];
    used = 2;
  }
  const command_row* spec = nullptr;
  for (const auto& c : control::command_table()) {
    if (c.words == words) spec = &c;
  }
  if (spec == nullptr) {
    if (!subs.empty()) {
      throw usage_error("unknown " + positional[0] + " subcommand '" + positional[1] + "'; give " +
                        subs);
    }
    throw usage_error("unknown command '" + words +
                      "'; the commands are show, stats, fdb, port, uplink, log-level, reload and "
                      "capture (see vswitchctl --help)");
  }
  return *spec;
}

}  // namespace

invocation parse_args(int argc, const char* const* argv, const char* env_control) {
  invocation inv;
  std::vector<std::string> tokens(argv + std::min(argc, 1), argv + std::max(argc, 0));

  // -h/--help and --version win, wherever they are (before `--`).
  for (const auto& t : tokens) {
    if (t == "--") break;
    if (t == "-h" || t == "--help") {
      inv.what = invocation::action::help;
      return inv;
    }
  }
  for (const auto& t : tokens) {
    if (t == "--") break;
    if (t == "--version") {
      inv.what = invocation::action::version;
      return inv;
    }
  }
  const split_line line = split_tokens(tokens);
  const auto& given = line.given;
  apply_global_options(inv, line, env_control);
  std::size_t used = 0;
  const command_row* spec = &find_command(line.positional, used);
  const std::string words(spec->words);
  const std::vector<std::string>& positional = line.positional;
  const std::string usage = "write vswitchctl " + control::synopsis(*spec);
  std::vector<std::string> params(positional.begin() + static_cast<std::ptrdiff_t>(used),
                                  positional.end());
  if (params.size() < spec->params.size()) {
    throw usage_error(words + ": missing " + std::string(spec->params[params.size()].name) + "; " +
                      usage);
  }
  if (params.size() > spec->params.size()) {
    throw usage_error(words + ": unexpected argument '" + params[spec->params.size()] + "'; " +
                      usage);
  }
  for (const auto& entry : given) {
    const std::string& option = entry.first;
    if (option == "--control" || option == "--json" || option == "--timeout") continue;
    if (std::none_of(spec->options.begin(), spec->options.end(),
                     [&](const control::command_option& o) { return o.flag == option; })) {
      throw usage_error(words + " does not take " + option + "; " + usage);
    }
  }
  for (std::size_t i = 0; i < params.size(); ++i) check_name(*spec, spec->params[i].name, params[i]);

  // The request: each argument and option under the name the table gives it.
  json args = json::object();
  for (std::size_t i = 0; i < params.size(); ++i) {
    const control::command_param& p = spec->params[i];
    if (!p.arg.empty()) args[std::string(p.arg)] = argument_value(*spec, p.arg, params[i]);
  }
  for (const control::command_option& o : spec->options) {
    if (const auto it = given.find(o.flag); it != given.end()) {
      args[std::string(o.arg)] = option_value(o.flag, it->second);
    }
  }
  if (spec->cmd == "capture") {
    inv.capture_file = params[1];
    if (inv.capture_file == "-" && inv.as_json) {
      throw usage_error(
          "capture to standard output ('-') cannot also print --json there; give a FILE, or drop "
          "--json");
    }
  }

  inv.request["cmd"] = std::string(spec->cmd);
  if (!args.empty()) inv.request["args"] = std::move(args);
  return inv;
}

std::string request_line(const invocation& inv) {
  // Arguments that are not UTF-8 go out with U+FFFD instead (the daemon then
  // names what it did not find) rather than failing here.
  return inv.request.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string usage_text() {
  return "Usage: vswitchctl [OPTIONS] COMMAND [ARGS]\n"
         "\n"
         "Asks a running vswitchd, over its control socket, for its state or to change it.\n"
         "\n"
         "Commands:\n" +
         control::commands_help() +
         "\n"
         "Options (before or after the command):\n"
         "  --control PATH     the control socket, vswitchd's --control (default:\n"
         "                     $VSWITCHD_CONTROL if set, else /run/vswitchd/vswitchd.ctl)\n"
         "  --json             print the result as one JSON document, for programs\n"
         "  --timeout SECONDS  wait at most this long to connect and for the answer\n"
         "                     (default 10; a capture's frames have no time limit)\n"
         "  -h, --help         show this help and exit\n"
         "  --version          show the version and exit\n"
         "\n"
         "Exit status: 0 done; 1 vswitchd refused (its message is on stderr) or could\n"
         "not be reached; 2 a bad command line.\n"
         "\n"
         "Examples:\n"
         "  vswitchctl show\n"
         "  vswitchctl fdb show --port tap0\n"
         "  vswitchctl fdb add 52:54:00:12:34:56 tap1 --vlan 10\n"
         "  vswitchctl --control /tmp/vs.ctl --json stats\n"
         "  vswitchctl capture tap0 tap0.pcap --count 1000\n"
         "  vswitchctl capture tap0 - | tcpdump -n -r -\n";
}

// --- capture -----------------------------------------------------------------

std::array<std::uint8_t, 24> pcap_global_header(std::uint32_t snaplen, std::uint32_t linktype) {
  return pcap::global_header(snaplen, linktype);
}

record_scan scan_records(std::span<const std::uint8_t> data, std::uint32_t snaplen) {
  record_scan scan;
  while (data.size() - scan.size >= record_header_size) {
    const std::uint8_t* header = data.data() + scan.size;
    if (std::all_of(header, header + record_header_size,
                    [](std::uint8_t b) { return b == 0xff; })) {
      scan.ended = true;
      break;
    }
    const std::uint32_t incl_len = pcap::record_length(header);
    if (incl_len > snaplen) {
      if (scan.records > 0) break;  // the whole records before it first
      throw protocol_error("bad record from vswitchd: " + std::to_string(incl_len) +
                           " bytes, more than its snaplen " + std::to_string(snaplen));
    }
    if (data.size() - scan.size - record_header_size < incl_len) break;  // cut: wait for more
    scan.size += record_header_size + incl_len;
    ++scan.records;
  }
  return scan;
}

}  // namespace vswitchctl
