// vswitchctl, the control socket's client, minus its I/O: the command line
// (parse_args, by the command table in switchd/command_table.hpp, checks
// everything that can be checked without the daemon and builds the request
// of docs/control-protocol.md), the human-readable output of each command's
// result (format_result, in ctl_output.cpp), and the pcap pieces of `capture`
// (the file's global header, splitting the stream into whole records).
// vswitchctl.cpp adds main(), the socket and the capture loop.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace vswitchctl {

/// JSON with its keys in the order they were written: requests go out as
/// {"cmd", "args"}, and results keep the daemon's order (drop reasons, say).
using json = nlohmann::ordered_json;

/// Where the daemon listens unless --control or $VSWITCHD_CONTROL says otherwise.
inline constexpr const char* default_control = "/run/vswitchd/vswitchd.ctl";

/// A bad command line: the message names the problem and the fix (exit 2).
class usage_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// What the daemon sent that does not follow the protocol (exit 1).
class protocol_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A parsed command line.
struct invocation {
  enum class action { run, help, version };
  action what = action::run;
  std::string control = default_control;  ///< the control socket's path
  bool as_json = false;                   ///< --json: print the result as JSON
  double timeout_s = 10;                  ///< --timeout: connect + answer, seconds
  json request;                           ///< {"cmd": ..., "args"?: {...}}
  std::string capture_file;               ///< capture: FILE ("-": stdout); else empty
};

/// The command line `argv[0..argc)` (argv[0] is the program). `env_control`
/// is $VSWITCHD_CONTROL (nullptr or empty: unset); --control wins over it.
/// Options may come before, between or after the command words; `--` ends
/// them. -h/--help and --version anywhere win over everything else.
/// Throws usage_error for the first problem found.
invocation parse_args(int argc, const char* const* argv, const char* env_control = nullptr);

/// The request as sent: one line of JSON ending in '\n'.
std::string request_line(const invocation& inv);

/// The --help text.
std::string usage_text();

/// The human-readable output of `cmd` (the request's "cmd") for its
/// response's `result`, ending in '\n', by the command table's formatter.
/// Fields the daemon left out or sent as null show as "-"; a command without
/// a formatter is printed as JSON.
std::string format_result(const std::string& cmd, const json& result);

/// Each command's formatter (switchd/ctl_output.cpp), named by the command table.
namespace output {
std::string format_show(const json& r);
std::string format_stats(const json& r);
std::string format_fdb(const json& r);
std::string format_fdb_add(const json& r);
std::string format_fdb_del(const json& r);
std::string format_fdb_flush(const json& r);
std::string format_port_added(const json& r);
std::string format_port_removed(const json& r);
std::string format_uplink_added(const json& r);
std::string format_uplink_removed(const json& r);
std::string format_log_level(const json& r);
std::string format_reload(const json& r);
}  // namespace output

// --- capture ---------------------------------------------------------------

/// Largest snaplen vswitchctl takes from the daemon (its buffer holds a record).
inline constexpr std::uint32_t max_snaplen = 16u << 20;

/// Size of a pcap record header, and of the end marker (all 0xFF).
inline constexpr std::size_t record_header_size = 16;

/// The 24-byte global header of a little-endian microsecond pcap file
/// (magic 0xa1b2c3d4, version 2.4, thiszone 0, sigfigs 0).
std::array<std::uint8_t, 24> pcap_global_header(std::uint32_t snaplen, std::uint32_t linktype);

/// The capture's answer: its snaplen and linktype. Throws protocol_error when
/// either is missing or out of range (snaplen 1..max_snaplen).
struct capture_start {
  std::uint32_t snaplen = 0;   ///< most bytes of a frame in a record
  std::uint32_t linktype = 0;  ///< pcap LINKTYPE_* (1: Ethernet)
};
capture_start parse_capture_start(const json& result);

/// What scan_records found at the front of the buffered stream.
struct record_scan {
  std::size_t size = 0;     ///< bytes of whole records at the front (to write verbatim)
  std::size_t records = 0;  ///< how many records those are
  bool ended = false;       ///< the end marker follows them
};

/// Scans `data` (the stream after the capture's answer, from a record
/// boundary) for whole records, stopping at a cut record, the end marker or
/// a bad record (incl_len above `snaplen`). Throws protocol_error("bad record
/// from vswitchd ...") when the first record is bad.
record_scan scan_records(std::span<const std::uint8_t> data, std::uint32_t snaplen);

/// The closing line for a capture that ended with the end marker and
/// `summary` ({"captured", "dropped", "reason"}): "N frames captured, M
/// dropped by vswitchd (ended: REASON)". `frames` is what vswitchctl wrote.
std::string capture_summary(std::uint64_t frames, const json& summary);

}  // namespace vswitchctl
