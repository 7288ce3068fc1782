// tx_ring: small frames queued in a round leave in one system call, in order,
// each with its header in front, and are counted on their port when they
// completed; a failed write is a drop; more frames than slots still all go.
#include "ports/tx_ring.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <string>
#include <vector>

#include "ports/netdev.hpp"
#include "ports/port.hpp"
#include "tests/ports/recorder.hpp"

namespace ports {
namespace {

using ports_test::counted_port;

/// A datagram socket pair: the ring writes one end, the test reads the other.
struct pair {
  pair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds), 0);
    in = unique_fd(fds[0]);
    out = unique_fd(fds[1]);
  }
  bool readable() const {
    pollfd p{out.get(), POLLIN, 0};
    return ::poll(&p, 1, 0) == 1;
  }
  std::string take() const {
    std::array<char, 4096> buf{};
    const ssize_t n = ::recv(out.get(), buf.data(), buf.size(), MSG_DONTWAIT);
    return n > 0 ? std::string(buf.data(), static_cast<std::size_t>(n)) : std::string();
  }
  unique_fd in, out;
};

/// (Where the kernel refuses io_uring the daemon writes each frame itself:
/// there is no ring to test.)
#define OPEN_RING(ring, slots)                                                    \
  std::string why;                                                                \
  const std::unique_ptr<tx_ring> ring = tx_ring::open(slots, why);                \
  if (!ring) GTEST_SKIP() << "io_uring is not available here: " << why

bool queue(tx_ring& ring, int fd, port& owner, const std::string& header, const std::string& frame) {
  const iovec parts[2] = {{const_cast<char*>(header.data()), header.size()},
                          {const_cast<char*>(frame.data()), frame.size()}};
  return ring.queue(fd, owner, parts, frame.size());
}

TEST(tx_ring, frames_queued_in_a_round_leave_together_in_order_and_are_counted) {
  OPEN_RING(ring, 16);
  pair s;
  counted_port p;
  ASSERT_TRUE(queue(*ring, s.in.get(), p, "H1", "first frame"));
  ASSERT_TRUE(queue(*ring, s.in.get(), p, "H2", "second"));
  ASSERT_TRUE(queue(*ring, s.in.get(), p, "H3", "third one"));
  EXPECT_EQ(ring->queued(), 3u);
  EXPECT_FALSE(s.readable()) << "nothing leaves before the round ends";
  EXPECT_EQ(p.counters().tx_frames, 0u);

  ring->submit();
  EXPECT_EQ(ring->queued(), 0u);
  EXPECT_EQ(s.take(), "H1first frame");
  EXPECT_EQ(s.take(), "H2second");
  EXPECT_EQ(s.take(), "H3third one");
  EXPECT_EQ(p.counters().tx_frames, 3u);
  EXPECT_EQ(p.counters().tx_bytes, 11u + 6u + 9u) << "frame bytes, not the headers";
  EXPECT_EQ(ring->submits(), 1u) << "one system call for the three";
}

TEST(tx_ring, a_round_with_one_frame_writes_it_without_the_ring) {
  OPEN_RING(ring, 4);
  pair s;
  counted_port p, bad;
  ASSERT_TRUE(queue(*ring, s.in.get(), p, "H", "alone"));
  ring->submit();
  EXPECT_EQ(s.take(), "Halone");
  EXPECT_EQ(p.counters().tx_frames, 1u);
  EXPECT_EQ(ring->submits(), 0u) << "write(2): cheaper than io_uring_enter for one";

  const unique_fd read_only(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(queue(*ring, read_only.get(), bad, "", "b"));
  ring->submit();
  EXPECT_EQ(bad.counters().drops.total(), 1u) << "a failed single write is a drop too";
}

TEST(tx_ring, a_frame_too_large_for_a_slot_is_left_to_the_port) {
  OPEN_RING(ring, 4);
  pair s;
  counted_port p;
  EXPECT_FALSE(queue(*ring, s.in.get(), p, "HH", std::string(tx_ring::slot_size - 1, 'x')));
  EXPECT_EQ(ring->queued(), 0u);
  EXPECT_TRUE(queue(*ring, s.in.get(), p, "HH", std::string(tx_ring::slot_size - 2, 'x'))) << "exactly a slot";
  ring->submit();
  EXPECT_EQ(s.take().size(), tx_ring::slot_size);
}

TEST(tx_ring, a_failed_write_is_counted_as_a_drop_and_the_others_still_go) {
  OPEN_RING(ring, 4);
  pair s;
  counted_port good, bad;
  const unique_fd read_only(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(queue(*ring, s.in.get(), good, "", "a"));
  ASSERT_TRUE(queue(*ring, read_only.get(), bad, "", "b"));  // EBADF
  ASSERT_TRUE(queue(*ring, s.in.get(), good, "", "c"));
  ring->submit();
  EXPECT_EQ(s.take(), "a");
  EXPECT_EQ(s.take(), "c");
  EXPECT_EQ(good.counters().tx_frames, 2u);
  EXPECT_EQ(bad.counters().tx_frames, 0u);
  EXPECT_EQ(bad.counters().drops.total(), 1u);
  EXPECT_EQ(static_cast<l2::drop_counters>(bad.counters().drops)[l2::drop_reason::tx_error], 1u);
}

TEST(tx_ring, writes_go_to_any_descriptor_that_takes_them) {
  // (Whether or not the descriptor takes RWF_NOWAIT: /dev/null may not.)
  OPEN_RING(ring, 4);
  counted_port p;
  const unique_fd null(::open("/dev/null", O_WRONLY | O_CLOEXEC));
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(queue(*ring, null.get(), p, "", "frame"));
    ring->submit();
  }
  EXPECT_EQ(p.counters().tx_frames, 6u);
  EXPECT_EQ(p.counters().drops.total(), 0u);
}

TEST(tx_ring, more_frames_than_slots_all_leave_in_order) {
  OPEN_RING(ring, 4);
  pair s;
  counted_port p;
  int firsts = 0;
  ring->on_first([&] { ++firsts; });
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(queue(*ring, s.in.get(), p, "", std::to_string(i)));
  ring->submit();
  for (int i = 0; i < 10; ++i) EXPECT_EQ(s.take(), std::to_string(i));
  EXPECT_EQ(p.counters().tx_frames, 10u);
  EXPECT_EQ(firsts, 3) << "a full ring is submitted and begins again: 4 + 4 + 2";
}

}  // namespace
}  // namespace ports
