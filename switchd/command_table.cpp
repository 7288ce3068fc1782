#include "switchd/command_table.hpp"

#include "switchd/ctl_format.hpp"
#include "switchd/markdown.hpp"

namespace control {
namespace {

using namespace vswitchctl::output;

const std::vector<command_row>& rows() {
  static const std::vector<command_row> table = {
      {"show", "show", {}, {},
       "version, uptime, MAC table, uplink; every port with its counters; every uplink peer with "
       "its state and round-trip time",
       "–", "the status object below", &format_show},
      {"stats", "stats", {}, {},
       "drops by reason, of each port and of the uplink endpoint; the MAC table's counters", "–",
       "the status object below (the client shows the drop counters)", &format_stats},
      {"fdb show", "fdb/show", {}, {{"--port", "P", "port"}, {"--vlan", "V", "vlan"}},
       "the MAC table: all of it, or port P's, VLAN V's", "`port`? (name), `vlan`? (0–4095)",
       "`{\"entries\": [ENTRY...], \"count\": N, \"capacity\": N}`", &format_fdb},
      {"fdb add", "fdb/add", {{"MAC", "mac"}, {"PORT", "port"}}, {{"--vlan", "V", "vlan"}},
       "add a static entry: MAC on VLAN V (default 0) is on PORT; it does not age, and learning "
       "does not move it",
       "`mac`, `port` (name), `vlan`? (default 0)", "`{\"mac\", \"vlan\", \"port\"}` — a static entry",
       &format_fdb_add},
      {"fdb del", "fdb/del", {{"MAC", "mac"}}, {{"--vlan", "V", "vlan"}},
       "remove the entry of MAC on VLAN V (default 0), static or learned",
       "`mac`, `vlan`? (default 0)",
       "`{\"mac\", \"vlan\", \"port\", \"type\"}` — the entry removed; `\"port\": \"-\"` for a "
       "static entry held for a port that is gone (it would have come back with it)",
       &format_fdb_del},
      {"fdb flush", "fdb/flush", {}, {{"--port", "P", "port"}},
       "forget the learned entries (all, or port P's); static entries stay", "`port`? (name)",
       "`{\"flushed\": N}` — dynamic entries only; static ones stay", &format_fdb_flush},
      {"port add", "port/add", {{"SPEC", "spec", "[tap:|dev:]NAME[,OPTION=V...]"}}, {},
       "add a port, as vswitchd --port takes it", "`spec` (as `--port` takes it)",
       "the new port's PORT object", &format_port_added},
      {"port del", "port/del", {{"NAME", "name"}}, {}, "remove a port", "`name`",
       "`{\"name\", \"id\"}`; `{\"name\"}` alone for a port whose interface came back as "
       "something it cannot attach (the retries stop)",
       &format_port_removed},
      {"uplink add", "uplink/add", {{"HOST:PORT", "peer"}}, {},
       "add an uplink peer, as vswitchd --uplink takes it", "`peer` (`HOST:PORT`, as `--uplink`)",
       "the new uplink's PORT object", &format_uplink_added},
      {"uplink del", "uplink/del", {{"HOST:PORT", "peer"}}, {},
       "remove an uplink peer (as it was added, or its resolved ADDR:PORT)",
       "`peer` (as given to add/`--uplink`, or the resolved `ADDR:PORT`)", "`{\"name\", \"id\"}`",
       &format_uplink_removed},
      {"log-level", "log-level", {{"LEVEL", "level", "trace|debug|info|warn|error"}}, {},
       "set the log level: trace, debug, info, warn or error",
       "`level` (trace, debug, info, warn, error)", "`{\"previous\": \"...\", \"level\": \"...\"}`",
       &format_log_level},
      {"reload", "reload", {}, {},
       "re-read the configuration (as SIGHUP does) and apply what changed; says what needs a "
       "restart",
       "–",
       "`{\"ports_added\": [..], \"ports_removed\": [..], \"ports_changed\": [..], "
       "\"peers_added\": [..], \"peers_removed\": [..], \"unchanged\": N, \"failed\": "
       "[\"message\", ...], \"restart_needed\": [\"option\", ...]}` — names as written in the "
       "options; `peers_added` are being resolved (a failure is logged); `failed`: ports that "
       "could not be opened",
       &format_reload},
      {"capture", "capture", {{"PORT", "port"}, {"FILE", ""}},
       {{"--count", "N", "count"}, {"--seconds", "S", "seconds"}},
       "write the frames entering or leaving PORT to FILE, a pcap file (\"-\": standard output), "
       "until N frames, S seconds, Ctrl-C or the port is gone",
       "`port` (name), `count`? (≥1), `seconds`? (≥1)", "see Capture", nullptr},
  };
  return table;
}

/// `text` wrapped at `width` columns, each line after the first indented by `indent`.
std::string wrap(std::string_view text, std::size_t first_room, std::size_t width,
                 std::size_t indent) {
  std::string out;
  std::size_t room = first_room;
  std::size_t used = 0;
  while (!text.empty()) {
    const std::size_t space = text.find(' ');
    const std::string_view word = text.substr(0, space);
    text.remove_prefix(space == std::string_view::npos ? text.size() : space + 1);
    if (used > 0 && used + 1 + word.size() > room) {
      out += '\n';
      out += std::string(indent, ' ');
      room = width - indent;
      used = 0;
    } else if (used > 0) {
      out += ' ';
      ++used;
    }
    out += word;
    used += word.size();
  }
  return out;
}

}  // namespace

const std::vector<command_row>& command_table() { return rows(); }

const command_row* command_for(std::string_view cmd) {
  for (const command_row& r : rows()) {
    if (r.cmd == cmd) return &r;
  }
  return nullptr;
}

std::string synopsis(const command_row& row) {
  std::string out(row.words);
  for (const command_param& p : row.params) {
    out += ' ';
    out += p.shown.empty() ? p.name : p.shown;
  }
  for (const command_option& o : row.options) {
    out += " [";
    out += o.flag;
    out += ' ';
    out += o.value_name;
    out += ']';
  }
  return out;
}

std::string commands_help() {
  constexpr std::size_t column = 31;  // where the help text starts
  constexpr std::size_t width = 80;
  std::string out;
  for (const command_row& r : rows()) {
    const std::string name = "  " + synopsis(r);
    if (name.size() + 2 <= column) {
      out += name + std::string(column - name.size(), ' ');
    } else {
      out += name + "\n" + std::string(column, ' ');
    }
    out += wrap(r.help, width - column, width, column) + "\n";
  }
  return out;
}

std::string commands_markdown() {
  std::string out =
      "| cmd | vswitchctl | args | result |\n"
      "|---|---|---|---|\n";
  using markdown::cell;
  for (const command_row& r : rows()) {
    out += "| `" + std::string(r.cmd) + "` | `" + cell(synopsis(r)) + "` | " + cell(r.args_doc) +
           " | " + cell(r.result_doc) + " |\n";
  }
  return out;
}

std::string command_list() {
  std::string out;
  const auto& t = rows();
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (i > 0) out += i + 1 == t.size() ? " and " : ", ";
    out += t[i].cmd;
  }
  return out;
}

}  // namespace control
