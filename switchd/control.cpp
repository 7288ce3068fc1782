#include "switchd/control.hpp"

#include <spdlog/spdlog.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "ports/netdev.hpp"
#include "ports/port.hpp"
#include "ports/socket_file.hpp"

namespace switchd {
namespace {

using stream = boost::asio::local::stream_protocol;

}  // namespace

// ---- control_client ----

control_client::control_client(stream::socket socket, control_server* server,
                               std::chrono::milliseconds request_timeout)
    : socket_(std::move(socket)),
      deadline_(socket_.get_executor()),
      server_(server),
      request_timeout_(request_timeout) {}

void control_client::start() { read_request(); }

void control_client::read_request() {
  if (!open_) return;
  // A request must arrive whole within the timeout: a client that connects
  // and stalls (or trickles bytes) is cut off.
  deadline_.expires_after(request_timeout_);
  deadline_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || !self->open_) return;
    spdlog::debug("control: a client sent no whole request within {} ms; closed",
                  self->request_timeout_.count());
    self->close();
  });
  boost::asio::async_read_until(
      socket_, boost::asio::dynamic_buffer(in_, max_request + 1), '\n',
      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
        if (!self->open_) return;
        self->deadline_.cancel();
        if (ec == boost::asio::error::not_found) {
          // The line would not fit: answer, then close (the rest of it is unread).
          self->in_.clear();
          self->close_after_write_ = true;
          self->awaiting_reply_ = true;
          self->fail("request longer than " + std::to_string(max_request) +
                     " bytes; send one JSON object per line");
          return;
        }
        if (ec == boost::asio::error::eof) {
          // No more requests (a scripted client may half-close after its
          // last one): finish writing the answers, then close.
          self->close_after_write_ = true;
          self->write_more();
          return;
        }
        if (ec) {
          self->close();  // the read failed
          return;
        }
        std::string line = self->in_.substr(0, n - 1);
        self->in_.erase(0, n);
        self->handle_line(std::move(line));
      });
}

void control_client::handle_line(std::string line) {
  awaiting_reply_ = true;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  const nlohmann::json request = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (request.is_discarded()) {
    fail("the request is not JSON; send one object per line, e.g. {\"cmd\": \"show\"}");
    return;
  }
  if (!request.is_object() || !request.contains("cmd") || !request["cmd"].is_string()) {
    fail("the request has no \"cmd\" string; send e.g. {\"cmd\": \"show\"}");
    return;
  }
  static const nlohmann::json no_args = nlohmann::json::object();
  const auto args = request.find("args");
  if (args != request.end() && !args->is_object()) {
    fail("\"args\" must be an object, e.g. {\"cmd\": \"port/del\", \"args\": {\"name\": \"tap0\"}}");
    return;
  }
  if (server_ == nullptr) {
    fail("vswitchd is stopping");
    return;
  }
  try {
    server_->dispatch(request["cmd"].get<std::string>(), args != request.end() ? *args : no_args,
                      shared_from_this());
  } catch (const std::exception& e) {
    // A handler bug must not take the daemon down; the client learns of it.
    spdlog::error("control: {} failed: {}", request["cmd"].get<std::string>(), e.what());
    if (awaiting_reply_) fail(std::string("internal error: ") + e.what());
  }
}

void control_client::reply(const nlohmann::json& result, bool then_stream) {
  if (!awaiting_reply_) return;
  awaiting_reply_ = false;
  nlohmann::json response = {{"ok", true}, {"result", result}};
  send(response.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  if (then_stream) {
    streaming_ = true;
    watch_for_close();
  } else {
    next_request();
  }
}

void control_client::next_request() {
  // The next request is read only once this answer is written: a client
  // that sends requests and never reads the answers holds one answer, not a
  // growing pile of them.
  if (close_after_write_) return;
  if (writing_now_ || !queued_.empty()) {
    read_when_written_ = true;
    return;
  }
  read_request();
}

void control_client::fail(const std::string& message) {
  if (!awaiting_reply_) return;
  awaiting_reply_ = false;
  nlohmann::json response = {{"ok", false}, {"error", message}};
  send(response.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  next_request();
}

bool control_client::stream(std::span<const std::byte> a, std::span<const std::byte> b) {
  if (!open_ || close_after_write_) return false;
  if (writing_.size() + queued_.size() + a.size() + b.size() > max_stream_backlog) return false;
  const auto* pa = reinterpret_cast<const char*>(a.data());
  const auto* pb = reinterpret_cast<const char*>(b.data());
  queued_.insert(queued_.end(), pa, pa + a.size());
  queued_.insert(queued_.end(), pb, pb + b.size());
  write_more();
  return true;
}

void control_client::end_stream(std::span<const std::byte> tail) {
  if (!open_) return;
  const auto* p = reinterpret_cast<const char*>(tail.data());
  queued_.insert(queued_.end(), p, p + tail.size());
  close_after_write_ = true;
  write_more();
}

void control_client::send(std::string text) {
  if (!open_) return;
  queued_.insert(queued_.end(), text.begin(), text.end());
  write_more();
}

void control_client::write_more() {
  if (writing_now_ || !open_) return;
  if (queued_.empty()) {
    if (close_after_write_) {
      close();
    } else if (read_when_written_) {
      read_when_written_ = false;
      read_request();
    }
    return;
  }
  writing_.swap(queued_);
  queued_.clear();
  writing_now_ = true;
  boost::asio::async_write(socket_, boost::asio::buffer(writing_),
                           [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                             self->writing_now_ = false;
                             if (!self->open_) return;
                             if (ec) {
                               self->close();
                               return;
                             }
                             self->writing_.clear();
                             self->write_more();
                           });
}

void control_client::watch_for_close() {
  // While streaming, whatever the client sends is ignored; its EOF ends the stream.
  socket_.async_read_some(boost::asio::buffer(scratch_),
                          [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                            if (!self->open_) return;
                            if (ec) {
                              self->close();
                              return;
                            }
                            self->watch_for_close();
                          });
}

void control_client::close() {
  if (!open_) return;
  open_ = false;
  boost::system::error_code ignored;
  deadline_.cancel();
  socket_.shutdown(stream::socket::shutdown_both, ignored);
  socket_.close(ignored);
  // Run the callback after forgetting: it may drop the last outside reference.
  auto callback = std::move(on_close_);
  on_close_ = nullptr;
  if (server_ != nullptr) server_->forget(this);
  if (callback) callback();
}

// ---- control_server ----

control_server::control_server(boost::asio::io_context& io, const std::string& path,
                               std::optional<std::pair<uid_t, gid_t>> owner, handler h,
                               const std::string& option, std::chrono::milliseconds request_timeout)
    : io_(io), path_(path), handler_(std::move(h)), request_timeout_(request_timeout) {
  const std::string where = option + " " + path + ": ";
  // The same checks as every unix socket vswitchd binds: a stale socket is
  // replaced; a live one (another vswitchd), or something else, refused.
  // Mode 0600 before it listens: no window in which others could connect.
  ports::bound_socket bound;
  try {
    bound = ports::bind_unix(path, SOCK_STREAM, ports::unix_socket_access{0600, ""}, where,
                             static_cast<int>(max_clients));
  } catch (const ports::port_error& e) {
    throw std::runtime_error(e.what());
  }
  if (owner && ::chown(path.c_str(), owner->first, owner->second) != 0) {
    const int err = errno;
    ports::unix_socket::remove_if_ours(path, bound.file);
    throw std::runtime_error(where + "cannot hand it to the --user (" + std::strerror(err) + ")");
  }
  loop_ = std::make_unique<ports::accept_loop>(
      io, std::move(bound.fd), option + " " + path,
      [this](ports::unique_fd connection) { take(std::move(connection)); });
}

control_server::~control_server() { stop(); }

void control_server::start() { loop_->start(); }

void control_server::take(ports::unique_fd connection) {
  if (clients_.size() >= max_clients) {
    refused_log_.log(spdlog::level::warn,
                     "control: " + std::to_string(clients_.size()) +
                         " clients already connected; refused one more");
    return;  // closed by unique_fd
  }
  stream::socket socket(io_);
  boost::system::error_code ec;
  socket.assign(stream(), connection.get(), ec);
  if (ec) {
    refused_log_.log(spdlog::level::warn, "control: cannot take a client (" + ec.message() + ")");
    return;  // closed by unique_fd
  }
  (void)connection.release();  // the socket owns it now
  auto client = std::make_shared<control_client>(std::move(socket), this, request_timeout_);
  clients_.insert(client);
  client->start();
}

void control_server::forget(control_client* c) {
  for (auto it = clients_.begin(); it != clients_.end(); ++it) {
    if (it->get() == c) {
      clients_.erase(it);
      break;
    }
  }
  if (clients_.empty() && drained_) std::exchange(drained_, nullptr)();
}

void control_server::stop() {
  if (stopped_) return;
  stopped_ = true;
  loop_->stop();
  // Closing runs callbacks that may touch the set: work on a copy.
  const auto clients = clients_;
  clients_.clear();
  for (const auto& c : clients) {
    c->server_ = nullptr;
    c->close();
  }
  ::unlink(path_.c_str());
}

void control_server::drain(std::function<void()> done) {
  loop_->stop();
  drained_ = std::move(done);
  // Clients with something still to write (a capture's end) close once it
  // is written; the others close now.
  const auto clients = clients_;
  for (const auto& c : clients) {
    if (c->writing_now_ || !c->queued_.empty()) {
      c->close_after_write_ = true;
    } else {
      c->close();
    }
  }
  if (clients_.empty() && drained_) std::exchange(drained_, nullptr)();
}

}  // namespace switchd
