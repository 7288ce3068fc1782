// prometheus_text: the status object as Prometheus text (render_prometheus,
// declared in switchd/metrics.hpp, which serves it).
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "switchd/metrics.hpp"

namespace switchd {

namespace {

using json = nlohmann::json;

/// `object[key]` when `object` is an object that has `key` and it is not null.
const json* member(const json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

/// `object[key]` when it is a string, else `fallback`.
std::string string_member(const json& object, const char* key, std::string fallback) {
  const json* v = member(object, key);
  return v && v->is_string() ? v->get<std::string>() : std::move(fallback);
}

/// A label value as the exposition format wants it: \\, \" and \n escaped.
std::string escape_label(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

/// `name="value"` with the value escaped.
std::string label(std::string_view name, std::string_view value) {
  std::string out(name);
  out += "=\"";
  out += escape_label(value);
  out += '"';
  return out;
}

/// Integers as integers; doubles with 12 significant digits (locale-free).
void append_number(std::string& out, const json& value) {
  if (value.is_number_unsigned()) {
    out += std::to_string(value.get<std::uint64_t>());
  } else if (value.is_number_integer()) {
    out += std::to_string(value.get<std::int64_t>());
  } else {
    const double d = value.get<double>();
    if (std::isnan(d)) {
      out += "NaN";
    } else if (std::isinf(d)) {
      out += d > 0 ? "+Inf" : "-Inf";
    } else {
      std::array<char, 64> buf{};
      auto [end, ec] =
          std::to_chars(buf.data(), buf.data() + buf.size(), d, std::chars_format::general, 12);
      out.append(buf.data(), ec == std::errc{} ? end : buf.data());
    }
  }
}

/// Collects one metric family's samples; flush() writes HELP, TYPE and the
/// samples, or nothing when there are none.
class family {
 public:
  family(std::string& out, std::string_view name, std::string_view type, std::string_view help)
      : out_(out), name_(name), type_(type), help_(help) {}

  /// A sample with `labels` (`a="b",c="d"`, or empty); skipped unless
  /// `value` is a number.
  void add(std::string_view labels, const json* value) {
    if (!value || !value->is_number()) return;
    samples_ += name_;
    if (!labels.empty()) {
      samples_ += '{';
      samples_ += labels;
      samples_ += '}';
    }
    samples_ += ' ';
    append_number(samples_, *value);
    samples_ += '\n';
  }
  void add(std::string_view labels, const json& value) { add(labels, &value); }

  void flush() {
    if (samples_.empty()) return;
    out_ += "# HELP ";
    out_ += name_;
    out_ += ' ';
    out_ += help_;
    out_ += "\n# TYPE ";
    out_ += name_;
    out_ += ' ';
    out_ += type_;
    out_ += '\n';
    out_ += samples_;
    samples_.clear();
  }

 private:
  std::string& out_;
  std::string_view name_, type_, help_;
  std::string samples_;
};

/// A port of the status object with its labels worked out once.
struct port_view {
  const json* port;
  std::string labels;       ///< port="NAME",kind="KIND"
  const json* peer;         ///< its "peer" object, or null
  std::string peer_labels;  ///< peer="NAME",address="ADDR:PORT"
};

std::vector<port_view> ports_of(const json& status) {
  std::vector<port_view> out;
  const json* ports = member(status, "ports");
  if (!ports || !ports->is_array()) return out;
  for (const json& port : *ports) {
    const json* name = member(port, "name");
    if (!name || !name->is_string()) continue;
    const std::string& n = name->get_ref<const std::string&>();
    port_view v{&port,
                label("port", n) + "," + label("kind", string_member(port, "kind", "other")),
                member(port, "peer"),
                {}};
    if (v.peer && !v.peer->is_object()) v.peer = nullptr;
    if (v.peer) {
      v.peer_labels =
          label("peer", n) + "," + label("address", string_member(*v.peer, "address", ""));
    }
    out.push_back(std::move(v));
  }
  return out;
}

/// `{"state": "up"}` → 1, any other string → 0, no state → null.
std::optional<json> up_value(const json& object) {
  const json* state = member(object, "state");
  if (!state || !state->is_string()) return std::nullopt;
  return json(state->get_ref<const std::string&>() == "up" ? 1 : 0);
}

/// One sample per key of a "drops" object, labelled reason="KEY".
void add_drops(family& f, const std::string& labels, const json* drops) {
  if (!drops || !drops->is_object()) return;
  for (const auto& [reason, count] : drops->items()) {
    f.add(labels.empty() ? label("reason", reason) : labels + "," + label("reason", reason), count);
  }
}

/// A metric read from one member of each port (or the table, or a peer).
struct per_port {
  const char* name;
  const char* type;
  const char* help;
  const char* key;
};

/// The daemon's version and uptime.
void render_daemon(std::string& out, const nlohmann::json& status) {
  {
    family f(out, "vswitchd_build_info", "gauge", "vswitchd's version, in the label; always 1.");
    f.add(label("version", string_member(status, "version", "unknown")), json(1));
    f.flush();
  }
  {
    family f(out, "vswitchd_uptime_seconds", "gauge", "Seconds since the daemon started.");
    f.add("", member(status, "uptime_s"));
    f.flush();
  }

}

/// Each port's state, counters, drops, MAC entries and MTU.
void render_ports(std::string& out, const std::vector<port_view>& ports) {
  {
    family f(out, "vswitchd_port_up", "gauge", "1 when the port is up, 0 when it is down.");
    for (const port_view& p : ports) {
      if (auto up = up_value(*p.port)) f.add(p.labels, *up);
    }
    f.flush();
  }
  static constexpr per_port counters[] = {
      {"vswitchd_port_rx_frames_total", "counter", "Frames received from the port.", "rx_frames"},
      {"vswitchd_port_rx_bytes_total", "counter", "Bytes received from the port.", "rx_bytes"},
      {"vswitchd_port_tx_frames_total", "counter", "Frames sent to the port.", "tx_frames"},
      {"vswitchd_port_tx_bytes_total", "counter", "Bytes sent to the port.", "tx_bytes"},
  };
  for (const per_port& c : counters) {
    family f(out, c.name, c.type, c.help);
    for (const port_view& p : ports) f.add(p.labels, member(*p.port, c.key));
    f.flush();
  }
  {
    family f(out, "vswitchd_port_drops_total", "counter", "Frames dropped at the port, by reason.");
    for (const port_view& p : ports) add_drops(f, p.labels, member(*p.port, "drops"));
    f.flush();
  }
  static constexpr per_port gauges[] = {
      {"vswitchd_port_mac_entries", "gauge", "Dynamic MAC table entries on the port.",
       "mac_entries"},
      {"vswitchd_port_mtu", "gauge", "The port's MTU in bytes (an uplink's: its inner MTU).",
       "mtu"},
  };
  for (const per_port& g : gauges) {
    family f(out, g.name, g.type, g.help);
    for (const port_view& p : ports) f.add(p.labels, member(*p.port, g.key));
    f.flush();
  }

}

/// The MAC table's size and counters, and the ports waited for.
void render_mac_table(std::string& out, const nlohmann::json& status) {
  if (const json* table = member(status, "mac_table")) {
    static constexpr per_port table_metrics[] = {
        {"vswitchd_mac_table_entries", "gauge", "Entries in the MAC table.", "entries"},
        {"vswitchd_mac_table_capacity", "gauge", "Entries the MAC table can hold.", "capacity"},
        {"vswitchd_mac_table_aging_seconds", "gauge",
         "Seconds after which an unused dynamic entry expires.", "aging_s"},
        {"vswitchd_mac_table_learned_total", "counter", "MAC addresses learned.", "learned"},
        {"vswitchd_mac_table_moved_total", "counter", "MAC addresses that moved to another port.",
         "moved"},
        {"vswitchd_mac_table_expired_total", "counter", "Dynamic entries that aged out.",
         "expired"},
        {"vswitchd_mac_table_refused_total", "counter",
         "MAC addresses not learned: the table full (refuse policy) or the port at its max-macs.",
         "refused"},
        {"vswitchd_mac_table_evicted_total", "counter",
         "Entries removed to make room for new ones (evict policy).", "evicted"},
        {"vswitchd_mac_table_flaps_total", "counter",
         "Entries pinned to their first port for moving too often.", "flaps"},
    };
    for (const per_port& m : table_metrics) {
      family f(out, m.name, m.type, m.help);
      f.add("", member(*table, m.key));
      f.flush();
    }
  }

  if (const json* waiting = member(status, "waiting"); waiting != nullptr && waiting->is_array()) {
    family f(out, "vswitchd_ports_waiting", "gauge",
             "Ports whose name came back as something vswitchd cannot attach (tried each second).");
    f.add("", json(waiting->size()));
    f.flush();
  }

}

/// Each uplink peer's liveness, round trip and probes.
void render_peers(std::string& out, const std::vector<port_view>& ports) {
  {
    family f(out, "vswitchd_peer_up", "gauge", "1 when the peer answers, 0 when it does not.");
    for (const port_view& p : ports) {
      if (!p.peer) continue;
      if (auto up = up_value(*p.peer)) f.add(p.peer_labels, *up);
    }
    f.flush();
  }
  {
    family f(out, "vswitchd_peer_relayed", "gauge",
             "1 when the peer is reached through a relay, 0 when directly (no sample: no path yet).");
    for (const port_view& p : ports) {
      if (!p.peer) continue;
      const std::string path = string_member(*p.peer, "path", "");
      if (path == "relay" || path == "direct") f.add(p.peer_labels, json(path == "relay" ? 1 : 0));
    }
    f.flush();
  }
  {
    family f(out, "vswitchd_peer_rtt_seconds", "gauge",
             "Round-trip time to the peer, from its last handshake.");
    for (const port_view& p : ports) {
      if (!p.peer) continue;
      const json* rtt = member(*p.peer, "rtt_ms");
      if (rtt && rtt->is_number()) f.add(p.peer_labels, json(rtt->get<double>() / 1000.0));
    }
    f.flush();
  }
  static constexpr per_port peer_metrics[] = {
      {"vswitchd_peer_last_seen_seconds", "gauge", "Seconds since the peer was last heard from.",
       "last_seen_s"},
      {"vswitchd_peer_session_age_seconds", "gauge", "Age of the sealed session with the peer.",
       "session_age_s"},
      {"vswitchd_peer_last_handshake_seconds", "gauge", "Seconds since the last completed handshake.",
       "last_handshake_s"},
      {"vswitchd_peer_handshakes_sent_total", "counter", "Handshake initiations sent to the peer.",
       "handshakes_sent"},
      {"vswitchd_peer_handshakes_total", "counter", "Handshakes completed with the peer.", "handshakes"},
      {"vswitchd_peer_rekeys_total", "counter", "Handshakes that renewed a working session.", "rekeys"},
      {"vswitchd_peer_path_age_seconds", "gauge", "Seconds on the current path (direct or through a relay).",
       "path_age_s"},
      {"vswitchd_peer_path_changes_total", "counter", "Changes of path: direct to relay, relay to direct, or a new address.",
       "path_changes"},
  };
  for (const per_port& m : peer_metrics) {
    family f(out, m.name, m.type, m.help);
    for (const port_view& p : ports) {
      if (p.peer) f.add(p.peer_labels, member(*p.peer, m.key));
    }
    f.flush();
  }

}

/// The uplink endpoint (the UDP socket all uplinks share).
void render_uplink(std::string& out, const nlohmann::json& status) {
  if (const json* uplink = member(status, "uplink")) {
    {
      family f(out, "vswitchd_uplink_rx_datagrams_total", "counter",
               "Datagrams received on the uplink socket.");
      f.add("", member(*uplink, "rx_datagrams"));
      f.flush();
    }
    {
      family f(out, "vswitchd_uplink_handshakes_refused_total", "counter",
               "Sealed handshakes not answered with a session, by reason.");
      if (const json* by = member(*uplink, "handshakes_refused_by_reason"); by && by->is_object()) {
        for (const auto& [reason, n] : by->items()) f.add(label("reason", reason), n);
      }
      f.flush();
    }
    static constexpr per_port reach_counters[] = {
        {"vswitchd_uplink_introductions_total", "counter", "Finds answered: two peers told about each other.",
         "introductions"},
        {"vswitchd_uplink_introductions_refused_total", "counter",
         "Finds and introductions refused: the key is no peer here (or did not ask to be found).",
         "introductions_refused"},
        {"vswitchd_uplink_relayed_datagrams_total", "counter", "Datagrams relayed between two other peers.",
         "relayed_datagrams"},
        {"vswitchd_uplink_relayed_bytes_total", "counter", "Bytes of sealed datagrams relayed between two other peers.",
         "relayed_bytes"},
        {"vswitchd_uplink_relay_refused_total", "counter", "Relay requests for a key with no session here.",
         "relay_refused"},
        {"vswitchd_uplink_passed_to_main_total", "counter",
         "Sealed datagrams a worker passed to the main thread to open: handshakes, control and relayed "
         "messages, a peer's first on a new session, from a new address or while down.",
         "passed_to_main"},
    };
    for (const per_port& m : reach_counters) {
      if (member(*uplink, m.key) == nullptr) continue;
      family f(out, m.name, m.type, m.help);
      f.add("", member(*uplink, m.key));
      f.flush();
    }
    {
      family f(out, "vswitchd_uplink_drops_total", "counter",
               "Datagrams dropped at the uplink socket, by reason.");
      add_drops(f, "", member(*uplink, "drops"));
      f.flush();
    }
  }
}

/// Each worker thread's frames, wake-ups and handoffs (none with one thread).
void render_workers(std::string& out, const nlohmann::json& status) {
  const json* workers = member(status, "workers");
  if (workers == nullptr || !workers->is_array()) return;
  static constexpr per_port worker_metrics[] = {
      {"vswitchd_worker_queues", "gauge", "Port queues the worker thread reads.", nullptr},
      {"vswitchd_worker_frames_total", "counter", "Frames the worker thread read.", "frames"},
      {"vswitchd_worker_busy_rounds_total", "counter",
       "Wake-ups in which the worker thread read frames (frames per wake-up: the batch size).",
       "busy_rounds"},
      {"vswitchd_worker_handed_over_total", "counter",
       "Frames the worker thread passed to the main thread (for QEMU sockets, relayed or VNI-mapped uplinks, captures).",
       "handed_over"},
      {"vswitchd_worker_handoff_full_total", "counter",
       "Frames dropped because the worker's ring to the main thread was full.", "handoff_full"},
      {"vswitchd_worker_cached_total", "counter",
       "Frames the worker thread forwarded by a decision it remembered, without the forwarder's lock.",
       "cached"},
  };
  for (const per_port& m : worker_metrics) {
    family f(out, m.name, m.type, m.help);
    for (const json& w : *workers) {
      const json* index = member(w, "index");
      if (index == nullptr || !index->is_number_unsigned()) continue;
      const std::string labels = label("worker", std::to_string(index->get<std::uint64_t>()));
      if (m.key != nullptr) {
        f.add(labels, member(w, m.key));
      } else if (const json* queues = member(w, "queues"); queues != nullptr && queues->is_array()) {
        f.add(labels, json(queues->size()));
      }
    }
    f.flush();
  }
}

}  // namespace

std::string render_prometheus(const nlohmann::json& status) {
  std::string out;
  const std::vector<port_view> ports = ports_of(status);
  render_daemon(out, status);
  render_ports(out, ports);
  render_mac_table(out, status);
  render_peers(out, ports);
  render_uplink(out, status);
  render_workers(out, status);
  return out;
}

}  // namespace switchd
