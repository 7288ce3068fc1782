#include "ports/read_loop.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>

#include <cerrno>

namespace ports {

read_loop::read_loop(boost::asio::io_context& io, unique_fd fd)
    : descriptor_(io, fd.get()), fd_(fd.release()) {}

read_loop::~read_loop() { close(); }

void read_loop::start(std::function<step()> read_one) {
  read_one_ = std::move(read_one);
  wait();
}

void read_loop::start_reads(std::span<std::byte> buffer, std::function<void(std::size_t)> on_read,
                            std::function<bool(int)> on_error) {
  buffer_ = buffer;
  on_read_ = std::move(on_read);
  on_error_ = std::move(on_error);
  read_next();
}

void read_loop::read_next() {
  descriptor_.async_read_some(
      boost::asio::buffer(buffer_.data(), buffer_.size()),
      [this](const boost::system::error_code& ec, std::size_t n) {
        if (!open_ || ec == boost::asio::error::operation_aborted) return;
        if (ec) {
          // End of file reads as an error in Asio; report it as EBADFD (gone).
          const int err = ec == boost::asio::error::eof ? EBADFD : ec.value();
          if (!on_error_(err)) {
            close();
            return;
          }
        } else {
          on_read_(n);
        }
        if (open_) read_next();
      });
}

void read_loop::close() {
  if (!open_) return;
  open_ = false;
  boost::system::error_code ignored;
  descriptor_.close(ignored);
}

void read_loop::wait() {
  descriptor_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                         [this](const boost::system::error_code& ec) {
                           if (ec || !open_) return;  // cancelled by close()
                           drain();
                         });
}

void read_loop::drain() {
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
  boost::asio::post(descriptor_.get_executor(), [this] {
    if (open_) drain();
  });
}

}  // namespace ports
