// accept_loop: the one loop that takes connections for every server in
// vswitchd: the control socket, the metrics endpoint and the QEMU stream
// listeners. It owns the listening socket, waits until it is readable, takes
// up to `budget` connections per wake-up (then lets the other handlers run)
// and hands each to the owner as a non-blocking, close-on-exec descriptor.
//
// Errors, so that no client can make the daemon spin or flood its log:
// - EAGAIN ends the batch; EINTR, ECONNABORTED (a client that gave up while
//   queued) and the network errors accept(2) hands on from a new connection
//   (EPROTO, ENETDOWN, EHOSTUNREACH, ...) are passed over.
// - Out of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM): the
//   socket stays readable, so taking the next connection at once would spin.
//   The loop stops accepting, logs once that it paused (a warning), and tries
//   again after a back-off that doubles from first_pause to max_pause.
//   Connections already open are served meanwhile. When it accepts again it
//   logs how long it paused (at most once in 10 s). Queued clients wait in
//   the backlog.
// - Any other error is counted, logged (rate-limited) and backs off too.
// - A handler that throws std::exception: that connection is closed (the
//   handler owned it), counted and logged (rate-limited); accepting goes on.
// The handler may stop or destroy the loop.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "ports/log_limiter.hpp"
#include "ports/netdev.hpp"

namespace ports {

struct accept_settings {
  std::size_t budget = 32;                          ///< connections per wake-up
  std::chrono::milliseconds first_pause{50};        ///< back-off after a failure
  std::chrono::milliseconds max_pause{1000};        ///< longest back-off
};

class accept_loop {
 public:
  /// Receives each accepted connection.
  using handler = std::function<void(unique_fd connection)>;

  /// Takes over `listening` (bound, listening, non-blocking). `what` names the
  /// socket in log lines, e.g. "--control /run/vswitchd/vswitchd.ctl".
  accept_loop(boost::asio::io_context& io, unique_fd listening, std::string what,
              handler on_connection, accept_settings settings = {});
  ~accept_loop();
  accept_loop(const accept_loop&) = delete;
  accept_loop& operator=(const accept_loop&) = delete;

  /// Starts accepting (idempotent; nothing after stop()).
  void start();
  /// Stops accepting and closes the listening socket (idempotent).
  void stop();
  bool is_open() const { return open_; }
  /// The listening socket (for getsockname).
  int native_handle() { return socket_.native_handle(); }

  /// Connections handed to the handler.
  std::uint64_t accepted() const { return accepted_; }
  /// Accept errors and handler failures (not EAGAIN, EINTR, ECONNABORTED).
  std::uint64_t errors() const { return errors_; }
  /// Times the loop paused for want of descriptors or memory, or after an error.
  std::uint64_t pauses() const { return pauses_; }
  /// Whether it is pausing now.
  bool paused() const { return paused_since_.has_value(); }

 private:
  void wait();
  void accept_ready();
  /// Stops accepting for the current back-off after `err`.
  void pause(int err);

  boost::asio::io_context& io_;
  boost::asio::posix::stream_descriptor socket_;
  boost::asio::steady_timer pause_timer_;
  std::string what_;
  handler on_connection_;
  accept_settings settings_;
  log_limiter errors_log_;
  log_limiter resumed_log_{1, std::chrono::seconds(10)};  ///< "accepting again", under churn
  std::chrono::milliseconds backoff_;
  std::optional<std::chrono::steady_clock::time_point> paused_since_;
  std::uint64_t accepted_ = 0;
  std::uint64_t errors_ = 0;
  std::uint64_t pauses_ = 0;
  bool started_ = false;
  bool open_ = true;
  std::shared_ptr<char> alive_ = std::make_shared<char>();  ///< expires with the loop
};

}  // namespace ports
