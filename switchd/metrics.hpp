// metrics: the daemon's Prometheus endpoint (`--metrics ADDR:PORT`).
// render_prometheus (switchd/prometheus_text.cpp) turns the status object (docs/control-protocol.md, the
// same model `vswitchctl show` prints) into the Prometheus text exposition
// format 0.0.4; metrics_server serves it over HTTP/1.1 (Boost.Beast) on the
// daemon's io_context. The server shares the thread with the data path, so
// everything it does is asynchronous and bounded: small request limits, an
// idle timeout per connection and at most max_connections at once.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace switchd {

/// The status object as Prometheus text (exposition format 0.0.4): one
/// `# HELP` and `# TYPE` line per family, then its samples; a family without
/// samples is left out. Parts missing from `status` (or of the wrong type) are
/// left out too; it never throws for a malformed status.
std::string render_prometheus(const nlohmann::json& status);

namespace detail {
struct metrics_state;
}

/// HTTP/1.1 server for /metrics. GET and HEAD of `/metrics` answer
/// render()'s text, `/` a short page linking it; other paths 404, other
/// methods 405. Keep-alive is honoured. Not thread-safe: use it on the
/// io_context's thread.
class metrics_server {
 public:
  static constexpr std::size_t max_connections = 32;     ///< more are accepted and closed
  static constexpr std::size_t header_limit = 8 * 1024;  ///< bytes; larger: 431 and close
  static constexpr std::size_t body_limit = 1024;        ///< bytes; larger: 413 and close

  /// Binds and listens on `where` (port 0: the kernel chooses). Throws
  /// std::runtime_error whose message starts with `option_text` as it
  /// stands (e.g. "--metrics 127.0.0.1:9100"), then the reason and the fix:
  /// "--metrics 127.0.0.1:9100: cannot listen (Address already in use);
  /// choose another port". `render` is called for each /metrics request; an
  /// exception from it is answered with 500. A connection that takes longer
  /// than `idle_timeout` to send a request (or to take a response) is closed.
  metrics_server(boost::asio::io_context& io, const boost::asio::ip::tcp::endpoint& where,
                 const std::string& option_text, std::function<std::string()> render,
                 std::chrono::steady_clock::duration idle_timeout = std::chrono::seconds(10));
  /// Calls stop(). Destroy it before the io_context; handlers it left
  /// pending there may run or be destroyed later without touching it.
  ~metrics_server();
  metrics_server(const metrics_server&) = delete;
  metrics_server& operator=(const metrics_server&) = delete;

  /// Starts accepting connections. Does nothing after stop() or a second time.
  void start();
  /// Closes the listening socket and every connection, and drops `render`;
  /// afterwards nothing of the server keeps io_context::run busy.
  void stop();
  /// The bound address (with the chosen port when `where` had port 0).
  boost::asio::ip::tcp::endpoint local() const;

 private:
  std::shared_ptr<detail::metrics_state> state_;  // shared with pending handlers
};

}  // namespace switchd
