// The data path with worker threads (--workers): frames read on workers are
// switched as on one thread, in order, while the control side changes ports
// and captures under them. Also the handoff ring between the threads. These
// tests also run under ThreadSanitizer (tests/run.sh, build-tsan).
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "l2/frame.hpp"
#include "switchd/datapath.hpp"
#include "switchd/handoff_ring.hpp"
#include "ports/udp_endpoint.hpp"
#include "ports/uplink_port.hpp"
#include "l2/vxlan.hpp"
#include "tests/switchd/fake_port.hpp"
#include "tests/switchd/super_frame.hpp"

namespace switchd {
namespace {

using bytes = std::vector<std::byte>;
using namespace std::chrono_literals;

const l2::mac_address broadcast{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
l2::mac_address mac(std::uint8_t last) { return l2::mac_address{{0x02, 0, 0, 0, 0x77, last}}; }

/// A frame from `src` to `dst` whose payload starts with `seq` (to check order).
bytes make_frame(const l2::mac_address& dst, const l2::mac_address& src, std::uint32_t seq = 0) {
  bytes frame(l2::ethernet_header_size + 46, std::byte{0x5a});
  l2::frame_header h{dst, src, std::nullopt, 0x0800};
  l2::emit(h, frame);
  std::memcpy(frame.data() + l2::ethernet_header_size, &seq, sizeof seq);
  return frame;
}
std::uint32_t seq_of(const bytes& frame) {
  std::uint32_t seq = 0;
  std::memcpy(&seq, frame.data() + l2::ethernet_header_size, sizeof seq);
  return seq;
}

/// A port a worker reads: frames come and go through a socket pair, whose
/// other end (outside) the test writes and reads, as a TAP's interface side.
class socket_port final : public ports::port {
 public:
  socket_port(l2::port_id id, std::string name) : port(id, std::move(name), ports::port_kind::tap) {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
      throw std::runtime_error("socketpair");
    }
    inside_ = ports::unique_fd(fds[0]);
    outside_ = ports::unique_fd(fds[1]);
  }

  void start(ports::port_listener& listener) override { listener_ = &listener; }  // never read
  void start_on_worker(ports::port_listener& listener) override { listener_ = &listener; }
  bool worker_readable() const override { return true; }
  bool thread_safe_send() const override { return true; }
  int worker_fd(std::size_t) const override { return inside_.get(); }
  worker_step worker_read(std::size_t) override {
    // As a dev: port's recvmmsg: up to `batch` frames, and "no more" with the
    // last one when the batch came short. (A TAP: one frame per read.)
    for (std::size_t i = 0; i < batch; ++i) {
      const ssize_t n = ::recv(inside_.get(), buffer_.data(), buffer_.size(), 0);
      if (n < 0) {
        if (errno != EAGAIN) return worker_step::stop;
        return worker_step::would_block;
      }
      reader_thread = std::this_thread::get_id();
      deliver(l2::packet{std::span<const std::byte>(buffer_.data(), static_cast<std::size_t>(n)), offload});
    }
    return worker_step::again;
  }
  /// Frames per worker_read (1: a TAP's read).
  std::size_t batch = 1;
  /// The virtio-net header each frame comes with (a TAP's, for super-frames).
  l2::vnet_header offload{};
  void send(const l2::packet& packet) override {
    if (::send(inside_.get(), packet.frame.data(), packet.frame.size(), MSG_DONTWAIT) >= 0) {
      count_tx(packet.frame.size());
    } else {
      counters_.drops.count(l2::drop_reason::tx_queue_full);
    }
  }
  void stop() override {}
  std::string describe() const override { return "socket " + name(); }

  /// The outside sends a frame in.
  void put(const bytes& frame) const {
    while (::send(outside_.get(), frame.data(), frame.size(), 0) < 0 && errno == EAGAIN) {
      std::this_thread::sleep_for(100us);
    }
  }
  /// The next frame the switch sent out, or empty after `wait` without one.
  bytes take(std::chrono::milliseconds wait = 2000ms) const {
    pollfd p{outside_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return {};
    const ssize_t n = ::recv(outside_.get(), taken_.data(), taken_.size(), MSG_DONTWAIT);
    return bytes(taken_.begin(), taken_.begin() + (n > 0 ? n : 0));
  }

  std::atomic<std::thread::id> reader_thread{};

 private:
  ports::unique_fd inside_, outside_;
  std::array<std::byte, 65536> buffer_{};
  mutable bytes taken_ = bytes(65536);  ///< (the test's thread) take()'s buffer, reused
};

/// A port only the main thread may send on (as an uplink): it records the
/// thread of every send.
class main_port final : public ports::port {
 public:
  main_port(l2::port_id id, std::string name) : port(id, std::move(name), ports::port_kind::uplink) {}
  void start(ports::port_listener& listener) override { listener_ = &listener; }
  void send(const l2::packet& packet) override {
    if (std::this_thread::get_id() != main_thread) wrong_thread = true;
    sent.emplace_back(packet.frame.begin(), packet.frame.end());
    count_tx(packet.frame.size());
  }
  void stop() override {}
  std::string describe() const override { return "main " + name(); }
  void inject(const bytes& frame) { deliver(l2::packet{frame, {}}); }

  std::thread::id main_thread = std::this_thread::get_id();
  bool wrong_thread = false;
  std::vector<bytes> sent;
};

/// The datapath's clock in these tests: the real one, plus a skip the test
/// can add to (the workers read it too).
std::atomic<std::int64_t> clock_skip_ns{0};
l2::time_point test_clock() {
  return std::chrono::steady_clock::now() + std::chrono::nanoseconds(clock_skip_ns.load());
}

/// Removes a port when the test's scope ends, however it ends: before the
/// endpoint the test declared earlier.
struct removed_first {
  datapath& dp;
  l2::port_id id;
  ~removed_first() { dp.remove_port(id); }
};

class workers_test : public ::testing::Test {
 protected:
  workers_test() : dp_(io_, 1024, std::chrono::seconds(300), &test_clock) {
    clock_skip_ns = 0;
    dp_.set_workers(2);
  }
  ~workers_test() override { dp_.stop(); }

  socket_port& add_socket(const std::string& name) {
    auto p = std::make_unique<socket_port>(dp_.next_id(), name);
    socket_port& ref = *p;
    dp_.add_port(std::move(p));
    return ref;
  }
  ports::uplink_port& add_uplink(ports::udp_endpoint& endpoint, const std::string& name,
                                 const boost::asio::ip::udp::endpoint& remote) {
    auto p = std::make_unique<ports::uplink_port>(dp_.next_id(), name, endpoint, remote);
    ports::uplink_port& ref = *p;
    dp_.add_port(std::move(p));
    return ref;
  }
  main_port& add_main(const std::string& name) {
    auto p = std::make_unique<main_port>(dp_.next_id(), name);
    main_port& ref = *p;
    dp_.add_port(std::move(p));
    return ref;
  }
  /// Runs the main thread's loop until `done()` or 5 s.
  template <typename F>
  bool run_until(F done) {
    const auto end = std::chrono::steady_clock::now() + 5s;
    while (!done()) {
      if (std::chrono::steady_clock::now() > end) return false;
      io_.run_for(2ms);
      io_.restart();
    }
    return true;
  }

  boost::asio::io_context io_;
  datapath dp_;
};

TEST(handoff_ring, gives_back_what_was_pushed_in_order_across_the_wrap) {
  handoff_ring<int> ring(4096);
  std::vector<int> seen;
  bytes frame(1000, std::byte{7});
  for (int round = 0; round < 20; ++round) {
    ASSERT_TRUE(ring.push(round, frame));
    ASSERT_TRUE(ring.push(round + 1000, std::span<const std::byte>()));
    ring.drain([&](int meta, std::span<const std::byte> f) {
      seen.push_back(meta);
      EXPECT_EQ(f.size(), meta >= 1000 ? 0u : frame.size());
    });
  }
  ASSERT_EQ(seen.size(), 40u);
  for (int round = 0; round < 20; ++round) {
    EXPECT_EQ(seen[2 * round], round);
    EXPECT_EQ(seen[2 * round + 1], round + 1000);
  }
  EXPECT_TRUE(ring.empty());
}

TEST(handoff_ring, refuses_when_full_or_too_large_and_takes_again_once_drained) {
  handoff_ring<int> ring(4096);
  EXPECT_FALSE(ring.push(0, bytes(ring.max_frame() + 1))) << "larger than half the ring";
  int pushed = 0;
  while (ring.push(pushed, bytes(500))) ++pushed;
  EXPECT_GE(pushed, 6);
  EXPECT_LE(pushed, 8);
  EXPECT_EQ(ring.drain([](int, std::span<const std::byte>) {}), static_cast<std::size_t>(pushed));
  EXPECT_TRUE(ring.push(1, bytes(500)));
}

TEST(handoff_ring, one_thread_pushes_another_drains_and_nothing_is_lost_or_reordered) {
  handoff_ring<std::uint32_t> ring(64 * 1024);
  constexpr std::uint32_t total = 200000;
  std::thread producer([&] {
    bytes frame(100);
    for (std::uint32_t i = 0; i < total;) {
      std::memcpy(frame.data(), &i, sizeof i);
      if (ring.push(i, std::span<const std::byte>(frame.data(), 4 + i % 90))) {
        ++i;
      } else {
        std::this_thread::yield();
      }
    }
  });
  std::uint32_t next = 0;
  bool ok = true;
  while (next < total) {
    ring.drain([&](std::uint32_t meta, std::span<const std::byte> f) {
      std::uint32_t inside = 0;
      std::memcpy(&inside, f.data(), sizeof inside);
      if (meta != next || inside != next || f.size() != 4 + next % 90) ok = false;
      ++next;
    });
  }
  producer.join();
  EXPECT_TRUE(ok);
  EXPECT_EQ(next, total);
}

TEST_F(workers_test, frames_read_on_workers_are_flooded_learned_and_switched) {
  socket_port& a = add_socket("a");
  socket_port& b = add_socket("b");
  main_port& up = add_main("up");
  dp_.start();
  ASSERT_EQ(dp_.workers(), 2u);

  const bytes hello = make_frame(broadcast, mac(1));
  a.put(hello);
  EXPECT_EQ(b.take(), hello) << "a broadcast from a worker's port reaches the others";
  ASSERT_TRUE(run_until([&] { return up.sent.size() == 1; }))
      << "and the port only the main thread sends on, through the handoff";
  EXPECT_EQ(up.sent[0], hello);
  EXPECT_FALSE(up.wrong_thread);

  const bytes reply = make_frame(mac(1), mac(2));
  b.put(reply);
  EXPECT_EQ(a.take(), reply) << "learned on one worker, used by the other";
  EXPECT_NE(a.reader_thread.load(), b.reader_thread.load()) << "two ports, two workers";
  EXPECT_NE(a.reader_thread.load(), std::this_thread::get_id());
  EXPECT_TRUE(b.take(50ms).empty()) << "a known unicast is not flooded back";
  EXPECT_EQ(up.sent.size(), 1u) << "nor to the uplink";

  up.inject(make_frame(mac(2), mac(3)));  // read on the main thread, sent by it to b
  EXPECT_EQ(seq_of(b.take()), 0u);
  EXPECT_EQ(b.counters().tx_frames, 2u);
  EXPECT_EQ(a.counters().rx_frames, 1u);

  // What each worker reads and has done, as vswitchctl show and the metrics tell it.
  const std::vector<datapath::worker_stats> stats = dp_.worker_statistics();
  ASSERT_EQ(stats.size(), 2u);
  std::vector<std::pair<std::string, std::size_t>> reads;
  std::uint64_t frames = 0, handed_over = 0;
  for (const auto& w : stats) {
    EXPECT_EQ(w.queues.size(), 1u) << "worker " << w.index << ": one port each";
    reads.insert(reads.end(), w.queues.begin(), w.queues.end());
    frames += w.frames;
    handed_over += w.handed_over;
    EXPECT_GE(w.busy_rounds, 1u);
    EXPECT_LE(w.busy_rounds, w.frames);
    EXPECT_EQ(w.handoff_full, 0u);
  }
  std::sort(reads.begin(), reads.end());
  EXPECT_EQ(reads, (std::vector<std::pair<std::string, std::size_t>>{{"a", 0}, {"b", 0}}));
  EXPECT_EQ(frames, 2u) << "hello from a, the reply from b";
  EXPECT_EQ(handed_over, 1u) << "hello's copy for the main thread's port";
}

TEST_F(workers_test, frames_read_in_a_short_batch_reach_a_main_thread_port) {
  // A read that returns frames and "no more" at once (recvmmsg's short batch)
  // still ends its round with a wake-up of the main thread.
  socket_port& a = add_socket("a");
  a.batch = 8;
  main_port& up = add_main("up");
  dp_.start();
  for (std::uint32_t i = 1; i <= 3; ++i) a.put(make_frame(broadcast, mac(1), i));
  ASSERT_TRUE(run_until([&] { return up.sent.size() == 3; })) << up.sent.size() << " of 3";
  for (std::uint32_t i = 0; i < 3; ++i) EXPECT_EQ(seq_of(up.sent[i]), i + 1);
  std::uint64_t frames = 0, rounds = 0;
  for (const auto& w : dp_.worker_statistics()) frames += w.frames, rounds += w.busy_rounds;
  EXPECT_EQ(frames, 3u);
  EXPECT_GE(rounds, 1u);
}

TEST_F(workers_test, frames_for_a_main_thread_port_arrive_all_and_in_order) {
  socket_port& a = add_socket("a");
  main_port& up = add_main("up");
  dp_.start();
  up.inject(make_frame(broadcast, mac(9)));  // the uplink's MAC is learned
  (void)a.take();
  constexpr std::uint32_t total = 3000;
  std::thread sender([&] {
    for (std::uint32_t i = 1; i <= total; ++i) a.put(make_frame(mac(9), mac(1), i));
  });
  const bool all = run_until([&] { return up.sent.size() == total; });
  sender.join();
  ASSERT_TRUE(all) << up.sent.size() << " of " << total << "; drops on up: "
                   << up.counters().drops.total();
  for (std::uint32_t i = 0; i < total; ++i) ASSERT_EQ(seq_of(up.sent[i]), i + 1);
  EXPECT_FALSE(up.wrong_thread);
  std::uint64_t handed_over = 0;
  for (const auto& w : dp_.worker_statistics()) handed_over += w.handed_over;
  EXPECT_EQ(handed_over, total) << "each of them once, through the ring";
}

TEST_F(workers_test, workers_send_on_a_plain_uplink_themselves_in_order_while_its_address_changes) {
  namespace ip = boost::asio::ip;
  ports::uplink_settings settings;
  settings.underlay_mtu = 1500;
  settings.workers = 2;
  const std::unique_ptr<ports::udp_endpoint> endpoint =
      ports::udp_endpoint::open(io_, ip::udp::endpoint(ip::make_address_v4("127.0.0.1"), 0), settings, "test");
  endpoint->hold_senders_with(
      [this] { return std::shared_ptr<void>(std::make_shared<datapath::pause_guard>(dp_.pause())); });
  // The peer's first address, and the one it moves to halfway.
  ip::udp::socket first(io_, ip::udp::endpoint(ip::make_address_v4("127.0.0.1"), 0));
  ip::udp::socket second(io_, ip::udp::endpoint(ip::make_address_v4("127.0.0.1"), 0));
  first.non_blocking(true);
  second.non_blocking(true);
  socket_port& a = add_socket("a");
  ports::uplink_port& up = add_uplink(*endpoint, "peer", first.local_endpoint());
  const removed_first guard{dp_, up.id()};
  ASSERT_TRUE(up.thread_safe_send());
  dp_.start();

  // Unknown unicast: flooded, so out of the uplink (the only other port).
  constexpr std::uint32_t total = 600;
  std::vector<std::uint32_t> at_first, at_second;
  const auto take = [&](ip::udp::socket& s, std::vector<std::uint32_t>& into) {
    std::array<std::byte, 2048> d{};
    boost::system::error_code ec;
    for (;;) {
      const std::size_t n = s.receive(boost::asio::buffer(d), 0, ec);
      if (ec) return;
      ASSERT_EQ(n, l2::vxlan_header_size + l2::ethernet_header_size + 46);
      ASSERT_EQ(d[0], std::byte{0x08}) << "a VXLAN header";
      std::uint32_t seq = 0;
      std::memcpy(&seq, d.data() + l2::vxlan_header_size + l2::ethernet_header_size, sizeof seq);
      into.push_back(seq);
    }
  };
  const auto received = [&] {
    take(first, at_first);
    take(second, at_second);
    return at_first.size() + at_second.size();
  };
  // In steps of 100 the receiving sockets hold (loopback drops what
  // overflows); the peer moves to `second` during the fourth, under traffic.
  for (std::uint32_t step = 0; step < total / 100; ++step) {
    std::thread sender([&] {
      for (std::uint32_t i = step * 100 + 1; i <= (step + 1) * 100; ++i) a.put(make_frame(mac(9), mac(1), i));
    });
    if (step == 3) {
      (void)run_until([&] { return received() > 310; });
      up.set_remote(second.local_endpoint());
    }
    const bool all = run_until([&] { return received() == (step + 1) * 100; });
    sender.join();
    ASSERT_TRUE(all) << received() << " of " << (step + 1) * 100 << "; drops on the uplink: "
                     << up.counters().drops.total();
  }
  // Each address got one run of the sequence, in order, with nothing lost:
  // what a worker batched before the change left before it.
  ASSERT_GE(at_first.size(), 311u);
  ASSERT_EQ(at_first.size() + at_second.size(), total);
  for (std::uint32_t i = 0; i < at_first.size(); ++i) ASSERT_EQ(at_first[i], i + 1);
  for (std::uint32_t i = 0; i < at_second.size(); ++i) ASSERT_EQ(at_second[i], at_first.size() + 1 + i);
  std::uint64_t handed_over = 0;
  for (const auto& w : dp_.worker_statistics()) handed_over += w.handed_over;
  EXPECT_EQ(handed_over, 0u) << "the workers sent them, not the main thread";
  EXPECT_EQ(up.counters().tx_frames, total);
}

/// Records what a port outside the datapath hands over (the io_context thread only).
class frame_log final : public ports::port_listener {
 public:
  void on_frame(ports::port&, const l2::packet& packet) override {
    frames.emplace_back(packet.frame.begin(), packet.frame.end());
    offloads.push_back(packet.offload);
    count.store(frames.size());
  }
  void on_link_change(ports::port&, bool, std::string_view) override {}
  std::vector<bytes> frames;
  std::vector<l2::vnet_header> offloads;
  std::atomic<std::size_t> count{0};  ///< frames.size(), for other threads
};

ports::sealed::key key_of(std::uint8_t base) {
  ports::sealed::key k;
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::byte>(base + i);
  return k;
}

/// The drops counted on a port, by reason, for a failure message.
std::string drop_reasons(const ports::port& p) {
  std::string why;
  for (std::size_t r = 0; r < l2::drop_reason_count; ++r) {
    const auto reason = static_cast<l2::drop_reason>(r);
    if (p.counters().drops[reason] != 0) {
      why.append(" ").append(l2::to_string(reason)).append(" ").append(std::to_string(p.counters().drops[reason]));
    }
  }
  return why;
}

/// A sealed uplink "B" in the datapath (endpoint a_end, with the datapath's
/// two workers) to a peer outside it (endpoint b_end, whose port b_up
/// records what it opens), under overlay key `key`, on 127.0.0.1.
struct sealed_link {
  sealed_link(boost::asio::io_context& io, datapath& dp, const ports::sealed::key& key) : dp(dp) {
    namespace ip = boost::asio::ip;
    ports::uplink_settings settings;
    settings.underlay_mtu = 1500;
    settings.keys = {key};
    settings.keepalive = 60s;  // (nothing but the test's frames and the handshakes)
    settings.peer_timeout = 120s;
    ports::uplink_settings a_settings = settings;
    a_settings.workers = 2;
    const ip::udp::endpoint loopback(ip::make_address_v4("127.0.0.1"), 0);
    a_end = ports::udp_endpoint::open(io, loopback, a_settings, "test");
    b_end = ports::udp_endpoint::open(io, loopback, settings, "test");
    a_end->hold_senders_with(
        [&dp] { return std::shared_ptr<void>(std::make_shared<datapath::pause_guard>(dp.pause())); });
    b_up = std::make_unique<ports::uplink_port>(1, "A", *b_end, a_end->local());
    b_up->start(at_b);
    // (Last: once the datapath has it, the destructor must run to remove it.)
    auto p = std::make_unique<ports::uplink_port>(dp.next_id(), "B", *a_end, b_end->local());
    up = p.get();
    dp.add_port(std::move(p));
  }
  /// After dp.start(): A's workers read its sockets (and open what B sealed) themselves.
  void start() {
    a_end->order_passed_with([this] { dp.drain_handoffs(); }, [this] { dp.send_queued(); });  // (as the daemon)
    dp.add_source(*a_end, a_end->receive_queues());
  }
  ~sealed_link() {  // (the source and the ports go before their endpoints)
    dp.remove_source(*a_end);
    dp.remove_port(up->id());
  }
  bool up_both_ways() const { return up->is_up() && b_up->is_up(); }

  datapath& dp;
  std::unique_ptr<ports::udp_endpoint> a_end, b_end;
  ports::uplink_port* up = nullptr;
  frame_log at_b;
  std::unique_ptr<ports::uplink_port> b_up;
};

TEST_F(workers_test, workers_seal_for_a_sealed_uplink_themselves_in_order_while_it_rekeys) {
  // A's port a is read by the workers.
  const ports::sealed::key first_key = key_of(1), second_key = key_of(100);
  sealed_link link(io_, dp_, first_key);
  ports::uplink_port& up = *link.up;
  socket_port& a = add_socket("a");
  dp_.start();
  link.start();
  ASSERT_TRUE(run_until([&] { return link.up_both_ways(); })) << "handshake";
  ASSERT_TRUE(up.thread_safe_send()) << "sealed, direct: the workers seal for it";
  const std::uint64_t handshakes_before = up.state().handshakes_done;
  // (B answers a peer's initiations at most every 20 ms; this one comes
  // after the first steps, which may take less.)
  io_.run_for(100ms);
  io_.restart();

  // Unknown unicast from a: flooded, so sealed for B (the only other port).
  // In steps of 100 (loopback drops what overflows B's socket); during the
  // fourth, A's overlay key changes: a new handshake, and the new session
  // replaces the current one while the workers seal with it.
  constexpr std::uint32_t total = 600;
  const std::vector<bytes>& at_b = link.at_b.frames;
  for (std::uint32_t step = 0; step < total / 100; ++step) {
    std::thread sender([&] {
      for (std::uint32_t i = step * 100 + 1; i <= (step + 1) * 100; ++i) a.put(make_frame(mac(9), mac(1), i));
    });
    if (step == 3) {
      (void)run_until([&] { return at_b.size() > 310; });
      EXPECT_TRUE(link.b_end->set_keys({second_key, first_key}));
      EXPECT_TRUE(link.a_end->set_keys({second_key}));  // sessions under the first key end within a second
    }
    const bool all = run_until([&] { return at_b.size() == (step + 1) * 100; });
    sender.join();
    ASSERT_TRUE(all) << at_b.size() << " of " << (step + 1) * 100 << "; drops on A's uplink:" << drop_reasons(up)
                     << "; on B's:" << drop_reasons(*link.b_up);
  }
  ASSERT_TRUE(run_until([&] { return up.state().handshakes_done > handshakes_before; }))
      << "the rekey: initiations sent " << up.state().handshakes_sent << ", refused by B "
      << link.b_end->counters().handshakes_refused << ", drops on B's uplink:" << drop_reasons(*link.b_up);
  // Every frame once, in order: sealed by the workers (none handed to the
  // main thread), opened by B under whichever session sealed it.
  ASSERT_EQ(at_b.size(), total);
  for (std::uint32_t i = 0; i < total; ++i) ASSERT_EQ(seq_of(at_b[i]), i + 1);
  std::uint64_t handed_over = 0;
  for (const auto& w : dp_.worker_statistics()) handed_over += w.handed_over;
  EXPECT_EQ(handed_over, 0u) << "the workers sealed them, not the main thread";
  EXPECT_EQ(up.counters().tx_frames, total);
  EXPECT_EQ(up.counters().drops.total(), 0u);
  EXPECT_EQ(link.b_up->counters().drops.total(), 0u);
  EXPECT_GE(up.state().rekeys, 1u);
}

TEST_F(workers_test, super_frames_two_workers_seal_for_one_peer_at_once_arrive_whole) {
  // Ports a and c are read by different workers; each sends TCP super-frames
  // (offload messages, sealed whole and sent in fragments) to B at the same
  // time: the workers seal with the same session concurrently, each in its
  // own buffers. (Over loopback each message leaves in one sendmsg; where
  // fragments of two messages interleave, as over a NIC from two CPUs, B
  // reassembles both: uplink_test's sealed_offload_fragments_... test.)
  sealed_link link(io_, dp_, key_of(7));
  socket_port& a = add_socket("a");
  socket_port& c = add_socket("c");
  dp_.start();
  link.start();
  ASSERT_TRUE(run_until([&] { return link.up_both_ways(); })) << "handshake";
  constexpr std::size_t per_port = 40, payload = 12000;
  std::vector<std::pair<bytes, l2::vnet_header>> sent;
  for (std::size_t i = 0; i < per_port; ++i) {
    for (std::uint8_t from : {1, 3}) {
      sent.push_back(testing::make_super_frame(mac(9), mac(from), payload, 1300, static_cast<std::uint8_t>(i * 4 + from)));
    }
  }
  a.offload = c.offload = sent.front().second;
  // (At most 8 in flight: B's socket buffer may be as small as 208 KiB.)
  std::thread sender([&] {
    for (std::size_t i = 0; i < sent.size(); ++i) {
      const auto wait_until = std::chrono::steady_clock::now() + 5s;
      while (i > link.at_b.count.load() + 8 && std::chrono::steady_clock::now() < wait_until) {
        std::this_thread::sleep_for(100us);
      }
      (i % 2 == 0 ? a : c).put(sent[i].first);
    }
  });
  const bool all = run_until([&] { return link.at_b.frames.size() == sent.size(); });
  sender.join();
  ASSERT_TRUE(all) << link.at_b.frames.size() << " of " << sent.size() << "; drops on A's uplink:"
                   << drop_reasons(*link.up) << "; on B's:" << drop_reasons(*link.b_up);
  // Each arrived whole, once, with its offload header; each port's in order.
  std::size_t next[2] = {0, 0};
  for (std::size_t i = 0; i < link.at_b.frames.size(); ++i) {
    const bytes& got = link.at_b.frames[i];
    const std::size_t port = got[l2::ethernet_source_offset + 5] == std::byte{1} ? 0 : 1;
    const std::size_t expected = 2 * next[port]++ + port;
    ASSERT_LT(expected, sent.size());
    ASSERT_EQ(got, sent[expected].first) << "frame " << i;
    EXPECT_EQ(link.at_b.offloads[i].gso_size, 1300);
  }
  std::size_t sealing_workers = 0;
  for (const auto& w : dp_.worker_statistics()) sealing_workers += w.frames > 0 ? 1 : 0;
  EXPECT_EQ(sealing_workers, 2u) << "both workers read, and sealed";
  EXPECT_EQ(link.b_up->counters().drops.total(), 0u);
}

TEST_F(workers_test, a_sealed_peers_frames_keep_their_order_to_a_main_thread_port_while_it_starts_a_new_session) {
  // B streams from a thread of its own to a port only the main thread sends
  // on (A's workers open B's frames and hand them over through the ring);
  // B starts a new session mid-stream, so for a while A's main thread opens
  // B's datagrams itself (the first on the new session, and those behind
  // it). No frame overtakes another, none is dropped on the way.
  namespace ip = boost::asio::ip;
  const ports::sealed::key first_key = key_of(4), second_key = key_of(160);
  boost::asio::io_context io_b;
  ports::uplink_settings settings;
  settings.underlay_mtu = 1500;
  settings.keys = {first_key};
  settings.keepalive = 60s;
  settings.peer_timeout = 120s;
  ports::uplink_settings a_settings = settings;
  a_settings.workers = 2;
  const ip::udp::endpoint loopback(ip::make_address_v4("127.0.0.1"), 0);
  const auto a_end = ports::udp_endpoint::open(io_, loopback, a_settings, "test");
  const auto b_end = ports::udp_endpoint::open(io_b, loopback, settings, "test");
  a_end->hold_senders_with([this] { return std::shared_ptr<void>(std::make_shared<datapath::pause_guard>(dp_.pause())); });
  frame_log at_b;
  ports::uplink_port b_up(1, "A", *b_end, a_end->local());
  b_up.start(at_b);
  ports::uplink_port& up = add_uplink(*a_end, "B", b_end->local());
  auto sink = std::make_unique<testing::fake_port>(dp_.next_id(), "m");
  testing::fake_port& m = *sink;
  dp_.add_port(std::move(sink));
  struct removed_in_order {  // (the source and the ports go before the endpoints, however the test ends)
    datapath& dp;
    ports::udp_endpoint& endpoint;
    l2::port_id up, m;
    ~removed_in_order() {
      dp.remove_source(endpoint);
      dp.remove_port(m);
      dp.remove_port(up);
    }
  } guard{dp_, *a_end, up.id(), m.id()};
  dp_.start();
  a_end->order_passed_with([this] { dp_.drain_handoffs(); }, [this] { dp_.send_queued(); });
  dp_.add_source(*a_end, a_end->receive_queues());

  ASSERT_TRUE(a_end->set_keys({first_key, second_key}));  // (A accepts the second key from the start)
  constexpr std::uint32_t total = 20000, new_session_at = 6400;
  std::atomic<std::uint32_t> sent{0};
  std::thread b([&] {
    const auto give_up = std::chrono::steady_clock::now() + 10s;
    std::uint32_t i = 0;
    while (i < total && std::chrono::steady_clock::now() < give_up) {
      if (b_up.is_up()) {
        for (int k = 0; k < 32 && i < total; ++k) b_up.send(l2::packet{make_frame(mac(1), mac(9), ++i), {}});
        sent = i;
        if (i == new_session_at) (void)b_end->set_keys({second_key});  // B initiates a new session now
      }
      io_b.poll();
      io_b.restart();
      std::this_thread::sleep_for(50us);
    }
    for (int k = 0; k < 50; ++k) {  // (its last sends and the handshake's end)
      io_b.poll();
      io_b.restart();
      std::this_thread::sleep_for(1ms);
    }
  });
  const bool all = run_until([&] { return sent.load() == total && m.sent.size() >= total; });
  b.join();
  io_.run_for(20ms);
  io_.restart();
  std::size_t overtaken = 0;
  for (std::size_t i = 1; i < m.sent.size(); ++i) overtaken += seq_of(m.sent[i]) < seq_of(m.sent[i - 1]) ? 1 : 0;
  EXPECT_EQ(overtaken, 0u) << "of " << m.sent.size();
  EXPECT_EQ(up.counters().drops.total(), 0u) << drop_reasons(up);
  EXPECT_GE(up.state().handshakes_done, 2u) << "B's new session";
  EXPECT_GT(a_end->counters().handed_to_main, 0u) << "the new session's first message went through the main thread";
  // (Loopback may drop what overflows A's sockets: the order is what counts.)
  EXPECT_GT(m.sent.size(), total / 2) << (all ? "" : "not all arrived: ") << m.sent.size() << " of " << sent.load();
}

TEST_F(workers_test, workers_open_what_a_sealed_peer_sends_in_order_while_it_starts_a_new_session) {
  // B sends to A, whose workers read A's sockets and open B's data and
  // offload messages themselves: the main thread sees the handshakes and
  // little else. In the fourth hundred B starts a new session (A answers
  // it): B's first message on it goes through A's main thread, which
  // promotes it, the rest not; every frame arrives once and in order.
  const ports::sealed::key first_key = key_of(3), second_key = key_of(150);
  sealed_link link(io_, dp_, first_key);
  socket_port& a = add_socket("a");
  dp_.start();
  link.start();
  ASSERT_TRUE(run_until([&] { return link.up_both_ways(); })) << "handshake";
  io_.run_for(100ms);  // (B answers a peer's initiations at most every 20 ms)
  io_.restart();
  ASSERT_EQ(link.a_end->receive_queues(), 2u);
  const std::uint64_t passed_before = link.a_end->counters().handed_to_main;
  const std::uint64_t handshakes_before = link.b_up->state().handshakes_done;
  std::vector<bytes> got;
  const auto collect = [&](std::size_t n) {
    return run_until([&] {
      for (bytes f = a.take(0ms); !f.empty(); f = a.take(0ms)) got.push_back(std::move(f));
      return got.size() >= n;
    });
  };
  const auto send_from_b = [&](std::uint32_t first, std::uint32_t last) {
    for (std::uint32_t i = first; i <= last; ++i) link.b_up->send(l2::packet{make_frame(mac(1), mac(9), i), {}});
  };
  constexpr std::uint32_t total = 600;
  for (std::uint32_t step = 0; step < total / 100; ++step) {
    const std::uint32_t first = step * 100 + 1;
    if (step == 3) {
      send_from_b(first, first + 49);
      ASSERT_TRUE(link.a_end->set_keys({second_key, first_key}));
      ASSERT_TRUE(link.b_end->set_keys({second_key}));  // B's sessions under the first key end within a second
      ASSERT_TRUE(run_until([&] { return link.b_up->state().handshakes_done > handshakes_before; }))
          << "B's new session";
      send_from_b(first + 50, first + 99);
    } else {
      send_from_b(first, first + 99);
    }
    ASSERT_TRUE(collect((step + 1) * 100)) << got.size() << " of " << (step + 1) * 100
                                           << "; drops on A's uplink:" << drop_reasons(*link.up)
                                           << "; on B's:" << drop_reasons(*link.b_up);
  }
  ASSERT_EQ(got.size(), total);
  for (std::uint32_t i = 0; i < total; ++i) ASSERT_EQ(seq_of(got[i]), i + 1) << "frame " << i;
  EXPECT_GE(link.up->state().handshakes_done, 2u);

  // Super-frames: B seals each whole, A's workers reassemble and open it
  // (into their own buffers) and hand it on; a gets every byte, in order.
  constexpr std::size_t super_frames = 8, payload = 12000;
  std::vector<std::byte> expected, received;
  for (std::size_t i = 0; i < super_frames; ++i) {
    const auto [frame, header] = testing::make_super_frame(mac(1), mac(9), payload, 1300, static_cast<std::uint8_t>(i));
    expected.insert(expected.end(), frame.end() - payload, frame.end());
    link.b_up->send(l2::packet{frame, header});
  }
  constexpr std::size_t headers = l2::ethernet_header_size + 20 + 20;  // (IPv4 and TCP without options)
  ASSERT_TRUE(run_until([&] {
    for (bytes f = a.take(0ms); !f.empty(); f = a.take(0ms)) {
      if (f.size() > headers) received.insert(received.end(), f.begin() + headers, f.end());
    }
    return received.size() >= expected.size();
  })) << received.size() << " of " << expected.size() << " bytes; drops on A's uplink:" << drop_reasons(*link.up);
  EXPECT_EQ(received, expected);

  // The main thread got the new session's handshake and first messages, and
  // at most a few data messages behind them (waiting for the promotion).
  const std::uint64_t passed = link.a_end->counters().handed_to_main - passed_before;
  EXPECT_GE(passed, 1u) << "the initiation";
  EXPECT_LT(passed, 20u) << "the workers opened the data";
  EXPECT_EQ(link.up->counters().drops.total(), 0u) << drop_reasons(*link.up);
  EXPECT_EQ(link.b_up->counters().drops.total(), 0u) << drop_reasons(*link.b_up);
  std::size_t opening_workers = 0;
  for (const auto& w : dp_.worker_statistics()) opening_workers += w.frames > 0 ? 1 : 0;
  EXPECT_GE(opening_workers, 1u);
}

TEST_F(workers_test, workers_receive_a_plain_uplink_on_sockets_of_their_own_while_peers_come_and_go) {
  namespace ip = boost::asio::ip;
  ports::uplink_settings settings;
  settings.underlay_mtu = 1500;
  settings.vni = 77;
  settings.workers = 2;
  const std::unique_ptr<ports::udp_endpoint> endpoint =
      ports::udp_endpoint::open(io_, ip::udp::endpoint(ip::make_address_v4("127.0.0.1"), 0), settings, "test");
  endpoint->hold_senders_with(
      [this] { return std::shared_ptr<void>(std::make_shared<datapath::pause_guard>(dp_.pause())); });
  ASSERT_EQ(endpoint->receive_queues(), 2u);
  ip::udp::endpoint listening;
  socklen_t size = static_cast<socklen_t>(listening.capacity());
  ASSERT_EQ(::getsockname(endpoint->worker_fd(1), listening.data(), &size), 0);
  listening.resize(size);
  ASSERT_NE(listening.port(), 0) << "the workers' sockets share the port the first one got";

  ip::udp::socket peer_address(io_, ip::udp::endpoint(ip::make_address_v4("127.0.0.1"), 0));
  socket_port& a = add_socket("a");
  ports::uplink_port& up = add_uplink(*endpoint, "peer", peer_address.local_endpoint());
  l2::port_id other = l2::no_port;  // a second peer, added and removed under traffic
  struct removed_in_order {  // (ports and the source go before the endpoint, however the test ends)
    datapath& dp;
    ports::udp_endpoint& endpoint;
    l2::port_id id;
    l2::port_id& other;
    ~removed_in_order() {
      dp.remove_source(endpoint);
      if (other != l2::no_port) dp.remove_port(other);
      dp.remove_port(id);
    }
  } guard{dp_, *endpoint, up.id(), other};
  dp_.start();
  dp_.add_source(*endpoint, endpoint->receive_queues());
  a.put(make_frame(broadcast, mac(1)));  // mac(1) is learned on a
  ASSERT_TRUE(run_until([&] { return up.counters().tx_frames == 1; }));

  // 8 flows from 8 source ports of the peer's address (as the kernel's vxlan
  // sends), 200 frames each, to mac(1).
  constexpr std::uint32_t flows = 8, per_flow = 200;
  std::vector<std::unique_ptr<ip::udp::socket>> senders;
  for (std::uint32_t f = 0; f < flows; ++f) {
    senders.push_back(std::make_unique<ip::udp::socket>(io_, ip::udp::endpoint(ip::make_address_v4("127.0.0.1"), 0)));
  }
  // (The sender keeps within 64 frames of what the test took from a: a's
  // socket holds that much, and the test is slow while it changes peers.)
  std::atomic<std::size_t> taken{0};
  std::thread sender([&] {
    const auto header = l2::vxlan_encode(77);
    for (std::uint32_t i = 0; i < per_flow; ++i) {
      const auto wait_until = std::chrono::steady_clock::now() + 5s;
      while (i * flows > taken.load() + 64 && std::chrono::steady_clock::now() < wait_until) {
        std::this_thread::sleep_for(100us);
      }
      for (std::uint32_t f = 0; f < flows; ++f) {
        bytes d(header.begin(), header.end());
        const bytes inner = make_frame(mac(1), mac(static_cast<std::uint8_t>(10 + f)), f * 1000 + i);
        d.insert(d.end(), inner.begin(), inner.end());
        senders[f]->send_to(boost::asio::buffer(d), listening);
      }
    }
  });
  // The second peer sends all along, also while it is being added (known to
  // the endpoint, not yet started): its unknown unicast is flooded to a too.
  std::atomic<bool> stop_other{false};
  std::thread other_sender([&] {
    ip::udp::socket from(io_, ip::udp::endpoint(ip::make_address_v4("127.0.0.2"), 0));
    const auto header = l2::vxlan_encode(77);
    bytes d(header.begin(), header.end());
    const bytes inner = make_frame(mac(50), mac(51));
    d.insert(d.end(), inner.begin(), inner.end());
    while (!stop_other) {
      from.send_to(boost::asio::buffer(d), listening);
      std::this_thread::sleep_for(100us);
    }
  });
  std::vector<std::vector<std::uint32_t>> got(flows);
  std::size_t total = 0;
  for (int i = 0; total < flows * per_flow; ++i) {
    const bytes frame = a.take(1000ms);
    if (frame.empty()) break;
    if (frame[l2::ethernet_source_offset + 5] == std::byte{51}) continue;  // the second peer's
    const std::uint32_t seq = seq_of(frame);
    ASSERT_LT(seq / 1000, flows);
    got[seq / 1000].push_back(seq % 1000);
    taken = ++total;
    if (i % 50 == 0) {  // the list of peers changes while the workers look datagrams up in it
      if (other != l2::no_port) {
        dp_.remove_port(other);
        other = l2::no_port;
      } else {
        auto p = std::make_unique<ports::uplink_port>(dp_.next_id(), "other", *endpoint,
                                                      ip::udp::endpoint(ip::make_address_v4("127.0.0.2"), 4789));
        other = p->id();
        dp_.add_port(std::move(p));
      }
    }
  }
  sender.join();
  stop_other = true;
  other_sender.join();
  ASSERT_EQ(total, flows * per_flow) << "drops on a: " << a.counters().drops.total()
                                     << ", on the uplink: " << up.counters().drops.total();
  for (std::uint32_t f = 0; f < flows; ++f) {
    ASSERT_EQ(got[f].size(), per_flow);
    for (std::uint32_t i = 0; i < per_flow; ++i) ASSERT_EQ(got[f][i], i) << "flow " << f << " in order";
  }
  std::uint64_t handed_over = 0;
  std::size_t endpoint_queues = 0;
  for (const auto& w : dp_.worker_statistics()) {
    handed_over += w.handed_over;
    for (const auto& [name, queue] : w.queues) {
      if (name.starts_with("udp:")) ++endpoint_queues;
    }
  }
  EXPECT_EQ(handed_over, 0u) << "the workers forwarded them, not the main thread";
  EXPECT_EQ(endpoint_queues, 2u) << "one socket on each worker";
  EXPECT_GE(endpoint->counters().rx_datagrams, flows * per_flow);  // (and the second peer's)
  EXPECT_EQ(up.counters().rx_frames, flows * per_flow);
}

TEST_F(workers_test, ports_come_and_go_and_the_table_is_flushed_under_traffic) {
  socket_port& a = add_socket("a");
  socket_port& b = add_socket("b");
  dp_.start();
  b.put(make_frame(broadcast, mac(2)));
  (void)a.take();
  std::atomic<bool> stop{false};
  std::thread sender([&] {
    for (std::uint32_t i = 0; !stop; ++i) {
      a.put(make_frame(i % 2 == 0 ? mac(2) : broadcast, mac(1), i));
      if (i % 64 == 0) std::this_thread::sleep_for(50us);
    }
  });
  std::thread drainer([&] {
    while (!stop) (void)b.take(10ms);
  });
  for (int round = 0; round < 40; ++round) {
    socket_port& c = add_socket("c");
    main_port& m = add_main("m");
    io_.run_for(1ms);
    io_.restart();
    const l2::port_id cid = c.id(), mid = m.id();
    {
      const auto paused = dp_.pause();
      dp_.forwarder().table().flush();
    }
    dp_.remove_port(mid);
    dp_.remove_port(cid);
  }
  stop = true;
  sender.join();
  drainer.join();
  EXPECT_EQ(dp_.port_count(), 2u);
  // The two that stayed still switch.
  while (!b.take(20ms).empty()) {
  }
  const bytes last = make_frame(mac(2), mac(1), 424242);
  a.put(last);
  bytes got;
  while (!(got = b.take()).empty() && got != last) {
  }
  EXPECT_EQ(got, last);
}

/// Frames the workers forwarded by a remembered decision, all workers together.
std::uint64_t cached(const datapath& dp) {
  std::uint64_t n = 0;
  for (const auto& w : dp.worker_statistics()) n += w.cached;
  return n;
}

TEST_F(workers_test, a_flow_switched_again_is_forwarded_without_the_lock_and_follows_changes) {
  socket_port& a = add_socket("a");
  socket_port& b = add_socket("b");
  socket_port& c = add_socket("c");
  dp_.start();
  a.put(make_frame(broadcast, mac(1)));
  (void)b.take(), (void)c.take();
  b.put(make_frame(broadcast, mac(2)));
  (void)a.take(), (void)c.take();
  ASSERT_EQ(cached(dp_), 0u);

  // 1. The first frame of the flow is decided under the lock, the next 19
  // by the worker's memory of it: all of them reach a, and only a.
  for (std::uint32_t i = 1; i <= 20; ++i) b.put(make_frame(mac(1), mac(2), i));
  for (std::uint32_t i = 1; i <= 20; ++i) ASSERT_EQ(seq_of(a.take()), i);
  EXPECT_TRUE(c.take(50ms).empty()) << "known unicast, never flooded";
  EXPECT_EQ(cached(dp_), 19u);

  // 2. mac(1) moves to c: the flow follows it at once.
  c.put(make_frame(mac(2), mac(1), 100));
  EXPECT_EQ(seq_of(b.take()), 100u);
  b.put(make_frame(mac(1), mac(2), 101));
  EXPECT_EQ(seq_of(c.take()), 101u) << "sent where mac(1) is now";
  EXPECT_TRUE(a.take(50ms).empty()) << "not where it was remembered";

  // 3. c goes down (its MACs are flushed): the flow is flooded to the ports that are up.
  dp_.on_link_change(c, false, "test");
  b.put(make_frame(mac(1), mac(2), 102));
  EXPECT_EQ(seq_of(a.take()), 102u) << "unknown again: flooded";
  EXPECT_TRUE(c.take(50ms).empty()) << "nothing to the port that is down";
  dp_.on_link_change(c, true, "test");

  // 4. A busy source is learned again (its time refreshed) once a second, not with every frame.
  a.put(make_frame(mac(2), mac(1), 200));  // mac(1) back on a
  EXPECT_EQ(seq_of(b.take()), 200u);
  const auto seen = [&] {
    const auto paused = dp_.pause();
    return dp_.forwarder().table().find(0, mac(1))->last_seen;
  };
  const l2::time_point first = seen();
  const std::uint64_t before = cached(dp_);
  for (std::uint32_t i = 1; i <= 10; ++i) a.put(make_frame(mac(2), mac(1), 200 + i));
  for (std::uint32_t i = 1; i <= 10; ++i) ASSERT_EQ(seq_of(b.take()), 200 + i);
  clock_skip_ns += std::chrono::nanoseconds(1500ms).count();
  for (std::uint32_t i = 11; i <= 20; ++i) a.put(make_frame(mac(2), mac(1), 200 + i));
  for (std::uint32_t i = 11; i <= 20; ++i) ASSERT_EQ(seq_of(b.take()), 200 + i);
  EXPECT_EQ(cached(dp_) - before, 18u)
      << "of 20 frames, a second apart in two runs: the first of each run is decided (and learned) under the lock";
  EXPECT_GE(seen() - first, 1500ms) << "the source's time was refreshed after the second was up";
}

/// Records the thread and the port of every frame it sees.
class recording_observer final : public frame_observer {
 public:
  void observe(l2::port_id port, const l2::packet&) override {
    if (std::this_thread::get_id() != main) wrong_thread = true;
    ports.push_back(port);
  }
  std::thread::id main = std::this_thread::get_id();
  bool wrong_thread = false;
  std::vector<l2::port_id> ports;
};

TEST_F(workers_test, a_capture_sees_frames_from_workers_on_the_main_thread) {
  socket_port& a = add_socket("a");
  socket_port& b = add_socket("b");
  dp_.start();
  recording_observer o;
  dp_.watch(a.id(), o);
  const bytes frame = make_frame(broadcast, mac(1));
  a.put(frame);
  ASSERT_TRUE(run_until([&] { return !o.ports.empty(); }));
  EXPECT_EQ(b.take(), frame) << "still switched while captured";
  EXPECT_FALSE(o.wrong_thread);
  dp_.unwatch(o);
  a.put(frame);
  EXPECT_EQ(b.take(), frame);
  EXPECT_EQ(o.ports.size(), 1u);
}

}  // namespace
}  // namespace switchd
