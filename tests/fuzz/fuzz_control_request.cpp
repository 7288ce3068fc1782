// control_request: both ends of the control socket on fuzzed text.
//
// Why: the daemon parses whatever a local client writes to the control
// socket (switchd/control.cpp, control_client::handle_line), and vswitchctl
// formats whatever comes back (vswitchctl::format_result) and parses its own
// command line (vswitchctl::parse_args). None of these may crash or throw
// anything but their documented errors.
//
// 1. The daemon's request check. handle_line is private to control_client
//    (and needs a socket), so request_shape() below is a copy of its checks
//    (keep it in step with switchd/control.cpp): JSON parsed without
//    exceptions, an object with a "cmd" string and "args" absent or an
//    object. The response the daemon would send naming the command is dumped
//    as the daemon does. The arguments then go to the parsers the handler
//    calls: l2::mac_address::parse (fdb add/del), switchd::parse_port_spec
//    (port add) and switchd::parse_uplink (uplink add), whose only allowed
//    failure is options_error.
// 2. vswitchctl's output: the input parsed as (ordered) JSON, and its
//    "result" if it has one, formatted for every command and an unknown one:
//    never throws, always one or more lines ending in '\n'. The capture
//    answer (parse_capture_start: only protocol_error), capture_summary, and
//    scan_records on the raw bytes (only protocol_error; never past the end).
// 3. vswitchctl's command line: the input split at NUL bytes is argv
//    (a first word VSWITCHD_CONTROL=PATH is the environment variable).
//    Only usage_error may escape; a request it builds must pass the
//    daemon's check of 1. and name a known command.
#include <vector>

#include "fuzz_util.hpp"
#include "l2/mac_address.hpp"
#include "switchd/ctl_format.hpp"
#include "switchd/options.hpp"

namespace {

const std::vector<std::string>& command_names() {
  static const std::vector<std::string> names = {
      "show",     "stats",      "fdb/show",   "fdb/add", "fdb/del",   "fdb/flush", "port/add",
      "port/del", "uplink/add", "uplink/del", "log-level", "reload", "capture",   "no/such/command"};
  return names;
}

/// The checks of control_client::handle_line (switchd/control.cpp): the
/// command and its arguments, or the error the client is sent.
struct shape {
  bool ok = false;
  std::string error;
  std::string cmd;
  nlohmann::json args;
};

shape request_shape(std::string line) {
  shape out;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  const nlohmann::json request = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (request.is_discarded()) {
    out.error = "the request is not JSON; send one object per line, e.g. {\"cmd\": \"show\"}";
    return out;
  }
  if (!request.is_object() || !request.contains("cmd") || !request["cmd"].is_string()) {
    out.error = "the request has no \"cmd\" string; send e.g. {\"cmd\": \"show\"}";
    return out;
  }
  static const nlohmann::json no_args = nlohmann::json::object();
  const auto args = request.find("args");
  if (args != request.end() && !args->is_object()) {
    out.error = "\"args\" must be an object";
    return out;
  }
  out.ok = true;
  out.cmd = request["cmd"].get<std::string>();
  out.args = args != request.end() ? *args : no_args;
  return out;
}

/// args[key] if it is a string.
std::optional<std::string> string_arg(const nlohmann::json& args, const char* key) {
  const auto it = args.find(key);
  if (it == args.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

void check_daemon_side(const std::string& line) {
  const shape s = request_shape(line);
  // The answer, as control_client::reply/fail dump it (with replacement of
  // bad UTF-8, so it cannot throw), naming the command as the handler does.
  const nlohmann::json response =
      s.ok ? nlohmann::json{{"ok", false}, {"error", s.cmd + ": no such command"}}
           : nlohmann::json{{"ok", false}, {"error", s.error}};
  const std::string text = response.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  FUZZ_CHECK(text.find('\n') == std::string::npos);
  if (!s.ok) return;
  FUZZ_CHECK(s.args.is_object());
  if (const auto mac = string_arg(s.args, "mac")) {
    if (const auto parsed = l2::mac_address::parse(*mac)) {
      FUZZ_CHECK(l2::mac_address::parse(parsed->to_string()) == parsed);
    }
  }
  try {
    if (const auto spec = string_arg(s.args, "spec")) (void)switchd::parse_port_spec(*spec);
  } catch (const switchd::options_error&) {
  }
  try {
    if (const auto peer = string_arg(s.args, "peer")) (void)switchd::parse_uplink(*peer, "uplink add");
  } catch (const switchd::options_error&) {
  }
}

void check_format(const vswitchctl::json& value) {
  for (const auto& cmd : command_names()) {
    const std::string out = vswitchctl::format_result(cmd, value);
    FUZZ_CHECK(!out.empty() && out.back() == '\n');
  }
  try {
    const vswitchctl::capture_start start = vswitchctl::parse_capture_start(value);
    FUZZ_CHECK(start.snaplen >= 1 && start.snaplen <= vswitchctl::max_snaplen);
  } catch (const vswitchctl::protocol_error&) {
  }
  (void)vswitchctl::capture_summary(3, value);
}

void check_client_output(std::span<const std::byte> bytes) {
  const std::string text = fuzz::to_string(bytes);
  const vswitchctl::json value = vswitchctl::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!value.is_discarded()) {
    check_format(value);
    if (value.is_object() && value.contains("result")) check_format(value["result"]);
  }
  // The capture stream after the answer: records, from the raw bytes.
  const std::span<const std::uint8_t> raw(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  for (const std::uint32_t snaplen : {1u, 64u, 262144u, vswitchctl::max_snaplen}) {
    try {
      const vswitchctl::record_scan scan = vswitchctl::scan_records(raw, snaplen);
      FUZZ_CHECK(scan.size <= raw.size());
      FUZZ_CHECK(scan.size >= scan.records * vswitchctl::record_header_size);
      if (scan.ended) FUZZ_CHECK(raw.size() - scan.size >= vswitchctl::record_header_size);
    } catch (const vswitchctl::protocol_error&) {
    }
  }
}

void check_command_line(std::span<const std::byte> bytes) {
  // argv: the words between NUL bytes.
  std::vector<std::string> words{"vswitchctl"};
  std::string word;
  for (std::byte b : bytes) {
    if (b == std::byte{0}) {
      words.push_back(word);
      word.clear();
    } else {
      word.push_back(static_cast<char>(b));
    }
  }
  words.push_back(word);
  std::string env;
  const std::string env_prefix = "VSWITCHD_CONTROL=";
  if (words.size() > 1 && words[1].starts_with(env_prefix)) {
    env = words[1].substr(env_prefix.size());
    words.erase(words.begin() + 1);
  }
  std::vector<const char*> argv;
  for (const auto& w : words) argv.push_back(w.c_str());
  argv.push_back(nullptr);

  vswitchctl::invocation inv;
  try {
    inv = vswitchctl::parse_args(static_cast<int>(words.size()), argv.data(), env.empty() ? nullptr : env.c_str());
  } catch (const vswitchctl::usage_error& e) {
    FUZZ_CHECK(*e.what() != '\0');
    return;
  }
  if (inv.what != vswitchctl::invocation::action::run) return;
  FUZZ_CHECK(!inv.control.empty() && inv.control.size() < 108);
  FUZZ_CHECK(inv.timeout_s > 0 && inv.timeout_s <= 86400);
  const std::string line = vswitchctl::request_line(inv);
  FUZZ_CHECK(!line.empty() && line.back() == '\n' && line.find('\n') == line.size() - 1);
  // What vswitchctl sends, the daemon accepts (as far as the shape goes).
  const shape s = request_shape(line.substr(0, line.size() - 1));
  FUZZ_CHECK(s.ok);
  FUZZ_CHECK(std::find(command_names().begin(), command_names().end() - 1, s.cmd) != command_names().end() - 1);
  if (s.cmd == "capture") FUZZ_CHECK(!inv.capture_file.empty());
  if (const auto mac = string_arg(s.args, "mac")) FUZZ_CHECK(l2::mac_address::parse(*mac).has_value());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes = fuzz::as_bytes(data, size);
  check_daemon_side(fuzz::to_string(bytes));
  check_client_output(bytes);
  check_command_line(bytes);
  return 0;
}
