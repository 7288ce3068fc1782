// metrics: render_prometheus from a literal status object (exact sample
// lines, one HELP and TYPE per family, label escaping, every line in the text
// format), and metrics_server on 127.0.0.1 with a plain-socket client.
#include "switchd/metrics.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <future>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using switchd::metrics_server;
using switchd::render_prometheus;
namespace net = boost::asio;
using tcp = net::ip::tcp;

const json status = json::parse(R"json({
  "version": "0.1.0", "pid": 1234, "uptime_s": 12.5,
  "mac_table": {"entries": 3, "capacity": 8192, "aging_s": 300,
                "learned": 10, "moved": 1, "expired": 7, "refused": 0},
  "uplink": {"mode": "vxlan", "local": "0.0.0.0:4789", "vni": 1,
             "rx_datagrams": 5, "drops": {"not_peer": 2, "runt": 0}, "handshakes_refused": 4,
             "handshakes_refused_by_reason": {"not_peer": 3, "invalid": 0, "rate": 1, "under_load": 0},
             "introductions": 6, "introductions_refused": 1, "relayed_datagrams": 40, "relayed_bytes": 52000,
             "relay_refused": 2, "passed_to_main": 9},
  "ports": [
    {"id": 0, "name": "tap0", "kind": "tap", "state": "up", "mtu": 1500,
     "description": "tap tap0", "mac_entries": 2,
     "rx_frames": 3, "rx_bytes": 180, "tx_frames": 4, "tx_bytes": 256,
     "drops": {"runt": 0, "giant": 1}, "peer": null},
    {"id": 1, "name": "we\"ird\\name\nx", "kind": "dev", "state": "down", "mtu": null,
     "description": "dev", "mac_entries": 0,
     "rx_frames": 0, "rx_bytes": 0, "tx_frames": 0, "tx_bytes": 0,
     "drops": {"runt": 0, "giant": 0}, "peer": null},
    {"id": 2, "name": "uplink0", "kind": "uplink", "state": "up", "mtu": 1450,
     "description": "uplink", "mac_entries": 1,
     "rx_frames": 9, "rx_bytes": 900, "tx_frames": 8, "tx_bytes": 800,
     "drops": {"runt": 0, "giant": 0},
     "peer": {"address": "10.0.0.2:4789", "path": "direct", "relay": null, "path_age_s": 30.5, "path_changes": 2,
              "state": "up", "sealed": false, "learned": false,
              "public_key": null, "rtt_ms": 0.25, "last_seen_s": 0.5, "session_age_s": 12.5,
              "last_handshake_s": 12.5, "handshakes_sent": 3, "handshakes": 2, "rekeys": 1}},
    {"id": 3, "name": "uplink1", "kind": "uplink", "state": "down", "mtu": 1450,
     "description": "uplink", "mac_entries": 0,
     "rx_frames": 0, "rx_bytes": 0, "tx_frames": 0, "tx_bytes": 0,
     "drops": {"runt": 0, "giant": 0},
     "peer": {"address": null, "path": "relay", "relay": "uplink0", "path_age_s": 4, "path_changes": 0,
              "state": "down", "sealed": false, "learned": false,
              "public_key": null, "rtt_ms": null, "last_seen_s": null, "session_age_s": null,
              "last_handshake_s": null, "handshakes_sent": 5, "handshakes": 0, "rekeys": 0}}
  ],
  "workers": [
    {"index": 0, "queues": [{"port": "tap0", "queue": 0}, {"port": "tap1", "queue": 0}],
     "frames": 1200, "busy_rounds": 100, "handed_over": 300, "handoff_full": 0, "cached": 700},
    {"index": 1, "queues": [{"port": "tap0", "queue": 1}],
     "frames": 50, "busy_rounds": 50, "handed_over": 0, "handoff_full": 2, "cached": 0}
  ]
})json");

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

bool has_line(const std::string& text, const std::string& line) {
  for (const std::string& l : lines_of(text)) {
    if (l == line) return true;
  }
  return false;
}

/// Checks the exposition format: every line a HELP, TYPE or sample line; one
/// HELP and one TYPE per family, before its samples; families not
/// interleaved; the text ends with a newline.
void expect_well_formed(const std::string& text) {
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  const std::string name = "[a-zA-Z_:][a-zA-Z0-9_:]*";
  const std::string label = "[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\\\n]|\\\\[\\\\\"n])*\"";
  const std::regex help("# HELP (" + name + ") [^\\n]+");
  const std::regex type("# TYPE (" + name + ") (counter|gauge)");
  const std::regex sample("(" + name + ")(\\{" + label + "(," + label +
                          ")*\\})? (-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?|NaN|[-+]Inf)");
  std::set<std::string> helped, typed, finished;
  std::string current;  // the family whose samples come now
  for (const std::string& line : lines_of(text)) {
    std::smatch m;
    if (std::regex_match(line, m, help)) {
      EXPECT_TRUE(helped.insert(m[1]).second) << "two HELP lines: " << line;
      if (!current.empty()) finished.insert(current);
      current = m[1];
    } else if (std::regex_match(line, m, type)) {
      EXPECT_TRUE(typed.insert(m[1]).second) << "two TYPE lines: " << line;
      EXPECT_EQ(m[1], current) << "TYPE not after its HELP: " << line;
    } else if (std::regex_match(line, m, sample)) {
      EXPECT_EQ(m[1], current) << "sample outside its family: " << line;
      EXPECT_EQ(finished.count(m[1]), 0u) << "family interleaved: " << line;
      EXPECT_EQ(typed.count(m[1]), 1u) << "sample before TYPE: " << line;
    } else {
      ADD_FAILURE() << "not in the text format: '" << line << "'";
    }
  }
}

TEST(render_prometheus, exact_samples) {
  const std::string text = render_prometheus(status);
  const std::vector<std::string> expected = {
      R"(vswitchd_build_info{version="0.1.0"} 1)",
      R"(vswitchd_uptime_seconds 12.5)",
      R"(vswitchd_port_up{port="tap0",kind="tap"} 1)",
      R"(vswitchd_port_up{port="uplink1",kind="uplink"} 0)",
      R"(vswitchd_port_rx_frames_total{port="tap0",kind="tap"} 3)",
      R"(vswitchd_port_rx_bytes_total{port="tap0",kind="tap"} 180)",
      R"(vswitchd_port_tx_frames_total{port="tap0",kind="tap"} 4)",
      R"(vswitchd_port_tx_bytes_total{port="tap0",kind="tap"} 256)",
      R"(vswitchd_port_drops_total{port="tap0",kind="tap",reason="runt"} 0)",
      R"(vswitchd_port_drops_total{port="tap0",kind="tap",reason="giant"} 1)",
      R"(vswitchd_port_mac_entries{port="tap0",kind="tap"} 2)",
      R"(vswitchd_port_mtu{port="tap0",kind="tap"} 1500)",
      R"(vswitchd_port_mtu{port="uplink0",kind="uplink"} 1450)",
      R"(vswitchd_mac_table_entries 3)",
      R"(vswitchd_mac_table_capacity 8192)",
      R"(vswitchd_mac_table_aging_seconds 300)",
      R"(vswitchd_mac_table_learned_total 10)",
      R"(vswitchd_mac_table_moved_total 1)",
      R"(vswitchd_mac_table_expired_total 7)",
      R"(vswitchd_mac_table_refused_total 0)",
      R"(vswitchd_peer_up{peer="uplink0",address="10.0.0.2:4789"} 1)",
      R"(vswitchd_peer_up{peer="uplink1",address=""} 0)",
      R"(vswitchd_peer_rtt_seconds{peer="uplink0",address="10.0.0.2:4789"} 0.00025)",
      R"(vswitchd_peer_last_seen_seconds{peer="uplink0",address="10.0.0.2:4789"} 0.5)",
      R"(vswitchd_peer_session_age_seconds{peer="uplink0",address="10.0.0.2:4789"} 12.5)",
      R"(vswitchd_peer_handshakes_sent_total{peer="uplink1",address=""} 5)",
      R"(vswitchd_peer_handshakes_total{peer="uplink0",address="10.0.0.2:4789"} 2)",
      R"(vswitchd_peer_rekeys_total{peer="uplink0",address="10.0.0.2:4789"} 1)",
      R"(vswitchd_peer_relayed{peer="uplink0",address="10.0.0.2:4789"} 0)",
      R"(vswitchd_peer_relayed{peer="uplink1",address=""} 1)",
      R"(vswitchd_peer_path_age_seconds{peer="uplink0",address="10.0.0.2:4789"} 30.5)",
      R"(vswitchd_peer_path_changes_total{peer="uplink0",address="10.0.0.2:4789"} 2)",
      R"(vswitchd_uplink_introductions_total 6)",
      R"(vswitchd_uplink_introductions_refused_total 1)",
      R"(vswitchd_uplink_relayed_datagrams_total 40)",
      R"(vswitchd_uplink_relayed_bytes_total 52000)",
      R"(vswitchd_uplink_relay_refused_total 2)",
      R"(vswitchd_uplink_passed_to_main_total 9)",
      R"(vswitchd_uplink_handshakes_refused_total{reason="not_peer"} 3)",
      R"(vswitchd_uplink_handshakes_refused_total{reason="rate"} 1)",
      R"(vswitchd_uplink_rx_datagrams_total 5)",
      R"(vswitchd_uplink_drops_total{reason="not_peer"} 2)",
      R"(vswitchd_uplink_drops_total{reason="runt"} 0)",
      R"(vswitchd_worker_queues{worker="0"} 2)",
      R"(vswitchd_worker_queues{worker="1"} 1)",
      R"(vswitchd_worker_frames_total{worker="0"} 1200)",
      R"(vswitchd_worker_busy_rounds_total{worker="1"} 50)",
      R"(vswitchd_worker_handed_over_total{worker="0"} 300)",
      R"(vswitchd_worker_handoff_full_total{worker="1"} 2)",
      R"(vswitchd_worker_cached_total{worker="0"} 700)",
  };
  for (const std::string& line : expected)
    EXPECT_TRUE(has_line(text, line)) << line << "\nin:\n" << text;
  EXPECT_TRUE(has_line(text, "# TYPE vswitchd_port_rx_frames_total counter"));
  EXPECT_TRUE(has_line(text, "# TYPE vswitchd_port_up gauge"));
  EXPECT_TRUE(has_line(text, "# TYPE vswitchd_peer_rtt_seconds gauge"));
  expect_well_formed(text);
}

TEST(render_prometheus, every_family_once) {
  const std::string text = render_prometheus(status);
  for (const char* family : {"vswitchd_build_info",
                             "vswitchd_uptime_seconds",
                             "vswitchd_port_up",
                             "vswitchd_port_rx_frames_total",
                             "vswitchd_port_rx_bytes_total",
                             "vswitchd_port_tx_frames_total",
                             "vswitchd_port_tx_bytes_total",
                             "vswitchd_port_drops_total",
                             "vswitchd_port_mac_entries",
                             "vswitchd_port_mtu",
                             "vswitchd_mac_table_entries",
                             "vswitchd_mac_table_capacity",
                             "vswitchd_mac_table_aging_seconds",
                             "vswitchd_mac_table_learned_total",
                             "vswitchd_mac_table_moved_total",
                             "vswitchd_mac_table_expired_total",
                             "vswitchd_mac_table_refused_total",
                             "vswitchd_peer_up",
                             "vswitchd_peer_rtt_seconds",
                             "vswitchd_peer_last_seen_seconds",
                             "vswitchd_peer_session_age_seconds",
                             "vswitchd_peer_last_handshake_seconds",
                             "vswitchd_peer_handshakes_sent_total",
                             "vswitchd_peer_handshakes_total",
                             "vswitchd_peer_rekeys_total",
                             "vswitchd_peer_relayed",
                             "vswitchd_peer_path_age_seconds",
                             "vswitchd_peer_path_changes_total",
                             "vswitchd_uplink_introductions_total",
                             "vswitchd_uplink_relayed_datagrams_total",
                             "vswitchd_uplink_passed_to_main_total",
                             "vswitchd_uplink_handshakes_refused_total",
                             "vswitchd_uplink_rx_datagrams_total",
                             "vswitchd_uplink_drops_total",
                             "vswitchd_worker_queues",
                             "vswitchd_worker_frames_total",
                             "vswitchd_worker_busy_rounds_total",
                             "vswitchd_worker_handed_over_total",
                             "vswitchd_worker_handoff_full_total",
                             "vswitchd_worker_cached_total"}) {
    int help = 0, type = 0;
    for (const std::string& line : lines_of(text)) {
      help += line.rfind(std::string("# HELP ") + family + " ", 0) == 0;
      type += line.rfind(std::string("# TYPE ") + family + " ", 0) == 0;
    }
    EXPECT_EQ(help, 1) << family;
    EXPECT_EQ(type, 1) << family;
  }
}

TEST(render_prometheus, no_worker_families_with_one_thread) {
  json s = status;
  s["workers"] = json::array();
  EXPECT_EQ(render_prometheus(s).find("vswitchd_worker_"), std::string::npos);
}

TEST(render_prometheus, ports_waited_for) {
  json s = status;
  s["waiting"] = {"tap7", "qtap9"};
  EXPECT_TRUE(has_line(render_prometheus(s), "vswitchd_ports_waiting 2"));
  s["waiting"] = json::array();
  EXPECT_TRUE(has_line(render_prometheus(s), "vswitchd_ports_waiting 0"));
}

TEST(render_prometheus, escapes_label_values) {
  const std::string text = render_prometheus(status);
  EXPECT_TRUE(has_line(text, R"(vswitchd_port_up{port="we\"ird\\name\nx",kind="dev"} 0)")) << text;
  EXPECT_TRUE(has_line(
      text, R"(vswitchd_port_drops_total{port="we\"ird\\name\nx",kind="dev",reason="giant"} 0)"));
  expect_well_formed(text);
}

TEST(render_prometheus, leaves_out_nulls) {
  const std::string text = render_prometheus(status);
  // A null mtu, rtt_ms or last_seen_s has no sample; a port without a peer
  // has no peer samples.
  EXPECT_EQ(text.find("vswitchd_port_mtu{port=\"we"), std::string::npos);
  EXPECT_EQ(text.find("vswitchd_peer_rtt_seconds{peer=\"uplink1\""), std::string::npos);
  EXPECT_EQ(text.find("vswitchd_peer_last_seen_seconds{peer=\"uplink1\""), std::string::npos);
  EXPECT_EQ(text.find("{peer=\"tap0\""), std::string::npos);
}

TEST(render_prometheus, no_uplink_no_uplink_families) {
  json s = status;
  s["uplink"] = nullptr;
  const std::string text = render_prometheus(s);
  EXPECT_EQ(text.find("vswitchd_uplink_"), std::string::npos);
  expect_well_formed(text);
}

TEST(render_prometheus, missing_and_malformed_parts_do_not_throw) {
  const json cases[] = {
      json(),
      json::object(),
      json::array({1, 2}),
      json::parse(R"({"ports": "x", "mac_table": 5, "uplink": [], "uptime_s": "long"})"),
      json::parse(R"({"ports": [1, {"kind": "tap"}, {"name": 7},
                               {"name": "p", "drops": [1], "peer": "x", "state": 1,
                                "rx_frames": "3", "mtu": true},
                               {"name": "q", "peer": {"rtt_ms": "fast"}}],
                      "uplink": {"drops": 3}, "mac_table": {"entries": null}})"),
  };
  for (const json& c : cases) {
    std::string text;
    EXPECT_NO_THROW(text = render_prometheus(c)) << c.dump();
    EXPECT_TRUE(has_line(text, R"(vswitchd_build_info{version="unknown"} 1)")) << text;
    expect_well_formed(text);
  }
  // The last case: the port with a name is there, its bad values are not.
  const std::string text = render_prometheus(cases[4]);
  EXPECT_EQ(text.find("vswitchd_port_rx_frames_total"), std::string::npos);
  EXPECT_EQ(text.find("vswitchd_port_mtu"), std::string::npos);
  EXPECT_EQ(text.find("vswitchd_peer_rtt_seconds"), std::string::npos);
}

TEST(render_prometheus, numbers) {
  json s = json::object();
  s["uptime_s"] = 1234567.125;
  EXPECT_TRUE(has_line(render_prometheus(s), "vswitchd_uptime_seconds 1234567.125"));
  s["uptime_s"] = 18446744073709551615u;
  EXPECT_TRUE(has_line(render_prometheus(s), "vswitchd_uptime_seconds 18446744073709551615"));
  s["uptime_s"] = 0.0;
  EXPECT_TRUE(has_line(render_prometheus(s), "vswitchd_uptime_seconds 0"));
  json p = status;
  p["ports"][2]["peer"]["rtt_ms"] = 0.123;
  EXPECT_TRUE(
      has_line(render_prometheus(p),
               R"(vswitchd_peer_rtt_seconds{peer="uplink0",address="10.0.0.2:4789"} 0.000123)"));
}

// ---------------------------------------------------------------------------
// metrics_server

/// A blocking HTTP client on a plain socket. Every receive gives up after
/// 10 s, so a broken server fails the test instead of hanging it.
class client {
 public:
  struct response {
    int status = 0;
    std::map<std::string, std::string> headers;  ///< names in lower case
    std::string body;
  };

  explicit client(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error("socket failed");
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      throw std::runtime_error("connect failed");
    }
  }
  ~client() { close(); }
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  /// False when the connection refused the bytes (closed or reset).
  bool send(const std::string& data) {
    std::size_t done = 0;
    while (done < data.size()) {
      const ssize_t n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<std::size_t>(n);
    }
    return true;
  }

  /// The next response (without a body for `head`); nullopt when the
  /// connection ends or times out first.
  std::optional<response> read_response(bool head = false) {
    std::size_t end;
    while ((end = pending_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) return std::nullopt;
    }
    response r;
    std::istringstream header(pending_.substr(0, end));
    pending_.erase(0, end + 4);
    std::string line;
    std::getline(header, line);
    if (line.rfind("HTTP/1.", 0) != 0 || line.size() < 12) return std::nullopt;
    r.status = std::stoi(line.substr(9, 3));
    while (std::getline(header, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      const auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      r.headers[name] = value;
    }
    std::size_t length = 0;
    if (!head && r.headers.count("content-length")) {
      length = std::stoul(r.headers["content-length"]);
    }
    while (pending_.size() < length) {
      if (!fill()) return std::nullopt;
    }
    r.body = pending_.substr(0, length);
    pending_.erase(0, length);
    return r;
  }

  /// True when the server closes the connection (after any data it still
  /// sends); false when it stays open for 10 s.
  bool closed() {
    pending_.clear();
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) continue;
      if (n == 0) return true;
      return errno == ECONNRESET;
    }
  }

  /// Whatever is buffered beyond the responses read.
  const std::string& pending() const { return pending_; }

 private:
  bool fill() {
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return false;
    pending_.append(buf, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string pending_;
};

std::string get(const std::string& target, const std::string& method = "GET",
                const std::string& extra = "") {
  return method + " " + target + " HTTP/1.1\r\nHost: localhost\r\n" + extra + "\r\n";
}

/// A server on 127.0.0.1 (port 0) whose io_context runs on a thread.
class metrics_server_test : public ::testing::Test {
 protected:
  void start(
      std::chrono::steady_clock::duration idle_timeout = 200ms,
      std::function<std::string()> render = [] { return render_prometheus(status); }) {
    server_ =
        std::make_unique<metrics_server>(io_, tcp::endpoint(net::ip::address_v4::loopback(), 0),
                                         "--metrics 127.0.0.1:0", std::move(render), idle_timeout);
    port_ = server_->local().port();
    server_->start();
    thread_ = std::thread([this] {
      io_.run();
      ran_out_.set_value();
    });
  }

  /// Stops the server on its thread; true when io.run() then returns.
  bool stop() {
    if (!thread_.joinable()) return true;
    net::post(io_, [this] { server_->stop(); });
    const bool returned = ran_out_.get_future().wait_for(30s) == std::future_status::ready;
    if (!returned) io_.stop();
    thread_.join();
    return returned;
  }

  void TearDown() override { EXPECT_TRUE(stop()) << "io_context::run did not return after stop()"; }

  net::io_context io_;
  std::unique_ptr<metrics_server> server_;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::promise<void> ran_out_;
};

TEST_F(metrics_server_test, chooses_a_port) {
  start();
  EXPECT_NE(port_, 0);
  EXPECT_TRUE(server_->local().address().is_loopback());
}

TEST_F(metrics_server_test, serves_metrics_with_keep_alive) {
  start();
  client c(port_);
  ASSERT_TRUE(c.send(get("/metrics")));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(r->body, render_prometheus(status));
  EXPECT_TRUE(has_line(r->body, R"(vswitchd_port_rx_frames_total{port="tap0",kind="tap"} 3)"));

  // The same connection again: the index page, then HEAD, then a 404.
  ASSERT_TRUE(c.send(get("/")));
  r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->headers["content-type"], "text/html; charset=utf-8");
  EXPECT_NE(r->body.find("href=\"/metrics\""), std::string::npos);

  ASSERT_TRUE(c.send(get("/metrics", "HEAD")));
  r = c.read_response(true);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->headers["content-length"], std::to_string(render_prometheus(status).size()));

  ASSERT_TRUE(c.send(get("/nothing")));
  r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);  // and not a stray HEAD body
}

TEST_F(metrics_server_test, query_string_is_ignored) {
  start();
  client c(port_);
  ASSERT_TRUE(c.send(get("/metrics?x=1")));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(metrics_server_test, not_found_and_method_not_allowed) {
  start();
  client c(port_);
  ASSERT_TRUE(c.send(get("/metricsx")));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);

  ASSERT_TRUE(c.send(get("/metrics", "POST", "Content-Length: 2\r\n") + "ab"));
  r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->headers["allow"], "GET, HEAD");

  ASSERT_TRUE(c.send(get("/metrics")));
  r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(metrics_server_test, http_1_0_closes) {
  start();
  client c(port_);
  ASSERT_TRUE(c.send("GET /metrics HTTP/1.0\r\n\r\n"));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(c.closed());
}

TEST_F(metrics_server_test, connection_close_is_honoured) {
  start();
  client c(port_);
  ASSERT_TRUE(c.send(get("/metrics", "GET", "Connection: close\r\n")));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->headers["connection"], "close");
  EXPECT_TRUE(c.closed());
}

TEST_F(metrics_server_test, oversized_header_then_a_good_request) {
  start();
  {
    client c(port_);
    c.send(get("/metrics", "GET", "X-Big: " + std::string(16 * 1024, 'a') + "\r\n"));
    if (auto r = c.read_response()) {
      EXPECT_EQ(r->status, 431);
    }
    EXPECT_TRUE(c.closed());
  }
  client c(port_);
  ASSERT_TRUE(c.send(get("/metrics")));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(metrics_server_test, oversized_body) {
  start();
  client c(port_);
  c.send(get("/metrics", "GET", "Content-Length: 100000\r\n"));
  if (auto r = c.read_response()) {
    EXPECT_EQ(r->status, 413);
  }
  EXPECT_TRUE(c.closed());
}

TEST_F(metrics_server_test, garbage_is_a_bad_request) {
  start();
  client c(port_);
  c.send("\x01\x02 nonsense\r\n\r\n");
  if (auto r = c.read_response()) {
    EXPECT_EQ(r->status, 400);
  }
  EXPECT_TRUE(c.closed());
}

TEST_F(metrics_server_test, a_stalled_client_does_not_block_others_and_is_closed) {
  start(200ms);
  client silent(port_);
  client slow(port_);
  ASSERT_TRUE(slow.send("GET /metrics HTTP/1.1\r\n"));  // and never the rest

  client c(port_);
  ASSERT_TRUE(c.send(get("/metrics")));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);

  EXPECT_TRUE(silent.closed());
  EXPECT_TRUE(slow.closed());
}

TEST_F(metrics_server_test, at_most_max_connections) {
  start(1h);
  std::vector<std::unique_ptr<client>> idle;
  for (std::size_t i = 0; i < metrics_server::max_connections; ++i) {
    idle.push_back(std::make_unique<client>(port_));
  }
  {
    // Accepted after the others (the kernel's queue is in order), so closed.
    client extra(port_);
    EXPECT_TRUE(extra.closed());
  }
  // Once one goes away, a new connection is served; the server notices the
  // close asynchronously, so try a few times.
  idle.front()->close();
  bool served = false;
  for (int attempt = 0; attempt < 500 && !served; ++attempt) {
    client c(port_);
    if (c.send(get("/metrics"))) {
      auto r = c.read_response();
      served = r && r->status == 200;
    }
    if (!served) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(served);
}

TEST_F(metrics_server_test, render_failure_is_500) {
  start(200ms, []() -> std::string { throw std::runtime_error("no status"); });
  client c(port_);
  ASSERT_TRUE(c.send(get("/metrics")));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  ASSERT_TRUE(c.send(get("/")));
  r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(metrics_server_test, stop_closes_connections_and_run_returns) {
  start(1h);
  client kept(port_);
  ASSERT_TRUE(kept.send(get("/metrics")));
  ASSERT_TRUE(kept.read_response());
  client slow(port_);
  ASSERT_TRUE(slow.send("GET /metr"));
  client silent(port_);

  EXPECT_TRUE(stop());
  EXPECT_TRUE(kept.closed());
  EXPECT_TRUE(slow.closed());
  EXPECT_TRUE(silent.closed());
}

TEST(metrics_server, address_in_use) {
  net::io_context io;
  metrics_server first(io, tcp::endpoint(net::ip::address_v4::loopback(), 0), "--metrics x",
                       [] { return std::string(); });
  const std::string text = "--metrics 127.0.0.1:" + std::to_string(first.local().port());
  try {
    metrics_server second(io, first.local(), text, [] { return std::string(); });
    FAIL() << "listened twice on one port";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()),
              text + ": cannot listen (Address already in use); choose another port");
  }
}

TEST(metrics_server, destroyed_with_handlers_pending) {
  // The server goes first; its handlers are still queued in the io_context,
  // which is then run (they find the server stopped) or destroyed unrun.
  for (bool run_afterwards : {true, false}) {
    net::io_context io;
    bool rendered = false;
    auto server =
        std::make_unique<metrics_server>(io, tcp::endpoint(net::ip::address_v4::loopback(), 0),
                                         "--metrics 127.0.0.1:0", [&rendered] {
                                           rendered = true;
                                           return std::string();
                                         });
    server->start();
    client c(server->local().port());
    ASSERT_TRUE(c.send(get("/metrics")));
    io.run_one_for(10s);  // the accept; the request's read is now pending
    server->stop();
    server.reset();
    if (run_afterwards) {
      io.run();  // returns: nothing of the server is left busy
      EXPECT_TRUE(c.closed());
    }
    EXPECT_FALSE(rendered);
  }
}

TEST(metrics_server, destroyed_without_stop) {
  net::io_context io;
  {
    metrics_server server(io, tcp::endpoint(net::ip::address_v4::loopback(), 0), "--metrics x",
                          [] { return std::string(); });
    server.start();
    client c(server.local().port());
    io.run_one_for(10s);
  }
  io.run();
}

}  // namespace
