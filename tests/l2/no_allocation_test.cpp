// Checks the performance rule "no heap allocation per frame": the global
// operator new is replaced by a counting one, and the per-frame functions
// (decide with learn and lookup, parse, the MAC table operations, and
// vxlan_decode) must not call it. Set-up outside the measured window may.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "l2/checksum.hpp"
#include "l2/coalesce.hpp"
#include "l2/forwarder.hpp"
#include "l2/offload.hpp"
#include "l2/vxlan.hpp"
#include "test_bytes.hpp"

namespace {
std::atomic<std::size_t> allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  ++allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return ::operator new(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace {

using namespace std::chrono_literals;
using l2_test::at;
using l2_test::byte_vector;
using l2_test::make_frame;

TEST(no_allocation, per_frame_path) {
  l2::forwarder f(64, 10s);
  f.add_port(1, l2::port_role::local);
  f.add_port(2, l2::port_role::local);
  f.add_port(3, l2::port_role::uplink);
  f.table().set_port_limit(2, 4);
  std::vector<byte_vector> frames;
  for (int i = 0; i < 200; ++i) {
    const l2::mac_address src = l2::mac_address::from_u64(0x020000000000u + static_cast<unsigned>(i));
    const l2::mac_address dst = l2::mac_address::from_u64(0x020000000000u + static_cast<unsigned>(i * 7 % 200));
    l2::frame_header h{dst, src, std::nullopt, 0x0800};
    if (i % 3 == 0) h.tag = l2::vlan_tag{0, false, static_cast<l2::vlan_id>(i % 5)};
    frames.push_back(make_frame(h, 40));
  }
  frames.push_back(make_frame("ff:ff:ff:ff:ff:ff", "02:00:00:00:00:01"));
  frames.push_back(make_frame("01:80:c2:00:00:00", "02:00:00:00:00:01"));
  frames.push_back(make_frame("02:00:00:00:00:01", "01:00:00:00:00:01"));
  frames.push_back(byte_vector(3));
  byte_vector datagram(8 + 60);
  const auto header = l2::vxlan_encode(5);
  std::copy(header.begin(), header.end(), datagram.begin());

  // The counter works (a direct call cannot be elided by the compiler).
  const std::size_t probe = allocations.load();
  ::operator delete(::operator new(16));
  ASSERT_EQ(allocations.load(), probe + 1);

  const std::size_t before = allocations.load();
  std::size_t decided = 0;
  for (int round = 0; round < 3; ++round) {
    for (std::size_t i = 0; i < frames.size(); ++i) {
      const l2::forward_decision d =
          f.decide(static_cast<l2::port_id>(1 + i % 3), frames[i], at(round * 6));
      decided += d.kind == l2::forward_decision::action::drop ? 0 : 1;
    }
    f.age(at(round * 6));
  }
  f.set_port_up(2, false);
  f.set_port_up(2, true);
  f.table().flush_port(1);
  f.table().flush();
  const bool ok = static_cast<bool>(l2::vxlan_decode(datagram, 5));
  const std::size_t after = allocations.load();

  EXPECT_EQ(after, before) << "heap allocations on the per-frame path";
  EXPECT_GT(decided, 0u);
  EXPECT_TRUE(ok);
  EXPECT_GT(f.table().counters().refused, 0u);  // the full-table path ran too
}

// Userspace GRO: tcp_coalescer::add and flush on a flow of TCP segments (their
// checksums made with l2::checksum here; coalesce_test checks those against a
// reference), including refusals, a closed run and a full 64-segment run.
byte_vector tcp_segment(std::uint32_t index, std::size_t payload, std::uint8_t flags) {
  const std::size_t tcp_length = 20 + payload;
  byte_vector b(14 + 20 + tcp_length, std::byte{0x61});
  const auto put16 = [&](std::size_t at, std::uint32_t v) {
    b[at] = static_cast<std::byte>(v >> 8 & 0xff);
    b[at + 1] = static_cast<std::byte>(v & 0xff);
  };
  for (std::size_t i = 0; i < 12; ++i) b[i] = static_cast<std::byte>(2 + i / 6);  // MACs
  put16(12, 0x0800);
  put16(14, 0x4500), put16(16, static_cast<std::uint32_t>(20 + tcp_length)), put16(18, index), put16(20, 0x4000);
  put16(22, 0x4006), put16(24, 0), put16(26, 0x0a00), put16(28, 0x0001), put16(30, 0x0a00), put16(32, 0x0002);
  put16(24, l2::checksum::finish(l2::checksum::add(0, std::span<const std::byte>(b).subspan(14, 20))));
  const std::uint32_t seq = 1000 + index * static_cast<std::uint32_t>(payload);
  put16(34, 40000), put16(36, 5201), put16(38, seq >> 16), put16(40, seq & 0xffff), put16(42, 0), put16(44, 1);
  put16(46, 0x5000 | flags), put16(48, 500), put16(50, 0), put16(52, 0);
  const std::span<const std::byte> all(b);
  const std::uint64_t pseudo = l2::checksum::pseudo_header(all.subspan(26, 4), all.subspan(30, 4), 6,
                                                           static_cast<std::uint32_t>(tcp_length));
  put16(50, l2::checksum::finish(l2::checksum::add(pseudo, all.subspan(34))));
  return b;
}

TEST(no_allocation, coalesce_add_flush) {
  l2::tcp_coalescer c;
  std::vector<byte_vector> frames;
  for (std::uint32_t i = 0; i < 70; ++i) frames.push_back(tcp_segment(i, 1000, i == 5 ? 0x18 : 0x10));
  frames.push_back(make_frame("ff:ff:ff:ff:ff:ff", "02:00:00:00:00:01"));  // not TCP
  frames.push_back(byte_vector(3));

  const std::size_t before = allocations.load();
  std::size_t bytes = 0;
  for (int round = 0; round < 2; ++round) {
    for (const byte_vector& frame : frames) {
      if (c.add(frame)) continue;
      if (c.pending()) bytes += c.flush().frame.size();
      if (c.add(frame)) continue;
      bytes += frame.size();
    }
    if (c.pending()) bytes += c.flush().frame.size();
  }
  const std::size_t after = allocations.load();

  EXPECT_EQ(after, before) << "heap allocations in tcp_coalescer::add/flush";
  EXPECT_LT(bytes, 2 * (70 * 1054 + 60 + 3)) << "segments were merged";
}

// Software GSO and checksum completion: validate, segment (a TCP super-frame
// cut into four segments, a NEEDS_CSUM frame, a plain frame), complete_checksum
// and the header's parse/emit, into buffers allocated before the window.
TEST(no_allocation, offload_segment) {
  constexpr std::size_t payload = 5000;
  byte_vector frame(14 + 20 + 20 + payload, std::byte{0x5a});
  const auto put16 = [&](std::size_t at, std::size_t v) {
    frame[at] = static_cast<std::byte>(v >> 8 & 0xff);
    frame[at + 1] = static_cast<std::byte>(v & 0xff);
  };
  put16(12, 0x0800);  // IPv4: total length, id, DF, TTL 64, TCP, 10.0.0.1 > 10.0.0.2
  put16(14, 0x4500), put16(16, 20 + 20 + payload), put16(18, 1), put16(20, 0x4000), put16(22, 0x4006);
  put16(24, 0), put16(26, 0x0a00), put16(28, 0x0001), put16(30, 0x0a00), put16(32, 0x0002);
  put16(34, 40000), put16(36, 5201), put16(38, 0), put16(40, 1000), put16(42, 0), put16(44, 1);  // TCP
  put16(46, 0x5018), put16(48, 500), put16(50, 0), put16(52, 0);
  const l2::vnet_header gso{l2::vnet_flag_needs_csum, l2::gso_tcpv4, 54, 1448, 34, 16};
  const l2::vnet_header csum{l2::vnet_flag_needs_csum, l2::gso_none, 0, 0, 34, 16};
  std::vector<std::byte> out(l2::segment_buffer_size(frame.size(), 8));
  byte_vector copy = frame;
  byte_vector wire(l2::vnet_header_size);
  const std::span<std::byte, l2::vnet_header_size> wire_span(wire.data(), l2::vnet_header_size);

  const std::size_t before = allocations.load();
  bool ok = l2::validate(gso, frame) && l2::validate(csum, frame);
  std::size_t segments = 0;
  for (const l2::vnet_header& h : {gso, csum, l2::vnet_header{}}) {
    const l2::segment_result r = l2::segment(frame, h, 8, out);
    ok = ok && r.ok;
    segments += r.count;
  }
  ok = ok && l2::complete_checksum(copy, csum);
  l2::emit_vnet_header(gso, wire_span);
  ok = ok && l2::parse_vnet_header(wire_span) == gso;
  const std::size_t after = allocations.load();

  EXPECT_EQ(after, before) << "heap allocations in offload validate/segment/complete_checksum";
  EXPECT_TRUE(ok);
  EXPECT_EQ(segments, 4u + 1 + 1);
}

}  // namespace
