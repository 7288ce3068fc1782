#include "ports/stream_port.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <boost/asio/post.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

namespace ports {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

}  // namespace

stream_port::stream_port(boost::asio::io_context& io, l2::port_id id, std::string name,
                         stream_connection connection, closed_handler on_closed)
    : port(id, std::move(name), port_kind::stream),
      io_(io),
      socket_(io),
      connection_(std::move(connection)),
      on_closed_(std::move(on_closed)),
      read_buffer_(std::make_unique_for_overwrite<std::byte[]>(read_buffer_size)),
      queue_(std::make_unique_for_overwrite<std::byte[]>(queue_capacity)) {
  const int fd = connection_.fd.release();
  if (fd < 0) {
    closed_ = true;
    why_ = "no socket";
    return;
  }
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0 && (flags & O_NONBLOCK) == 0) (void)::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  boost::system::error_code ec;
  socket_.assign(fd, ec);
  if (ec) {
    ::close(fd);
    closed_ = true;
    why_ = "cannot watch the socket: " + ec.message();
  }
}

stream_port::~stream_port() { shut(); }

void stream_port::start(port_listener& listener) {
  listener_ = &listener;
  if (started_ || closed_) return;
  started_ = true;
  wait_readable();
  if (queued_ > 0) flush();  // frames sent before start
}

void stream_port::wait_readable() {
  socket_.async_wait(
      boost::asio::posix::stream_descriptor::wait_read,
      [this, alive = std::weak_ptr<char>(alive_)](const boost::system::error_code& ec) {
        if (alive.expired() || ec || closed_) return;
        drain();
      });
}

void stream_port::drain() {
  const int fd = socket_.native_handle();
  for (std::size_t n = 0; n < read_budget; ++n) {
    const ssize_t got = ::read(fd, read_buffer_.get(), read_buffer_size);
    if (got > 0) {
      const std::span<const std::byte> bytes(read_buffer_.get(), static_cast<std::size_t>(got));
      const l2::stream_feed_result result =
          reassembler_.feed(bytes, [this](std::span<const std::byte> frame) {
            if (!closed_) deliver(l2::packet{frame, {}});
          });
      if (result.error != l2::stream_error::none) {
        close_with("protocol error: frame length " + std::to_string(result.bad_length) +
                   " exceeds " + std::to_string(l2::stream_max_frame_size) +
                   " (is the peer speaking QEMU's stream format?)");
        return;
      }
      if (closed_) return;  // stopped by the listener meanwhile
      continue;
    }
    if (got == 0) {
      if (reassembler_.pending()) {
        close_with("peer closed the connection mid-frame (" +
                   std::to_string(reassembler_.pending_size()) + " bytes of a record lost)");
      } else {
        close_with("peer closed the connection");
      }
      return;
    }
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      wait_readable();
      return;
    }
    close_with("read failed: " + errno_text(err));
    return;
  }
  // Budget spent with data left: read again after the other ready handlers.
  boost::asio::post(io_, [this, alive = std::weak_ptr<char>(alive_)] {
    if (!alive.expired() && !closed_) drain();
  });
}

void stream_port::send(const l2::packet& packet) {
  if (closed_) {
    counters_.drops.count(l2::drop_reason::port_down);
    return;
  }
  if (!packet.offload.is_plain()) {
    // The datapath segments for ports without offloads; a stream cannot carry the header.
    counters_.drops.count(l2::drop_reason::tx_error);
    return;
  }
  const std::size_t size = packet.frame.size();
  if (size > l2::stream_max_frame_size) {
    counters_.drops.count(l2::drop_reason::too_big);
    return;
  }
  if (queue_capacity - queued_ < l2::stream_length_size + size) {
    counters_.drops.count(l2::drop_reason::tx_queue_full);
    return;
  }
  std::array<std::byte, l2::stream_length_size> length;
  l2::encode_length(size, length);
  append(length);
  append(packet.frame);
  count_tx(size);
  if (!started_ || flush_posted_ || write_waiting_) return;
  flush_posted_ = true;
  boost::asio::post(io_, [this, alive = std::weak_ptr<char>(alive_)] {
    if (alive.expired()) return;
    flush_posted_ = false;
    if (!closed_ && !write_waiting_) flush();
  });
}

void stream_port::append(std::span<const std::byte> bytes) {
  if (bytes.empty()) return;
  const std::size_t tail = (head_ + queued_) % queue_capacity;
  const std::size_t first = std::min(bytes.size(), queue_capacity - tail);
  std::memcpy(queue_.get() + tail, bytes.data(), first);
  if (first < bytes.size()) std::memcpy(queue_.get(), bytes.data() + first, bytes.size() - first);
  queued_ += bytes.size();
}

void stream_port::flush() {
  const int fd = socket_.native_handle();
  while (queued_ > 0 && !closed_) {
    const std::size_t first = std::min(queued_, queue_capacity - head_);
    iovec iov[2] = {{queue_.get() + head_, first}, {queue_.get(), queued_ - first}};
    msghdr message{};
    message.msg_iov = iov;
    message.msg_iovlen = queued_ > first ? 2 : 1;
    // MSG_NOSIGNAL: a guest that went away is an error here, not SIGPIPE.
    const ssize_t sent = ::sendmsg(fd, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent > 0) {
      head_ = (head_ + static_cast<std::size_t>(sent)) % queue_capacity;
      queued_ -= static_cast<std::size_t>(sent);
      continue;
    }
    const int err = sent < 0 ? errno : EIO;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) {
      wait_writable();
      return;
    }
    close_with("write failed: " + errno_text(err));
    return;
  }
  if (queued_ == 0) head_ = 0;
}

void stream_port::wait_writable() {
  if (write_waiting_) return;
  write_waiting_ = true;
  socket_.async_wait(
      boost::asio::posix::stream_descriptor::wait_write,
      [this, alive = std::weak_ptr<char>(alive_)](const boost::system::error_code& ec) {
        if (alive.expired()) return;
        write_waiting_ = false;
        if (ec || closed_) return;
        flush();
      });
}

void stream_port::close_with(std::string why) {
  if (closed_) return;
  shut();
  why_ = why;
  set_up(false, why_);
  if (!on_closed_) return;
  // Posted: the owner may destroy the port in the handler, which must not
  // happen while one of the port's own handlers is still on the stack.
  boost::asio::post(io_, [this, alive = std::weak_ptr<char>(alive_), why = std::move(why)] {
    if (alive.expired()) return;  // destroyed meanwhile (e.g. the daemon stopped)
    closed_handler handler = std::move(on_closed_);
    on_closed_ = nullptr;
    handler(*this, why);  // may destroy *this: nothing of it is used after
  });
}

void stream_port::shut() {
  if (closed_) return;
  closed_ = true;
  boost::system::error_code ignored;
  socket_.close(ignored);
  queued_ = 0;
  head_ = 0;
}

void stream_port::stop() {
  if (closed_) return;
  shut();
  why_ = "stopped";
}

std::string stream_port::describe() const {
  std::string text = "stream " + name() + " (peer " +
                     (connection_.peer.empty() ? std::string("unknown") : connection_.peer);
  if (!connection_.via.empty()) text += ", " + connection_.via;
  if (closed_) return text + ", closed: " + why_ + ")";
  return text + ", queue " + std::to_string(queued_) + " of " + std::to_string(queue_capacity) +
         " bytes)";
}

}  // namespace ports
