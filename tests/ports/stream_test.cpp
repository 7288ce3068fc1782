// Tests of the socket ports for QEMU guests, without privileges:
//
// - stream_port over a real socketpair(AF_UNIX, SOCK_STREAM): frames both
//   ways byte-exact, a writer that sends one byte at a time, a peer that
//   never reads (the output queue fills, drops are counted, send never
//   blocks), a peer that sends a length over 69,632 or closes mid-frame (the
//   port goes down, on_closed is called once, posted, and may destroy it).
// - stream_listener on a temporary unix path (two clients at once, the
//   socket file's mode and group, a stale socket replaced, a live one
//   refused, the connection limit) and on 127.0.0.1 TCP; the address parser.
// - dgram_port over unix datagram sockets and UDP on 127.0.0.1: frames
//   byte-exact both ways, strangers dropped as not_peer, giants and too_big;
//   the dgram:LOCAL=REMOTE parser.
//
// Every wait pumps the io_context in short run_for() slices until a condition
// holds, bounded by a deadline per test; nothing asserts on elapsed time.
#include <fcntl.h>
#include <grp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/sockios.h>

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "l2/stream_framing.hpp"
#include "ports/dgram_port.hpp"
#include "ports/stream_listener.hpp"
#include "ports/stream_port.hpp"
#include "tests/l2/test_bytes.hpp"
#include "tests/ports/recorder.hpp"

namespace {

namespace ip = boost::asio::ip;
using namespace std::chrono_literals;
using l2::drop_reason;
using l2_test::byte_vector;

// ---------------------------------------------------------------------------
// Helpers.

/// A frame of `size` bytes (ethertype 0x88b5) whose payload is a pattern of `n`.
byte_vector test_frame(unsigned n, std::size_t size = 100) {
  byte_vector f(size);
  const auto mac = l2_test::bytes({0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x88, 0xb5});
  std::copy_n(mac.begin(), std::min(mac.size(), size), f.begin());
  for (std::size_t i = mac.size(); i < size; ++i) f[i] = static_cast<std::byte>((n * 7 + i) & 0xff);
  // The frame's number in the first payload bytes, to check order.
  if (size >= 18) {
    for (std::size_t k = 0; k < 4; ++k)
      f[14 + k] = static_cast<std::byte>((n >> (8 * (3 - k))) & 0xff);
  }
  return f;
}

unsigned number_of(const byte_vector& f) {
  unsigned n = 0;
  for (std::size_t k = 0; k < 4; ++k) n = (n << 8) | std::to_integer<unsigned>(f[14 + k]);
  return n;
}

/// `frame` behind its length prefix, as QEMU sends it.
byte_vector record(std::span<const std::byte> frame) {
  byte_vector out(l2::stream_length_size + frame.size());
  l2::encode_length(frame.size(), std::span(out).first<l2::stream_length_size>());
  std::copy(frame.begin(), frame.end(), out.begin() + l2::stream_length_size);
  return out;
}

using ports_test::recorder;

void set_non_blocking(int fd) {
  ASSERT_EQ(::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
}

/// A temporary directory, removed with everything in it.
class temp_dir {
 public:
  temp_dir() {
    char name[] = "/tmp/vswitchd-stream-test-XXXXXX";
    const char* made = ::mkdtemp(name);
    EXPECT_NE(made, nullptr);
    path_ = made != nullptr ? made : "/tmp";
  }
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

/// A unix socket of `type` bound at `path` (optionally), non-blocking.
ports::unique_fd unix_socket_at(int type, const std::string& path) {
  ports::unique_fd fd(::socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  EXPECT_TRUE(fd);
  if (!path.empty()) {
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::strncpy(sun.sun_path, path.c_str(), sizeof sun.sun_path - 1);
    EXPECT_EQ(::bind(fd.get(), reinterpret_cast<const sockaddr*>(&sun), sizeof sun), 0)
        << path << ": " << std::strerror(errno);
  }
  return fd;
}

sockaddr_un unix_address(const std::string& path) {
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::strncpy(sun.sun_path, path.c_str(), sizeof sun.sun_path - 1);
  return sun;
}

/// A blocking stream client connected to `path` (the listener's backlog takes it).
ports::unique_fd connect_unix(const std::string& path) {
  ports::unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const sockaddr_un sun = unix_address(path);
  EXPECT_EQ(::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sun), sizeof sun), 0)
      << path << ": " << std::strerror(errno);
  return fd;
}

std::string describe_drops(const l2::drop_counters& d) {
  std::string text;
  for (std::size_t i = 0; i < l2::drop_reason_count; ++i) {
    if (d.by_reason[i] == 0) continue;
    text += std::string(l2::to_string(static_cast<drop_reason>(i))) + "=" +
            std::to_string(d.by_reason[i]) + " ";
  }
  return text.empty() ? "none" : text;
}

// ---------------------------------------------------------------------------
// The fixture: one io_context and a deadline.

class socket_port_test : public ::testing::Test {
 protected:
  static constexpr auto test_budget = 10s;  // generous: ASan, a loaded machine

  /// Runs the io_context until `done()` or the test's deadline; returns done().
  bool pump_until(const std::function<bool()>& done) {
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline_) return done();
      if (io_.stopped()) io_.restart();
      io_.run_for(1ms);
    }
    return true;
  }

  /// Runs what is ready plus a short while; nothing is asserted on it.
  void settle(std::chrono::milliseconds how_long = 20ms) {
    const auto until = std::min(deadline_, std::chrono::steady_clock::now() + how_long);
    while (std::chrono::steady_clock::now() < until) {
      if (io_.stopped()) io_.restart();
      io_.run_for(1ms);
    }
  }

  /// Writes all of `bytes` to the non-blocking `fd`, pumping while it is full.
  void write_all(int fd, std::span<const std::byte> bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::write(fd, bytes.data(), bytes.size());
      if (n > 0) {
        bytes = bytes.subspan(static_cast<std::size_t>(n));
        continue;
      }
      ASSERT_TRUE(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) << std::strerror(errno);
      ASSERT_LT(std::chrono::steady_clock::now(), deadline_) << "peer socket stayed full";
      if (io_.stopped()) io_.restart();
      io_.run_for(1ms);
    }
  }

  /// Reads records from the non-blocking `fd` (pumping) until `count` frames
  /// arrived or the deadline; returns them.
  std::vector<byte_vector> read_frames(int fd, std::size_t count) {
    std::vector<byte_vector> frames;
    std::vector<std::byte> buffer(256 * 1024);
    while (frames.size() < count && std::chrono::steady_clock::now() < deadline_) {
      const ssize_t n = ::read(fd, buffer.data(), buffer.size());
      if (n > 0) {
        const auto r = peer_reassembler_.feed(
            std::span<const std::byte>(buffer.data(), static_cast<std::size_t>(n)),
            [&](std::span<const std::byte> f) { frames.emplace_back(f.begin(), f.end()); });
        EXPECT_EQ(r.error, l2::stream_error::none);
        continue;
      }
      if (n == 0) break;
      if (io_.stopped()) io_.restart();
      io_.run_for(1ms);
    }
    return frames;
  }

  boost::asio::io_context io_;
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::now() + test_budget;
  l2::stream_reassembler peer_reassembler_;  ///< the test peer's side of a stream
};

// ---------------------------------------------------------------------------
// 1. stream_port over a socketpair.

class stream_port_test : public socket_port_test {
 protected:
  void SetUp() override {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    peer_ = ports::unique_fd(sv[1]);
    set_non_blocking(sv[1]);
    // A known socket buffer on the port's side (the kernel doubles it), so
    // that "fills the queue" does not depend on the host's defaults.
    const int sndbuf = 256 * 1024;
    ASSERT_EQ(::setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf), 0);
    ports::stream_connection c;
    c.fd = ports::unique_fd(sv[0]);
    c.peer = "test peer";
    c.via = "socketpair";
    port_ = std::make_unique<ports::stream_port>(
        io_, 7, "stream:test#1", std::move(c),
        [this](ports::stream_port& p, const std::string& why) {
          ++closed_calls_;
          closed_why_ = why;
          EXPECT_EQ(&p, port_.get());
          if (destroy_on_close_) port_.reset();  // the owner removes the port right here
        });
    port_->start(listener_);
  }

  /// Waits until on_closed has been called.
  bool wait_closed() {
    return pump_until([&] { return closed_calls_ > 0; });
  }

  recorder listener_;
  ports::unique_fd peer_;
  std::unique_ptr<ports::stream_port> port_;
  int closed_calls_ = 0;
  std::string closed_why_;
  bool destroy_on_close_ = false;
};

TEST_F(stream_port_test, frames_cross_both_ways_byte_exact) {
  EXPECT_EQ(port_->kind(), ports::port_kind::stream);
  EXPECT_EQ(ports::to_string(port_->kind()), "stream");
  EXPECT_FALSE(port_->carries_offload());
  EXPECT_TRUE(port_->is_up());
  const std::string text = port_->describe();
  EXPECT_NE(text.find("stream stream:test#1"), std::string::npos) << text;
  EXPECT_NE(text.find("test peer"), std::string::npos) << text;
  EXPECT_NE(text.find("socketpair"), std::string::npos) << text;

  // Guest to switch: four records in one write, the largest frame included.
  const std::vector<byte_vector> in = {test_frame(1, 60), test_frame(2, 1514), test_frame(3, 9000),
                                       test_frame(4, l2::max_frame_size)};
  byte_vector stream;
  for (const auto& f : in) {
    const byte_vector r = record(f);
    stream.insert(stream.end(), r.begin(), r.end());
  }
  write_all(peer_.get(), stream);
  ASSERT_TRUE(pump_until([&] { return listener_.frames.size() == in.size(); }))
      << listener_.frames.size() << " frames";
  for (std::size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(listener_.frames[i].from, port_.get());
    EXPECT_EQ(listener_.frames[i].bytes, in[i]) << i;
  }
  EXPECT_EQ(port_->counters().rx_frames, in.size());
  EXPECT_EQ(port_->counters().rx_bytes, 60u + 1514 + 9000 + l2::max_frame_size);

  // Switch to guest: the same frames, as records, in order.
  for (const auto& f : in) port_->send(l2::packet{f, {}});
  EXPECT_EQ(port_->counters().tx_frames, in.size());
  const std::vector<byte_vector> out = read_frames(peer_.get(), in.size());
  ASSERT_EQ(out.size(), in.size());
  for (std::size_t i = 0; i < in.size(); ++i) EXPECT_EQ(out[i], in[i]) << i;
  EXPECT_EQ(port_->queued_size(), 0u);
  EXPECT_EQ(port_->counters().drops.total(), 0u) << describe_drops(port_->counters().drops);
  EXPECT_FALSE(peer_reassembler_.pending());
  EXPECT_TRUE(listener_.links.empty());
  EXPECT_EQ(closed_calls_, 0);
}

TEST_F(stream_port_test, golden_bytes_on_the_wire) {
  // A 14-byte frame goes out as exactly these 18 bytes.
  const byte_vector frame = l2_test::bytes(
      {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x88, 0xb5});
  port_->send(l2::packet{frame, {}});
  byte_vector got;
  ASSERT_TRUE(pump_until([&] {
    std::byte b[64];
    const ssize_t n = ::read(peer_.get(), b, sizeof b);
    if (n > 0) got.insert(got.end(), b, b + n);
    return got.size() >= 18;
  }));
  EXPECT_EQ(got, l2_test::bytes({0x00, 0x00, 0x00, 0x0e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52,
                                 0x54, 0x00, 0x12, 0x34, 0x56, 0x88, 0xb5}));
}

TEST_F(stream_port_test, writer_that_sends_one_byte_at_a_time) {
  const std::vector<byte_vector> in = {test_frame(1, 60), test_frame(2, 101)};
  byte_vector stream;
  for (const auto& f : in) {
    const byte_vector r = record(f);
    stream.insert(stream.end(), r.begin(), r.end());
  }
  for (std::size_t i = 0; i < stream.size(); ++i) {
    ASSERT_EQ(::write(peer_.get(), &stream[i], 1), 1);
    // Wait until the port has read it (nothing left unread in the pair), so
    // every byte is a read of its own.
    ASSERT_TRUE(pump_until([&] {
      int unread = 0;
      return ::ioctl(peer_.get(), SIOCOUTQ, &unread) == 0 && unread == 0;
    })) << "byte "
        << i << " not read";
    const std::size_t expected = i + 1 >= stream.size() ? 2 : (i + 1 >= 4 + 60 ? 1 : 0);
    ASSERT_EQ(listener_.frames.size(), expected) << "after byte " << i;
  }
  ASSERT_EQ(listener_.frames.size(), 2u);
  EXPECT_EQ(listener_.frames[0].bytes, in[0]);
  EXPECT_EQ(listener_.frames[1].bytes, in[1]);
  EXPECT_EQ(closed_calls_, 0);
}

TEST_F(stream_port_test, a_peer_that_never_reads_fills_the_queue_and_send_never_blocks) {
  // 3000 frames of 1500 bytes (4.5 MB): more than the socket buffer and the
  // 1 MiB queue together. Sends in bursts of 100 with the io_context run in
  // between (as the datapath would), so flushes fill the socket.
  constexpr unsigned count = 3000;
  for (unsigned n = 0; n < count; ++n) {
    port_->send(l2::packet{test_frame(n, 1500), {}});
    ASSERT_LE(port_->queued_size(), ports::stream_port::queue_capacity);
    if (n % 100 == 99) settle(2ms);
  }
  const auto& c = port_->counters();
  EXPECT_GT(c.drops[drop_reason::tx_queue_full], 0u);
  EXPECT_EQ(c.tx_frames + c.drops[drop_reason::tx_queue_full], count);
  EXPECT_GT(port_->queued_size(), ports::stream_port::queue_capacity - 1504)
      << "the queue should be (nearly) full";
  EXPECT_TRUE(port_->is_up());
  EXPECT_EQ(closed_calls_, 0);

  // The guest reads at last: every frame counted as sent arrives, whole, in order.
  const std::vector<byte_vector> out = read_frames(peer_.get(), c.tx_frames);
  ASSERT_EQ(out.size(), c.tx_frames);
  unsigned last = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const unsigned n = number_of(out[i]);
    ASSERT_EQ(out[i], test_frame(n, 1500)) << i;
    if (i > 0) {
      ASSERT_GT(n, last) << i;
    }
    last = n;
  }
  EXPECT_EQ(port_->queued_size(), 0u);
  // And the port takes frames again.
  port_->send(l2::packet{test_frame(count, 1500), {}});
  const std::vector<byte_vector> more = read_frames(peer_.get(), 1);
  ASSERT_EQ(more.size(), 1u);
  EXPECT_EQ(more[0], test_frame(count, 1500));
}

TEST_F(stream_port_test, oversized_length_closes_the_port_and_delivers_nothing) {
  destroy_on_close_ = true;
  ports::stream_port* const raw = port_.get();
  write_all(peer_.get(), l2_test::bytes({0x00, 0x01, 0x10, 0x01, 0x02, 0x00, 0x00, 0x00}));
  ASSERT_TRUE(wait_closed());
  EXPECT_EQ(closed_calls_, 1);
  EXPECT_NE(closed_why_.find("protocol error"), std::string::npos) << closed_why_;
  EXPECT_NE(closed_why_.find("69633"), std::string::npos) << closed_why_;
  EXPECT_EQ(port_, nullptr);  // destroyed in on_closed
  EXPECT_TRUE(listener_.frames.empty());
  ASSERT_EQ(listener_.links.size(), 1u);
  EXPECT_EQ(listener_.links[0].from, raw);
  EXPECT_FALSE(listener_.links[0].up);
  EXPECT_EQ(listener_.links[0].why, closed_why_);
  // The guest sees the connection closed.
  ASSERT_TRUE(pump_until([&] {
    std::byte b;
    return ::read(peer_.get(), &b, 1) == 0;
  }));
  settle();
  EXPECT_EQ(closed_calls_, 1);
}

TEST_F(stream_port_test, end_of_file_mid_frame_closes_the_port) {
  const byte_vector r = record(test_frame(1, 200));
  write_all(peer_.get(), std::span(r).first(50));
  settle();
  EXPECT_EQ(closed_calls_, 0);
  peer_ = ports::unique_fd();  // the guest goes away mid-frame
  ASSERT_TRUE(wait_closed());
  EXPECT_EQ(closed_calls_, 1);
  EXPECT_NE(closed_why_.find("mid-frame"), std::string::npos) << closed_why_;
  EXPECT_NE(closed_why_.find("50 bytes"), std::string::npos) << closed_why_;
  EXPECT_TRUE(listener_.frames.empty());
  ASSERT_NE(port_, nullptr);  // this owner did not destroy it
  EXPECT_TRUE(port_->closed());
  EXPECT_FALSE(port_->is_up());
  EXPECT_EQ(port_->close_reason(), closed_why_);
  EXPECT_NE(port_->describe().find("closed: "), std::string::npos);
  // Sending to it now is a counted drop.
  port_->send(l2::packet{test_frame(2), {}});
  EXPECT_EQ(port_->counters().drops[drop_reason::port_down], 1u);
  settle();
  EXPECT_EQ(closed_calls_, 1);
}

TEST_F(stream_port_test, end_of_file_after_whole_frames) {
  destroy_on_close_ = true;
  write_all(peer_.get(), record(test_frame(1, 80)));
  write_all(peer_.get(), record(test_frame(2, 90)));
  peer_ = ports::unique_fd();
  ASSERT_TRUE(wait_closed());
  EXPECT_EQ(closed_why_, "peer closed the connection");
  ASSERT_EQ(listener_.frames.size(), 2u);
  EXPECT_EQ(listener_.frames[1].bytes, test_frame(2, 90));
}

TEST_F(stream_port_test, a_peer_gone_while_frames_are_queued_closes_on_write) {
  peer_ = ports::unique_fd();
  port_->send(l2::packet{test_frame(1), {}});
  ASSERT_TRUE(wait_closed());  // EOF on read or EPIPE on write, whichever comes first
  EXPECT_FALSE(port_->is_up());
  EXPECT_EQ(closed_calls_, 1);
}

TEST_F(stream_port_test, stop_does_not_call_on_closed_and_offloaded_packets_are_refused) {
  l2::vnet_header gso;
  gso.gso_type = l2::gso_tcpv4;
  gso.gso_size = 1448;
  port_->send(l2::packet{test_frame(1, 3000), gso});
  EXPECT_EQ(port_->counters().drops[drop_reason::tx_error], 1u);
  EXPECT_EQ(port_->queued_size(), 0u);
  port_->stop();
  port_->stop();
  settle();
  EXPECT_EQ(closed_calls_, 0);
  EXPECT_TRUE(port_->closed());
  port_->send(l2::packet{test_frame(2), {}});
  EXPECT_EQ(port_->counters().drops[drop_reason::port_down], 1u);
}

TEST_F(stream_port_test, destroying_the_port_with_handlers_pending_is_safe) {
  // A flush is posted and a read is pending; the port goes away before they run.
  port_->send(l2::packet{test_frame(1), {}});
  write_all(peer_.get(), record(test_frame(2)));
  port_.reset();
  settle();
  EXPECT_EQ(closed_calls_, 0);
}

// ---------------------------------------------------------------------------
// 2. stream_listener.

class stream_listener_test : public socket_port_test {
 protected:
  /// Opens a listener on `address` that keeps what it hands over.
  std::unique_ptr<ports::stream_listener> listen(const std::string& address,
                                                 ports::unix_socket_access access = {},
                                                 std::size_t max_connections = 256) {
    ports::stream_listen_settings s;
    s.address = ports::parse_stream_address(address);
    s.access = std::move(access);
    s.max_connections = max_connections;
    auto l = ports::stream_listener::open(
        io_, s, [this](ports::stream_connection c) { connections_.push_back(std::move(c)); });
    l->start();
    return l;
  }

  temp_dir dir_;
  std::vector<ports::stream_connection> connections_;
};

TEST_F(stream_listener_test, two_clients_connect_at_once_and_each_becomes_a_port) {
  const std::string path = dir_ / "vm.sock";
  auto listener = listen("unix:" + path);
  EXPECT_EQ(ports::to_string(listener->address()), "unix:" + path);
  ports::unique_fd a = connect_unix(path);
  ports::unique_fd b = connect_unix(path);
  ASSERT_TRUE(pump_until([&] { return connections_.size() == 2; }));
  EXPECT_NE(connections_[0].fd.get(), connections_[1].fd.get());
  EXPECT_EQ(connections_[0].serial, 1u);
  EXPECT_EQ(connections_[1].serial, 2u);
  const std::string me = "pid " + std::to_string(::getpid()) + " uid " + std::to_string(::getuid());
  EXPECT_EQ(connections_[0].peer.rfind(me, 0), 0u) << connections_[0].peer;
  EXPECT_EQ(connections_[0].via, "accepted on unix:" + path);
  EXPECT_EQ(listener->live_connections(), 2u);
  EXPECT_EQ(listener->accepted(), 2u);
  EXPECT_NE(listener->describe().find("2 of 256 connections"), std::string::npos)
      << listener->describe();

  // Each connection becomes a port; a frame from each client arrives on its own port.
  recorder rec;
  std::vector<std::unique_ptr<ports::stream_port>> ports_made;
  for (auto& c : connections_) {
    const std::string name = "stream:" + path + "#" + std::to_string(c.serial);
    ports_made.push_back(std::make_unique<ports::stream_port>(
        io_, static_cast<l2::port_id>(ports_made.size()), name, std::move(c),
        [](ports::stream_port&, const std::string&) {}));
    ports_made.back()->start(rec);
  }
  connections_.clear();
  ASSERT_EQ(listener->live_connections(), 2u);  // the slots moved into the ports
  const byte_vector ra = record(test_frame(10));
  const byte_vector rb = record(test_frame(20));
  ASSERT_EQ(::write(a.get(), ra.data(), ra.size()), static_cast<ssize_t>(ra.size()));
  ASSERT_EQ(::write(b.get(), rb.data(), rb.size()), static_cast<ssize_t>(rb.size()));
  ASSERT_TRUE(pump_until([&] { return rec.frames.size() == 2; }));
  for (const auto& f : rec.frames) {
    const unsigned n = number_of(f.bytes);
    EXPECT_EQ(f.from, ports_made[n == 10 ? 0 : 1].get());
    EXPECT_EQ(f.bytes, test_frame(n));
  }
  // A port destroyed frees its slot.
  ports_made.pop_back();
  EXPECT_EQ(listener->live_connections(), 1u);
}

TEST_F(stream_listener_test, socket_file_gets_the_mode_and_group_asked_for) {
  for (mode_t mode : {mode_t{0660}, mode_t{0600}, mode_t{0666}}) {
    const std::string path = dir_ / ("m" + std::to_string(mode) + ".sock");
    auto listener = listen("unix:" + path, {mode, ""});
    struct stat st {};
    ASSERT_EQ(::lstat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, mode);
  }
  // The default is 0660.
  {
    const std::string path = dir_ / "default.sock";
    auto listener = listen("unix:" + path);
    struct stat st {};
    ASSERT_EQ(::lstat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0660u);
  }
  // A group we belong to (our own primary group) is set without privileges.
  const group* own = ::getgrgid(::getgid());
  if (own != nullptr) {
    const std::string path = dir_ / "group.sock";
    auto listener = listen("unix:" + path, {0660, own->gr_name});
    struct stat st {};
    ASSERT_EQ(::lstat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_gid, ::getgid());
    EXPECT_NE(listener->describe().find(std::string("group ") + own->gr_name), std::string::npos);
  }
  // No such group: the error says how to fix it, and no socket file is left.
  const std::string path = dir_ / "nogroup.sock";
  try {
    listen("unix:" + path, {0660, "vswitchd-no-such-group-x"});
    ADD_FAILURE() << "no error for a missing group";
  } catch (const ports::port_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("--stream-listen unix:" + path), std::string::npos) << what;
    EXPECT_NE(what.find("no group 'vswitchd-no-such-group-x'"), std::string::npos) << what;
    EXPECT_NE(what.find("groupadd"), std::string::npos) << what;
  }
  struct stat st {};
  EXPECT_NE(::lstat(path.c_str(), &st), 0);
}

TEST_F(stream_listener_test, stale_socket_is_replaced_live_one_refused) {
  const std::string path = dir_ / "vm.sock";
  // A socket file whose process is gone: bound, then closed.
  { ports::unique_fd stale = unix_socket_at(SOCK_STREAM, path); }
  struct stat st {};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  auto listener = listen("unix:" + path);
  ports::unique_fd client = connect_unix(path);
  ASSERT_TRUE(pump_until([&] { return connections_.size() == 1; }));

  // A second listener on the same path: refused, and the first keeps its file.
  try {
    listen("unix:" + path);
    ADD_FAILURE() << "a live socket was taken over";
  } catch (const ports::port_error& e) {
    EXPECT_NE(std::string(e.what()).find("a running process serves this socket"), std::string::npos)
        << e.what();
  }
  // (Its probe was a connection of its own, closed at once: the first
  // listener handed it over like any other.)
  ports::unique_fd again = connect_unix(path);
  ASSERT_TRUE(pump_until([&] { return connections_.size() == 3; }));
  EXPECT_EQ(listener->accepted(), 3u);

  // Destroyed: the file goes with it.
  listener.reset();
  EXPECT_NE(::lstat(path.c_str(), &st), 0);

  // A file that is not a socket is left alone.
  const std::string plain = dir_ / "plain";
  { ports::unique_fd f(::open(plain.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600)); }
  try {
    listen("unix:" + plain);
    ADD_FAILURE() << "a regular file was taken over";
  } catch (const ports::port_error& e) {
    EXPECT_NE(std::string(e.what()).find("exists and is not a socket"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(::lstat(plain.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
}

TEST_F(stream_listener_test, connections_beyond_the_limit_are_closed) {
  const std::string path = dir_ / "vm.sock";
  auto listener = listen("unix:" + path, {}, 1);
  ports::unique_fd a = connect_unix(path);
  ASSERT_TRUE(pump_until([&] { return connections_.size() == 1; }));
  ports::unique_fd b = connect_unix(path);
  ASSERT_TRUE(pump_until([&] { return listener->refused() == 1; }));
  EXPECT_EQ(connections_.size(), 1u);
  // The refused client sees the connection closed.
  std::byte byte;
  EXPECT_EQ(::read(b.get(), &byte, 1), 0);
  // Once the first connection is gone, a new one is taken again.
  connections_.clear();
  EXPECT_EQ(listener->live_connections(), 0u);
  ports::unique_fd c = connect_unix(path);
  ASSERT_TRUE(pump_until([&] { return connections_.size() == 1; }));
  EXPECT_EQ(connections_[0].serial, 2u);
}

TEST_F(stream_listener_test, an_owner_that_throws_loses_that_connection_only) {
  const std::string path = dir_ / "vm.sock";
  ports::stream_listen_settings s;
  s.address = ports::parse_stream_address("unix:" + path);
  bool refuse = true;
  auto listener = ports::stream_listener::open(io_, s, [&](ports::stream_connection c) {
    if (refuse) {
      refuse = false;
      throw ports::port_error("no free port id");
    }
    connections_.push_back(std::move(c));
  });
  listener->start();
  ports::unique_fd a = connect_unix(path);
  ASSERT_TRUE(pump_until([&] { return listener->errors() == 1; }));
  std::byte byte;
  EXPECT_EQ(::read(a.get(), &byte, 1), 0);  // closed
  EXPECT_EQ(listener->live_connections(), 0u);
  ports::unique_fd b = connect_unix(path);
  ASSERT_TRUE(pump_until([&] { return connections_.size() == 1; }));
  EXPECT_EQ(listener->live_connections(), 1u);
}

TEST_F(stream_listener_test, tcp_on_loopback) {
  ports::stream_listen_settings s;
  s.address.endpoint = ip::tcp::endpoint(ip::make_address_v4("127.0.0.1"), 0);
  auto listener = ports::stream_listener::open(
      io_, s, [this](ports::stream_connection c) { connections_.push_back(std::move(c)); });
  listener->start();
  const std::uint16_t port = listener->address().endpoint.port();
  ASSERT_NE(port, 0);
  ip::tcp::socket client(io_);
  client.connect(ip::tcp::endpoint(ip::make_address_v4("127.0.0.1"), port));
  ASSERT_TRUE(pump_until([&] { return connections_.size() == 1; }));
  EXPECT_EQ(connections_[0].peer, "127.0.0.1:" + std::to_string(client.local_endpoint().port()));
  EXPECT_EQ(connections_[0].via, "accepted on tcp:127.0.0.1:" + std::to_string(port));

  // A second listener on the same port: an error naming the option and the fix.
  try {
    ports::stream_listen_settings t = s;
    t.address.endpoint.port(port);
    ports::stream_listener::open(io_, t, [](ports::stream_connection) {});
    ADD_FAILURE() << "no error for an address in use";
  } catch (const ports::port_error& e) {
    const std::string what = e.what();
    EXPECT_EQ(
        what.rfind("--stream-listen tcp:127.0.0.1:" + std::to_string(port) + ": cannot listen", 0),
        0u)
        << what;
    EXPECT_NE(what.find("choose another port"), std::string::npos) << what;
  }
}

TEST(stream_address, parses_the_forms) {
  auto a = ports::parse_stream_address("unix:/run/vm.sock");
  EXPECT_TRUE(a.is_unix());
  EXPECT_EQ(a.path, "/run/vm.sock");
  EXPECT_EQ(ports::to_string(a), "unix:/run/vm.sock");
  a = ports::parse_stream_address("tcp:0.0.0.0:5000");
  EXPECT_FALSE(a.is_unix());
  EXPECT_EQ(a.endpoint, ip::tcp::endpoint(ip::make_address("0.0.0.0"), 5000));
  EXPECT_EQ(ports::to_string(a), "tcp:0.0.0.0:5000");
  a = ports::parse_stream_address("tcp:[::1]:5000");
  EXPECT_EQ(a.endpoint, ip::tcp::endpoint(ip::make_address("::1"), 5000));
  EXPECT_EQ(ports::to_string(a), "tcp:[::1]:5000");
  a = ports::parse_stream_address("tcp:[fe80::1]:65535");
  EXPECT_EQ(a.endpoint.port(), 65535);
}

TEST(stream_address, refusals_name_the_option_and_the_form) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"vm.sock", "use unix:PATH"},
      {"unix:", "must be absolute"},
      {"unix:run/vm.sock", "must be absolute"},
      {"unix:/" + std::string(120, 'a'), "at most 107 bytes"},
      {"tcp:127.0.0.1", "no port"},
      {"tcp:127.0.0.1:0", "from 1 to 65535"},
      {"tcp:127.0.0.1:65536", "from 1 to 65535"},
      {"tcp:127.0.0.1:50x", "from 1 to 65535"},
      {"tcp::5000", "no host or address"},
      {"tcp:::1:5000", "brackets"},
      {"tcp:[::1]5000", "brackets"},
      {"tcp:[127.0.0.1]:5000", "not an IP address"},
      {"tcp:vm-host:5000", "not an IP address"},
      {"udp:127.0.0.1:5000", "use unix:PATH"},
  };
  for (const auto& [text, expected] : cases) {
    try {
      ports::parse_stream_address(text, "--stream-listen");
      ADD_FAILURE() << text << " accepted";
    } catch (const ports::port_error& e) {
      const std::string what = e.what();
      EXPECT_EQ(what.rfind("--stream-listen " + text + ": ", 0), 0u) << what;
      EXPECT_NE(what.find(expected), std::string::npos) << text << " -> " << what;
    }
  }
}

// ---------------------------------------------------------------------------
// 3. dgram_port.

class dgram_port_test : public socket_port_test {
 protected:
  void open_port(const ports::dgram_spec& spec) {
    port_ = ports::dgram_port::open(io_, 3, "dgram:test", spec);
    port_->start(listener_);
  }

  /// Sends `frame` from `fd` to the port's LOCAL address.
  void send_to_port(int fd, std::span<const std::byte> frame) {
    sockaddr_storage to{};
    socklen_t size = 0;
    if (port_->local().is_unix()) {
      const sockaddr_un sun = unix_address(port_->local().path);
      std::memcpy(&to, &sun, sizeof sun);
      size = sizeof sun;
    } else {
      std::memcpy(&to, port_->local().endpoint.data(), port_->local().endpoint.size());
      size = static_cast<socklen_t>(port_->local().endpoint.size());
    }
    ASSERT_EQ(
        ::sendto(fd, frame.data(), frame.size(), 0, reinterpret_cast<const sockaddr*>(&to), size),
        static_cast<ssize_t>(frame.size()))
        << std::strerror(errno);
  }

  /// Receives datagrams on `fd` (pumping) until `count` arrived or the deadline.
  std::vector<byte_vector> receive(int fd, std::size_t count) {
    std::vector<byte_vector> out;
    std::vector<std::byte> buffer(70000);
    while (out.size() < count && std::chrono::steady_clock::now() < deadline_) {
      const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
      if (n >= 0) {
        out.emplace_back(buffer.begin(), buffer.begin() + n);
        continue;
      }
      if (io_.stopped()) io_.restart();
      io_.run_for(1ms);
    }
    return out;
  }

  /// Frames both ways through `peer` (bound at REMOTE), then a stranger's datagram.
  void exchange(int peer, int stranger) {
    EXPECT_EQ(port_->kind(), ports::port_kind::dgram);
    EXPECT_EQ(ports::to_string(port_->kind()), "dgram");
    EXPECT_FALSE(port_->carries_offload());
    // QEMU to switch.
    const std::vector<byte_vector> in = {test_frame(1, 60), test_frame(2, 1514),
                                         test_frame(3, 9000)};
    for (const auto& f : in) send_to_port(peer, f);
    ASSERT_TRUE(pump_until([&] { return listener_.frames.size() == in.size(); }))
        << describe_drops(port_->counters().drops);
    for (std::size_t i = 0; i < in.size(); ++i) {
      EXPECT_EQ(listener_.frames[i].from, port_.get());
      EXPECT_EQ(listener_.frames[i].bytes, in[i]) << i;
    }
    EXPECT_EQ(port_->counters().rx_frames, in.size());
    // Switch to QEMU: small frames batched, a large one alone, in order.
    const std::vector<byte_vector> out = {test_frame(4, 60), test_frame(5, 2000),
                                          test_frame(6, 8000), test_frame(7, 100)};
    for (const auto& f : out) port_->send(l2::packet{f, {}});
    const std::vector<byte_vector> got = receive(peer, out.size());
    ASSERT_EQ(got.size(), out.size()) << describe_drops(port_->counters().drops);
    for (std::size_t i = 0; i < out.size(); ++i) EXPECT_EQ(got[i], out[i]) << i;
    EXPECT_EQ(port_->counters().tx_frames, out.size());
    // A stranger is not the peer.
    send_to_port(stranger, test_frame(8, 60));
    ASSERT_TRUE(pump_until([&] { return port_->counters().drops[drop_reason::not_peer] == 1; }));
    EXPECT_EQ(listener_.frames.size(), in.size());
    // The peer still is.
    send_to_port(peer, test_frame(9, 60));
    ASSERT_TRUE(pump_until([&] { return listener_.frames.size() == in.size() + 1; }));
    EXPECT_EQ(listener_.frames.back().bytes, test_frame(9, 60));
  }

  temp_dir dir_;
  recorder listener_;
  std::unique_ptr<ports::dgram_port> port_;
};

TEST_F(dgram_port_test, unix_frames_both_ways_and_strangers_dropped) {
  const std::string qemu = dir_ / "vm1.sock";
  const std::string ours = dir_ / "vsw-vm1.sock";
  ports::unique_fd peer = unix_socket_at(SOCK_DGRAM, qemu);
  ports::unique_fd stranger = unix_socket_at(SOCK_DGRAM, dir_ / "stranger.sock");
  open_port(ports::parse_dgram_spec("dgram:unix:" + ours + "=unix:" + qemu));
  struct stat st {};
  ASSERT_EQ(::lstat(ours.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  EXPECT_EQ(port_->describe(),
            "dgram dgram:test (local unix:" + ours + ", remote unix:" + qemu + ")");
  exchange(peer.get(), stranger.get());
  // An unbound sender has no address at all: not the peer either.
  ports::unique_fd anonymous = unix_socket_at(SOCK_DGRAM, "");
  send_to_port(anonymous.get(), test_frame(10, 60));
  ASSERT_TRUE(pump_until([&] { return port_->counters().drops[drop_reason::not_peer] == 2; }));
  // A datagram longer than any frame: giant.
  send_to_port(peer.get(), test_frame(11, l2::max_frame_size + 1));
  ASSERT_TRUE(pump_until([&] { return port_->counters().drops[drop_reason::giant] == 1; }));
  // Destroyed: the socket file goes with it.
  port_.reset();
  EXPECT_NE(::lstat(ours.c_str(), &st), 0);
}

TEST_F(dgram_port_test, unix_peer_not_there_yet_costs_drops_only) {
  const std::string qemu = dir_ / "vm1.sock";
  open_port(ports::parse_dgram_spec("unix:" + (dir_ / "vsw.sock") + "=unix:" + qemu));
  port_->send(l2::packet{test_frame(1), {}});
  settle();
  EXPECT_EQ(port_->counters().drops[drop_reason::port_down], 1u);
  EXPECT_TRUE(port_->is_up());
  // QEMU starts: frames flow.
  ports::unique_fd peer = unix_socket_at(SOCK_DGRAM, qemu);
  port_->send(l2::packet{test_frame(2), {}});
  const auto got = receive(peer.get(), 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], test_frame(2));
}

TEST_F(dgram_port_test, udp_frames_both_ways_and_strangers_dropped) {
  ip::udp::socket peer(io_, ip::udp::endpoint(ip::make_address_v4("127.0.0.1"), 0));
  ip::udp::socket stranger(io_, ip::udp::endpoint(ip::make_address_v4("127.0.0.1"), 0));
  ports::dgram_spec spec;
  spec.local.endpoint = ip::udp::endpoint(ip::make_address_v4("127.0.0.1"), 0);
  spec.remote.endpoint = peer.local_endpoint();
  open_port(spec);
  ASSERT_NE(port_->local().endpoint.port(), 0);
  EXPECT_EQ(port_->max_frame_size(), 65507u);
  exchange(peer.native_handle(), stranger.native_handle());
  // One byte over the largest UDP payload: too_big, nothing sent.
  port_->send(l2::packet{test_frame(12, 65508), {}});
  EXPECT_EQ(port_->counters().drops[drop_reason::too_big], 1u);
  // The largest goes through.
  port_->send(l2::packet{test_frame(13, 65507), {}});
  const auto got = receive(peer.native_handle(), 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], test_frame(13, 65507));
}

TEST_F(dgram_port_test, a_live_local_path_is_refused) {
  const std::string ours = dir_ / "vsw.sock";
  ports::unique_fd holder = unix_socket_at(SOCK_DGRAM, ours);
  try {
    open_port(ports::parse_dgram_spec("unix:" + ours + "=unix:" + (dir_ / "vm.sock")));
    ADD_FAILURE() << "a live socket was taken over";
  } catch (const ports::port_error& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind("--port dgram:unix:" + ours + "=unix:", 0), 0u) << what;
    EXPECT_NE(what.find("a running process serves this socket"), std::string::npos) << what;
  }
  // Once its process is gone, the stale file is replaced.
  holder = ports::unique_fd();
  open_port(ports::parse_dgram_spec("unix:" + ours + "=unix:" + (dir_ / "vm.sock")));
}

TEST(dgram_spec, parses_the_forms) {
  auto s = ports::parse_dgram_spec("dgram:unix:/run/vsw.sock=unix:/run/vm.sock");
  EXPECT_EQ(s.local.path, "/run/vsw.sock");
  EXPECT_EQ(s.remote.path, "/run/vm.sock");
  EXPECT_EQ(ports::to_string(s), "dgram:unix:/run/vsw.sock=unix:/run/vm.sock");
  s = ports::parse_dgram_spec("127.0.0.1:5001=127.0.0.1:5000");
  EXPECT_FALSE(s.local.is_unix());
  EXPECT_EQ(s.local.endpoint, ip::udp::endpoint(ip::make_address("127.0.0.1"), 5001));
  EXPECT_EQ(s.remote.endpoint, ip::udp::endpoint(ip::make_address("127.0.0.1"), 5000));
  EXPECT_EQ(ports::to_string(s), "dgram:127.0.0.1:5001=127.0.0.1:5000");
  s = ports::parse_dgram_spec("dgram:udp:[::1]:5001=[::1]:5000");
  EXPECT_EQ(s.local.endpoint, ip::udp::endpoint(ip::make_address("::1"), 5001));
  EXPECT_EQ(ports::to_string(s), "dgram:[::1]:5001=[::1]:5000");
}

TEST(dgram_spec, refusals_say_what_is_wrong) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"dgram:unix:/a.sock", "no '='"},
      {"dgram:unix:/a=b=unix:/c", "more than one '='"},
      {"dgram:unix:a.sock=unix:/b.sock", "absolute path"},
      {"dgram:unix:/a.sock=127.0.0.1:5000", "must both be unix:PATH or both ADDR:PORT"},
      {"dgram:127.0.0.1:5000=[::1]:5000", "must both be IPv4 or both IPv6"},
      {"dgram:127.0.0.1:5000=127.0.0.1:5000", "the same"},
      {"dgram:unix:/a.sock=unix:/a.sock", "the same"},
      {"dgram:127.0.0.1=127.0.0.1:5000", "LOCAL '127.0.0.1': no port"},
      {"dgram:127.0.0.1:5000=vm:5000", "REMOTE 'vm:5000'"},
      {"dgram:127.0.0.1:5000=127.0.0.1:0", "from 1 to 65535"},
  };
  for (const auto& [text, expected] : cases) {
    try {
      ports::parse_dgram_spec(text);
      ADD_FAILURE() << text << " accepted";
    } catch (const ports::port_error& e) {
      const std::string what = e.what();
      EXPECT_EQ(what.rfind("--port " + text + ": ", 0), 0u) << what;
      EXPECT_NE(what.find(expected), std::string::npos) << text << " -> " << what;
    }
  }
}

}  // namespace
