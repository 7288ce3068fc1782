// read_loop: the read side of every port. It waits for the descriptor to be
// readable (Asio async_wait, no completion handler per frame), then calls the
// port's read function until it reports EAGAIN. A budget per wake-up keeps one
// busy port from starving the others: when the budget is spent the loop
// re-queues itself behind the other ready handlers instead of waiting again.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstddef>
#include <functional>
#include <memory>

#include "ports/netdev.hpp"
#include "ports/port.hpp"

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
  /// Stops reading and closes the descriptor. Idempotent.
  void close();
  /// Takes the descriptor out of the io_context, for a loop of another
  /// thread to poll (start() is then not called); fd() and close() work as before.
  void hand_over();

  /// The descriptor, or -1 after close().
  int fd() const { return open_ ? fd_ : -1; }

 private:
  void wait();
  void drain();

  boost::asio::posix::stream_descriptor descriptor_;
  std::function<step()> read_one_;
  int fd_ = -1;  ///< the descriptor's fd (native_handle() is not const in Boost 1.74)
  bool open_ = true;
  bool handed_over_ = false;  ///< hand_over(): the descriptor_ no longer holds fd_
  std::shared_ptr<char> alive_ = std::make_shared<char>();  ///< expires with the loop
};

/// What a read function's step means to a worker (port::worker_read): the same three outcomes.
inline port::worker_step as_worker_step(read_loop::step step) {
  switch (step) {
    case read_loop::step::again:
      return port::worker_step::again;
    case read_loop::step::would_block:
      return port::worker_step::would_block;
    case read_loop::step::stop:
      break;
  }
  return port::worker_step::stop;
}

}  // namespace ports
