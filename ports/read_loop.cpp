#include "ports/read_loop.hpp"

#include <unistd.h>

#include <boost/asio/post.hpp>
#include <utility>


namespace ports {
namespace {

/// While a read loop drains its port (ports::draining); when the outermost
/// drain stops, what the frames it read queued leaves: each batch that
/// registered in drain_flushes, in the order they did.
class drain_scope {
 public:
  drain_scope() : outer_(!std::exchange(draining, true)) {}
  ~drain_scope() {
    if (!outer_) return;
    draining = false;
    // (A flush only sends: it registers nothing new.)
    for (std::size_t i = 0; i < drain_flushes.size(); ++i) drain_flushes[i]->flush_drained();
    drain_flushes.clear();
  }
  drain_scope(const drain_scope&) = delete;
  drain_scope& operator=(const drain_scope&) = delete;

 private:
  bool outer_;
};

}  // namespace

read_loop::read_loop(boost::asio::io_context& io, unique_fd fd)
    : descriptor_(io, fd.get()), fd_(fd.release()) {}

read_loop::~read_loop() { close(); }

void read_loop::start(std::function<step()> read_one) {
  read_one_ = std::move(read_one);
  wait();
}

void read_loop::close() {
  if (!open_) return;
  open_ = false;
  if (handed_over_) {
    ::close(fd_);
    return;
  }
  boost::system::error_code ignored;
  descriptor_.close(ignored);
}

void read_loop::hand_over() {
  if (!open_ || handed_over_) return;
  handed_over_ = true;
  (void)descriptor_.release();  // no longer in the io_context's epoll; fd_ stays open
}

void read_loop::wait() {
  // The port may be removed after readiness was reported but before this
  // runs (the handler then gets no error): `alive` has expired by then.
  descriptor_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                         [this, alive = std::weak_ptr<char>(alive_)](const boost::system::error_code& ec) {
                           if (ec || alive.expired() || !open_) return;  // cancelled by close()
                           drain();
                         });
}

void read_loop::drain() {
  const drain_scope scope;
  for (std::size_t n = 0; n < budget; ++n) {
    if (!open_) return;
    switch (read_one_()) {
      case step::again:
        continue;
      case step::would_block:
        if (open_) wait();
        return;
      case step::stop:
        close();
        return;
    }
  }
  // Budget spent with data left: run again after the other ready handlers.
  // (The port may be removed before it runs: then `alive` has expired.)
  boost::asio::post(descriptor_.get_executor(), [this, alive = std::weak_ptr<char>(alive_)] {
    if (!alive.expired() && open_) drain();
  });
}

}  // namespace ports
