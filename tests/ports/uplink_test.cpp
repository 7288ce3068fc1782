// Tests of udp_endpoint and uplink_port over loopback, without privileges:
// two real endpoints (A and B) on 127.0.0.1 in one io_context, each with one
// uplink_port towards the other and a recording listener. Plain VXLAN (frames
// byte-identical, malformed datagrams counted, strangers counted as not_peer)
// and sealed mode (handshake and link up, frames, GSO super-frames carried
// whole, too_big, every reject of a replayed, forged or malformed datagram,
// an initiation from a stranger, offload reassembly, a peer's restart,
// roaming, and overlay key changes).
//
// Injection, plain: B has one peer at 127.0.0.1, so a datagram from any port
// of 127.0.0.1 is charged to that peer. Sealed: A and B talk through a relay
// in the test (two sockets, a wire the test can tap): it records every
// datagram and can hold them back, replay, alter or reorder them, as an
// attacker on the path could.
//
// Every wait pumps the io_context in short run_for() slices until a condition
// holds, bounded by a deadline of 2 s per test; nothing asserts on elapsed time.
#include "ports/uplink_port.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "l2/byte_order.hpp"
#include "l2/offload.hpp"
#include "l2/vlan.hpp"
#include "ports/sealed.hpp"
#include "tests/l2/test_bytes.hpp"
#include "tests/ports/recorder.hpp"

namespace {

namespace ip = boost::asio::ip;
namespace sealed = ports::sealed;
using namespace std::chrono_literals;
using l2::drop_reason;
using l2_test::byte_vector;
using sealed::message;

// ---------------------------------------------------------------------------
// Bytes.

void put16(std::span<std::byte> b, std::size_t at, std::uint16_t v) {
  b[at] = static_cast<std::byte>(v >> 8);
  b[at + 1] = static_cast<std::byte>(v & 0xff);
}

/// A non-IP frame (ethertype 0x88b5, never merged by the coalescer) of
/// `size` bytes whose payload is a pattern derived from `n`.
byte_vector test_frame(unsigned n, std::size_t size = 100) {
  byte_vector f(size);
  const auto mac = l2_test::bytes({0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x88, 0xb5});
  std::copy(mac.begin(), mac.end(), f.begin());
  for (std::size_t i = mac.size(); i < size; ++i) f[i] = static_cast<std::byte>((n * 7 + i) & 0xff);
  return f;
}

/// The Internet checksum's folded sum of `data` (16-bit big-endian words).
std::uint16_t sum16(std::span<const std::byte> data) {
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i < data.size(); i += 2) {
    std::uint32_t w = std::to_integer<std::uint32_t>(data[i]) << 8;
    if (i + 1 < data.size()) w |= std::to_integer<std::uint32_t>(data[i + 1]);
    sum += w;
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<std::uint16_t>(sum);
}

/// A TCP/IPv4 super-frame as a TAP with IFF_VNET_HDR hands it over, and its header.
struct super_frame {
  byte_vector frame;
  l2::vnet_header header;
};

super_frame tcp_super_frame(std::size_t payload_size, std::uint16_t gso_size, unsigned seed = 1) {
  constexpr std::size_t l3 = 14;
  constexpr std::size_t l4 = l3 + 20;
  constexpr std::size_t headers = l4 + 20;
  super_frame out;
  byte_vector& f = out.frame;
  f.resize(headers + payload_size);
  const auto eth = l2_test::bytes({0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00});
  std::copy(eth.begin(), eth.end(), f.begin());
  const std::span<std::byte> s(f);
  const auto ip_total = static_cast<std::uint16_t>(20 + 20 + payload_size);
  const auto ip = l2_test::bytes({0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2});
  std::copy(ip.begin(), ip.end(), f.begin() + l3);
  put16(s, l3 + 2, ip_total);
  put16(s, l3 + 10, static_cast<std::uint16_t>(~sum16(s.subspan(l3, 20))));
  const auto tcp = l2_test::bytes({0x9c, 0x40, 0x14, 0x51, 0x10, 0, 0, 0, 0xa0, 0xb0, 0xc0, 0xd0,
                                   0x50, 0x18, 0x01, 0xf5, 0, 0, 0, 0});
  std::copy(tcp.begin(), tcp.end(), f.begin() + l4);
  for (std::size_t i = 0; i < payload_size; ++i) {
    f[headers + i] = static_cast<std::byte>((i * 131 + seed * 17 + (i >> 8)) & 0xff);
  }
  // The partial checksum: the pseudo-header sum (addresses, protocol, L4 length).
  byte_vector pseudo(12);
  std::copy(f.begin() + l3 + 12, f.begin() + l3 + 20, pseudo.begin());
  put16(pseudo, 8, 6);
  put16(pseudo, 10, static_cast<std::uint16_t>(20 + payload_size));
  put16(s, l4 + 16, sum16(pseudo));
  out.header.flags = l2::vnet_flag_needs_csum;
  out.header.gso_type = l2::gso_tcpv4;
  out.header.hdr_len = static_cast<std::uint16_t>(headers);
  out.header.gso_size = gso_size;
  out.header.csum_start = static_cast<std::uint16_t>(l4);
  out.header.csum_offset = 16;
  EXPECT_TRUE(l2::validate(out.header, out.frame));
  return out;
}

sealed::key make_key(std::uint8_t base) {
  sealed::key k;
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::byte>(base + i);
  return k;
}

// ---------------------------------------------------------------------------
// The listener and the two endpoints.

using ports_test::received_frame;
using ports_test::recorder;

/// A free UDP port on 127.0.0.1 (bound once to port 0, then released).
std::uint16_t free_port(boost::asio::io_context& io) {
  ip::udp::socket s(io, ip::udp::endpoint(ip::make_address_v4("127.0.0.1"), 0));
  return s.local_endpoint().port();
}

/// One switch: its endpoint and its one uplink port towards the other.
/// Members are destroyed port first, then the endpoint, then the listener.
struct side {
  recorder listener;
  ip::udp::endpoint address;
  std::unique_ptr<ports::udp_endpoint> endpoint;
  std::unique_ptr<ports::uplink_port> port;

  const ports::port_counters& counters() const { return port->counters(); }
  std::uint64_t drops(drop_reason r) const { return port->counters().drops[r]; }
  void close() {
    port.reset();
    endpoint.reset();
  }
};

class uplink_test : public ::testing::Test {
 protected:
  static constexpr auto test_budget = 2000ms;

  /// Settings for sealed tests: `identity` (or an overlay key alone when
  /// none), no keepalive traffic after the handshake (so counters move only
  /// with what the test sends), 1500 underlay.
  static ports::uplink_settings sealed_settings(std::optional<ports::noise::key_pair> identity,
                                                std::vector<sealed::key> keys = {}) {
    ports::uplink_settings s;
    s.identity = std::move(identity);
    s.keys = std::move(keys);
    s.keepalive = 60s;
    s.peer_timeout = 120s;
    s.underlay_mtu = 1500;
    return s;
  }
  ports::uplink_settings a_settings() const { return sealed_settings(a_identity_); }
  ports::uplink_settings b_settings() const { return sealed_settings(b_identity_); }

  /// Opens `s`'s endpoint on 127.0.0.1:`port`.
  void open_endpoint(side& s, const ports::uplink_settings& settings, std::uint16_t port) {
    s.address = ip::udp::endpoint(ip::make_address_v4("127.0.0.1"), port);
    s.endpoint = ports::udp_endpoint::open(io_, s.address, settings, "test");
  }

  /// Opens A and B on free ports with their settings, each with a port
  /// towards the other (sealed: through the relay), and starts them.
  void open_pair(const ports::uplink_settings& a_set, const ports::uplink_settings& b_set) {
    for (int attempt = 0;; ++attempt) {
      try {
        open_endpoint(a_, a_set, free_port(io_));
        open_endpoint(b_, b_set, free_port(io_));
        break;
      } catch (const ports::port_error&) {
        a_.endpoint.reset();
        b_.endpoint.reset();
        if (attempt == 5) throw;
      }
    }
    connect_a();
    connect_b();
  }
  void open_pair(const ports::uplink_settings& settings) { open_pair(settings, settings); }

  bool relayed() const { return a_.endpoint->is_sealed(); }
  /// Where A sends to reach B, and B to reach A.
  ip::udp::endpoint b_as_seen_by_a() const { return relayed() ? relay_a_.local_endpoint() : b_.address; }
  ip::udp::endpoint a_as_seen_by_b() const { return relayed() ? relay_b_.local_endpoint() : a_.address; }

  /// Gives A its port towards B, started (anew, after it was dropped).
  void connect_a() {
    a_.port = std::make_unique<ports::uplink_port>(1, "B", *a_.endpoint, b_as_seen_by_a(), "", "",
                                                   b_identity_ ? std::optional(b_identity_->public_key)
                                                               : std::nullopt);
    a_.port->start(a_.listener);
  }
  void connect_b() {
    b_.port = std::make_unique<ports::uplink_port>(1, "A", *b_.endpoint, a_as_seen_by_b(), "", "",
                                                   a_identity_ ? std::optional(a_identity_->public_key)
                                                               : std::nullopt);
    b_.port->start(b_.listener);
  }

  /// A restarts: a new endpoint on the same address (`port`: another one), a new port.
  void restart_a(const ports::uplink_settings& settings, std::uint16_t port = 0) {
    const ip::udp::endpoint address = a_.address;
    a_.close();
    a_.listener = recorder{};
    open_endpoint(a_, settings, port != 0 ? port : address.port());
    connect_a();
  }

  /// Opens a sealed pair and waits until the handshake is done both ways
  /// (B has heard on its new session, so nothing of it is still in flight).
  void open_sealed_pair() { open_sealed_pair(a_settings(), b_settings()); }
  void open_sealed_pair(const ports::uplink_settings& a_set, const ports::uplink_settings& b_set) {
    open_pair(a_set, b_set);
    EXPECT_FALSE(a_.port->is_up());
    EXPECT_FALSE(b_.port->is_up());
    ASSERT_TRUE(pump_until([&] { return a_.port->is_up() && b_.port->is_up(); })) << "handshake not done";
    settle();
    wire_.clear();
  }

  /// A datagram that crossed the relay.
  struct crossing {
    bool from_a = false;
    byte_vector bytes;
  };

  /// Plain with workers, an endpoint's sockets are read by the workers, not
  /// on the io_context: reads what waits on each, on a thread standing in
  /// for worker q (whose round ends with the read).
  void read_on_workers() {
    for (side* s : {&a_, &b_}) {
      if (!s->endpoint || !s->endpoint->worker_receives()) continue;
      for (std::size_t q = 0; q < s->endpoint->receive_queues(); ++q) read_queue(*s, q);
    }
  }
  static void read_queue(side& s, std::size_t q) {
    std::thread t([&] {
      ports::this_worker = static_cast<int>(q);
      while (s.endpoint->worker_read(q) == ports::worker_source::worker_step::again) {
      }
      for (ports::drain_flush* b : ports::round_batches) b->flush_drained();
      ports::round_batches.clear();
    });
    t.join();
  }

  /// Moves what waits at the relay's sockets across (unless held), recording it.
  void relay() {
    read_on_workers();
    for (bool from_a : {true, false}) {
      ip::udp::socket& in = from_a ? relay_a_ : relay_b_;
      ip::udp::socket& out = from_a ? relay_b_ : relay_a_;
      while (in.available() > 0) {
        byte_vector d(65536);
        ip::udp::endpoint from;
        d.resize(in.receive_from(boost::asio::buffer(d.data(), d.size()), from));
        wire_.push_back({from_a, d});
        if (hold_) continue;
        out.send_to(boost::asio::buffer(d.data(), d.size()), from_a ? b_.address : a_.address);
      }
    }
  }

  /// The datagrams A sent towards B since the last clear, of `type`.
  std::vector<byte_vector> from_a(sealed::message type) const {
    std::vector<byte_vector> out;
    for (const crossing& c : wire_) {
      if (c.from_a && c.bytes.size() >= 2 && c.bytes[1] == static_cast<std::byte>(type)) out.push_back(c.bytes);
    }
    return out;
  }

  /// Runs the io_context (and the relay) until `done()` or the test's
  /// deadline; returns done().
  bool pump_until(const std::function<bool()>& done) {
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline_) return done();
      if (io_.stopped()) io_.restart();
      io_.run_for(2ms);
      relay();
    }
    return true;
  }

  /// Runs what is ready plus a short while (for datagrams still in flight);
  /// nothing is asserted on it.
  void settle() {
    const auto until = std::min(deadline_, std::chrono::steady_clock::now() + 20ms);
    while (std::chrono::steady_clock::now() < until) {
      if (io_.stopped()) io_.restart();
      io_.run_for(2ms);
      relay();
    }
  }

  /// Sends `datagram` to B as if from A: from the injection socket (plain:
  /// any port of 127.0.0.1 is A's), or from the relay (sealed).
  void inject(std::span<const std::byte> datagram) {
    ip::udp::socket& from = relayed() ? relay_b_ : injector_;
    from.send_to(boost::asio::buffer(datagram.data(), datagram.size()), b_.address);
  }

  /// Injects `datagram` and waits until B's port counts a drop for `reason`.
  void inject_expect_drop(std::span<const std::byte> datagram, drop_reason reason) {
    const std::uint64_t before = b_.drops(reason);
    inject(datagram);
    EXPECT_TRUE(pump_until([&] { return b_.drops(reason) > before; }))
        << "no " << l2::to_string(reason) << " drop";
  }

  /// Injects `datagram` and waits until B delivers one more frame.
  void inject_expect_frame(std::span<const std::byte> datagram) {
    const std::size_t before = b_.listener.frames.size();
    inject(datagram);
    EXPECT_TRUE(pump_until([&] { return b_.listener.frames.size() > before; }))
        << "not delivered; drops on B: " << describe_drops(b_.counters().drops);
  }

  static std::string describe_drops(const l2::drop_counters& d) {
    std::string text;
    for (std::size_t i = 0; i < l2::drop_reason_count; ++i) {
      if (d.by_reason[i] == 0) continue;
      text += std::string(l2::to_string(static_cast<drop_reason>(i))) + "=" +
              std::to_string(d.by_reason[i]) + " ";
    }
    return text.empty() ? "none" : text;
  }

  /// A sends `frame` (plain packet) and it must arrive at B as it is.
  void expect_a_to_b(std::span<const std::byte> frame) {
    const std::size_t before = b_.listener.frames.size();
    a_.port->send(l2::packet{frame, {}});
    ASSERT_TRUE(pump_until([&] { return b_.listener.frames.size() > before; }))
        << "not delivered; drops on B: " << describe_drops(b_.counters().drops);
    const received_frame& got = b_.listener.frames.back();
    EXPECT_EQ(got.from, b_.port.get());
    EXPECT_TRUE(std::ranges::equal(got.bytes, frame));
    EXPECT_TRUE(got.offload.is_plain());
  }

  boost::asio::io_context io_;
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::now() + test_budget;
  ip::udp::socket injector_{io_, ip::udp::endpoint(ip::make_address_v4("127.0.0.1"), 0)};
  ip::udp::socket relay_a_{io_, ip::udp::endpoint(ip::make_address_v4("127.0.0.1"), 0)};
  ip::udp::socket relay_b_{io_, ip::udp::endpoint(ip::make_address_v4("127.0.0.1"), 0)};
  std::vector<crossing> wire_;
  bool hold_ = false;  ///< the relay records but does not pass datagrams on
  std::optional<ports::noise::key_pair> a_identity_ = ports::noise::key_pair::generate();
  std::optional<ports::noise::key_pair> b_identity_ = ports::noise::key_pair::generate();
  side a_;
  side b_;
};

// ---------------------------------------------------------------------------
// 1. Plain VXLAN.

TEST_F(uplink_test, plain_frames_arrive_byte_identical_and_peers_are_always_up) {
  ports::uplink_settings s;
  s.vni = 4242;
  s.underlay_mtu = 1500;
  open_pair(s);
  EXPECT_TRUE(a_.port->is_up());
  EXPECT_TRUE(b_.port->is_up());
  EXPECT_FALSE(a_.port->carries_offload());
  EXPECT_EQ(a_.port->max_frame_size(), 1500u - 20 - 8 - 8);

  for (unsigned n = 0; n < 3; ++n) expect_a_to_b(test_frame(n, 60 + n * 500));
  const byte_vector largest = test_frame(9, 1464);
  expect_a_to_b(largest);  // 1464 + 8 + 28 = 1500: fits exactly
  // And back.
  const byte_vector back = test_frame(7, 200);
  a_.port->send(l2::packet{test_frame(8), {}});  // (arrives at B; not checked here)
  b_.port->send(l2::packet{back, {}});
  ASSERT_TRUE(pump_until([&] { return a_.listener.frames.size() == 1; }));
  EXPECT_TRUE(std::ranges::equal(a_.listener.frames[0].bytes, back));
  ASSERT_TRUE(pump_until([&] { return b_.listener.frames.size() == 5; }));
  settle();

  EXPECT_EQ(a_.counters().tx_frames, 5u);
  EXPECT_EQ(b_.counters().rx_frames, 5u);
  EXPECT_EQ(b_.counters().rx_bytes, 60u + 560 + 1060 + 1464 + 100);
  EXPECT_EQ(a_.counters().drops.total(), 0u);
  EXPECT_EQ(b_.counters().drops.total(), 0u);
  EXPECT_TRUE(a_.listener.links.empty());
  EXPECT_TRUE(b_.listener.links.empty());

  // One byte over the inner MTU: too_big, nothing sent.
  a_.port->send(l2::packet{test_frame(10, 1465), {}});
  EXPECT_EQ(a_.drops(drop_reason::too_big), 1u);
  EXPECT_EQ(a_.counters().tx_frames, 5u);
}

TEST_F(uplink_test, plain_malformed_datagrams_are_counted_on_the_peer_port) {
  ports::uplink_settings s;
  s.vni = 4242;
  open_pair(s);
  const byte_vector inner = test_frame(1, 64);
  const auto vxlan = [&](l2::vni vni, std::uint8_t flags) {
    byte_vector d(l2::vxlan_header_size + inner.size());
    const auto h = l2::vxlan_encode(vni);
    std::copy(h.begin(), h.end(), d.begin());
    d[0] = static_cast<std::byte>(flags);
    std::copy(inner.begin(), inner.end(), d.begin() + l2::vxlan_header_size);
    return d;
  };
  // Any source port on the peer's address is the peer (one peer on 127.0.0.1).
  inject_expect_frame(vxlan(4242, 0x08));
  EXPECT_TRUE(std::ranges::equal(b_.listener.frames.back().bytes, inner));

  inject_expect_drop(vxlan(4243, 0x08), drop_reason::vxlan_wrong_vni);
  inject_expect_drop(vxlan(4242, 0x00), drop_reason::vxlan_bad_flags);
  byte_vector short_datagram = vxlan(4242, 0x08);
  short_datagram.resize(l2::vxlan_header_size + l2::ethernet_header_size - 1);
  inject_expect_drop(short_datagram, drop_reason::vxlan_short);
  inject_expect_drop({}, drop_reason::vxlan_short);  // an empty datagram
  inject_expect_frame(vxlan(4242, 0x88));           // reserved bits ignored (RFC 7348)

  // From an address that is no peer: counted on the endpoint, not on the port.
  ip::udp::socket stranger(io_, ip::udp::endpoint(ip::make_address_v4("127.0.0.2"), 0));
  const byte_vector valid = vxlan(4242, 0x08);
  stranger.send_to(boost::asio::buffer(valid), b_.address);
  ASSERT_TRUE(pump_until([&] { return b_.endpoint->counters().drops[drop_reason::not_peer] == 1; }));

  // A last valid one proves everything before it was read.
  inject_expect_frame(vxlan(4242, 0x08));
  settle();
  EXPECT_EQ(b_.listener.frames.size(), 3u);
  EXPECT_EQ(b_.drops(drop_reason::vxlan_wrong_vni), 1u);
  EXPECT_EQ(b_.drops(drop_reason::vxlan_bad_flags), 1u);
  EXPECT_EQ(b_.drops(drop_reason::vxlan_short), 2u);
  EXPECT_EQ(b_.counters().drops.total(), 4u);
  EXPECT_EQ(b_.counters().rx_frames, 3u);
  EXPECT_EQ(b_.endpoint->counters().drops[drop_reason::not_peer], 1u);
  EXPECT_EQ(b_.endpoint->counters().drops.total(), 1u);
  EXPECT_EQ(b_.endpoint->counters().rx_datagrams, 8u);
}

/// Segments `sf` (tagged with `vlan` first when nonzero) as the datapath does
/// for a plain uplink, and has A send the segments; returns their count.
std::size_t send_segmented(ports::uplink_port& port, const super_frame& sf, l2::vlan_id vlan) {
  byte_vector tagged(sf.frame.size() + l2::vlan_tag_size);
  const l2::packet in{sf.frame, sf.header};
  const l2::packet packet =
      vlan == 0 ? in : l2::retag(in, l2::tag_change{l2::tag_change::action::push, vlan}, tagged);
  byte_vector buffer(l2::segment_buffer_size(packet.frame.size(), port.segment_headroom()));
  const l2::segment_result r = l2::segment(packet.frame, packet.offload, port.segment_headroom(), buffer);
  EXPECT_TRUE(r);
  port.send_segments(buffer, r);
  return r.count;
}

/// The TCP payload of the frames B received (merged or not), each checked
/// to carry `vlan`'s tag (none when 0).
byte_vector received_payload(const recorder& listener, l2::vlan_id vlan) {
  const std::size_t headers = 14 + (vlan != 0 ? l2::vlan_tag_size : 0) + 20 + 20;
  byte_vector payload;
  for (const received_frame& f : listener.frames) {
    if (vlan != 0) {
      EXPECT_EQ(l2::byte_order::load16(f.bytes, 12), l2::ethertype_vlan);
      EXPECT_EQ(l2::byte_order::load16(f.bytes, 14), vlan);
    }
    payload.insert(payload.end(), f.bytes.begin() + static_cast<std::ptrdiff_t>(headers), f.bytes.end());
  }
  return payload;
}

TEST_F(uplink_test, plain_super_frame_segments_arrive_whole) {
  ports::uplink_settings s;
  s.vni = 4242;
  s.underlay_mtu = 1500;
  open_pair(s);
  // gso_size 1410: segments of 54 + 1410 = 1464 bytes, the inner MTU exactly.
  const super_frame sf = tcp_super_frame(20000, 1410);
  const std::size_t count = send_segmented(*a_.port, sf, 0);
  EXPECT_EQ(count, 15u);
  const byte_vector payload(sf.frame.begin() + 54, sf.frame.end());
  ASSERT_TRUE(pump_until([&] { return received_payload(b_.listener, 0).size() >= payload.size(); }))
      << "drops on A: " << describe_drops(a_.counters().drops) << "; on B: " << describe_drops(b_.counters().drops);
  EXPECT_EQ(received_payload(b_.listener, 0), payload);
  EXPECT_EQ(a_.counters().tx_frames, count);
  EXPECT_EQ(a_.counters().drops.total(), 0u);
  EXPECT_EQ(b_.counters().drops.total(), 0u);
}

/// Runs `work` on a thread that passes for worker `index`, then ends its
/// round as the worker would: every batch that registered is flushed.
template <typename Work>
void as_worker(int index, Work work) {
  std::thread t([&] {
    ports::this_worker = index;
    work();
    for (ports::drain_flush* b : ports::round_batches) b->flush_drained();
    ports::round_batches.clear();
  });
  t.join();
}

TEST_F(uplink_test, plain_with_workers_a_worker_sends_itself_and_its_frames_leave_when_its_round_ends) {
  ports::uplink_settings s;
  s.vni = 4242;
  s.underlay_mtu = 1500;
  s.workers = 2;
  open_pair(s);
  ASSERT_TRUE(a_.port->thread_safe_send()) << "workers send on a plain uplink themselves";
  const byte_vector first = test_frame(1, 80), second = test_frame(2, 1464);
  std::uint64_t sent_before_round_end = 99;
  as_worker(1, [&] {
    a_.port->send(l2::packet{first, {}});
    a_.port->send(l2::packet{second, {}});
    sent_before_round_end = a_.counters().tx_frames;
  });
  EXPECT_EQ(sent_before_round_end, 0u) << "small frames wait for the end of the worker's round";
  ASSERT_TRUE(pump_until([&] { return b_.listener.frames.size() == 2; }));
  EXPECT_TRUE(std::ranges::equal(b_.listener.frames[0].bytes, first));
  EXPECT_TRUE(std::ranges::equal(b_.listener.frames[1].bytes, second));
  EXPECT_EQ(a_.counters().tx_frames, 2u);
  b_.listener.frames.clear();

  // A super-frame segmented on the worker: its segments keep their order
  // behind a small frame it batched before them, and arrive whole.
  const super_frame sf = tcp_super_frame(20000, 1410);
  std::size_t count = 0;
  as_worker(0, [&] {
    a_.port->send(l2::packet{test_frame(3, 70), {}});
    count = send_segmented(*a_.port, sf, 0);
  });
  const byte_vector payload(sf.frame.begin() + 54, sf.frame.end());
  ASSERT_TRUE(pump_until([&] { return received_payload(b_.listener, 0).size() >= payload.size() + 70 - 54; }));
  ASSERT_FALSE(b_.listener.frames.empty());
  EXPECT_EQ(b_.listener.frames[0].bytes.size(), 70u) << "the small frame first";
  b_.listener.frames.erase(b_.listener.frames.begin());
  EXPECT_EQ(received_payload(b_.listener, 0), payload);
  EXPECT_EQ(a_.counters().tx_frames, 3u + count);
  EXPECT_EQ(a_.counters().drops.total(), 0u);
}

TEST_F(uplink_test, plain_with_workers_each_worker_receives_on_its_own_socket_one_flow_on_one) {
  ports::uplink_settings s;
  s.vni = 4242;
  s.workers = 2;
  open_pair(s);
  ASSERT_TRUE(b_.endpoint->worker_receives());
  ASSERT_EQ(b_.endpoint->receive_queues(), 2u);
  const int fd0 = b_.endpoint->worker_fd(0), fd1 = b_.endpoint->worker_fd(1);
  ASSERT_GE(fd0, 0);
  ASSERT_GE(fd1, 0);
  EXPECT_NE(fd0, fd1);
  const auto bound = [](int fd) {
    ip::udp::endpoint e;
    socklen_t size = static_cast<socklen_t>(e.capacity());
    EXPECT_EQ(::getsockname(fd, e.data(), &size), 0);
    e.resize(size);
    return e;
  };
  EXPECT_EQ(bound(fd0), b_.address);
  EXPECT_EQ(bound(fd1), b_.address) << "the workers' sockets share the endpoint's address";

  // Nobody else gets into the group: a second endpoint on the port fails
  // as it does without workers.
  EXPECT_THROW(ports::udp_endpoint::open(io_, b_.address, s, "test"), ports::port_error);
  ports::uplink_settings one = s;
  one.workers = 1;
  EXPECT_THROW(ports::udp_endpoint::open(io_, b_.address, one, "test"), ports::port_error);

  // 16 flows (source ports of A's address, as the kernel's vxlan sends), 20
  // frames each. The kernel hashes each flow to one socket: each worker
  // reads whole flows, in order, and the two share them.
  constexpr std::size_t flows = 16, per_flow = 20;
  std::vector<std::unique_ptr<ip::udp::socket>> senders;
  for (std::size_t f = 0; f < flows; ++f) {
    senders.push_back(std::make_unique<ip::udp::socket>(io_, ip::udp::endpoint(ip::make_address_v4("127.0.0.1"), 0)));
  }
  const auto datagram = [](std::size_t f, std::size_t i) {
    byte_vector inner = test_frame(static_cast<std::uint8_t>(f + 1), 64);
    inner[40] = static_cast<std::byte>(f);
    inner[41] = static_cast<std::byte>(i);
    byte_vector d(l2::vxlan_header_size);
    const auto h = l2::vxlan_encode(4242);
    std::copy(h.begin(), h.end(), d.begin());
    d.insert(d.end(), inner.begin(), inner.end());
    return d;
  };
  for (std::size_t i = 0; i < per_flow; ++i) {
    for (std::size_t f = 0; f < flows; ++f) senders[f]->send_to(boost::asio::buffer(datagram(f, i)), b_.address);
  }
  io_.poll();
  EXPECT_TRUE(b_.listener.frames.empty()) << "the io_context thread does not read";
  std::array<std::size_t, 2> read_by{};
  std::vector<int> queue_of(flows, -1);
  for (std::size_t q = 0; q < 2; ++q) {
    const std::size_t before = b_.listener.frames.size();
    read_queue(b_, q);
    std::vector<std::size_t> next(flows, 0);
    for (std::size_t k = before; k < b_.listener.frames.size(); ++k) {
      const byte_vector& got = b_.listener.frames[k].bytes;
      const auto f = static_cast<std::size_t>(got[40]);
      ASSERT_LT(f, flows);
      EXPECT_EQ(static_cast<std::size_t>(got[41]), next[f]++) << "flow " << f << " in order";
      EXPECT_TRUE(queue_of[f] == -1 || queue_of[f] == static_cast<int>(q)) << "flow " << f << " on one worker";
      queue_of[f] = static_cast<int>(q);
    }
    read_by[q] = b_.listener.frames.size() - before;
  }
  EXPECT_EQ(read_by[0] + read_by[1], flows * per_flow) << "every frame once";
  EXPECT_GT(read_by[0], 0u) << "(16 flows all hashed to one socket: 1 in 32768)";
  EXPECT_GT(read_by[1], 0u);
  EXPECT_EQ(b_.endpoint->counters().rx_datagrams, flows * per_flow);
  EXPECT_EQ(b_.counters().rx_frames, flows * per_flow);
  EXPECT_NE(b_.port->last_heard().time_since_epoch().count(), 0);

  // Frames the other way still arrive (A's workers read too).
  expect_a_to_b(test_frame(7));
  b_.port->send(l2::packet{test_frame(8), {}});
  b_.port->flush_sends();
  ASSERT_TRUE(pump_until([&] { return a_.listener.frames.size() == 1; }));
}

TEST_F(uplink_test, flush_sends_sends_what_the_main_thread_batched_at_once) {
  // (When a capture ends the workers take over the flows the main thread
  // sent during it: what it batched must not be overtaken.)
  ports::uplink_settings s;
  s.underlay_mtu = 1500;
  s.workers = 2;
  open_pair(s);
  a_.port->send(l2::packet{test_frame(1), {}});
  EXPECT_EQ(a_.counters().tx_frames, 0u) << "batched until the handler ends";
  a_.port->flush_sends();
  EXPECT_EQ(a_.counters().tx_frames, 1u) << "sent, without running the io_context";
  ASSERT_TRUE(pump_until([&] { return b_.listener.frames.size() == 1; }));
}

TEST_F(uplink_test, with_workers_a_peers_path_changes_only_while_the_workers_are_held) {
  ports::uplink_settings s;
  s.underlay_mtu = 1500;
  s.workers = 2;
  open_pair(s);
  // (The counts outlive the test's body: the fixture's teardown removes the
  // peers, which holds the senders once more.)
  struct counts {
    unsigned holds = 0, held = 0;
  };
  const auto c = std::make_shared<counts>();
  a_.endpoint->hold_senders_with([c] {
    ++c->holds;
    ++c->held;
    return std::shared_ptr<void>(nullptr, [c](void*) { --c->held; });
  });
  a_.port->set_remote(b_.address);
  EXPECT_EQ(c->holds, 1u);
  EXPECT_EQ(c->held, 0u) << "released once the path changed";
  a_.port->set_vni_map({{10, 100}});
  EXPECT_EQ(c->holds, 2u);
  EXPECT_FALSE(a_.port->thread_safe_send()) << "a VNI-mapped peer untags in a buffer of its own: main thread only";
}

TEST_F(uplink_test, sealed_uplinks_take_frames_from_workers_unless_relayed) {
  ports::uplink_settings a_set = a_settings(), b_set = b_settings();
  a_set.workers = 2;
  open_sealed_pair(a_set, b_set);
  EXPECT_TRUE(a_.port->thread_safe_send()) << "workers seal for a direct peer themselves";
  const auto holds = std::make_shared<unsigned>(0);  // (outlives the body: the teardown holds too)
  a_.endpoint->hold_senders_with([holds] {
    ++*holds;
    return std::shared_ptr<void>();
  });
  a_.port->set_remote(b_as_seen_by_a());
  EXPECT_EQ(*holds, 1u) << "the workers read its path: held while it changes";
  // Through a relay its frames are sealed twice, in the io_context thread's
  // buffers: the datapath hands them to that thread.
  ports::uplink_port relay(2, "relay", *a_.endpoint, ip::udp::endpoint(ip::make_address_v4("127.0.0.3"), 4789));
  a_.port->set_relay(relay);
  EXPECT_FALSE(a_.port->thread_safe_send());
  a_.port->clear_relay();
  EXPECT_TRUE(a_.port->thread_safe_send());
  EXPECT_EQ(*holds, 5u);  // (the relay's address and its place among the peers, then each change of path)
}

TEST_F(uplink_test, vni_mapped_super_frame_segments_leave_untagged_in_their_vlans_vni) {
  ports::uplink_settings s;
  s.underlay_mtu = 1500;
  open_pair(s);
  a_.port->set_vni_map({{10, 1010}, {20, 1020}});
  b_.port->set_vni_map({{10, 1010}, {20, 1020}});
  // Tagged (VLAN 20) segments of 1468 bytes: 1464 once the tag is off, the
  // inner MTU exactly, so they fit.
  const super_frame sf = tcp_super_frame(20000, 1410, 3);
  const std::size_t count = send_segmented(*a_.port, sf, 20);
  EXPECT_EQ(count, 15u);
  const byte_vector payload(sf.frame.begin() + 54, sf.frame.end());
  // B maps VNI 1020 back to VLAN 20: the tag on what it delivers says which
  // VNI the datagrams were in.
  ASSERT_TRUE(pump_until([&] { return received_payload(b_.listener, 20).size() >= payload.size(); }))
      << "drops on A: " << describe_drops(a_.counters().drops) << "; on B: " << describe_drops(b_.counters().drops);
  EXPECT_EQ(received_payload(b_.listener, 20), payload);
  EXPECT_EQ(a_.counters().tx_frames, count);
  EXPECT_EQ(a_.counters().tx_bytes, sf.frame.size() - 54 + count * 54);  // untagged segments
  EXPECT_EQ(a_.counters().drops.total(), 0u);
  EXPECT_EQ(b_.counters().drops.total(), 0u);

  // A VLAN the map does not name: every segment is dropped, none sent.
  const std::size_t unmapped = send_segmented(*a_.port, tcp_super_frame(5000, 1000), 30);
  EXPECT_EQ(a_.drops(drop_reason::vlan_not_allowed), unmapped);
  EXPECT_EQ(a_.counters().tx_frames, count);
  // One byte more per segment: over the inner MTU untagged too, too_big.
  const std::size_t over = send_segmented(*a_.port, tcp_super_frame(5000, 1411), 10);
  EXPECT_EQ(a_.drops(drop_reason::too_big), over);
  EXPECT_EQ(a_.counters().tx_frames, count);
}

// ---------------------------------------------------------------------------
// 2. Sealed mode: handshake, frames, super-frames, MTU.

TEST_F(uplink_test, sealed_peers_start_down_and_come_up_after_the_handshake) {
  open_sealed_pair();
  ASSERT_FALSE(HasFatalFailure());
  for (side* s : {&a_, &b_}) {
    ASSERT_EQ(s->listener.links.size(), 1u);
    EXPECT_EQ(s->listener.links[0].from, s->port.get());
    EXPECT_TRUE(s->listener.links[0].up);
    EXPECT_TRUE(s->port->carries_offload());
    EXPECT_EQ(s->port->max_frame_size(), 1440u);  // 1500 - IPv4 20 - UDP 8 - 32
    EXPECT_EQ(s->counters().drops.total(), 0u);
    EXPECT_TRUE(s->listener.frames.empty());
    // Both greet at start: one handshake, or two that crossed.
    EXPECT_GE(s->port->state().handshakes_done, 1u);
    EXPECT_LE(s->port->state().handshakes_done, 2u);
  }
  EXPECT_GT(a_.port->state().rtt.count(), 0);
  expect_a_to_b(test_frame(1, 100));
  expect_a_to_b(test_frame(2, 1440));  // exactly the inner MTU
  b_.port->send(l2::packet{test_frame(3, 60), {}});
  ASSERT_TRUE(pump_until([&] { return a_.listener.frames.size() == 1; }));
  EXPECT_TRUE(std::ranges::equal(a_.listener.frames[0].bytes, test_frame(3, 60)));
  settle();
  EXPECT_EQ(b_.listener.frames.size(), 2u);
  EXPECT_EQ(b_.counters().rx_frames, 2u);
  EXPECT_EQ(b_.counters().rx_bytes, 1540u);
  EXPECT_EQ(a_.counters().tx_frames, 2u);
  EXPECT_EQ(a_.counters().tx_bytes, 1540u);
  EXPECT_EQ(a_.counters().drops.total() + b_.counters().drops.total(), 0u);
  // Each data datagram is the frame + 32 bytes.
  const std::vector<byte_vector> data = from_a(message::data);
  ASSERT_EQ(data.size(), 2u);
  EXPECT_EQ(data[0].size(), 100u + sealed::overhead);
}

TEST_F(uplink_test, sealed_frames_wait_for_the_handshake) {
  hold_ = true;  // nothing crosses: no handshake
  open_pair(a_settings(), b_settings());
  a_.port->send(l2::packet{test_frame(1, 100), {}});
  EXPECT_EQ(a_.drops(drop_reason::sealed_no_session), 1u);
  hold_ = false;
  ASSERT_TRUE(pump_until([&] { return a_.port->is_up() && b_.port->is_up(); }));
}

TEST_F(uplink_test, sealed_overlay_key_alone_works_too) {
  a_identity_.reset();
  b_identity_.reset();
  open_sealed_pair(sealed_settings(std::nullopt, {make_key(0x40)}), sealed_settings(std::nullopt, {make_key(0x40)}));
  ASSERT_FALSE(HasFatalFailure());
  expect_a_to_b(test_frame(1, 300));
  EXPECT_FALSE(a_.endpoint->public_key());
}

TEST_F(uplink_test, sealed_gso_super_frame_is_carried_whole) {
  open_sealed_pair();
  ASSERT_FALSE(HasFatalFailure());
  // gso_size 1386: each segment the receiver cuts is 54 + 1386 = 1440 bytes,
  // exactly the inner MTU.
  const super_frame sf = tcp_super_frame(20000, 1386);
  a_.port->send(l2::packet{sf.frame, sf.header});
  ASSERT_TRUE(pump_until([&] { return !b_.listener.frames.empty(); }));
  settle();
  ASSERT_EQ(b_.listener.frames.size(), 1u);
  const received_frame& got = b_.listener.frames[0];
  EXPECT_EQ(got.offload, sf.header);
  EXPECT_TRUE(std::ranges::equal(got.bytes, sf.frame));
  EXPECT_EQ(a_.counters().tx_frames, 1u);
  EXPECT_EQ(b_.counters().rx_bytes, sf.frame.size());
  EXPECT_EQ(a_.counters().drops.total() + b_.counters().drops.total(), 0u);

  // A partial-checksum frame (no GSO) that fits crosses whole too.
  super_frame small = tcp_super_frame(1000, 1386, 2);
  small.header.gso_type = l2::gso_none;
  small.header.gso_size = 0;
  small.header.hdr_len = 0;
  a_.port->send(l2::packet{small.frame, small.header});
  ASSERT_TRUE(pump_until([&] { return b_.listener.frames.size() == 2; }));
  EXPECT_EQ(b_.listener.frames[1].offload, small.header);
  EXPECT_TRUE(std::ranges::equal(b_.listener.frames[1].bytes, small.frame));

  // A maximal one (64 KB): still one packet.
  const super_frame big = tcp_super_frame(65535 - 40, 1386, 3);
  a_.port->send(l2::packet{big.frame, big.header});
  ASSERT_TRUE(pump_until([&] { return b_.listener.frames.size() == 3; }));
  EXPECT_EQ(b_.listener.frames[2].offload, big.header);
  EXPECT_TRUE(std::ranges::equal(b_.listener.frames[2].bytes, big.frame));
  settle();
  EXPECT_EQ(a_.counters().drops.total() + b_.counters().drops.total(), 0u);
}

TEST_F(uplink_test, sealed_frame_over_the_inner_mtu_is_too_big) {
  open_sealed_pair();
  ASSERT_FALSE(HasFatalFailure());
  a_.port->send(l2::packet{test_frame(1, 1441), {}});
  EXPECT_EQ(a_.drops(drop_reason::too_big), 1u);
  super_frame csum = tcp_super_frame(1441 - 54, 1400);
  csum.header.gso_type = l2::gso_none;
  csum.header.gso_size = 0;
  csum.header.hdr_len = 0;
  a_.port->send(l2::packet{csum.frame, csum.header});
  EXPECT_EQ(a_.drops(drop_reason::too_big), 2u);
  const super_frame over = tcp_super_frame(20000, 1387);  // segments one byte over
  a_.port->send(l2::packet{over.frame, over.header});
  EXPECT_EQ(a_.drops(drop_reason::too_big), 3u);
  expect_a_to_b(test_frame(2, 1440));
  settle();
  EXPECT_EQ(b_.listener.frames.size(), 1u);
  EXPECT_EQ(a_.counters().drops.total(), 3u);
  EXPECT_EQ(b_.counters().drops.total(), 0u);
}

// ---------------------------------------------------------------------------
// 3. Attacks on the path: the relay replays, alters and forges.

TEST_F(uplink_test, sealed_rejects_replayed_forged_and_malformed_datagrams) {
  open_sealed_pair();
  ASSERT_FALSE(HasFatalFailure());
  expect_a_to_b(test_frame(5, 80));
  const byte_vector valid = from_a(message::data).back();

  inject_expect_drop(valid, drop_reason::sealed_replayed);  // the same bytes again
  byte_vector flipped = valid;
  flipped[sealed::header_size + 20] ^= std::byte{0x01};  // in the ciphertext
  inject_expect_drop(flipped, drop_reason::sealed_replayed);  // (its counter was used: checked first)
  // Altered before the original arrives: forged, and the original still gets through.
  hold_ = true;
  a_.port->send(l2::packet{test_frame(6, 90), {}});
  ASSERT_TRUE(pump_until([&] { return from_a(message::data).size() == 2; }));
  hold_ = false;
  const byte_vector held = from_a(message::data).back();
  for (std::size_t at : {std::size_t{12}, sealed::header_size + 3, held.size() - 1}) {
    byte_vector forged = held;
    forged[at] ^= std::byte{0x04};
    inject_expect_drop(forged, drop_reason::sealed_forged);
  }
  byte_vector truncated(held.begin(), held.end() - 1);
  inject_expect_drop(truncated, drop_reason::sealed_forged);
  inject_expect_frame(held);
  // A session index B never gave out.
  byte_vector unknown = held;
  unknown[4] ^= std::byte{0xff};
  inject_expect_drop(unknown, drop_reason::sealed_unknown_key);
  // An older version, an unknown type, reserved bits, runts.
  byte_vector v1 = held;
  v1[0] = std::byte{1};
  inject_expect_drop(v1, drop_reason::sealed_bad_version);
  byte_vector bad_type = held;
  bad_type[1] = std::byte{9};
  inject_expect_drop(bad_type, drop_reason::sealed_bad_version);
  inject_expect_drop(std::span(held).first(20), drop_reason::sealed_short);
  inject_expect_drop(std::span(held).first(3), drop_reason::sealed_short);
  // Handshake messages replayed: the initiation is not newer than the last, the
  // response answers nothing we wait for.
  std::vector<byte_vector> initiations;
  for (const crossing& c : wire_)
    if (c.bytes[1] == static_cast<std::byte>(message::initiation)) initiations.push_back(c.bytes);
  EXPECT_TRUE(initiations.empty());  // (cleared after the handshake)
  // A's own traffic still flows.
  expect_a_to_b(test_frame(7, 90));
  settle();
  const l2::drop_counters& d = b_.counters().drops;
  EXPECT_EQ(d[drop_reason::sealed_replayed], 2u);
  EXPECT_EQ(d[drop_reason::sealed_forged], 4u);
  EXPECT_EQ(d[drop_reason::sealed_unknown_key], 1u);
  EXPECT_EQ(d[drop_reason::sealed_bad_version], 2u);
  EXPECT_EQ(d[drop_reason::sealed_short], 2u);
  EXPECT_EQ(b_.listener.frames.size(), 3u);
  EXPECT_TRUE(b_.port->is_up());
  EXPECT_EQ(b_.listener.links.size(), 1u);
  EXPECT_EQ(b_.port->remote(), a_as_seen_by_b());  // nothing moved the peer
}

TEST_F(uplink_test, sealed_replayed_handshake_messages_change_nothing) {
  hold_ = false;
  open_pair(a_settings(), b_settings());
  ASSERT_TRUE(pump_until([&] { return a_.port->is_up() && b_.port->is_up(); }));
  settle();
  std::vector<byte_vector> handshakes;
  for (const crossing& c : wire_) {
    if (c.from_a && (c.bytes[1] == static_cast<std::byte>(message::initiation) ||
                     c.bytes[1] == static_cast<std::byte>(message::response)))
      handshakes.push_back(c.bytes);
  }
  ASSERT_FALSE(handshakes.empty());
  const std::uint64_t done = b_.port->state().handshakes_done;
  for (const byte_vector& h : handshakes) inject(h);
  settle();
  EXPECT_EQ(b_.port->state().handshakes_done, done);
  EXPECT_GE(b_.drops(drop_reason::sealed_replayed) + b_.drops(drop_reason::sealed_stale), handshakes.size());
  expect_a_to_b(test_frame(1, 64));
}

TEST_F(uplink_test, sealed_initiation_from_a_stranger_is_refused_silently) {
  open_sealed_pair();
  ASSERT_FALSE(HasFatalFailure());
  // C knows B's public key but B does not know C.
  ports::uplink_settings c_set = sealed_settings(ports::noise::key_pair::generate());
  side c;
  open_endpoint(c, c_set, free_port(io_));
  c.port = std::make_unique<ports::uplink_port>(1, "B", *c.endpoint, b_.address, "", "",
                                                b_identity_->public_key);
  c.port->start(c.listener);
  ASSERT_TRUE(pump_until([&] { return b_.endpoint->counters().handshakes_refused >= 1; }));
  settle();
  EXPECT_FALSE(c.port->is_up());
  EXPECT_EQ(c.port->state().handshakes_done, 0u);
  EXPECT_EQ(b_.counters().drops.total(), 0u);
  c.close();
}

// ---------------------------------------------------------------------------
// 4. Offload reassembly.

TEST_F(uplink_test, sealed_offload_fragments_out_of_order_are_reassembled_once) {
  open_sealed_pair();
  ASSERT_FALSE(HasFatalFailure());
  hold_ = true;
  const super_frame sf = tcp_super_frame(6000, 1386, 4);
  a_.port->send(l2::packet{sf.frame, sf.header});
  ASSERT_TRUE(pump_until([&] { return from_a(message::offload).size() >= 5; }));
  settle();
  hold_ = false;
  const std::vector<byte_vector> f = from_a(message::offload);
  ASSERT_EQ(f.size(), 5u);
  for (std::size_t i : {3u, 1u, 4u, 0u}) inject(f[i]);
  inject_expect_frame(f[2]);
  ASSERT_EQ(b_.listener.frames.size(), 1u);
  EXPECT_EQ(b_.listener.frames[0].offload, sf.header);
  EXPECT_TRUE(std::ranges::equal(b_.listener.frames[0].bytes, sf.frame));
  // Its fragments again: the message is a replay now.
  for (const byte_vector& d : f) inject(d);
  inject_expect_drop(f[0], drop_reason::sealed_replayed);

  // Messages interleaved (as the peer's workers send them) are each
  // reassembled, 16 at once; one that lost a fragment is given up once 16
  // later ones have started meanwhile.
  constexpr std::size_t later = 16;
  hold_ = true;
  wire_.clear();
  const super_frame sf2 = tcp_super_frame(5000, 1386, 5);
  a_.port->send(l2::packet{sf2.frame, sf2.header});
  for (std::size_t i = 0; i < later; ++i) a_.port->send(l2::packet{sf.frame, sf.header});
  ASSERT_TRUE(pump_until([&] { return from_a(message::offload).size() >= 4 + 5 * later; }));
  hold_ = false;
  const std::vector<byte_vector> g = from_a(message::offload);
  ASSERT_EQ(g.size(), 4 + 5 * later);  // sf2 in 4 fragments, then each sf in 5
  // sf2's fragments but its first (lost), then the later messages'
  // fragments interleaved: the first of each, the second of each ...
  for (std::size_t i = 1; i < 4; ++i) inject(g[i]);
  for (std::size_t piece = 0; piece < 5; ++piece) {
    for (std::size_t m = 0; m < later; ++m) inject(g[4 + 5 * m + piece]);
  }
  ASSERT_TRUE(pump_until([&] { return b_.listener.frames.size() == 1 + later; }));
  for (std::size_t i = 1; i <= later; ++i) EXPECT_TRUE(std::ranges::equal(b_.listener.frames[i].bytes, sf.frame));
  EXPECT_EQ(b_.drops(drop_reason::sealed_incomplete), 1u);
}

// ---------------------------------------------------------------------------
// 5. A peer restarts, moves, changes keys.

TEST_F(uplink_test, sealed_peer_restart_is_a_new_handshake) {
  ports::uplink_settings a_set = a_settings(), b_set = b_settings();
  for (auto* s : {&a_set, &b_set}) {
    s->keepalive = 50ms;
    s->peer_timeout = 250ms;
  }
  open_sealed_pair(a_set, b_set);
  ASSERT_FALSE(HasFatalFailure());
  expect_a_to_b(test_frame(1, 100));
  const std::uint64_t handshakes = b_.port->state().handshakes_done;
  // A goes away: B's peer goes down after the timeout.
  a_.close();
  ASSERT_TRUE(pump_until([&] { return !b_.port->is_up(); })) << "B's peer never went down";
  // A again, same identity: it greets B at start.
  restart_a(a_set);
  ASSERT_TRUE(pump_until([&] { return b_.port->is_up() && a_.port->is_up(); }));
  expect_a_to_b(test_frame(2, 200));
  EXPECT_GT(b_.port->state().handshakes_done, handshakes);
}

TEST_F(uplink_test, sealed_peer_that_moves_is_followed_and_forgeries_do_not_move_it) {
  open_sealed_pair();
  ASSERT_FALSE(HasFatalFailure());
  expect_a_to_b(test_frame(1, 100));
  // A forged datagram from another address moves nothing.
  ip::udp::socket elsewhere(io_, ip::udp::endpoint(ip::make_address_v4("127.0.0.1"), 0));
  byte_vector forged = from_a(message::data).back();
  forged[20] ^= std::byte{1};
  elsewhere.send_to(boost::asio::buffer(forged), b_.address);
  ASSERT_TRUE(pump_until([&] { return b_.drops(drop_reason::sealed_replayed) + b_.drops(drop_reason::sealed_forged) == 1; }));
  EXPECT_EQ(b_.port->remote(), a_as_seen_by_b());
  // A's traffic now comes from another address (its NAT mapping changed): the
  // relay forwards it from a new socket.
  ip::udp::socket moved(io_, ip::udp::endpoint(ip::make_address_v4("127.0.0.1"), 0));
  hold_ = true;
  wire_.clear();
  a_.port->send(l2::packet{test_frame(2, 100), {}});
  ASSERT_TRUE(pump_until([&] { return !from_a(message::data).empty(); }));
  hold_ = false;
  moved.send_to(boost::asio::buffer(from_a(message::data).back()), b_.address);
  ASSERT_TRUE(pump_until([&] { return b_.listener.frames.size() == 2; }));
  EXPECT_EQ(b_.port->remote(), moved.local_endpoint());
  // B's frames now go to the new address.
  b_.port->send(l2::packet{test_frame(3, 60), {}});
  ASSERT_TRUE(pump_until([&] { return moved.available() > 0; }));
}

TEST_F(uplink_test, sealed_overlay_key_change_keeps_handshakes_working) {
  const sealed::key old_key = make_key(0x40);
  const sealed::key new_key = make_key(0xa0);
  ports::uplink_settings a_set = sealed_settings(a_identity_, {old_key});
  ports::uplink_settings b_set = sealed_settings(b_identity_, {old_key});
  open_sealed_pair(a_set, b_set);
  ASSERT_FALSE(HasFatalFailure());
  expect_a_to_b(test_frame(1));
  // B takes the new key first, A restarts with both (new first): the
  // handshake uses B's first key, which A has.
  ASSERT_TRUE(b_.endpoint->set_keys({new_key, old_key}));
  a_set.keys = {new_key, old_key};
  restart_a(a_set);
  ASSERT_TRUE(pump_until([&] { return a_.port->is_up() && b_.port->state().handshakes_done >= 2; }));
  expect_a_to_b(test_frame(2));
  // A with only a key B does not have: no handshake completes.
  a_set.keys = {make_key(0x11)};
  restart_a(a_set);
  settle();
  settle();
  EXPECT_FALSE(a_.port->is_up());
  EXPECT_FALSE(b_.endpoint->set_keys({}) && !b_identity_);
}

TEST_F(uplink_test, set_keys_is_refused_in_plain_mode) {
  ports::uplink_settings plain;
  open_pair(plain);
  EXPECT_FALSE(a_.endpoint->set_keys({make_key(1)}));
  EXPECT_FALSE(a_.endpoint->is_sealed());
}

}  // namespace
