#include "switchd/metrics.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

#include "ports/accept_loop.hpp"
#include "ports/port.hpp"
#include "ports/socket_file.hpp"

namespace switchd {

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
