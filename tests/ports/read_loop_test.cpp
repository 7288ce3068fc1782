// read_loop: what the frames of one wake-up queue for a batch (a datagram
// port's tx_batch, the TAPs' tx_ring) leaves when the loop stops draining
// its port, inside the same handler: nothing waits for a handler of its own
// (a system call and a pass of the io_context more per wake-up, at idle).
// Outside a drain, a batch still flushes after the handler that queued it.
#include "ports/read_loop.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "ports/netdev.hpp"
#include "ports/port.hpp"
#include "ports/tx_batch.hpp"
#include "ports/tx_ring.hpp"
#include "tests/ports/recorder.hpp"

namespace ports {
namespace {

/// A datagram socket pair: one end written, the other read.
struct pair {
  pair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    in = unique_fd(fds[0]);
    out = unique_fd(fds[1]);
  }
  void put(const std::string& s) const { ASSERT_EQ(::send(in.get(), s.data(), s.size(), 0), static_cast<ssize_t>(s.size())); }
  std::vector<std::string> take_all() const {
    std::vector<std::string> got;
    std::array<char, 4096> buf{};
    for (;;) {
      const ssize_t n = ::recv(out.get(), buf.data(), buf.size(), MSG_DONTWAIT);
      if (n <= 0) return got;
      got.emplace_back(buf.data(), static_cast<std::size_t>(n));
    }
  }
  unique_fd in, out;
};

using ports_test::counted_port;

/// A read loop on the read end of `input` calling `forward` with each datagram.
template <typename Forward>
std::unique_ptr<read_loop> reader(boost::asio::io_context& io, pair& input, Forward forward) {
  auto loop = std::make_unique<read_loop>(io, std::move(input.out));
  read_loop* const l = loop.get();
  l->start([l, forward] {
    std::array<char, 4096> buf{};
    const ssize_t n = ::recv(l->fd(), buf.data(), buf.size(), MSG_DONTWAIT);
    if (n < 0) return errno == EAGAIN ? read_loop::step::would_block : read_loop::step::stop;
    forward(std::string(buf.data(), static_cast<std::size_t>(n)));
    return read_loop::step::again;
  });
  return loop;
}

TEST(read_loop, what_a_drain_batched_for_a_socket_leaves_when_it_stops_in_the_same_handler) {
  boost::asio::io_context io;
  pair input, output;
  std::size_t sent = 0;
  tx_batch batch(io, [&] {
    batch.send_all(output.in.get(), [&](void*, std::size_t) { ++sent; }, [](void*, int) {});
  });
  const auto loop = reader(io, input, [&](const std::string& frame) {
    batch.push({}, std::as_bytes(std::span(frame)), nullptr, 0, nullptr);
  });
  input.put("one");
  input.put("two");
  input.put("three");

  ASSERT_EQ(io.run_one(), 1u) << "the read loop's wake-up";
  EXPECT_EQ(output.take_all(), (std::vector<std::string>{"one", "two", "three"}))
      << "the three left, in order, before the thread could wait again";
  EXPECT_EQ(sent, 3u);
  EXPECT_TRUE(batch.empty());
  EXPECT_TRUE(drain_flushes.empty());
  EXPECT_FALSE(draining);
}

TEST(read_loop, a_batch_filled_outside_a_drain_flushes_after_that_handler) {
  boost::asio::io_context io;
  pair output;
  tx_batch batch(io, [&] { batch.send_all(output.in.get(), [](void*, std::size_t) {}, [](void*, int) {}); });
  const std::string frame = "late";
  batch.push({}, std::as_bytes(std::span(frame)), nullptr, 0, nullptr);
  EXPECT_TRUE(output.take_all().empty()) << "not yet: the handler queuing it has not ended";
  io.poll();
  EXPECT_EQ(output.take_all(), std::vector<std::string>{"late"});
}

TEST(read_loop, small_frames_a_drain_wrote_to_the_ring_leave_when_it_stops) {
  std::string why;
  const std::unique_ptr<tx_ring> ring = tx_ring::open(16, why);
  if (!ring) GTEST_SKIP() << "io_uring is not available here: " << why;
  boost::asio::io_context io;
  pair input, output;
  counted_port p;
  const auto loop = reader(io, input, [&](const std::string& frame) {
    const iovec part{const_cast<char*>(frame.data()), frame.size()};
    ring->queue(output.in.get(), p, std::span(&part, 1), frame.size());
  });
  input.put("a");
  input.put("bb");
  ASSERT_EQ(io.run_one(), 1u);
  EXPECT_EQ(output.take_all(), (std::vector<std::string>{"a", "bb"}));
  EXPECT_EQ(ring->queued(), 0u);
  EXPECT_EQ(p.counters().tx_frames, 2u);
}

}  // namespace
}  // namespace ports
