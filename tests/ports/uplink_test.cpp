// Tests of udp_endpoint and uplink_port over loopback, without privileges:
// two real endpoints (A and B) on 127.0.0.1 in one io_context, each with one
// uplink_port towards the other and a recording listener. Plain VXLAN (frames
// byte-identical, malformed datagrams counted, strangers counted as not_peer)
// and sealed mode (handshake and link up, frames, GSO super-frames carried
// whole, too_big, every reject of a forged, replayed, stale or malformed
// datagram injected from a test socket, offload reassembly, a peer's restart
// and key rotation).
//
// Injection: B has one peer at 127.0.0.1, so a datagram from any port of
// 127.0.0.1 is charged to that peer; the test seals them itself with
// ports::sealed and the endpoints' real instances.
//
// Every wait pumps the io_context in short run_for() slices until a condition
// holds, bounded by a deadline of 2 s per test; nothing asserts on elapsed time.
#include "ports/uplink_port.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
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

void put32(std::span<std::byte> b, std::size_t at, std::uint32_t v) {
  put16(b, at, static_cast<std::uint16_t>(v >> 16));
  put16(b, at + 2, static_cast<std::uint16_t>(v & 0xffff));
}

void put64(std::span<std::byte> b, std::size_t at, std::uint64_t v) {
  put32(b, at, static_cast<std::uint32_t>(v >> 32));
  put32(b, at + 4, static_cast<std::uint32_t>(v & 0xffffffff));
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

/// A sealed datagram of `h` carrying `payload`, sealed under `k`.
byte_vector seal(const sealed::key& k, const sealed::header& h, std::span<const std::byte> payload) {
  byte_vector d(payload.size() + sealed::overhead);
  std::copy(payload.begin(), payload.end(), d.begin() + sealed::header_size);
  EXPECT_EQ(sealed::seal_in_place(k, h, d, payload.size()), d.size());
  return d;
}

/// An offload message (virtio-net header + frame) sealed once under `k`
/// with `h` (type offload), cut into fragments of at most `piece` sealed
/// bytes, each behind the header and its fragment header, in order.
std::vector<byte_vector> offload_fragments(const sealed::key& k, const sealed::header& h,
                                           const super_frame& sf, std::size_t piece) {
  byte_vector plain(l2::vnet_header_size + sf.frame.size());
  l2::emit_vnet_header(sf.header, std::span(plain).first<l2::vnet_header_size>());
  std::copy(sf.frame.begin(), sf.frame.end(), plain.begin() + l2::vnet_header_size);
  const byte_vector message = seal(k, h, plain);
  const std::span<const std::byte> body = std::span(message).subspan(sealed::header_size);
  std::vector<byte_vector> out;
  for (std::size_t at = 0; at < body.size(); at += piece) {
    const std::size_t n = std::min(piece, body.size() - at);
    byte_vector d(sealed::header_size + sealed::fragment_header_size + n);
    std::copy_n(message.begin(), sealed::header_size, d.begin());
    put32(d, sealed::header_size, static_cast<std::uint32_t>(at));
    put32(d, sealed::header_size + 4, static_cast<std::uint32_t>(body.size()));
    std::copy_n(body.begin() + static_cast<std::ptrdiff_t>(at), n,
                d.begin() + sealed::header_size + sealed::fragment_header_size);
    out.push_back(std::move(d));
  }
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

  /// Settings for sealed tests: one key, no keepalive traffic after the
  /// handshake (so counters move only with what the test sends), 1500 underlay.
  static ports::uplink_settings sealed_settings(std::vector<sealed::key> keys = {make_key(0x40)}) {
    ports::uplink_settings s;
    s.keys = std::move(keys);
    s.keepalive = 60s;
    s.peer_timeout = 120s;
    s.underlay_mtu = 1500;
    return s;
  }

  /// Opens `s`'s endpoint on 127.0.0.1:`port`.
  void open_endpoint(side& s, const ports::uplink_settings& settings, std::uint16_t port) {
    s.address = ip::udp::endpoint(ip::make_address_v4("127.0.0.1"), port);
    s.endpoint = ports::udp_endpoint::open(io_, s.address, settings, "test");
  }

  /// Opens A and B on free ports with `settings`, each with a port towards the other, and starts them.
  void open_pair(const ports::uplink_settings& settings) {
    for (int attempt = 0;; ++attempt) {
      try {
        open_endpoint(a_, settings, free_port(io_));
        open_endpoint(b_, settings, free_port(io_));
        break;
      } catch (const ports::port_error&) {
        a_.endpoint.reset();
        b_.endpoint.reset();
        if (attempt == 5) throw;
      }
    }
    connect_a();
    b_.port = std::make_unique<ports::uplink_port>(1, "A", *b_.endpoint, a_.address);
    b_.port->start(b_.listener);
  }

  /// Gives A its port towards B, started (anew, after it was dropped).
  void connect_a() {
    a_.port = std::make_unique<ports::uplink_port>(1, "B", *a_.endpoint, b_.address);
    a_.port->start(a_.listener);
  }

  /// A restarts: a new endpoint (a new instance) on the same address, a new port.
  void restart_a(const ports::uplink_settings& settings) {
    const ip::udp::endpoint address = a_.address;
    a_.close();
    a_.listener = recorder{};
    open_endpoint(a_, settings, address.port());
    connect_a();
  }

  /// Opens a sealed pair and waits until the handshake is done both ways (and
  /// its last replies have arrived, so nothing of it is still in flight).
  void open_sealed_pair(const ports::uplink_settings& settings = sealed_settings()) {
    open_pair(settings);
    EXPECT_FALSE(a_.port->is_up());
    EXPECT_FALSE(b_.port->is_up());
    ASSERT_TRUE(pump_until([&] {
      return a_.port->is_up() && b_.port->is_up() && a_.port->state().replies_received > 0 &&
             b_.port->state().replies_received > 0;
    })) << "handshake not done";
    ASSERT_EQ(a_.port->state().instance, b_.endpoint->instance());
    ASSERT_EQ(b_.port->state().instance, a_.endpoint->instance());
    settle();
  }

  /// Runs the io_context until `done()` or the test's deadline; returns done().
  bool pump_until(const std::function<bool()>& done) {
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline_) return done();
      if (io_.stopped()) io_.restart();
      io_.run_for(2ms);
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
    }
  }

  /// Sends `datagram` from the injection socket (127.0.0.1, some port) to B.
  void inject(std::span<const std::byte> datagram) {
    injector_.send_to(boost::asio::buffer(datagram.data(), datagram.size()), b_.address);
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

  /// A data datagram from A's instance to B's, sealed under `k`, carrying `frame`.
  byte_vector data_from_a(std::uint64_t sequence, std::span<const std::byte> frame,
                          const sealed::key& k = make_key(0x40)) const {
    return seal(k,
                sealed::header{message::data, sealed::key_id_of(k), a_.endpoint->instance(),
                               b_.endpoint->instance(), sequence},
                frame);
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
  EXPECT_NE(a_.endpoint->instance(), 0u);
  EXPECT_NE(a_.endpoint->instance(), b_.endpoint->instance());
  for (side* s : {&a_, &b_}) {
    ASSERT_EQ(s->listener.links.size(), 1u);
    EXPECT_EQ(s->listener.links[0].from, s->port.get());
    EXPECT_TRUE(s->listener.links[0].up);
    EXPECT_TRUE(s->port->carries_offload());
    EXPECT_EQ(s->port->max_frame_size(), 1424u);
    EXPECT_EQ(s->counters().drops.total(), 0u);
    EXPECT_TRUE(s->listener.frames.empty());
  }
  expect_a_to_b(test_frame(1, 100));
  expect_a_to_b(test_frame(2, 1424));  // exactly the inner MTU
  b_.port->send(l2::packet{test_frame(3, 60), {}});
  ASSERT_TRUE(pump_until([&] { return a_.listener.frames.size() == 1; }));
  EXPECT_TRUE(std::ranges::equal(a_.listener.frames[0].bytes, test_frame(3, 60)));
  settle();
  EXPECT_EQ(b_.listener.frames.size(), 2u);
  EXPECT_EQ(b_.counters().rx_frames, 2u);
  EXPECT_EQ(b_.counters().rx_bytes, 1524u);
  EXPECT_EQ(a_.counters().tx_frames, 2u);
  EXPECT_EQ(a_.counters().tx_bytes, 1524u);
  EXPECT_EQ(a_.counters().drops.total() + b_.counters().drops.total(), 0u);
}

TEST_F(uplink_test, sealed_gso_super_frame_is_carried_whole) {
  open_sealed_pair();
  ASSERT_FALSE(HasFatalFailure());
  // gso_size 1370: each segment the receiver cuts is 54 + 1370 = 1424 bytes,
  // exactly the inner MTU.
  const super_frame sf = tcp_super_frame(20000, 1370);
  ASSERT_GT(sf.frame.size(), 20000u);
  a_.port->send(l2::packet{sf.frame, sf.header});
  ASSERT_TRUE(pump_until([&] { return !b_.listener.frames.empty(); }));
  settle();
  ASSERT_EQ(b_.listener.frames.size(), 1u);
  const received_frame& got = b_.listener.frames[0];
  EXPECT_EQ(got.offload, sf.header);
  EXPECT_TRUE(std::ranges::equal(got.bytes, sf.frame));
  EXPECT_EQ(a_.counters().tx_frames, 1u);
  EXPECT_EQ(a_.counters().tx_bytes, sf.frame.size());
  EXPECT_EQ(b_.counters().rx_frames, 1u);
  EXPECT_EQ(b_.counters().rx_bytes, sf.frame.size());
  EXPECT_EQ(a_.counters().drops.total() + b_.counters().drops.total(), 0u);

  // A partial-checksum frame (no GSO) that fits crosses whole too.
  super_frame small = tcp_super_frame(1000, 1370, 2);
  small.header.gso_type = l2::gso_none;
  small.header.gso_size = 0;
  small.header.hdr_len = 0;
  a_.port->send(l2::packet{small.frame, small.header});
  ASSERT_TRUE(pump_until([&] { return b_.listener.frames.size() == 2; }));
  EXPECT_EQ(b_.listener.frames[1].offload, small.header);
  EXPECT_TRUE(std::ranges::equal(b_.listener.frames[1].bytes, small.frame));

  // A maximal one (64 KB): still one packet.
  const super_frame big = tcp_super_frame(65535 - 40, 1370, 3);
  a_.port->send(l2::packet{big.frame, big.header});
  ASSERT_TRUE(pump_until([&] { return b_.listener.frames.size() == 3; }));
  EXPECT_EQ(b_.listener.frames[2].offload, big.header);
  EXPECT_TRUE(std::ranges::equal(b_.listener.frames[2].bytes, big.frame));
  settle();
  EXPECT_EQ(b_.listener.frames.size(), 3u);
  EXPECT_EQ(a_.counters().drops.total() + b_.counters().drops.total(), 0u);
}

TEST_F(uplink_test, sealed_frame_over_the_inner_mtu_is_too_big) {
  open_sealed_pair();
  ASSERT_FALSE(HasFatalFailure());
  a_.port->send(l2::packet{test_frame(1, 1425), {}});
  EXPECT_EQ(a_.drops(drop_reason::too_big), 1u);
  // Not GSO, only a partial checksum: it must fit the inner MTU as well.
  super_frame csum = tcp_super_frame(1425 - 54, 1400);
  csum.header.gso_type = l2::gso_none;
  csum.header.gso_size = 0;
  csum.header.hdr_len = 0;
  ASSERT_EQ(csum.frame.size(), 1425u);
  a_.port->send(l2::packet{csum.frame, csum.header});
  EXPECT_EQ(a_.drops(drop_reason::too_big), 2u);
  // A super-frame whose segments would be one byte over (54 + 1371): too_big
  // as well, as on a plain uplink (the receiver would cut it into frames
  // that do not fit the path).
  const super_frame over = tcp_super_frame(20000, 1371);
  a_.port->send(l2::packet{over.frame, over.header});
  EXPECT_EQ(a_.drops(drop_reason::too_big), 3u);
  // A frame that fits still goes (and proves nothing else went before it).
  expect_a_to_b(test_frame(2, 1424));
  settle();
  EXPECT_EQ(b_.listener.frames.size(), 1u);
  EXPECT_EQ(a_.counters().tx_frames, 1u);
  EXPECT_EQ(a_.counters().drops.total(), 3u);
  EXPECT_EQ(b_.counters().drops.total(), 0u);
}

// ---------------------------------------------------------------------------
// 3. Sealed attacks, injected from 127.0.0.1.

TEST_F(uplink_test, sealed_rejects_forged_replayed_stale_and_malformed_datagrams) {
  open_sealed_pair();
  ASSERT_FALSE(HasFatalFailure());
  const sealed::key k = make_key(0x40);
  const sealed::key other = make_key(0x90);
  const byte_vector frame = test_frame(5, 80);

  // Valid, fresh high sequence: delivered.
  const byte_vector valid = data_from_a(1000, frame);
  inject_expect_frame(valid);
  ASSERT_EQ(b_.listener.frames.size(), 1u);
  EXPECT_TRUE(std::ranges::equal(b_.listener.frames[0].bytes, frame));
  EXPECT_EQ(b_.listener.frames[0].from, b_.port.get());

  // The same bytes again.
  inject_expect_drop(valid, drop_reason::sealed_replayed);

  // A flipped byte, in the ciphertext and in the header.
  byte_vector flipped = data_from_a(1001, frame);
  flipped[sealed::header_size + 20] ^= std::byte{0x01};
  inject_expect_drop(flipped, drop_reason::sealed_forged);
  byte_vector flipped_header = data_from_a(1002, frame);
  flipped_header[31] ^= std::byte{0x04};  // sequence 1002 -> 1006, not authenticated as such
  inject_expect_drop(flipped_header, drop_reason::sealed_forged);

  // Another key under the real key id.
  const byte_vector wrong_key =
      seal(other,
           sealed::header{message::data, sealed::key_id_of(k), a_.endpoint->instance(),
                          b_.endpoint->instance(), 1003},
           frame);
  inject_expect_drop(wrong_key, drop_reason::sealed_forged);

  // A key id we do not have.
  inject_expect_drop(data_from_a(1004, frame, other), drop_reason::sealed_unknown_key);

  // Addressed to another instance of B: not delivered.
  const byte_vector stale =
      seal(k,
           sealed::header{message::data, sealed::key_id_of(k), a_.endpoint->instance(),
                          b_.endpoint->instance() ^ 0x5555, 1005},
           frame);
  inject_expect_drop(stale, drop_reason::sealed_stale);
  // It did not take its sequence number: the real 1005 still gets through.
  inject_expect_frame(data_from_a(1005, frame));

  // Version 2, an unknown type, reserved bytes set.
  byte_vector v2 = data_from_a(1006, frame);
  v2[0] = std::byte{2};
  inject_expect_drop(v2, drop_reason::sealed_bad_version);
  byte_vector bad_type = data_from_a(1007, frame);
  bad_type[1] = std::byte{9};
  inject_expect_drop(bad_type, drop_reason::sealed_bad_version);

  // 20 bytes, and one byte short of a header + tag.
  inject_expect_drop(std::span(valid).first(20), drop_reason::sealed_short);
  inject_expect_drop(std::span(valid).first(sealed::overhead - 1), drop_reason::sealed_short);

  // A's own traffic still flows (its sequence numbers are small, but within
  // the window of the highest injected so far, 1000).
  expect_a_to_b(test_frame(6, 90));

  // The window: 5000 moves it (past A's own numbers: A sends nothing after
  // this); 5000 - 2048 is behind it; 5000 - 2047 is the oldest still taken.
  inject_expect_frame(data_from_a(5000, frame));
  inject_expect_drop(data_from_a(5000 - 2048, frame), drop_reason::sealed_replayed);
  inject_expect_frame(data_from_a(5000 - 2047, frame));
  inject_expect_drop(data_from_a(5000 - 2047, frame), drop_reason::sealed_replayed);
  // Sequence 0 is never valid.
  inject_expect_drop(data_from_a(0, frame), drop_reason::sealed_replayed);

  // A last valid datagram: everything before it has been read.
  inject_expect_frame(data_from_a(5001, frame));
  settle();
  EXPECT_EQ(b_.listener.frames.size(), 6u);
  EXPECT_EQ(b_.counters().rx_frames, 6u);
  const l2::drop_counters& d = b_.counters().drops;
  EXPECT_EQ(d[drop_reason::sealed_replayed], 4u);
  EXPECT_EQ(d[drop_reason::sealed_forged], 3u);
  EXPECT_EQ(d[drop_reason::sealed_unknown_key], 1u);
  EXPECT_EQ(d[drop_reason::sealed_stale], 1u);
  EXPECT_EQ(d[drop_reason::sealed_bad_version], 2u);
  EXPECT_EQ(d[drop_reason::sealed_short], 2u);
  EXPECT_EQ(d.total(), 13u);
  EXPECT_EQ(b_.endpoint->counters().drops.total(), 0u);
  // Nothing of it moved the peer's state: still A's instance, still up.
  EXPECT_EQ(b_.port->state().instance, a_.endpoint->instance());
  EXPECT_TRUE(b_.port->is_up());
  EXPECT_EQ(b_.listener.links.size(), 1u);
}

TEST_F(uplink_test, sealed_probe_from_an_unknown_address_is_not_answered) {
  open_sealed_pair();
  ASSERT_FALSE(HasFatalFailure());
  const sealed::key k = make_key(0x40);
  byte_vector token(8, std::byte{0x11});
  const byte_vector probe =
      seal(k, sealed::header{message::probe, sealed::key_id_of(k), 0x1234, 0, 1}, token);
  ip::udp::socket stranger(io_, ip::udp::endpoint(ip::make_address_v4("127.0.0.2"), 0));
  stranger.send_to(boost::asio::buffer(probe), b_.address);
  ASSERT_TRUE(pump_until([&] { return b_.endpoint->counters().drops[drop_reason::not_peer] == 1; }));
  settle();
  EXPECT_EQ(stranger.available(), 0u);
  EXPECT_EQ(b_.counters().drops.total(), 0u);
}

// ---------------------------------------------------------------------------
// 4. Offload reassembly.

TEST_F(uplink_test, sealed_offload_fragments_out_of_order_are_reassembled_once) {
  open_sealed_pair();
  ASSERT_FALSE(HasFatalFailure());
  const sealed::key k = make_key(0x40);
  const auto header = [&](std::uint64_t sequence) {
    return sealed::header{message::offload, sealed::key_id_of(k), a_.endpoint->instance(),
                          b_.endpoint->instance(), sequence};
  };
  const super_frame sf = tcp_super_frame(3000, 1400, 4);
  const std::vector<byte_vector> f = offload_fragments(k, header(2000), sf, 1000);
  ASSERT_EQ(f.size(), 4u);
  for (std::size_t i : {3u, 1u, 0u}) inject(f[i]);
  inject_expect_frame(f[2]);
  ASSERT_EQ(b_.listener.frames.size(), 1u);
  EXPECT_EQ(b_.listener.frames[0].offload, sf.header);
  EXPECT_TRUE(std::ranges::equal(b_.listener.frames[0].bytes, sf.frame));
  EXPECT_EQ(b_.counters().rx_bytes, sf.frame.size());

  // Its fragments again: each one is a replay now.
  for (const byte_vector& d : f) inject_expect_drop(d, drop_reason::sealed_replayed);

  // Message 1 loses all but its first fragment; message 2 arrives whole.
  const std::vector<byte_vector> m1 = offload_fragments(k, header(2001), sf, 1000);
  const super_frame sf2 = tcp_super_frame(2500, 1200, 5);
  const std::vector<byte_vector> m2 = offload_fragments(k, header(2002), sf2, 1200);
  inject(m1[0]);
  for (std::size_t i = 0; i + 1 < m2.size(); ++i) inject(m2[i]);
  inject_expect_frame(m2.back());
  ASSERT_EQ(b_.listener.frames.size(), 2u);
  EXPECT_EQ(b_.listener.frames[1].offload, sf2.header);
  EXPECT_TRUE(std::ranges::equal(b_.listener.frames[1].bytes, sf2.frame));
  EXPECT_EQ(b_.drops(drop_reason::sealed_incomplete), 1u);

  // A fragment reaching past its total: forged, and it does not disturb the next message.
  byte_vector past = offload_fragments(k, header(2003), sf, 1000)[3];
  const std::uint32_t total = static_cast<std::uint32_t>(l2::vnet_header_size + sf.frame.size() +
                                                         sealed::tag_size);
  put32(past, sealed::header_size, total - 10);  // 20+ bytes from there
  inject_expect_drop(past, drop_reason::sealed_forged);
  byte_vector beyond = offload_fragments(k, header(2003), sf, 1000)[0];
  put32(beyond, sealed::header_size, total + 1);
  inject_expect_drop(beyond, drop_reason::sealed_forged);
  const std::vector<byte_vector> m3 = offload_fragments(k, header(2004), sf2, 700);
  for (std::size_t i = 1; i < m3.size(); ++i) inject(m3[i]);
  inject_expect_frame(m3[0]);

  settle();
  EXPECT_EQ(b_.listener.frames.size(), 3u);
  EXPECT_EQ(b_.counters().rx_frames, 3u);
  const l2::drop_counters& d = b_.counters().drops;
  EXPECT_EQ(d[drop_reason::sealed_replayed], 4u);
  EXPECT_EQ(d[drop_reason::sealed_incomplete], 1u);
  EXPECT_EQ(d[drop_reason::sealed_forged], 2u);
  EXPECT_EQ(d.total(), 7u);
}

// A fragment's 32-byte header is not authenticated by itself: only the header
// of the first fragment that arrived is (it is the one kept with the
// reassembled bytes). The handshake decision after opening must rest on that
// authenticated header, not on the header of the fragment that happened to
// complete the message. Here the completing fragment claims a new sender
// instance; B must not adopt it (which would retire A's real instance and
// make B drop everything A sends as stale until A restarts).
// DISABLED: fails at the time of writing (see the report); enable with
// --gtest_also_run_disabled_tests.
TEST_F(uplink_test, sealed_offload_last_fragment_header_cannot_change_the_sender) {
  open_sealed_pair();
  ASSERT_FALSE(HasFatalFailure());
  const sealed::key k = make_key(0x40);
  const std::uint64_t a_instance = a_.endpoint->instance();
  const super_frame sf = tcp_super_frame(3000, 1400, 6);
  std::vector<byte_vector> f = offload_fragments(
      k, sealed::header{message::offload, sealed::key_id_of(k), a_instance, b_.endpoint->instance(), 3000},
      sf, 1000);
  // The last fragment, as an on-path attacker rewrites it: another sender instance.
  put64(f.back(), 8, a_instance ^ 0x0f0f0f0f0f0f0f0f);
  for (std::size_t i = 0; i + 1 < f.size(); ++i) inject(f[i]);
  inject(f.back());
  // A's real instance must still be the peer's, and A's traffic must still arrive.
  const byte_vector probe_frame = test_frame(1, 70);
  inject(data_from_a(3001, probe_frame));
  ASSERT_TRUE(pump_until([&] {
    return b_.listener.frames.size() >= 2 || b_.counters().drops.total() > 0;
  }));
  settle();
  EXPECT_EQ(b_.port->state().instance, a_instance);
  // The rewritten fragment names an instance that is not A's current one: it
  // never reaches reassembly.
  EXPECT_EQ(b_.drops(drop_reason::sealed_stale), 1u);
  ASSERT_FALSE(b_.listener.frames.empty());
  EXPECT_TRUE(std::ranges::equal(b_.listener.frames.back().bytes, probe_frame));
}

// ---------------------------------------------------------------------------
// 5. A peer restarts.

TEST_F(uplink_test, sealed_peer_restart_is_adopted_and_old_instance_is_stale) {
  ports::uplink_settings s = sealed_settings();
  s.keepalive = 50ms;
  s.peer_timeout = 250ms;
  open_sealed_pair(s);
  ASSERT_FALSE(HasFatalFailure());
  expect_a_to_b(test_frame(1, 100));
  const std::uint64_t old_instance = a_.endpoint->instance();

  // A goes away: B's peer goes down after the timeout.
  a_.close();
  ASSERT_TRUE(pump_until([&] { return !b_.port->is_up(); })) << "B's peer never went down";
  ASSERT_EQ(b_.listener.links.size(), 2u);
  EXPECT_FALSE(b_.listener.links[1].up);

  // A' on the same address: a new instance, which B adopts.
  restart_a(s);
  ASSERT_NE(a_.endpoint->instance(), old_instance);
  ASSERT_TRUE(pump_until([&] {
    return b_.port->is_up() && a_.port->is_up() &&
           b_.port->state().instance == a_.endpoint->instance();
  })) << "no handshake with the restarted peer";
  ASSERT_EQ(b_.listener.links.size(), 3u);
  EXPECT_TRUE(b_.listener.links[2].up);
  EXPECT_TRUE(b_.port->state().is_retired(old_instance));
  expect_a_to_b(test_frame(2, 200));

  // A datagram of the old instance (a sequence it never used, so the window
  // cannot catch it: only the retirement does) is stale and not delivered.
  const std::size_t frames = b_.listener.frames.size();
  const sealed::key k = make_key(0x40);
  const byte_vector old = seal(k,
                               sealed::header{message::data, sealed::key_id_of(k), old_instance,
                                              b_.endpoint->instance(), 100000},
                               test_frame(3, 100));
  inject_expect_drop(old, drop_reason::sealed_stale);
  EXPECT_EQ(b_.drops(drop_reason::sealed_stale), 1u);
  // A probe of the old instance is stale too: it does not take the peer back.
  const byte_vector old_probe = seal(k,
                                     sealed::header{message::probe, sealed::key_id_of(k), old_instance,
                                                    b_.endpoint->instance(), 100001},
                                     byte_vector(8, std::byte{1}));
  inject_expect_drop(old_probe, drop_reason::sealed_stale);
  expect_a_to_b(test_frame(4, 300));
  EXPECT_EQ(b_.listener.frames.size(), frames + 1);
  EXPECT_EQ(b_.port->state().instance, a_.endpoint->instance());
  EXPECT_TRUE(b_.port->is_up());
}

TEST_F(uplink_test, sealed_quick_restart_is_adopted_while_up) {
  ports::uplink_settings s = sealed_settings();
  s.keepalive = 50ms;
  open_sealed_pair(s);
  ASSERT_FALSE(HasFatalFailure());
  expect_a_to_b(test_frame(1, 100));
  const std::uint64_t old_instance = a_.endpoint->instance();
  restart_a(s);
  ASSERT_TRUE(pump_until([&] {
    return a_.port->is_up() && b_.port->state().instance == a_.endpoint->instance();
  })) << "no handshake with the restarted peer";
  EXPECT_TRUE(b_.port->is_up());
  EXPECT_TRUE(b_.port->state().is_retired(old_instance));
  expect_a_to_b(test_frame(2, 200));
  EXPECT_EQ(b_.counters().drops.total(), 0u);
}

// ---------------------------------------------------------------------------
// 6. Key rotation.

TEST_F(uplink_test, sealed_instance_is_adopted_only_from_an_answer_to_our_challenge) {
  // An attacker with datagrams captured elsewhere in the overlay (another
  // member's instance, addressed to B's run) or B's own datagrams reflected
  // must not make B adopt a bogus instance for A: that would cut A off.
  open_sealed_pair();
  ASSERT_FALSE(HasFatalFailure());
  const sealed::key k = make_key(0x40);
  const std::uint64_t a_instance = a_.endpoint->instance();
  const std::uint64_t member_c = 0x0c0c0c0c0c0c0c0cULL;
  const auto token = [](std::uint64_t value) {
    byte_vector t(8);
    l2::byte_order::store64(t, 0, value);
    return t;
  };
  // C's data, probe and reply (with some token) addressed to B, sent from A's address.
  inject_expect_drop(seal(k, sealed::header{message::data, sealed::key_id_of(k), member_c,
                                            b_.endpoint->instance(), 7},
                          test_frame(9, 60)),
                     drop_reason::sealed_stale);
  inject(seal(k, sealed::header{message::probe, sealed::key_id_of(k), member_c,
                                b_.endpoint->instance(), 8},
              token(42)));
  inject(seal(k, sealed::header{message::reply, sealed::key_id_of(k), member_c,
                                b_.endpoint->instance(), 9},
              token(b_.port->state().challenge + 1)));
  // B's own instance reflected back.
  inject_expect_drop(seal(k, sealed::header{message::data, sealed::key_id_of(k),
                                            b_.endpoint->instance(), b_.endpoint->instance(), 10},
                          test_frame(9, 60)),
                     drop_reason::sealed_stale);
  settle();
  EXPECT_EQ(b_.port->state().instance, a_instance) << "a bogus instance was adopted";
  EXPECT_TRUE(b_.port->is_up());
  EXPECT_TRUE(b_.listener.frames.empty()) << "nothing injected may be delivered";
  // A still gets through.
  expect_a_to_b(test_frame(3, 100));
}

TEST_F(uplink_test, sealed_wrong_adoption_is_undone_by_the_next_challenge) {
  // Worst case of a relayed answer: another member's reply to B's challenge
  // made B adopt that member's instance for A. B's next keepalive challenge
  // reaches the real A, whose answer re-adopts A's (retired) instance.
  ports::uplink_settings settings = sealed_settings();
  settings.keepalive = 100ms;
  settings.peer_timeout = 10s;
  open_sealed_pair(settings);
  ASSERT_FALSE(HasFatalFailure());
  const sealed::key k = make_key(0x40);
  const std::uint64_t a_instance = a_.endpoint->instance();
  const std::uint64_t member_c = 0x0c0c0c0c0c0c0c0cULL;
  // A stops answering for a moment (its port towards B is gone), so B's
  // challenge stays open and the "relayed" answer gets there first.
  a_.port.reset();
  settle();
  ASSERT_TRUE(pump_until([&] { return b_.port->state().challenge != 0; }));
  byte_vector token(8);
  l2::byte_order::store64(token, 0, b_.port->state().challenge);
  inject(seal(k, sealed::header{message::reply, sealed::key_id_of(k), member_c,
                                b_.endpoint->instance(), 1'000'000},
              token));
  ASSERT_TRUE(pump_until([&] { return b_.port->state().instance == member_c; }))
      << "the simulated relay did not take effect";
  connect_a();
  EXPECT_TRUE(pump_until([&] { return b_.port->state().instance == a_instance; }))
      << "A was not re-adopted";
  // A's new port must have adopted B too before its frames are addressed to B's run.
  ASSERT_TRUE(pump_until([&] { return a_.port->is_up(); })) << "A's new port never came up";
  expect_a_to_b(test_frame(4, 90));
}

TEST_F(uplink_test, sealed_key_rotation_keeps_frames_flowing) {
  const sealed::key old_key = make_key(0x40);
  const sealed::key new_key = make_key(0xa0);
  open_sealed_pair(sealed_settings({old_key}));
  ASSERT_FALSE(HasFatalFailure());
  expect_a_to_b(test_frame(1));

  // Step 1: the new key added second everywhere (B first): old still seals.
  ASSERT_TRUE(b_.endpoint->set_keys({old_key, new_key}));
  expect_a_to_b(test_frame(2));
  // Step 1 done the other way round (B new first, A still old only) works too.
  ASSERT_TRUE(b_.endpoint->set_keys({new_key, old_key}));
  expect_a_to_b(test_frame(3));
  // Step 2: A moves the new key first.
  ASSERT_TRUE(a_.endpoint->set_keys({new_key, old_key}));
  expect_a_to_b(test_frame(4));
  // B -> A under the new key while A still accepts both.
  b_.port->send(l2::packet{test_frame(5), {}});
  ASSERT_TRUE(pump_until([&] { return a_.listener.frames.size() == 1; }));
  EXPECT_TRUE(std::ranges::equal(a_.listener.frames[0].bytes, test_frame(5)));

  EXPECT_FALSE(b_.endpoint->set_keys({}));  // no key: refused, the keys stay
  // Step 3: B drops the old key: an old-key datagram is now an unknown key.
  ASSERT_TRUE(b_.endpoint->set_keys({new_key}));
  inject_expect_drop(data_from_a(10000, test_frame(6), old_key), drop_reason::sealed_unknown_key);
  ASSERT_TRUE(a_.endpoint->set_keys({new_key}));
  expect_a_to_b(test_frame(7));
  inject_expect_frame(data_from_a(10001, test_frame(8), new_key));
  settle();
  EXPECT_EQ(b_.listener.frames.size(), 6u);
  EXPECT_EQ(b_.drops(drop_reason::sealed_unknown_key), 1u);
  EXPECT_EQ(b_.counters().drops.total(), 1u);
  EXPECT_EQ(a_.counters().drops.total(), 0u);
  EXPECT_TRUE(a_.port->is_up());
  EXPECT_TRUE(b_.port->is_up());
}

TEST_F(uplink_test, set_keys_is_refused_in_plain_mode) {
  ports::uplink_settings plain;
  open_pair(plain);
  EXPECT_FALSE(a_.endpoint->set_keys({make_key(1)}));
  EXPECT_FALSE(a_.endpoint->is_sealed());
}

}  // namespace
