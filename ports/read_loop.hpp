// read_loop: the read side of every port. It waits for the descriptor to be
// readable (Asio async_wait, no completion handler per frame), then calls the
// port's read function until it reports EAGAIN. A budget per wake-up keeps one
// busy port from starving the others: when the budget is spent the loop
// re-queues itself behind the other ready handlers instead of waiting again.
//
// Descriptors that yield one frame per read() (TAPs) use start_reads()
// instead: Asio's async_read_some, which first tries the read at once and
// waits only when it would block. That costs fewer system calls per frame
// than async_wait, which in Boost 1.74 re-registers the descriptor with
// epoll_ctl on every wait (epoll_reactor::start_op without speculation).
// Ports that read many frames per call (recvmmsg) keep async_wait.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstddef>
#include <functional>
#include <span>

#include "ports/netdev.hpp"

namespace ports {

class read_loop {
 public:
  /// What one call of the read function found.
  enum class step {
    again,        ///< read something (or skipped it); call again
    would_block,  ///< EAGAIN: wait for readability
    stop,         ///< fatal for this descriptor: stop reading
  };

  /// Frames read per wake-up before yielding to other ports.
  static constexpr std::size_t budget = 64;

  /// Takes ownership of `fd` (non-blocking).
  read_loop(boost::asio::io_context& io, unique_fd fd);
  ~read_loop();

  /// Starts calling `read_one` whenever the descriptor is readable.
  void start(std::function<step()> read_one);
  /// Starts reading into `buffer`: on_read(bytes) for every read, on_error(errno)
  /// when a read fails (it returns whether to go on reading).
  void start_reads(std::span<std::byte> buffer, std::function<void(std::size_t)> on_read,
                   std::function<bool(int)> on_error);
  /// Stops reading and closes the descriptor. Idempotent.
  void close();

  /// The descriptor, or -1 after close().
  int fd() const { return open_ ? fd_ : -1; }

 private:
  void wait();
  void drain();
  void read_next();

  boost::asio::posix::stream_descriptor descriptor_;
  std::function<step()> read_one_;
  std::span<std::byte> buffer_;                   ///< start_reads() mode
  std::function<void(std::size_t)> on_read_;      ///< start_reads() mode
  std::function<bool(int)> on_error_;             ///< start_reads() mode
  int fd_ = -1;  ///< the descriptor's fd (native_handle() is not const in Boost 1.74)
  bool open_ = true;
};

}  // namespace ports
