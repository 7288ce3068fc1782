// control: the daemon's control socket (a unix stream socket, 0600), which
// vswitchctl talks to. One JSON request per line, one JSON response per line;
// docs/control-protocol.md has the protocol. This file is the transport:
// accepting clients, reading bounded request lines, answering in order,
// streaming (vswitchctl capture). What each command does is the daemon's
// handler.
//
// Nothing a client does can stall forwarding or take the daemon down: all of
// it is asynchronous on the daemon's one io_context thread; a request line is
// at most 64 KiB, must arrive within 10 s, and at most 16 clients are served
// at once; a streaming client that does not keep up loses records (counted by
// whoever streams), never blocks the writer.
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "ports/accept_loop.hpp"

namespace switchd {

class control_server;

/// One connected client. Handlers answer each request exactly once, through
/// reply() or fail(), now or later (the client stays alive while they hold it).
class control_client : public std::enable_shared_from_this<control_client> {
 public:
  static constexpr std::size_t max_request = 64 * 1024;       ///< bytes in a request line
  static constexpr std::size_t max_stream_backlog = 8u << 20;  ///< bytes queued (and being written) while streaming

  control_client(boost::asio::local::stream_protocol::socket socket, control_server* server,
                 std::chrono::milliseconds request_timeout);

  /// Answers the current request: {"ok": true, "result": result}. With
  /// `then_stream` the connection then carries stream() bytes instead of
  /// requests until end_stream() or the client closes.
  void reply(const nlohmann::json& result, bool then_stream = false);
  /// Answers the current request with {"ok": false, "error": message}.
  void fail(const std::string& message);

  /// Streaming: queues `a` then `b` (both or neither). False when that would
  /// exceed max_stream_backlog or the client is gone: the caller counts a drop.
  bool stream(std::span<const std::byte> a, std::span<const std::byte> b);
  /// Streaming: queues `tail` and closes once everything queued is written.
  void end_stream(std::span<const std::byte> tail);
  /// Called once when the connection closes (either side). Replaces any earlier one.
  void on_close(std::function<void()> f) { on_close_ = std::move(f); }
  bool is_open() const { return open_; }

  /// Starts reading requests.
  void start();
  /// Closes the connection now (queued bytes are lost).
  void close();

 private:
  friend class control_server;
  void read_request();
  /// Reads the next request once the current answer is written.
  void next_request();
  void handle_line(std::string line);
  void send(std::string text);
  void write_more();
  void watch_for_close();

  boost::asio::local::stream_protocol::socket socket_;
  boost::asio::steady_timer deadline_;
  control_server* server_;  ///< null once the server has stopped
  std::chrono::milliseconds request_timeout_;
  std::string in_;                 ///< bytes read, not yet a whole line
  std::vector<char> writing_;      ///< being written now
  std::vector<char> queued_;       ///< waiting for the write in progress
  std::array<char, 256> scratch_{};  ///< streaming: what a client sends is read and ignored
  bool writing_now_ = false;
  bool open_ = true;
  bool streaming_ = false;
  bool close_after_write_ = false;
  bool awaiting_reply_ = false;
  bool read_when_written_ = false;
  std::function<void()> on_close_;
};

class control_server {
 public:
  /// Handles one request: `cmd` and `args` (an object) are checked for shape only.
  using handler = std::function<void(const std::string& cmd, const nlohmann::json& args,
                                     const std::shared_ptr<control_client>& client)>;
  static constexpr std::size_t max_clients = 16;

  /// Binds `path` (mode 0600; owned by `owner` uid/gid when given). A stale
  /// socket left by a daemon that died is replaced; one a live daemon serves,
  /// or a path that is not a socket, is an error. The directory is created
  /// (0755) when missing. Throws std::runtime_error naming `option` and the fix.
  control_server(boost::asio::io_context& io, const std::string& path,
                 std::optional<std::pair<uid_t, gid_t>> owner, handler h,
                 const std::string& option = "--control",
                 std::chrono::milliseconds request_timeout = std::chrono::seconds(10));
  ~control_server();
  control_server(const control_server&) = delete;
  control_server& operator=(const control_server&) = delete;

  void start();
  /// Closes the socket and every client, and removes the path.
  void stop();
  /// Stops accepting; closes idle clients now and the others once what they
  /// have queued is written (a capture's end); then calls `done` (at once
  /// when no client is left). stop() still closes whatever remains.
  void drain(std::function<void()> done);
  const std::string& path() const { return path_; }
  std::size_t client_count() const { return clients_.size(); }

 private:
  friend class control_client;
  /// The accept loop's handler: a new client, unless max_clients are connected.
  void take(ports::unique_fd connection);
  void dispatch(const std::string& cmd, const nlohmann::json& args,
                const std::shared_ptr<control_client>& client) {
    handler_(cmd, args, client);
  }
  void forget(control_client* c);

  boost::asio::io_context& io_;
  std::unique_ptr<ports::accept_loop> loop_;
  ports::log_limiter refused_log_;
  std::string path_;
  handler handler_;
  std::chrono::milliseconds request_timeout_;
  std::set<std::shared_ptr<control_client>> clients_;
  std::function<void()> drained_;  ///< set by drain()
  bool stopped_ = false;
};

}  // namespace switchd
