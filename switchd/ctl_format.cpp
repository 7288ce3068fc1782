#include "switchd/ctl_format.hpp"

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

/// One command: its words, its arguments, the options it takes, its request.
struct command_spec {
  std::string_view words;                 ///< "fdb add"
  std::vector<std::string_view> params;   ///< names of the positional arguments
  std::vector<std::string_view> options;  ///< command options it takes ("--vlan")
  std::string_view cmd;                   ///< the request's "cmd"
  std::string_view synopsis;              ///< for messages: "fdb add MAC PORT [--vlan V]"
};

const std::vector<command_spec>& commands() {
  static const std::vector<command_spec> table = {
      {"show", {}, {}, "show", "show"},
      {"stats", {}, {}, "stats", "stats"},
      {"fdb show", {}, {"--port", "--vlan"}, "fdb/show", "fdb show [--port P] [--vlan V]"},
      {"fdb add", {"MAC", "PORT"}, {"--vlan"}, "fdb/add", "fdb add MAC PORT [--vlan V]"},
      {"fdb del", {"MAC"}, {"--vlan"}, "fdb/del", "fdb del MAC [--vlan V]"},
      {"fdb flush", {}, {"--port"}, "fdb/flush", "fdb flush [--port P]"},
      {"port add", {"SPEC"}, {}, "port/add", "port add [tap:|dev:]NAME[,max-macs=N]"},
      {"port del", {"NAME"}, {}, "port/del", "port del NAME"},
      {"uplink add", {"HOST:PORT"}, {}, "uplink/add", "uplink add HOST:PORT"},
      {"uplink del", {"HOST:PORT"}, {}, "uplink/del", "uplink del HOST:PORT"},
      {"log-level", {"LEVEL"}, {}, "log-level", "log-level trace|debug|info|warn|error"},
      {"reload", {}, {}, "reload", "reload"},
      {"capture", {"PORT", "FILE"}, {"--count", "--seconds"}, "capture",
       "capture PORT FILE [--count N] [--seconds S]"},
  };
  return table;
}

/// The subcommands of a command word that has them ("fdb": "show, add, del or flush").
std::string subcommands_of(std::string_view word) {
  std::vector<std::string_view> subs;
  for (const auto& c : commands()) {
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

bool is_known_option(std::string_view option) {
  return option == "--control" || option == "--json" || option == "--timeout" ||
         option == "--port" || option == "--vlan" || option == "--count" || option == "--seconds";
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

void check_name(const command_spec& c, std::string_view param, const std::string& value) {
  if (value.empty()) {
    throw usage_error(std::string(c.words) + ": " + std::string(param) +
                      " is empty; write vswitchctl " + std::string(c.synopsis));
  }
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

  // Options (anywhere) apart from the words and arguments.
  std::vector<std::string> positional;
  std::map<std::string, std::string, std::less<>> given;  // option -> value
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

  // Global options.
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

  // The command: one or two words.
  if (positional.empty()) {
    throw usage_error("no command; give one, e.g. vswitchctl show (see vswitchctl --help)");
  }
  std::string words = positional[0];
  std::size_t used = 1;
  const std::string subs = subcommands_of(words);
  if (!subs.empty()) {
    if (positional.size() < 2) {
      throw usage_error(words + " needs a subcommand: " + subs + "; e.g. vswitchctl " + words +
                        " " + subs.substr(0, subs.find_first_of(", ")));
    }
    words += " " + positional[1];
    used = 2;
  }
  const command_spec* spec = nullptr;
  for (const auto& c : commands()) {
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
  const std::string usage = "write vswitchctl " + std::string(spec->synopsis);
  std::vector<std::string> params(positional.begin() + static_cast<std::ptrdiff_t>(used),
                                  positional.end());
  if (params.size() < spec->params.size()) {
    throw usage_error(words + ": missing " + std::string(spec->params[params.size()]) + "; " +
                      usage);
  }
  if (params.size() > spec->params.size()) {
    throw usage_error(words + ": unexpected argument '" + params[spec->params.size()] + "'; " +
                      usage);
  }
  for (const auto& [option, value] : given) {
    if (option == "--control" || option == "--json" || option == "--timeout") continue;
    if (std::find(spec->options.begin(), spec->options.end(), option) == spec->options.end()) {
      throw usage_error(words + " does not take " + option + "; " + usage);
    }
  }
  for (std::size_t i = 0; i < params.size(); ++i) check_name(*spec, spec->params[i], params[i]);

  // The request.
  json args = json::object();
  auto option = [&](std::string_view name) -> const std::string* {
    auto it = given.find(name);
    return it == given.end() ? nullptr : &it->second;
  };
  auto port_option = [&] {
    if (const auto* port = option("--port")) {
      if (port->empty()) throw usage_error("--port needs a port name, e.g. --port tap0");
      args["port"] = *port;
    }
  };
  auto vlan_option = [&] {
    if (const auto* vlan = option("--vlan")) args["vlan"] = parse_vlan(*vlan);
  };
  if (words == "fdb show") {
    port_option();
    vlan_option();
  } else if (words == "fdb add") {
    const std::string mac = parse_mac(params[0]);
    const auto first = std::stoul(mac.substr(0, 2), nullptr, 16);
    if ((first & 1) != 0) {
      throw usage_error("MAC " + params[0] +
                        ": a multicast address; static entries are for unicast MACs "
                        "(multicast and broadcast frames are always flooded)");
    }
    if (mac == "00:00:00:00:00:00") {
      throw usage_error("MAC " + params[0] + ": the all-zero address; give a station's MAC");
    }
    args["mac"] = mac;
    args["port"] = params[1];
    vlan_option();
  } else if (words == "fdb del") {
    args["mac"] = parse_mac(params[0]);
    vlan_option();
  } else if (words == "fdb flush") {
    port_option();
  } else if (words == "port add") {
    check_port_spec(params[0]);
    args["spec"] = params[0];
  } else if (words == "port del") {
    args["name"] = params[0];
  } else if (words == "uplink add" || words == "uplink del") {
    args["peer"] = params[0];  // checked by the daemon, as --uplink is
  } else if (words == "log-level") {
    check_level(params[0]);
    args["level"] = params[0];
  } else if (words == "capture") {
    args["port"] = params[0];
    if (const auto* count = option("--count"))
      args["count"] = parse_positive("--count", *count, "100");
    if (const auto* seconds = option("--seconds")) {
      args["seconds"] = parse_positive("--seconds", *seconds, "10");
    }
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
         "Commands:\n"
         "  show                         version, uptime, MAC table, uplink; every port\n"
         "                               with its counters; every uplink peer with its\n"
         "                               state and round-trip time\n"
         "  stats                        drops by reason, of each port and of the uplink\n"
         "                               endpoint; the MAC table's counters\n"
         "  fdb show [--port P] [--vlan V]\n"
         "                               the MAC table: all of it, or port P's, VLAN V's\n"
         "  fdb add MAC PORT [--vlan V]  add a static entry: MAC on VLAN V (default 0)\n"
         "                               is on PORT; it does not age, and learning does\n"
         "                               not move it\n"
         "  fdb del MAC [--vlan V]       remove the entry of MAC on VLAN V (default 0),\n"
         "                               static or learned\n"
         "  fdb flush [--port P]         forget the learned entries (all, or port P's);\n"
         "                               static entries stay\n"
         "  port add [tap:|dev:]NAME[,max-macs=N]\n"
         "                               add a port, as vswitchd --port takes it\n"
         "  port del NAME                remove a port\n"
         "  uplink add HOST:PORT         add an uplink peer, as vswitchd --uplink takes it\n"
         "  uplink del HOST:PORT         remove an uplink peer (as it was added, or its\n"
         "                               resolved ADDR:PORT)\n"
         "  log-level LEVEL              set the log level: trace, debug, info, warn or\n"
         "                               error\n"
         "  reload                       re-read the configuration (as SIGHUP does) and\n"
         "                               apply what changed; says what needs a restart\n"
         "  capture PORT FILE [--count N] [--seconds S]\n"
         "                               write the frames entering or leaving PORT to\n"
         "                               FILE, a pcap file (\"-\": standard output), until\n"
         "                               N frames, S seconds, Ctrl-C or the port is gone\n"
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

// --- output ------------------------------------------------------------------

namespace {

/// obj[key] if obj is an object holding a non-null `key`, else nullptr.
const json* field(const json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string fixed(double value, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

/// A value as text: strings as they are, numbers in decimal, else "-".
std::string text(const json* value) {
  if (value == nullptr) return "-";
  if (value->is_string()) return value->get<std::string>();
  if (value->is_number_unsigned()) return std::to_string(value->get<std::uint64_t>());
  if (value->is_number_integer()) return std::to_string(value->get<std::int64_t>());
  if (value->is_number_float()) {
    const double v = value->get<double>();
    return v == std::floor(v) && std::fabs(v) < 1e15 ? fixed(v, 0) : fixed(v, 3);
  }
  if (value->is_boolean()) return value->get<bool>() ? "yes" : "no";
  return value->dump();
}

std::string text(const json& obj, std::string_view key) { return text(field(obj, key)); }

/// A double as a count: negative (and NaN) as 0, beyond 64 bits as the
/// largest (a plain cast would be undefined there; the input comes from a socket).
std::uint64_t saturated(double value) {
  if (!(value > 0)) return 0;
  if (value >= 18446744073709551616.0) return std::numeric_limits<std::uint64_t>::max();
  return static_cast<std::uint64_t>(value);
}

/// A counter: obj[key] if it is a non-negative number, else 0.
std::uint64_t count(const json& obj, std::string_view key) {
  const json* value = field(obj, key);
  if (value == nullptr) return 0;
  if (value->is_number_unsigned()) return value->get<std::uint64_t>();
  if (value->is_number_integer())
    return static_cast<std::uint64_t>(std::max<std::int64_t>(0, value->get<std::int64_t>()));
  if (value->is_number_float()) return saturated(value->get<double>());
  return 0;
}

/// obj[key] as an array (empty if missing or not one).
const json& array(const json& obj, std::string_view key) {
  static const json empty = json::array();
  const json* value = field(obj, key);
  return value != nullptr && value->is_array() ? *value : empty;
}

/// "1 entry", "3 entries".
std::string plural(std::uint64_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

/// Seconds as "42s", "5m 03s", "2h 05m 03s", "3d 04h 05m".
std::string duration(double seconds) {
  const std::uint64_t s = saturated(seconds);
  char buf[64];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%llus", static_cast<unsigned long long>(s));
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%llum %02llus", static_cast<unsigned long long>(s / 60),
                  static_cast<unsigned long long>(s % 60));
  } else if (s < 86400) {
    std::snprintf(
        buf, sizeof buf, "%lluh %02llum %02llus", static_cast<unsigned long long>(s / 3600),
        static_cast<unsigned long long>(s / 60 % 60), static_cast<unsigned long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%llud %02lluh %02llum",
                  static_cast<unsigned long long>(s / 86400),
                  static_cast<unsigned long long>(s / 3600 % 24),
                  static_cast<unsigned long long>(s / 60 % 60));
  }
  return buf;
}

/// obj[key], a round-trip time in milliseconds, as "0.123ms" or "12.5ms"; or "-".
std::string rtt(const json& obj, std::string_view key) {
  const json* value = field(obj, key);
  if (value == nullptr || !value->is_number()) return "-";
  const double ms = value->get<double>();
  return fixed(ms, ms < 10 ? 3 : 1) + "ms";
}

/// obj[key], seconds ago, as "0.4s", "1m 05s"; or "-".
std::string ago(const json& obj, std::string_view key) {
  const json* value = field(obj, key);
  if (value == nullptr || !value->is_number()) return "-";
  const double s = value->get<double>();
  return s < 60 ? fixed(s, 1) + "s" : duration(s);
}

/// The names in obj[key] joined by ", ", or "none".
std::string list(const json& obj, std::string_view key) {
  std::string out;
  for (const auto& item : array(obj, key)) {
    if (!out.empty()) out += ", ";
    out += text(&item);
  }
  return out.empty() ? "none" : out;
}

/// Sum of the counters in a drops object.
std::uint64_t total(const json* drops) {
  std::uint64_t sum = 0;
  if (drops == nullptr || !drops->is_object()) return 0;
  for (const auto& [reason, n] : drops->items()) sum += count(*drops, reason);
  return sum;
}

/// A text table: left-aligned columns, numbers (headers marked '>') right-aligned.
class table {
 public:
  explicit table(std::vector<std::string> headers) {
    for (auto& h : headers) {
      const bool right = h.starts_with(">");
      right_.push_back(right);
      if (right) h.erase(0, 1);
    }
    rows_.push_back(std::move(headers));
  }

  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  bool empty() const { return rows_.size() == 1; }

  std::string render() const {
    std::vector<std::size_t> width(right_.size(), 0);
    for (const auto& row : rows_) {
      for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
    }
    std::string out;
    for (const auto& row : rows_) {
      std::string line;
      for (std::size_t i = 0; i < row.size(); ++i) {
        if (i > 0) line += "  ";
        const std::string pad(width[i] - row[i].size(), ' ');
        line += right_[i] ? pad + row[i] : row[i] + pad;
      }
      while (!line.empty() && line.back() == ' ') line.pop_back();
      out += line + "\n";
    }
    return out;
  }

 private:
  std::vector<bool> right_;
  std::vector<std::vector<std::string>> rows_;
};

std::string format_show(const json& r) {
  std::string out = "vswitchd " + text(r, "version") + ", pid " + text(r, "pid");
  if (const json* up = field(r, "uptime_s"); up != nullptr && up->is_number()) {
    out += ", up " + duration(up->get<double>());
  }
  out += "\n";
  if (const json* mt = field(r, "mac_table")) {
    out += "mac table: " + text(*mt, "entries") + " of " + text(*mt, "capacity") +
           " entries, aging " + text(*mt, "aging_s") + " s\n";
  }
  if (const json* up = field(r, "uplink")) {
    const std::string mode = text(*up, "mode");
    out += "uplink: " + mode + " on " + text(*up, "local");
    if (mode != "sealed" && field(*up, "vni") != nullptr) out += ", vni " + text(*up, "vni");
    out += "\n";
  }

  const json& ports = array(r, "ports");
  table port_table({"NAME", "KIND", "STATE", ">MTU", ">MACS", ">RX-FRAMES", ">RX-BYTES",
                    ">TX-FRAMES", ">TX-BYTES", ">DROPS"});
  table peer_table({"NAME", "ADDRESS", "STATE", ">RTT", ">LAST-SEEN", ">PROBES"});
  for (const auto& p : ports) {
    port_table.add({text(p, "name"), text(p, "kind"), text(p, "state"), text(p, "mtu"),
                    text(p, "mac_entries"), text(p, "rx_frames"), text(p, "rx_bytes"),
                    text(p, "tx_frames"), text(p, "tx_bytes"),
                    std::to_string(total(field(p, "drops")))});
    if (const json* peer = field(p, "peer")) {
      peer_table.add({text(p, "name"), text(*peer, "address"), text(*peer, "state"),
                      rtt(*peer, "rtt_ms"), ago(*peer, "last_seen_s"),
                      text(*peer, "probes_sent") + "/" + text(*peer, "probes_answered")});
    }
  }
  out += "\n";
  out += port_table.empty() ? "no ports\n" : port_table.render();
  if (!peer_table.empty()) out += "\n" + peer_table.render();
  if (const json* waiting = field(r, "waiting"); waiting != nullptr && waiting->is_array() && !waiting->empty()) {
    out += "\nwaited for (the name is back as something vswitchd cannot attach; tried each second,\n"
           "vswitchctl port del NAME stops it):";
    for (const auto& name : *waiting) out += " " + text(&name);
    out += "\n";
  }
  return out;
}

std::string format_stats(const json& r) {
  std::string out;
  table drops({"PORT", "REASON", ">COUNT"});
  for (const auto& p : array(r, "ports")) {
    const json* d = field(p, "drops");
    if (d == nullptr || !d->is_object()) continue;
    for (const auto& [reason, n] : d->items()) {
      if (count(*d, reason) != 0)
        drops.add({text(p, "name"), reason, std::to_string(count(*d, reason))});
    }
  }
  out += drops.empty() ? "ports: no drops\n" : drops.render();

  if (const json* up = field(r, "uplink")) {
    out += "\nuplink endpoint " + text(*up, "local") + ": " +
           plural(count(*up, "rx_datagrams"), "datagram", "datagrams") + " received";
    table endpoint({"REASON", ">COUNT"});
    if (const json* d = field(*up, "drops"); d != nullptr && d->is_object()) {
      for (const auto& [reason, n] : d->items()) {
        if (count(*d, reason) != 0) endpoint.add({reason, std::to_string(count(*d, reason))});
      }
    }
    out += endpoint.empty() ? ", no drops\n" : "\n" + endpoint.render();
  }

  if (const json* mt = field(r, "mac_table")) {
    out += "\nmac table: " + text(*mt, "learned") + " learned, " + text(*mt, "moved") + " moved, " +
           text(*mt, "expired") + " expired, " + text(*mt, "refused") + " refused, " +
           text(*mt, "evicted") + " evicted, " + text(*mt, "flaps") + " pinned for flapping; " +
           text(*mt, "entries") + " of " + text(*mt, "capacity") + " entries in use\n";
  }
  return out;
}

std::string format_fdb(const json& r) {
  table t({"MAC", ">VLAN", "PORT", "TYPE", ">AGE"});
  for (const auto& e : array(r, "entries")) {
    const bool is_static = text(e, "type") == "static";
    t.add({text(e, "mac"), text(e, "vlan"), text(e, "port"), text(e, "type"),
           is_static ? "-" : text(e, "age_s") + "s"});
  }
  const json* n = field(r, "count");
  const std::uint64_t entries = n != nullptr ? count(r, "count") : array(r, "entries").size();
  std::string out = t.empty() ? "" : t.render();
  return out + plural(entries, "entry", "entries") + " (of " + text(r, "capacity") + ")\n";
}

std::string format_reload(const json& r) {
  std::string out;
  out += "ports added:    " + list(r, "ports_added") + "\n";
  out += "ports removed:  " + list(r, "ports_removed") + "\n";
  if (!array(r, "ports_changed").empty()) {
    out += "ports changed:  " + list(r, "ports_changed") + " (reopened with their new options)\n";
  }
  out += "peers added:    " + list(r, "peers_added") + "\n";
  out += "peers removed:  " + list(r, "peers_removed") + "\n";
  out += "unchanged:      " + text(r, "unchanged") + "\n";
  for (const auto& failure : array(r, "failed")) {
    out += "failed:         " + (failure.is_string() ? failure.get<std::string>() : failure.dump()) + "\n";
  }
  if (array(r, "restart_needed").empty()) {
    out += "restart needed: no\n";
  } else {
    out += "restart needed: " + list(r, "restart_needed") +
           " (changed; they take effect when vswitchd restarts)\n";
  }
  return out;
}

}  // namespace

std::string format_result(const std::string& cmd, const json& result) {
  if (cmd == "show") return format_show(result);
  if (cmd == "stats") return format_stats(result);
  if (cmd == "fdb/show") return format_fdb(result);
  if (cmd == "fdb/add") {
    return "added static entry " + text(result, "mac") + " vlan " + text(result, "vlan") + " on " +
           text(result, "port") + "\n";
  }
  if (cmd == "fdb/del") {
    return "removed " + text(result, "type") + " entry " + text(result, "mac") + " vlan " +
           text(result, "vlan") + " on " + text(result, "port") + "\n";
  }
  if (cmd == "fdb/flush") {
    return "flushed " + plural(count(result, "flushed"), "dynamic entry", "dynamic entries") + "\n";
  }
  if (cmd == "port/add" || cmd == "uplink/add") {
    std::string out = (cmd == "port/add" ? "port " : "uplink ") + text(result, "name") +
                      " added (id " + text(result, "id") + ")";
    if (const json* peer = field(result, "peer"); peer != nullptr && field(*peer, "address")) {
      out += ", peer " + text(*peer, "address");
    }
    if (field(result, "description") != nullptr) out += ": " + text(result, "description");
    return out + "\n";
  }
  if (cmd == "port/del" && field(result, "id") == nullptr) {
    return "port " + text(result, "name") + " removed (its interface was gone; no longer waited for)\n";
  }
  if (cmd == "port/del" || cmd == "uplink/del") {
    return (cmd == "port/del" ? "port " : "uplink ") + text(result, "name") + " removed (id " +
           text(result, "id") + ")\n";
  }
  if (cmd == "log-level") {
    return "log level " + text(result, "level") + " (was " + text(result, "previous") + ")\n";
  }
  if (cmd == "reload") return format_reload(result);
  return result.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

// --- capture -----------------------------------------------------------------

namespace {

void put_u16(std::uint8_t* at, std::uint16_t v) {
  at[0] = static_cast<std::uint8_t>(v);
  at[1] = static_cast<std::uint8_t>(v >> 8);
}

void put_u32(std::uint8_t* at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) at[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

std::uint32_t get_u32(const std::uint8_t* at) {
  return static_cast<std::uint32_t>(at[0]) | static_cast<std::uint32_t>(at[1]) << 8 |
         static_cast<std::uint32_t>(at[2]) << 16 | static_cast<std::uint32_t>(at[3]) << 24;
}

}  // namespace

std::array<std::uint8_t, 24> pcap_global_header(std::uint32_t snaplen, std::uint32_t linktype) {
  std::array<std::uint8_t, 24> h{};
  put_u32(&h[0], 0xa1b2c3d4);  // magic: microsecond timestamps
  put_u16(&h[4], 2);           // version 2.4
  put_u16(&h[6], 4);
  put_u32(&h[8], 0);   // thiszone: UTC
  put_u32(&h[12], 0);  // sigfigs
  put_u32(&h[16], snaplen);
  put_u32(&h[20], linktype);
  return h;
}

capture_start parse_capture_start(const json& result) {
  capture_start start;
  const json* snaplen = field(result, "snaplen");
  const json* linktype = field(result, "linktype");
  if (snaplen == nullptr || !snaplen->is_number_unsigned() || snaplen->get<std::uint64_t>() == 0 ||
      snaplen->get<std::uint64_t>() > max_snaplen) {
    throw protocol_error("bad capture answer from vswitchd: snaplen " + text(snaplen) +
                         " (expected 1 to " + std::to_string(max_snaplen) + ")");
  }
  if (linktype == nullptr || !linktype->is_number_unsigned() ||
      linktype->get<std::uint64_t>() > 0xffffffffu) {
    throw protocol_error("bad capture answer from vswitchd: linktype " + text(linktype));
  }
  start.snaplen = static_cast<std::uint32_t>(snaplen->get<std::uint64_t>());
  start.linktype = static_cast<std::uint32_t>(linktype->get<std::uint64_t>());
  return start;
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
    const std::uint32_t incl_len = get_u32(header + 8);
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

std::string capture_summary(std::uint64_t frames, const json& summary) {
  return plural(frames, "frame", "frames") + " captured, " + text(summary, "dropped") +
         " dropped by vswitchd (ended: " + text(summary, "reason") + ")";
}

}  // namespace vswitchctl
