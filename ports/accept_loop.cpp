#include "ports/accept_loop.hpp"

#include <sys/socket.h>

#include <boost/asio/post.hpp>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>

namespace ports {

accept_loop::accept_loop(boost::asio::io_context& io, unique_fd listening, std::string what,
                         handler on_connection, accept_settings settings)
    : io_(io),
      socket_(io, listening.release()),
      pause_timer_(io),
      what_(std::move(what)),
      on_connection_(std::move(on_connection)),
      settings_(settings),
      backoff_(settings.first_pause) {}

accept_loop::~accept_loop() { stop(); }

void accept_loop::start() {
  if (started_ || !open_) return;
  started_ = true;
  wait();
}

void accept_loop::stop() {
  if (!open_) return;
  open_ = false;
  boost::system::error_code ignored;
  pause_timer_.cancel();
  socket_.close(ignored);
}

void accept_loop::wait() {
  socket_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                     [this, alive = std::weak_ptr<char>(alive_)](const boost::system::error_code& ec) {
                       if (alive.expired() || ec || !open_) return;
                       accept_ready();
                     });
}

void accept_loop::accept_ready() {
  const std::weak_ptr<char> alive = alive_;
  for (std::size_t n = 0; n < settings_.budget; ++n) {
    const int fd = ::accept4(socket_.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) {
        wait();
        return;
      }
      // A client that gave up while queued, or (as accept(2) says to treat
      // them) network errors already pending on the new connection: retry.
      if (err == EINTR || err == ECONNABORTED || err == EPROTO || err == ENETDOWN ||
          err == ENOPROTOOPT || err == EHOSTDOWN || err == ENONET || err == EHOSTUNREACH ||
          err == EOPNOTSUPP || err == ENETUNREACH || err == EPERM) {
        continue;
      }
      pause(err);
      return;
    }
    if (paused_since_) {
      const auto paused_for = std::chrono::steady_clock::now() - *paused_since_;
      resumed_log_.log(spdlog::level::info,
                       fmt::format("{}: accepting connections again after {:.1f} s", what_,
                                   std::chrono::duration<double>(paused_for).count()));
      paused_since_.reset();
    }
    backoff_ = settings_.first_pause;
    ++accepted_;
    try {
      on_connection_(unique_fd(fd));
    } catch (const std::exception& e) {
      if (alive.expired()) return;
      ++errors_;
      errors_log_.log(spdlog::level::warn, what_ + ": a connection was not taken: " + e.what());
    }
    if (alive.expired() || !open_) return;  // the handler stopped or destroyed us
  }
  // Budget spent: accept more after the other ready handlers.
  boost::asio::post(io_, [this, alive] {
    if (!alive.expired() && open_) accept_ready();
  });
}

void accept_loop::pause(int err) {
  ++errors_;
  ++pauses_;
  const bool out_of_resources = err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
  if (!paused_since_) {
    paused_since_ = std::chrono::steady_clock::now();
    // Once per episode: the pauses that follow are the same story.
    spdlog::warn("{}: cannot accept a connection ({}); {}, retrying with a back-off up to {} ms "
                 "(connections already open are still served)",
                 what_, std::strerror(err),
                 out_of_resources ? "out of descriptors or memory, not accepting for now"
                                  : "not accepting for now",
                 settings_.max_pause.count());
  } else if (!out_of_resources) {
    errors_log_.log(spdlog::level::warn,
                    what_ + ": cannot accept a connection (" + std::strerror(err) + ")");
  }
  pause_timer_.expires_after(backoff_);
  backoff_ = std::min(backoff_ * 2, settings_.max_pause);
  pause_timer_.async_wait([this, alive = std::weak_ptr<char>(alive_)](const boost::system::error_code& ec) {
    if (alive.expired() || ec || !open_) return;
    accept_ready();
  });
}

}  // namespace ports
