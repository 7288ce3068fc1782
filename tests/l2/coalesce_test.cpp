// Userspace GRO (tcp_coalescer): flows of MSS-sized segments built from
// literal header values, with checksums from a naive 16-bit reference written
// here (independent of l2/checksum), are fed in and flushed; the super-frame's
// bytes, lengths and virtio-net header are checked, and completing its partial
// checksum (again with the reference) must give a valid TCP checksum. Then
// every reason a segment may not join a run, the size and count caps, and
// garbage that must never crash.
#include "l2/coalesce.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <optional>
#include <random>
#include <utility>
#include <vector>

#include "test_bytes.hpp"

namespace {

using l2_test::byte_vector;

// ---------------------------------------------------------------------------
// Naive reference checksum: 16-bit big-endian words, folded as it goes.

std::uint16_t reference_sum(const byte_vector& data, std::size_t begin = 0, std::size_t end = SIZE_MAX) {
  end = std::min(end, data.size());
  return l2_test::reference_sum(std::span<const std::byte>(data).subspan(begin, end - begin));
}

std::uint16_t ones_add(std::uint16_t a, std::uint16_t b) {
  std::uint32_t sum = std::uint32_t{a} + b;
  return static_cast<std::uint16_t>((sum & 0xffff) + (sum >> 16));
}

// ---------------------------------------------------------------------------
// Byte access in network order, for the test's own builder and checks.

std::uint16_t get16(const byte_vector& b, std::size_t at) {
  return static_cast<std::uint16_t>((std::to_integer<unsigned>(b[at]) << 8) | std::to_integer<unsigned>(b[at + 1]));
}
std::uint32_t get32(const byte_vector& b, std::size_t at) {
  return (std::uint32_t{get16(b, at)} << 16) | get16(b, at + 2);
}
std::uint8_t get8(const byte_vector& b, std::size_t at) { return std::to_integer<std::uint8_t>(b[at]); }
void put8(byte_vector& b, std::uint8_t v) { b.push_back(static_cast<std::byte>(v)); }
void put16(byte_vector& b, std::uint16_t v) {
  put8(b, static_cast<std::uint8_t>(v >> 8));
  put8(b, static_cast<std::uint8_t>(v));
}
void put32(byte_vector& b, std::uint32_t v) {
  put16(b, static_cast<std::uint16_t>(v >> 16));
  put16(b, static_cast<std::uint16_t>(v));
}
void set16(byte_vector& b, std::size_t at, std::uint16_t v) {
  b[at] = static_cast<std::byte>(v >> 8);
  b[at + 1] = static_cast<std::byte>(v & 0xff);
}

constexpr std::uint8_t fin = 0x01, syn = 0x02, rst = 0x04, psh = 0x08, ack = 0x10, urg = 0x20, ece = 0x40,
                       cwr = 0x80;

// ---------------------------------------------------------------------------
// A TCP flow, and a builder for its segments.

struct flow {
  std::array<std::uint8_t, 6> destination_mac{0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
  std::array<std::uint8_t, 6> source_mac{0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
  std::optional<std::uint16_t> vid;  ///< 802.1Q tag when set
  bool ipv6 = false;
  std::array<std::uint8_t, 4> source_v4{10, 0, 0, 1};
  std::array<std::uint8_t, 4> destination_v4{10, 0, 0, 2};
  std::array<std::uint8_t, 16> source_v6{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  std::array<std::uint8_t, 16> destination_v6{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  std::uint8_t tos = 0;          ///< IPv4 TOS / IPv6 traffic class
  std::uint8_t ttl = 64;         ///< IPv4 TTL / IPv6 hop limit
  std::uint16_t ip_id = 0x1234;  ///< IPv4 id of the first segment (incremented per segment)
  bool dont_fragment = true;
  std::uint16_t source_port = 40000;
  std::uint16_t destination_port = 5201;
  std::uint32_t sequence = 0xfffff000;  ///< first segment's; wraps within the tests' runs
  std::uint32_t ack_number = 0x01020304;
  std::uint16_t window = 501;
  bool timestamps = true;  ///< NOP, NOP, TS option (12 bytes)
  std::uint32_t tsval = 1000;
  std::uint32_t tsecr = 2000;
  std::size_t mss = 1448;
};

/// Payload byte `i` of the flow's stream (relative to the first segment).
std::byte stream_byte(std::size_t i) { return static_cast<std::byte>((i * 7 + i / 251) & 0xff); }

struct segment_options {
  std::uint8_t flags = ack;
  std::optional<std::size_t> payload_size;  ///< the flow's mss unless given
  std::optional<std::uint32_t> sequence;   ///< computed from the index unless given
  std::optional<std::uint16_t> ip_id;      ///< computed from the index unless given

  segment_options with_flags(std::uint8_t v) const { auto o = *this; o.flags = v; return o; }
  segment_options with_payload(std::size_t v) const { auto o = *this; o.payload_size = v; return o; }
  segment_options with_sequence(std::uint32_t v) const { auto o = *this; o.sequence = v; return o; }
  segment_options with_id(std::uint16_t v) const { auto o = *this; o.ip_id = v; return o; }
};

/// Options for a segment: ACK, the flow's mss, sequence and id from the index.
segment_options opts() { return segment_options{}; }

std::size_t l3_offset(const flow& f) { return f.vid ? 18 : 14; }
std::size_t l4_offset(const flow& f) { return l3_offset(f) + (f.ipv6 ? 40 : 20); }
std::size_t tcp_header_size(const flow& f) { return f.timestamps ? 32 : 20; }
std::size_t headers_size(const flow& f) { return l4_offset(f) + tcp_header_size(f); }

/// The TCP pseudo-header, as bytes (RFC 793 / RFC 8200 section 8.1).
byte_vector pseudo_header(const flow& f, std::size_t tcp_length) {
  byte_vector p;
  if (f.ipv6) {
    for (auto b : f.source_v6) put8(p, b);
    for (auto b : f.destination_v6) put8(p, b);
    put32(p, static_cast<std::uint32_t>(tcp_length));
    put8(p, 0), put8(p, 0), put8(p, 0), put8(p, 6);
  } else {
    for (auto b : f.source_v4) put8(p, b);
    for (auto b : f.destination_v4) put8(p, b);
    put8(p, 0), put8(p, 6);
    put16(p, static_cast<std::uint16_t>(tcp_length));
  }
  return p;
}

/// True if the TCP checksum of `frame` (a segment of `f`) verifies.
bool tcp_checksum_ok(const flow& f, const byte_vector& frame) {
  const std::size_t l4 = l4_offset(f);
  return ones_add(reference_sum(pseudo_header(f, frame.size() - l4)), reference_sum(frame, l4)) == 0xffff;
}

/// Segment `index` of flow `f`: payload bytes are the stream's from index * mss.
byte_vector make_segment(const flow& f, std::size_t index, segment_options o = {}) {
  const std::size_t payload = o.payload_size.value_or(f.mss);
  const std::size_t tcp_length = tcp_header_size(f) + payload;
  byte_vector b;
  // Ethernet (and tag).
  for (auto v : f.destination_mac) put8(b, v);
  for (auto v : f.source_mac) put8(b, v);
  if (f.vid) put16(b, 0x8100), put16(b, static_cast<std::uint16_t>(0x2000 | *f.vid));  // PCP 1
  put16(b, f.ipv6 ? 0x86dd : 0x0800);
  // IP.
  if (f.ipv6) {
    put32(b, 0x60000000u | (std::uint32_t{f.tos} << 20) | 0x12345);  // flow label 0x12345
    put16(b, static_cast<std::uint16_t>(tcp_length));
    put8(b, 6), put8(b, f.ttl);
    for (auto v : f.source_v6) put8(b, v);
    for (auto v : f.destination_v6) put8(b, v);
  } else {
    const std::size_t ip = b.size();
    put8(b, 0x45), put8(b, f.tos);
    put16(b, static_cast<std::uint16_t>(20 + tcp_length));
    put16(b, o.ip_id.value_or(static_cast<std::uint16_t>(f.ip_id + index)));
    put16(b, f.dont_fragment ? 0x4000 : 0);
    put8(b, f.ttl), put8(b, 6);
    put16(b, 0);
    for (auto v : f.source_v4) put8(b, v);
    for (auto v : f.destination_v4) put8(b, v);
    set16(b, ip + 10, static_cast<std::uint16_t>(~reference_sum(b, ip, ip + 20)));
  }
  // TCP.
  const std::size_t tcp = b.size();
  put16(b, f.source_port), put16(b, f.destination_port);
  put32(b, o.sequence.value_or(static_cast<std::uint32_t>(f.sequence + index * f.mss)));
  put32(b, f.ack_number);
  put8(b, static_cast<std::uint8_t>(tcp_header_size(f) / 4 << 4)), put8(b, o.flags);
  put16(b, f.window);
  put16(b, 0), put16(b, 0);  // checksum, urgent pointer
  if (f.timestamps) {
    put8(b, 1), put8(b, 1), put8(b, 8), put8(b, 10);
    put32(b, f.tsval), put32(b, f.tsecr);
  }
  for (std::size_t i = 0; i < payload; ++i) b.push_back(stream_byte(index * f.mss + i));
  const std::uint16_t sum = ones_add(reference_sum(pseudo_header(f, tcp_length)), reference_sum(b, tcp));
  set16(b, tcp + 16, static_cast<std::uint16_t>(~sum));
  EXPECT_TRUE(tcp_checksum_ok(f, b));
  return b;
}

/// Completes a partial checksum as a receiver would: sum from csum_start to
/// the end (the field holds the pseudo-header sum), fold, invert, store.
void complete(byte_vector& frame, const l2::vnet_header& h) {
  const std::uint16_t sum = reference_sum(frame, h.csum_start);
  set16(frame, std::size_t{h.csum_start} + h.csum_offset, static_cast<std::uint16_t>(~sum));
}

byte_vector to_vector(std::span<const std::byte> s) { return byte_vector(s.begin(), s.end()); }

// ---------------------------------------------------------------------------
// The round trip.

/// Feeds `count` full segments of `f`, flushes, and checks the super-frame.
void check_round_trip(const flow& f, std::size_t count) {
  std::vector<byte_vector> segments;
  for (std::size_t i = 0; i < count; ++i) segments.push_back(make_segment(f, i));
  l2::tcp_coalescer c;
  for (const auto& s : segments) ASSERT_TRUE(c.add(s));
  ASSERT_TRUE(c.pending());
  const l2::packet p = c.flush();
  EXPECT_FALSE(c.pending());
  byte_vector merged = to_vector(p.frame);

  const std::size_t l3 = l3_offset(f), l4 = l4_offset(f), headers = headers_size(f);
  // Size and payload: the first segment's headers, then the concatenation.
  ASSERT_EQ(merged.size(), headers + count * f.mss);
  for (std::size_t i = 0; i < count * f.mss; ++i) {
    ASSERT_EQ(merged[headers + i], stream_byte(i)) << "payload byte " << i;
  }
  // Ethernet header and tag unchanged.
  EXPECT_TRUE(std::equal(merged.begin(), merged.begin() + static_cast<std::ptrdiff_t>(l3), segments[0].begin()));
  // IP.
  if (f.ipv6) {
    EXPECT_EQ(get16(merged, l3 + 4), merged.size() - l3 - 40);
    EXPECT_TRUE(std::equal(merged.begin() + static_cast<std::ptrdiff_t>(l3 + 6), merged.begin() + static_cast<std::ptrdiff_t>(l4),
                           segments[0].begin() + static_cast<std::ptrdiff_t>(l3 + 6)));
  } else {
    EXPECT_EQ(get16(merged, l3 + 2), merged.size() - l3);
    EXPECT_EQ(get16(merged, l3 + 4), f.ip_id);  // the first segment's id
    EXPECT_EQ(reference_sum(merged, l3, l3 + 20), 0xffff) << "IPv4 header checksum";
  }
  // TCP header: the first segment's, but for the checksum.
  EXPECT_EQ(get32(merged, l4 + 4), f.sequence);
  EXPECT_EQ(get32(merged, l4 + 8), f.ack_number);
  EXPECT_EQ(get8(merged, l4 + 13), ack);
  EXPECT_EQ(get16(merged, l4 + 14), f.window);
  EXPECT_TRUE(std::equal(merged.begin() + static_cast<std::ptrdiff_t>(l4 + 18), merged.begin() + static_cast<std::ptrdiff_t>(headers),
                         segments[0].begin() + static_cast<std::ptrdiff_t>(l4 + 18)));
  // The checksum field holds the folded, uncomplemented pseudo-header sum.
  EXPECT_EQ(get16(merged, l4 + 16), reference_sum(pseudo_header(f, merged.size() - l4)));
  // The header.
  EXPECT_EQ(p.offload.flags, l2::vnet_flag_needs_csum);
  EXPECT_EQ(p.offload.gso_type, f.ipv6 ? l2::gso_tcpv6 : l2::gso_tcpv4);
  EXPECT_EQ(p.offload.gso_size, f.mss);
  EXPECT_EQ(p.offload.hdr_len, headers);
  EXPECT_EQ(p.offload.csum_start, l4);
  EXPECT_EQ(p.offload.csum_offset, 16);
  EXPECT_TRUE(p.offload.is_gso());
  // Completing the partial checksum gives a valid TCP checksum.
  complete(merged, p.offload);
  EXPECT_TRUE(tcp_checksum_ok(f, merged));
}

TEST(coalesce, ipv4_round_trip) { check_round_trip(flow{}, 10); }

TEST(coalesce, ipv6_round_trip) {
  flow f;
  f.ipv6 = true;
  f.mss = 1428;
  check_round_trip(f, 10);
}

TEST(coalesce, vlan_tagged_round_trip) {
  flow f;
  f.vid = 42;
  check_round_trip(f, 7);
  f.ipv6 = true;
  check_round_trip(f, 7);
}

TEST(coalesce, without_options_and_odd_mss_round_trip) {
  flow f;
  f.timestamps = false;
  f.mss = 1001;  // odd: every appended payload starts at an odd offset
  f.dont_fragment = false;
  check_round_trip(f, 5);
  f.ipv6 = true;
  check_round_trip(f, 5);
}

TEST(coalesce, sequence_wraps) {
  flow f;
  f.sequence = 0xffffffff - 3000;  // wraps inside the run
  check_round_trip(f, 6);
}

TEST(coalesce, single_segment_comes_back_unchanged_with_plain_header) {
  flow f;
  const byte_vector s = make_segment(f, 0);
  l2::tcp_coalescer c;
  ASSERT_TRUE(c.add(s));
  const l2::packet p = c.flush();
  EXPECT_EQ(to_vector(p.frame), s);
  EXPECT_EQ(p.offload, l2::vnet_header{});
  EXPECT_TRUE(p.offload.is_plain());
  EXPECT_FALSE(c.pending());
  // And the next run starts fresh.
  ASSERT_TRUE(c.add(make_segment(f, 1)));
  ASSERT_TRUE(c.add(make_segment(f, 2)));
  EXPECT_EQ(c.flush().frame.size(), headers_size(f) + 2 * f.mss);
}

TEST(coalesce, flush_resets_for_the_next_run_of_the_same_flow) {
  flow f;
  l2::tcp_coalescer c;
  for (std::size_t i = 0; i < 3; ++i) ASSERT_TRUE(c.add(make_segment(f, i)));
  c.flush();
  for (std::size_t i = 3; i < 6; ++i) ASSERT_TRUE(c.add(make_segment(f, i)));
  const l2::packet p = c.flush();
  ASSERT_EQ(p.frame.size(), headers_size(f) + 3 * f.mss);
  const byte_vector merged = to_vector(p.frame);
  EXPECT_EQ(get32(merged, l4_offset(f) + 4), static_cast<std::uint32_t>(f.sequence + 3 * f.mss));
  EXPECT_EQ(get16(merged, l3_offset(f) + 4), f.ip_id + 3);
  EXPECT_EQ(merged[headers_size(f)], stream_byte(3 * f.mss));
}

// ---------------------------------------------------------------------------
// What ends a run.

TEST(coalesce, psh_is_included_and_ends_the_run) {
  flow f;
  l2::tcp_coalescer c;
  ASSERT_TRUE(c.add(make_segment(f, 0)));
  ASSERT_TRUE(c.add(make_segment(f, 1)));
  ASSERT_TRUE(c.add(make_segment(f, 2, opts().with_flags(ack | psh))));
  EXPECT_FALSE(c.add(make_segment(f, 3))) << "the run is closed";
  const l2::packet p = c.flush();
  byte_vector merged = to_vector(p.frame);
  ASSERT_EQ(merged.size(), headers_size(f) + 3 * f.mss);
  EXPECT_EQ(get8(merged, l4_offset(f) + 13), ack | psh) << "PSH of the last segment kept";
  complete(merged, p.offload);
  EXPECT_TRUE(tcp_checksum_ok(f, merged));
  EXPECT_TRUE(c.add(make_segment(f, 3))) << "a new run after flush";
}

TEST(coalesce, psh_with_no_run_pending_is_refused) {
  flow f;
  l2::tcp_coalescer c;
  EXPECT_FALSE(c.add(make_segment(f, 0, opts().with_flags(ack | psh))));
  EXPECT_FALSE(c.pending());
}

TEST(coalesce, short_segment_is_included_and_ends_the_run) {
  flow f;
  l2::tcp_coalescer c;
  ASSERT_TRUE(c.add(make_segment(f, 0)));
  ASSERT_TRUE(c.add(make_segment(f, 1)));
  ASSERT_TRUE(c.add(make_segment(f, 2, opts().with_payload(100))));
  EXPECT_FALSE(c.add(make_segment(f, 3, opts().with_sequence(static_cast<std::uint32_t>(f.sequence + 2 * f.mss + 100)))));
  const l2::packet p = c.flush();
  byte_vector merged = to_vector(p.frame);
  ASSERT_EQ(merged.size(), headers_size(f) + 2 * f.mss + 100);
  EXPECT_EQ(get16(merged, l3_offset(f) + 2), merged.size() - l3_offset(f));
  EXPECT_EQ(p.offload.gso_size, f.mss);
  EXPECT_EQ(get8(merged, l4_offset(f) + 13), ack);
  complete(merged, p.offload);
  EXPECT_TRUE(tcp_checksum_ok(f, merged));
}

TEST(coalesce, larger_than_first_segment_is_refused) {
  flow f;
  l2::tcp_coalescer c;
  ASSERT_TRUE(c.add(make_segment(f, 0, opts().with_payload(1000))));
  EXPECT_FALSE(c.add(make_segment(f, 1, opts().with_payload(1001).with_sequence(f.sequence + 1000))));
  EXPECT_TRUE(c.add(make_segment(f, 1, opts().with_payload(1000).with_sequence(f.sequence + 1000))));
}

TEST(coalesce, out_of_order_and_retransmitted_sequence_refused) {
  flow f;
  l2::tcp_coalescer c;
  ASSERT_TRUE(c.add(make_segment(f, 0)));
  ASSERT_TRUE(c.add(make_segment(f, 1)));
  EXPECT_FALSE(c.add(make_segment(f, 3)));  // a gap
  EXPECT_FALSE(c.add(make_segment(f, 1)));  // a retransmission
  EXPECT_FALSE(c.add(make_segment(f, 2, opts().with_sequence(static_cast<std::uint32_t>(f.sequence + 2 * f.mss + 1)))));
  EXPECT_TRUE(c.add(make_segment(f, 2)));
  EXPECT_EQ(c.flush().frame.size(), headers_size(f) + 3 * f.mss);
}

/// A run of two segments of `f` is pending; segment 2 of `g` (otherwise the
/// same flow) must be refused, and the run must still flush intact.
void expect_refused_after_run(const flow& f, const byte_vector& other, const char* what) {
  SCOPED_TRACE(what);
  l2::tcp_coalescer c;
  ASSERT_TRUE(c.add(make_segment(f, 0)));
  ASSERT_TRUE(c.add(make_segment(f, 1)));
  EXPECT_FALSE(c.add(other));
  EXPECT_TRUE(c.pending());
  EXPECT_EQ(c.flush().frame.size(), headers_size(f) + 2 * f.mss);
}

TEST(coalesce, different_flow_refused) {
  const flow f;
  struct variant {
    const char* what;
    void (*change)(flow&);
  };
  const variant variants[] = {
      {"source port", [](flow& g) { g.source_port = 40001; }},
      {"destination port", [](flow& g) { g.destination_port = 5202; }},
      {"source address", [](flow& g) { g.source_v4[3] = 9; }},
      {"destination address", [](flow& g) { g.destination_v4[0] = 11; }},
      {"destination MAC", [](flow& g) { g.destination_mac[5] = 9; }},
      {"source MAC", [](flow& g) { g.source_mac[5] = 9; }},
      {"VLAN tag", [](flow& g) { g.vid = 1; }},
      {"IPv6", [](flow& g) { g.ipv6 = true; }},
      {"ack", [](flow& g) { g.ack_number += 1; }},
      {"window", [](flow& g) { g.window = 502; }},
      {"options (TSval)", [](flow& g) { g.tsval += 1; }},
      {"no options", [](flow& g) { g.timestamps = false; }},
      {"TOS", [](flow& g) { g.tos = 0x10; }},
      {"TTL", [](flow& g) { g.ttl = 63; }},
      {"DF", [](flow& g) { g.dont_fragment = false; }},
  };
  for (const variant& v : variants) {
    flow g = f;
    v.change(g);
    expect_refused_after_run(f, make_segment(g, 2), v.what);
  }
}

TEST(coalesce, different_ipv6_flow_refused) {
  flow f;
  f.ipv6 = true;
  flow g = f;
  g.source_v6[15] = 7;
  expect_refused_after_run(f, make_segment(g, 2), "IPv6 source");
  g = f;
  g.destination_v6[0] = 0xfe;
  expect_refused_after_run(f, make_segment(g, 2), "IPv6 destination");
  g = f;
  g.tos = 0x20;
  expect_refused_after_run(f, make_segment(g, 2), "traffic class");
  g = f;
  g.ttl = 1;
  expect_refused_after_run(f, make_segment(g, 2), "hop limit");
}

TEST(coalesce, ipv4_id_must_increment_without_df) {
  flow f;
  f.dont_fragment = false;
  expect_refused_after_run(f, make_segment(f, 2, opts().with_id(f.ip_id)), "fixed id without DF");
  // With DF the id of an atomic datagram carries no meaning (RFC 6864).
  flow g;
  l2::tcp_coalescer c;
  ASSERT_TRUE(c.add(make_segment(g, 0)));
  ASSERT_TRUE(c.add(make_segment(g, 1, opts().with_id(g.ip_id))));
  ASSERT_TRUE(c.add(make_segment(g, 2, opts().with_id(7))));
  byte_vector merged = to_vector(c.flush().frame);
  EXPECT_EQ(get16(merged, l3_offset(g) + 4), g.ip_id);
}

TEST(coalesce, flags_other_than_ack_and_psh_refused) {
  flow f;
  for (const std::uint8_t flags : {std::uint8_t(ack | fin), std::uint8_t(ack | syn), std::uint8_t(ack | rst),
                                   std::uint8_t(ack | urg), std::uint8_t(syn), std::uint8_t(0),
                                   std::uint8_t(ack | cwr), std::uint8_t(ack | ece)}) {
    SCOPED_TRACE(static_cast<int>(flags));
    expect_refused_after_run(f, make_segment(f, 2, opts().with_flags(flags)), "flags");
    if ((flags & (fin | syn | rst | urg)) != 0 || (flags & ack) == 0) {
      l2::tcp_coalescer c;
      EXPECT_FALSE(c.add(make_segment(f, 0, opts().with_flags(flags)))) << "never mergeable";
      EXPECT_FALSE(c.pending());
    }
  }
}

TEST(coalesce, cwr_on_the_first_segment_sets_ecn) {
  flow f;
  l2::tcp_coalescer c;
  ASSERT_TRUE(c.add(make_segment(f, 0, opts().with_flags(ack | cwr))));
  ASSERT_TRUE(c.add(make_segment(f, 1)));
  EXPECT_FALSE(c.add(make_segment(f, 2, opts().with_flags(ack | cwr))));
  ASSERT_TRUE(c.add(make_segment(f, 2)));
  const l2::packet p = c.flush();
  EXPECT_EQ(p.offload.gso_type, l2::gso_tcpv4 | l2::gso_ecn);
  byte_vector merged = to_vector(p.frame);
  EXPECT_EQ(get8(merged, l4_offset(f) + 13), ack | cwr);
  complete(merged, p.offload);
  EXPECT_TRUE(tcp_checksum_ok(f, merged));
}

TEST(coalesce, ece_in_every_segment_merges_without_ecn) {
  flow f;
  f.ipv6 = true;
  l2::tcp_coalescer c;
  for (std::size_t i = 0; i < 3; ++i) ASSERT_TRUE(c.add(make_segment(f, i, opts().with_flags(ack | ece))));
  // The kernel's tcp_gro_complete sets SKB_GSO_TCP_ECN for CWR only.
  EXPECT_EQ(c.flush().offload.gso_type, l2::gso_tcpv6);
}

// ---------------------------------------------------------------------------
// Checksums: corruption is never merged.

TEST(coalesce, bad_tcp_checksum_refused) {
  flow f;
  byte_vector bad = make_segment(f, 2);
  bad[headers_size(f) + 100] ^= std::byte{0x01};  // one payload bit
  expect_refused_after_run(f, bad, "corrupted payload with a run pending");
  l2::tcp_coalescer c;
  byte_vector first = make_segment(f, 0);
  first[headers_size(f) + 5] ^= std::byte{0x80};
  EXPECT_FALSE(c.add(first)) << "corrupted first segment";
  EXPECT_FALSE(c.pending());
  byte_vector header = make_segment(f, 2);
  header[l4_offset(f) + 24] ^= std::byte{0x01};  // TSval: options differ too, but refuse anyway
  expect_refused_after_run(f, header, "corrupted TCP header");
  byte_vector zero = make_segment(f, 0);
  set16(zero, l4_offset(f) + 16, 0);
  EXPECT_FALSE(l2::tcp_coalescer{}.add(zero)) << "checksum field zero";
}

TEST(coalesce, bad_ipv4_header_checksum_refused) {
  flow f;
  byte_vector bad = make_segment(f, 2);
  set16(bad, l3_offset(f) + 10, static_cast<std::uint16_t>(get16(bad, l3_offset(f) + 10) + 1));
  expect_refused_after_run(f, bad, "IPv4 header checksum with a run pending");
  byte_vector first = make_segment(f, 0);
  set16(first, l3_offset(f) + 10, static_cast<std::uint16_t>(get16(first, l3_offset(f) + 10) ^ 0x0100));
  l2::tcp_coalescer c;
  EXPECT_FALSE(c.add(first));
  EXPECT_FALSE(c.pending());
}

// ---------------------------------------------------------------------------
// Frames that can never be merged are refused even with no run pending.

TEST(coalesce, non_tcp_refused) {
  flow f;
  // UDP: the same frame with protocol 17 (and a fixed-up IPv4 checksum).
  byte_vector udp = make_segment(f, 0);
  const std::size_t l3 = l3_offset(f);
  udp[l3 + 9] = std::byte{17};
  set16(udp, l3 + 10, 0);
  set16(udp, l3 + 10, static_cast<std::uint16_t>(~reference_sum(udp, l3, l3 + 20)));
  // ARP request.
  const byte_vector arp = l2_test::bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x08, 0x06,
                                          0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01, 0x02, 0, 0, 0, 0, 1,
                                          10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2});
  // IPv6 with a hop-by-hop extension header before TCP.
  flow f6;
  f6.ipv6 = true;
  byte_vector ext = make_segment(f6, 0);
  ext[l3 + 6] = std::byte{0};
  for (const byte_vector& frame : {udp, arp, ext}) {
    l2::tcp_coalescer c;
    EXPECT_FALSE(c.add(frame));
    EXPECT_FALSE(c.pending());
    expect_refused_after_run(f, frame, "non-TCP with a run pending");
  }
}

TEST(coalesce, ipv4_options_and_fragments_refused) {
  flow f;
  const std::size_t l3 = l3_offset(f);
  const auto fix_ip_checksum = [&](byte_vector& b, std::size_t header_size) {
    set16(b, l3 + 10, 0);
    set16(b, l3 + 10, static_cast<std::uint16_t>(~reference_sum(b, l3, l3 + header_size)));
  };
  // IHL 6: a 4-byte option (NOP x3, EOL) inserted after the IPv4 header.
  byte_vector options = make_segment(f, 0);
  options.insert(options.begin() + static_cast<std::ptrdiff_t>(l3 + 20), {std::byte{1}, std::byte{1}, std::byte{1}, std::byte{0}});
  options[l3] = std::byte{0x46};
  set16(options, l3 + 2, static_cast<std::uint16_t>(get16(options, l3 + 2) + 4));
  fix_ip_checksum(options, 24);
  // More fragments; a fragment offset; the reserved ("evil") bit.
  byte_vector more = make_segment(f, 0);
  set16(more, l3 + 6, 0x2000);
  fix_ip_checksum(more, 20);
  byte_vector offset = make_segment(f, 0);
  set16(offset, l3 + 6, 0x0010);
  fix_ip_checksum(offset, 20);
  byte_vector reserved = make_segment(f, 0);
  set16(reserved, l3 + 6, 0xc000);
  fix_ip_checksum(reserved, 20);
  for (const byte_vector& frame : {options, more, offset, reserved}) {
    l2::tcp_coalescer c;
    EXPECT_FALSE(c.add(frame));
    EXPECT_FALSE(c.pending());
  }
}

TEST(coalesce, length_mismatch_and_empty_payload_refused) {
  flow f;
  // Ethernet padding after the IP datagram.
  byte_vector padded = make_segment(f, 0, opts().with_payload(4));
  padded.resize(padded.size() + 6);
  // IP length larger than the frame.
  byte_vector cut = make_segment(f, 0);
  cut.pop_back();
  // No payload (a pure ACK).
  const byte_vector pure_ack = make_segment(f, 0, opts().with_payload(0));
  // IPv6 payload length off by one.
  flow f6;
  f6.ipv6 = true;
  byte_vector v6 = make_segment(f6, 0);
  set16(v6, l3_offset(f6) + 4, static_cast<std::uint16_t>(get16(v6, l3_offset(f6) + 4) - 1));
  for (const byte_vector& frame : {padded, cut, pure_ack, v6}) {
    l2::tcp_coalescer c;
    EXPECT_FALSE(c.add(frame));
    EXPECT_FALSE(c.pending());
  }
}

// ---------------------------------------------------------------------------
// Caps: max_size and 64 segments.

/// Offers `frames` as a caller does (refused: flush, forward, offer again;
/// refused again: forward as is) and returns what was forwarded.
std::vector<std::pair<byte_vector, l2::vnet_header>> drive(l2::tcp_coalescer& c, const std::vector<byte_vector>& frames) {
  std::vector<std::pair<byte_vector, l2::vnet_header>> out;
  const auto forward_pending = [&] {
    const l2::packet p = c.flush();
    out.emplace_back(to_vector(p.frame), p.offload);
  };
  for (const byte_vector& frame : frames) {
    if (c.add(frame)) continue;
    if (c.pending()) forward_pending();
    if (!c.add(frame)) out.emplace_back(frame, l2::vnet_header{});
  }
  if (c.pending()) forward_pending();
  return out;
}

TEST(coalesce, max_size_respected) {
  flow f;
  f.mss = 1000;
  std::vector<byte_vector> frames;
  for (std::size_t i = 0; i < 40; ++i) frames.push_back(make_segment(f, i));
  for (const std::size_t max_size : {std::size_t{1066}, std::size_t{2065}, std::size_t{2066}, std::size_t{5000},
                                     std::size_t{9000}, std::size_t{65535}}) {
    SCOPED_TRACE(max_size);
    l2::tcp_coalescer c(max_size);
    const auto out = drive(c, frames);
    std::size_t payload = 0;
    std::size_t fewest = SIZE_MAX;
    for (auto [frame, header] : out) {
      EXPECT_LE(frame.size(), max_size);
      payload += frame.size() - headers_size(f);
      if (header.is_gso()) {
        complete(frame, header);
        EXPECT_TRUE(tcp_checksum_ok(f, frame));
      }
      fewest = std::min(fewest, frame.size());
    }
    EXPECT_EQ(payload, 40 * f.mss) << "every byte forwarded exactly once";
    const std::size_t per_run = std::min<std::size_t>((max_size - headers_size(f)) / f.mss, 40);
    EXPECT_EQ(out.size(), (40 + per_run - 1) / per_run);
  }
  // A frame larger than max_size cannot start a run.
  l2::tcp_coalescer small(500);
  EXPECT_FALSE(small.add(frames[0]));
  EXPECT_FALSE(small.pending());
}

TEST(coalesce, at_most_64_segments) {
  flow f;
  f.mss = 100;
  std::vector<byte_vector> frames;
  for (std::size_t i = 0; i < 70; ++i) frames.push_back(make_segment(f, i));
  l2::tcp_coalescer c;
  for (std::size_t i = 0; i < 64; ++i) ASSERT_TRUE(c.add(frames[i])) << i;
  EXPECT_FALSE(c.add(frames[64]));
  const l2::packet p = c.flush();
  EXPECT_EQ(p.frame.size(), headers_size(f) + 64 * f.mss);
  EXPECT_TRUE(c.add(frames[64]));
  const auto out = drive(c, std::vector<byte_vector>(frames.begin() + 65, frames.end()));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].first.size(), headers_size(f) + 6 * f.mss);
}

TEST(coalesce, ip_length_fields_never_overflow) {
  // With a huge max_size, the run still stops where the 16-bit IP length ends.
  for (const bool ipv6 : {false, true}) {
    flow f;
    f.ipv6 = ipv6;
    f.mss = 1400;
    f.vid = 5;
    std::vector<byte_vector> frames;
    for (std::size_t i = 0; i < 60; ++i) frames.push_back(make_segment(f, i));
    l2::tcp_coalescer c(1 << 20);
    for (auto [frame, header] : drive(c, frames)) {
      const std::size_t ip_length = frame.size() - l3_offset(f) - (ipv6 ? 40 : 0);
      EXPECT_LE(ip_length, 65535u);
      EXPECT_EQ(get16(frame, l3_offset(f) + (ipv6 ? 4 : 2)), ip_length);
    }
  }
}

// ---------------------------------------------------------------------------
// Untrusted bytes never crash; whatever is merged is still valid.

TEST(coalesce, truncated_and_garbage_frames_never_crash) {
  std::mt19937 rng(20240613);
  flow f4;
  f4.mss = 64;
  flow f6;
  f6.ipv6 = true;
  f6.vid = 3;
  f6.mss = 64;
  const byte_vector good4 = make_segment(f4, 0);
  const byte_vector good6 = make_segment(f6, 0);
  l2::tcp_coalescer c(4000);
  std::size_t merged_runs = 0;
  const auto check_flush = [&] {
    if (!c.pending()) return;
    const l2::packet p = c.flush();
    byte_vector frame = to_vector(p.frame);
    EXPECT_LE(frame.size(), 4000u);
    if (p.offload.is_gso()) {
      ++merged_runs;
      // Whatever was merged verified; the super-frame must verify too.
      complete(frame, p.offload);
      const std::size_t l4 = p.offload.csum_start;
      const bool v6 = (p.offload.gso_type & ~l2::gso_ecn) == l2::gso_tcpv6;
      byte_vector pseudo;
      const std::size_t l3 = l4 - (v6 ? 40 : 20);
      if (v6) {
        pseudo.assign(frame.begin() + static_cast<std::ptrdiff_t>(l3 + 8), frame.begin() + static_cast<std::ptrdiff_t>(l3 + 40));
        put32(pseudo, static_cast<std::uint32_t>(frame.size() - l4));
        put32(pseudo, 6);
      } else {
        EXPECT_EQ(reference_sum(frame, l3, l3 + 20), 0xffff);
        pseudo.assign(frame.begin() + static_cast<std::ptrdiff_t>(l3 + 12), frame.begin() + static_cast<std::ptrdiff_t>(l3 + 20));
        put16(pseudo, 6);
        put16(pseudo, static_cast<std::uint16_t>(frame.size() - l4));
      }
      EXPECT_EQ(ones_add(reference_sum(pseudo), reference_sum(frame, l4)), 0xffff);
    }
  };
  // Every truncation of valid frames.
  for (const byte_vector* good : {&good4, &good6}) {
    for (std::size_t n = 0; n <= good->size(); ++n) {
      c.add(std::span<const std::byte>(good->data(), n));
      check_flush();
    }
  }
  // Random bytes, and valid frames with a few random bytes changed (most are
  // refused; those that still verify may merge).
  for (int round = 0; round < 4000; ++round) {
    byte_vector frame;
    if (round % 4 == 0) {
      frame.resize(rng() % 200);
      for (auto& b : frame) b = static_cast<std::byte>(rng());
    } else {
      // Runs of consecutive segments of one flow, a third of them damaged.
      const flow& f = (round / 12) % 2 ? f4 : f6;
      frame = make_segment(f, static_cast<std::size_t>(round % 12));
      if (rng() % 3 == 0) {
        const int changes = 1 + static_cast<int>(rng() % 3);
        for (int k = 0; k < changes; ++k) frame[rng() % frame.size()] = static_cast<std::byte>(rng());
        if (rng() % 4 == 0) frame.resize(rng() % (frame.size() + 1));
      }
    }
    if (!c.add(frame)) check_flush();
    if (rng() % 16 == 0) check_flush();
  }
  check_flush();
  EXPECT_GT(merged_runs, 50u) << "the valid property above was exercised";
}

}  // namespace
