// vswitchctl's output: each command's result as a person reads it (the
// command table names the formatter of each command), and the capture's
// closing line. Fields the daemon left out or sent as null show as "-".
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <string_view>

#include "switchd/command_table.hpp"
#include "switchd/ctl_format.hpp"

namespace vswitchctl {

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

}  // namespace

namespace output {

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
  table peer_table({"NAME", "PATH", ">ON-PATH", ">CHANGES", "STATE", ">RTT", ">LAST-SEEN", ">SESSION", ">REKEYS",
                    "KEY"});
  for (const auto& p : ports) {
    port_table.add({text(p, "name"), text(p, "kind"), text(p, "state"), text(p, "mtu"),
                    text(p, "mac_entries"), text(p, "rx_frames"), text(p, "rx_bytes"),
                    text(p, "tx_frames"), text(p, "tx_bytes"),
                    std::to_string(total(field(p, "drops")))});
    if (const json* peer = field(p, "peer")) {
      const std::string key = text(*peer, "public_key");
      // The path: the peer's address (direct), "via RELAY", or "-" (none yet).
      const std::string path = text(*peer, "path") == "relay" ? "via " + text(*peer, "relay") : text(*peer, "address");
      peer_table.add({text(p, "name"), path, ago(*peer, "path_age_s"), text(*peer, "path_changes"), text(*peer, "state"),
                      rtt(*peer, "rtt_ms"), ago(*peer, "last_seen_s"), ago(*peer, "session_age_s"),
                      text(*peer, "rekeys"), key.size() > 8 ? key.substr(0, 8) + "..." : key});
    }
  }
  out += "\n";
  out += port_table.empty() ? "no ports\n" : port_table.render();
  if (!peer_table.empty()) out += "\n" + peer_table.render();
  // Worker threads (--workers above 1): what each reads and has done.
  table worker_table({">WORKER", "READS", ">FRAMES", ">FRAMES/WAKE", ">CACHED", ">TO-MAIN", ">RING-FULL"});
  for (const auto& w : array(r, "workers")) {
    std::string reads;
    for (const auto& q : array(w, "queues")) {
      if (!reads.empty()) reads += ' ';
      reads += text(q, "port");
      reads += "/q";
      reads += text(q, "queue");
    }
    const std::uint64_t rounds = count(w, "busy_rounds");
    char per_wake[32];
    std::snprintf(per_wake, sizeof per_wake, "%.1f",
                  rounds == 0 ? 0.0 : static_cast<double>(count(w, "frames")) / static_cast<double>(rounds));
    worker_table.add({text(w, "index"), reads.empty() ? "-" : reads, text(w, "frames"), per_wake,
                      text(w, "cached"), text(w, "handed_over"), text(w, "handoff_full")});
  }
  if (!worker_table.empty()) out += "\n" + worker_table.render();
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

std::string format_fdb_add(const json& r) {
  return "added static entry " + text(r, "mac") + " vlan " + text(r, "vlan") + " on " +
         text(r, "port") + "\n";
}

std::string format_fdb_del(const json& r) {
  return "removed " + text(r, "type") + " entry " + text(r, "mac") + " vlan " + text(r, "vlan") +
         " on " + text(r, "port") + "\n";
}

std::string format_fdb_flush(const json& r) {
  return "flushed " + plural(count(r, "flushed"), "dynamic entry", "dynamic entries") + "\n";
}

namespace {

/// "port tap3 added (id 4): DESCRIPTION", "uplink 10.0.0.2:4789 added (id 5), peer ...".
std::string added(const std::string& kind, const json& r) {
  std::string out = kind + " " + text(r, "name") + " added (id " + text(r, "id") + ")";
  if (const json* peer = field(r, "peer"); peer != nullptr && field(*peer, "address")) {
    out += ", peer " + text(*peer, "address");
  }
  if (field(r, "description") != nullptr) out += ": " + text(r, "description");
  return out + "\n";
}

}  // namespace

std::string format_port_added(const json& r) { return added("port", r); }
std::string format_uplink_added(const json& r) { return added("uplink", r); }

std::string format_port_removed(const json& r) {
  if (field(r, "id") == nullptr) {
    return "port " + text(r, "name") + " removed (its interface was gone; no longer waited for)\n";
  }
  return "port " + text(r, "name") + " removed (id " + text(r, "id") + ")\n";
}

std::string format_uplink_removed(const json& r) {
  return "uplink " + text(r, "name") + " removed (id " + text(r, "id") + ")\n";
}

std::string format_log_level(const json& r) {
  return "log level " + text(r, "level") + " (was " + text(r, "previous") + ")\n";
}

}  // namespace output

std::string format_result(const std::string& cmd, const json& result) {
  const control::command_row* row = control::command_for(cmd);
  if (row != nullptr && row->format != nullptr) return row->format(result);
  return result.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string capture_summary(std::uint64_t frames, const json& summary) {
  return plural(frames, "frame", "frames") + " captured, " + text(summary, "dropped") +
         " dropped by vswitchd (ended: " + text(summary, "reason") + ")";
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

}  // namespace vswitchctl
