#include "switchd/metrics.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

#include "ports/accept_loop.hpp"
#include "ports/port.hpp"
#include "ports/socket_file.hpp"

namespace switchd {

// ---------------------------------------------------------------------------
// render_prometheus

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
       "Frames the worker thread passed to the main thread (for uplinks, dev: ports, captures).",
       "handed_over"},
      {"vswitchd_worker_handoff_full_total", "counter",
       "Frames dropped because the worker's ring to the main thread was full.", "handoff_full"},
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

// ---------------------------------------------------------------------------
// metrics_server

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace detail {

class metrics_session;

/// What the server shares with its pending handlers and sessions, so that
/// none of them ever touches a destroyed metrics_server.
struct metrics_state : std::enable_shared_from_this<metrics_state> {
  explicit metrics_state(net::io_context& io) : io(io) {}

  /// The accept loop's handler: a new session, unless max_connections are open.
  void take(ports::unique_fd connection);

  net::io_context& io;
  std::unique_ptr<ports::accept_loop> loop;
  tcp::endpoint local;      ///< the bound address
  std::function<std::string()> render;
  std::chrono::steady_clock::duration idle_timeout{};
  std::map<std::uint64_t, std::weak_ptr<metrics_session>> sessions;  ///< live ones, by id
  std::uint64_t next_id = 0;
  bool started = false;
  bool stopped = false;
};

namespace {

/// After a response that ends the connection: how long and how much of the
/// client's unread request to read and discard, so that closing does not
/// reset the connection before the client has the response.
constexpr auto linger_timeout = std::chrono::seconds(1);
constexpr std::size_t linger_limit = 64 * 1024;

const beast::error_category& http_category() {
  return http::make_error_code(http::error::bad_method).category();
}

}  // namespace

/// One connection: read a request, write the response, again while the
/// client keeps the connection alive. Pending handlers own it.
class metrics_session : public std::enable_shared_from_this<metrics_session> {
 public:
  metrics_session(tcp::socket socket, std::shared_ptr<metrics_state> state, std::uint64_t id)
      : stream_(std::move(socket)), state_(std::move(state)), id_(id) {}
  ~metrics_session() { state_->sessions.erase(id_); }
  metrics_session(const metrics_session&) = delete;
  metrics_session& operator=(const metrics_session&) = delete;

  void start() { read_request(); }

  /// Closes the socket; pending operations end with operation_aborted.
  void close() noexcept { stream_.close(); }

 private:
  /// Runs a step of the session; an exception (only a failed allocation
  /// can throw here) closes this connection and goes no further.
  template <class Step>
  void guarded(Step&& step) noexcept {
    try {
      step();
    } catch (const std::exception& e) {
      spdlog::debug("metrics: connection {}: {}", id_, e.what());
      close();
    }
  }

  // 1. Read a request, within the limits and the idle timeout.
  void read_request() {
    parser_.emplace();
    parser_->header_limit(metrics_server::header_limit);
    parser_->body_limit(metrics_server::body_limit);
    stream_.expires_after(state_->idle_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       self->guarded([&] { self->on_read(ec); });
                     });
  }

  void on_read(const beast::error_code& ec) {
    if (state_->stopped) return;
    if (!ec) return answer(parser_->get());
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      return reply_error(http::status::request_header_fields_too_large,
                         "request header too large\n");
    }
    if (ec == http::error::body_limit) {
      return reply_error(http::status::payload_too_large, "request body too large\n");
    }
    if (ec.category() == http_category() && ec != http::error::end_of_stream &&
        ec != http::error::partial_message) {
      return reply_error(http::status::bad_request, "bad request\n");
    }
    // The client closed, went silent (timeout) or the connection failed.
    if (ec != http::error::end_of_stream) {
      spdlog::debug("metrics: connection {}: {}", id_, ec.message());
    }
    close();
  }

  // 2. Answer it.
  void answer(const http::request<http::string_body>& request) {
    response_ = {};
    response_.version(request.version());
    response_.keep_alive(request.keep_alive());
    response_.set(http::field::server, "vswitchd");
    const bool head = request.method() == http::verb::head;
    std::string_view target(request.target().data(), request.target().size());
    target = target.substr(0, target.find('?'));

    if (request.method() != http::verb::get && !head) {
      response_.result(http::status::method_not_allowed);
      response_.set(http::field::allow, "GET, HEAD");
      response_.set(http::field::content_type, "text/plain; charset=utf-8");
      response_.body() = "method not allowed\n";
    } else if (target == "/metrics") {
      try {
        response_.body() = state_->render ? state_->render() : std::string();
        response_.result(http::status::ok);
        response_.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      } catch (const std::exception& e) {
        spdlog::debug("metrics: cannot render the metrics: {}", e.what());
        response_.result(http::status::internal_server_error);
        response_.set(http::field::content_type, "text/plain; charset=utf-8");
        response_.body() = "cannot render the metrics\n";
      }
    } else if (target == "/") {
      response_.result(http::status::ok);
      response_.set(http::field::content_type, "text/html; charset=utf-8");
      response_.body() =
          "<html><head><title>vswitchd</title></head><body><h1>vswitchd</h1>"
          "<p><a href=\"/metrics\">Metrics</a></p></body></html>\n";
    } else {
      response_.result(http::status::not_found);
      response_.set(http::field::content_type, "text/plain; charset=utf-8");
      response_.body() = "not found; the metrics are at /metrics\n";
    }
    write_response(head);
  }

  /// A request we could not read: answer and close the connection.
  void reply_error(http::status status, std::string text) {
    response_ = {};
    response_.version(11);
    response_.result(status);
    response_.keep_alive(false);
    response_.set(http::field::server, "vswitchd");
    response_.set(http::field::content_type, "text/plain; charset=utf-8");
    response_.body() = std::move(text);
    write_response(false);
  }

  // 3. Write the response (HEAD: its headers only), within the idle timeout.
  void write_response(bool head) {
    if (head) {
      const std::size_t size = response_.body().size();
      response_.body().clear();
      response_.content_length(size);
    } else {
      response_.prepare_payload();
    }
    stream_.expires_after(state_->idle_timeout);
    http::async_write(stream_, response_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        self->guarded([&] { self->on_write(ec); });
                      });
  }

  void on_write(const beast::error_code& ec) {
    if (state_->stopped) return;
    if (ec) {
      spdlog::debug("metrics: connection {}: {}", id_, ec.message());
      return close();
    }
    const bool keep_alive = response_.keep_alive();
    response_ = {};  // the body may be large; do not keep it while idle
    if (keep_alive) return read_request();
    linger();
  }

  // 4. End the connection: send FIN, then read and discard what the client
  //    still sends (bounded), so that it gets the response before the close.
  void linger() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return close();
    stream_.expires_after(
        std::min<std::chrono::steady_clock::duration>(state_->idle_timeout, linger_timeout));
    drain();
  }

  void drain() {
    stream_.async_read_some(net::buffer(discard_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->guarded([&] {
                                if (self->state_->stopped) return;
                                self->discarded_ += n;
                                if (ec || self->discarded_ > linger_limit) return self->close();
                                self->drain();
                              });
                            });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_{metrics_server::header_limit + metrics_server::body_limit + 4096};
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  std::array<char, 4096> discard_{};  ///< what linger() reads goes here
  std::size_t discarded_ = 0;
  std::shared_ptr<metrics_state> state_;
  std::uint64_t id_;
};

void metrics_state::take(ports::unique_fd connection) {
  if (stopped) return;
  if (sessions.size() >= metrics_server::max_connections) {
    spdlog::debug("metrics: {} connections open; closing a new one", sessions.size());
    return;  // closed by unique_fd
  }
  tcp::socket socket(io);
  boost::system::error_code ec;
  socket.assign(local.protocol(), connection.get(), ec);
  if (ec) {
    spdlog::debug("metrics: cannot take a connection ({})", ec.message());
    return;  // closed by unique_fd
  }
  (void)connection.release();  // the socket owns it now
  const std::uint64_t id = next_id++;
  auto session = std::make_shared<metrics_session>(std::move(socket), shared_from_this(), id);
  sessions.emplace(id, session);
  session->start();
}

}  // namespace detail

metrics_server::metrics_server(net::io_context& io, const tcp::endpoint& where,
                               const std::string& option_text, std::function<std::string()> render,
                               std::chrono::steady_clock::duration idle_timeout)
    : state_(std::make_shared<detail::metrics_state>(io)) {
  detail::metrics_state& s = *state_;
  s.render = std::move(render);
  s.idle_timeout = idle_timeout;
  ports::bound_socket bound;
  try {
    bound = ports::bind_inet(where.address(), where.port(), SOCK_STREAM, option_text + ": ",
                             "choose another port", SOMAXCONN);
  } catch (const ports::port_error& e) {
    throw std::runtime_error(e.what());
  }
  s.local = tcp::endpoint(where.address(), bound.port);
  s.loop = std::make_unique<ports::accept_loop>(
      io, std::move(bound.fd), option_text,
      [state = state_.get()](ports::unique_fd connection) { state->take(std::move(connection)); });
  spdlog::debug("metrics: listening on {}:{}", s.local.address().to_string(), s.local.port());
}

metrics_server::~metrics_server() { stop(); }

void metrics_server::start() {
  detail::metrics_state& s = *state_;
  if (s.started || s.stopped) return;
  s.started = true;
  s.loop->start();
}

void metrics_server::stop() {
  detail::metrics_state& s = *state_;
  if (s.stopped) return;
  s.stopped = true;
  if (s.loop) s.loop->stop();
  // A session that ends erases itself from the map: step past it first.
  for (auto it = s.sessions.begin(); it != s.sessions.end();) {
    std::shared_ptr<detail::metrics_session> session = it->second.lock();
    ++it;
    if (session) session->close();
  }
  s.render = nullptr;  // whatever it captured may go away after stop()
}

tcp::endpoint metrics_server::local() const { return state_->local; }

}  // namespace switchd
