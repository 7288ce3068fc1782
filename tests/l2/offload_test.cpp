// Tests of offload: the virtio-net header (golden bytes, round trips),
// validate() (every accept and reject), complete_checksum() (TCP and UDP over
// IPv4 and IPv6, captured frames with known checksums, UDP 0 -> 0xffff) and
// segment() (table-driven super-frames, captured frames, the buffer bound,
// malformed input, a randomized robustness run).
//
// Segments are checked independently of the implementation: fields are read
// by hand and checksums computed by a naive 16-bit reference, never with
// l2::checksum.
#include "l2/offload.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "l2/frame.hpp"
#include "test_bytes.hpp"

namespace {

using l2::drop_reason;
using l2::vnet_header;
using l2_test::byte_vector;
using l2_test::bytes;
using l2_test::reference_sum;

constexpr std::byte sentinel{0xcc};
constexpr std::uint8_t tcp_fin = 0x01;
constexpr std::uint8_t tcp_syn = 0x02;
constexpr std::uint8_t tcp_psh = 0x08;
constexpr std::uint8_t tcp_ack = 0x10;
constexpr std::uint8_t tcp_urg = 0x20;
constexpr std::uint8_t tcp_ece = 0x40;
constexpr std::uint8_t tcp_cwr = 0x80;

// ---------------------------------------------------------------------------
// Test-side byte order and the reference checksum.

std::uint16_t get16(std::span<const std::byte> b, std::size_t at) {
  return static_cast<std::uint16_t>((std::to_integer<unsigned>(b[at]) << 8) |
                                    std::to_integer<unsigned>(b[at + 1]));
}

std::uint32_t get32(std::span<const std::byte> b, std::size_t at) {
  return (std::uint32_t{get16(b, at)} << 16) | get16(b, at + 2);
}

void put16(std::span<std::byte> b, std::size_t at, std::uint16_t v) {
  b[at] = static_cast<std::byte>(v >> 8);
  b[at + 1] = static_cast<std::byte>(v & 0xff);
}

void append(byte_vector& v, std::span<const std::byte> more) { v.insert(v.end(), more.begin(), more.end()); }

/// Frame bytes from tcpdump -xx style hex ("0800 4500 ..."): spaces ignored.
byte_vector hex(std::string_view text) {
  byte_vector out;
  int high = -1;
  for (char c : text) {
    int nibble = -1;
    if (c >= '0' && c <= '9') nibble = c - '0';
    if (c >= 'a' && c <= 'f') nibble = c - 'a' + 10;
    if (nibble < 0) continue;
    if (high < 0) {
      high = nibble;
    } else {
      out.push_back(static_cast<std::byte>(high * 16 + nibble));
      high = -1;
    }
  }
  EXPECT_LT(high, 0) << "odd number of hex digits";
  return out;
}

/// Pseudo-header (RFC 793/768 for IPv4, RFC 8200 for IPv6) followed by the L4 bytes.
byte_vector with_pseudo_header(std::span<const std::byte> frame, std::size_t l3, bool ipv6,
                               std::uint8_t protocol, std::span<const std::byte> l4) {
  byte_vector data;
  const std::size_t address_size = ipv6 ? 16 : 4;
  append(data, frame.subspan(l3 + (ipv6 ? 8 : 12), 2 * address_size));
  const auto length = static_cast<std::uint32_t>(l4.size());
  if (ipv6) {
    append(data, bytes({static_cast<int>(length >> 24), static_cast<int>((length >> 16) & 0xff),
                        static_cast<int>((length >> 8) & 0xff), static_cast<int>(length & 0xff), 0, 0,
                        0, protocol}));
  } else {
    append(data, bytes({0, protocol, static_cast<int>(length >> 8), static_cast<int>(length & 0xff)}));
  }
  append(data, l4);
  return data;
}

/// True if the L4 checksum at `l4` (to the end of `frame`) verifies.
bool l4_checksum_valid(std::span<const std::byte> frame, std::size_t l3, std::size_t l4, bool ipv6,
                       std::uint8_t protocol) {
  return reference_sum(with_pseudo_header(frame, l3, ipv6, protocol, frame.subspan(l4))) == 0xffff;
}

// ---------------------------------------------------------------------------
// Building super-frames.

/// What build() makes: Ethernet (optionally tagged) / IPv4 or IPv6 / TCP or UDP.
struct spec {
  bool ipv6 = false;
  bool udp = false;
  std::optional<std::uint16_t> vid = std::nullopt;  ///< 802.1Q tag
  std::size_t ip_options = 0;        ///< IPv4 option bytes (multiple of 4, <= 40)
  bool timestamps = false;           ///< TCP timestamps option (NOP NOP TS: 12 bytes)
  std::size_t tcp_padding = 0;       ///< further TCP option bytes, NOPs (multiple of 4)
  std::uint8_t ecn = 0;              ///< ECN bits of the TOS / traffic class
  std::uint8_t tcp_flags = tcp_ack | tcp_psh;
  std::uint32_t seq = 0x10000000;
  std::uint16_t ip_id = 0x1234;
  std::size_t payload_size = 3000;
  std::uint16_t gso_size = 1448;
  bool gso_ecn = false;  ///< set gso_ecn in the header's gso_type
};

/// A frame with its header and where its parts are.
struct super_frame {
  byte_vector frame;
  vnet_header header;
  bool ipv6 = false;
  bool udp = false;
  std::size_t l3 = 0;
  std::size_t l4 = 0;
  std::size_t headers_size = 0;  ///< up to the payload
  byte_vector payload;
};

/// A super-frame as the kernel hands it over a TAP with IFF_VNET_HDR: IP
/// lengths and IPv4 header checksum for the whole frame, the L4 checksum field
/// holding the pseudo-header sum, NEEDS_CSUM and the GSO fields set.
super_frame build(const spec& s) {
  super_frame out;
  out.ipv6 = s.ipv6;
  out.udp = s.udp;
  byte_vector& f = out.frame;
  append(f, bytes({0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01}));
  if (s.vid) append(f, bytes({0x81, 0x00, 0x20 | (*s.vid >> 8), *s.vid & 0xff}));
  append(f, s.ipv6 ? bytes({0x86, 0xdd}) : bytes({0x08, 0x00}));
  out.l3 = f.size();

  const std::size_t tcp_options = (s.timestamps ? 12 : 0) + s.tcp_padding;
  const std::size_t l4_header_size = s.udp ? 8 : 20 + tcp_options;
  const std::size_t l4_size = l4_header_size + s.payload_size;
  const int protocol = s.udp ? 17 : 6;
  const int tos = 0x28 | s.ecn;  // DSCP AF11
  if (s.ipv6) {
    EXPECT_LE(l4_size, 65535u);
    append(f, bytes({0x60 | (tos >> 4), ((tos & 0x0f) << 4) | 0x0b, 0xee, 0xf1,
                     static_cast<int>(l4_size >> 8), static_cast<int>(l4_size & 0xff), protocol, 64}));
    append(f, bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01}));
    append(f, bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02}));
  } else {
    const std::size_t header_size = 20 + s.ip_options;
    const std::size_t total = header_size + l4_size;
    EXPECT_LE(total, 65535u);
    append(f, bytes({0x40 | static_cast<int>(header_size / 4), tos, static_cast<int>(total >> 8),
                     static_cast<int>(total & 0xff), s.ip_id >> 8, s.ip_id & 0xff, 0x40, 0x00, 64,
                     protocol, 0, 0, 10, 0, 0, 1, 192, 168, 1, 2}));
    for (std::size_t i = 0; i < s.ip_options; i += 4) {
      append(f, i == 0 ? bytes({0x94, 0x04, 0x00, 0x00}) : bytes({0x01, 0x01, 0x01, 0x01}));
    }
    const std::span<std::byte> ip(f.data() + out.l3, header_size);
    put16(ip, 10, static_cast<std::uint16_t>(~reference_sum(ip)));
  }
  out.l4 = f.size();

  if (s.udp) {
    append(f, bytes({0x9c, 0x40, 0x12, 0xb5, static_cast<int>((l4_size >> 8) & 0xff),
                     static_cast<int>(l4_size & 0xff), 0, 0}));
  } else {
    const std::uint32_t seq = s.seq;
    append(f, bytes({0x9c, 0x40, 0x14, 0x51, static_cast<int>(seq >> 24), static_cast<int>((seq >> 16) & 0xff),
                     static_cast<int>((seq >> 8) & 0xff), static_cast<int>(seq & 0xff), 0xa0, 0xb0, 0xc0,
                     0xd0, static_cast<int>((l4_header_size / 4) << 4), s.tcp_flags, 0x01, 0xf5, 0, 0,
                     0x00, 0x07}));
    if (s.timestamps) append(f, bytes({0x01, 0x01, 0x08, 0x0a, 0x65, 0xfb, 0x33, 0xe9, 0x70, 0x93, 0x97, 0xe1}));
    for (std::size_t i = 0; i < s.tcp_padding; ++i) f.push_back(std::byte{0x01});
  }
  out.headers_size = f.size();

  std::mt19937 rng(static_cast<unsigned>(s.payload_size * 31 + s.gso_size));
  out.payload.resize(s.payload_size);
  for (std::byte& b : out.payload) b = static_cast<std::byte>(rng());
  append(f, out.payload);

  // The partial checksum: the pseudo-header sum, not complemented.
  const std::size_t checksum_at = out.l4 + (s.udp ? 6 : 16);
  const byte_vector pseudo = with_pseudo_header(f, out.l3, s.ipv6, static_cast<std::uint8_t>(protocol), {});
  byte_vector pseudo_with_length = pseudo;
  if (s.ipv6) {
    put16(pseudo_with_length, 32 + 2, static_cast<std::uint16_t>(l4_size));
  } else {
    put16(pseudo_with_length, 8 + 2, static_cast<std::uint16_t>(l4_size));
  }
  put16(f, checksum_at, reference_sum(pseudo_with_length));

  out.header.flags = l2::vnet_flag_needs_csum;
  out.header.gso_type = s.udp ? l2::gso_udp_l4 : (s.ipv6 ? l2::gso_tcpv6 : l2::gso_tcpv4);
  if (s.gso_ecn) out.header.gso_type |= l2::gso_ecn;
  out.header.hdr_len = static_cast<std::uint16_t>(out.headers_size);
  out.header.gso_size = s.gso_size;
  out.header.csum_start = static_cast<std::uint16_t>(out.l4);
  out.header.csum_offset = s.udp ? 6 : 16;
  return out;
}

/// The same frame as a single packet with only NEEDS_CSUM (no GSO).
vnet_header needs_csum_only(const super_frame& sf) {
  vnet_header h = sf.header;
  h.gso_type = l2::gso_none;
  h.gso_size = 0;
  h.hdr_len = 0;
  return h;
}

// ---------------------------------------------------------------------------
// Checking segment()'s output.

std::size_t expected_count(const super_frame& sf) {
  const std::size_t mss = sf.header.gso_size;
  return (sf.payload.size() + mss - 1) / mss;
}

/// Checks every segment of `result` in `out` against the super-frame `sf`.
void check_segments(const super_frame& sf, const l2::segment_result& result,
                    std::span<const std::byte> out, std::size_t headroom) {
  ASSERT_TRUE(result.ok);
  const std::size_t mss = sf.header.gso_size;
  const std::size_t count = expected_count(sf);
  const std::size_t headers = sf.headers_size;
  ASSERT_EQ(result.count, count);
  const std::size_t total = count * (headroom + headers) + sf.payload.size();
  ASSERT_EQ(result.total_size, total);
  ASSERT_EQ(result.stride, count > 1 ? headroom + headers + mss : total);
  ASSERT_LE(total, out.size());

  const std::span<const std::byte> frame(sf.frame);
  const std::size_t l3 = sf.l3;
  const std::size_t l4 = sf.l4;
  const std::uint8_t original_flags = sf.udp ? 0 : std::to_integer<std::uint8_t>(frame[l4 + 13]);
  byte_vector reassembled;
  for (std::size_t i = 0; i < count; ++i) {
    SCOPED_TRACE("segment " + std::to_string(i));
    const std::size_t chunk = std::min(mss, sf.payload.size() - i * mss);
    const std::size_t start = i * result.stride + headroom;
    const std::size_t end = i + 1 == count ? result.total_size : (i + 1) * result.stride;
    ASSERT_EQ(end - start, headers + chunk);
    for (std::size_t b = i * result.stride; b < start; ++b) ASSERT_EQ(out[b], sentinel) << "headroom written";
    const std::span<const std::byte> seg = out.subspan(start, end - start);
    if (i + 1 < count) {
      EXPECT_EQ(seg.size(), headers + mss);
    }

    // Ethernet and tag: copied as they are.
    EXPECT_TRUE(std::equal(seg.begin(), seg.begin() + static_cast<std::ptrdiff_t>(l3), frame.begin()));
    // IP.
    if (sf.ipv6) {
      EXPECT_TRUE(std::equal(seg.begin() + static_cast<std::ptrdiff_t>(l3),
                             seg.begin() + static_cast<std::ptrdiff_t>(l3 + 4),
                             frame.begin() + static_cast<std::ptrdiff_t>(l3)));  // version, class (ECN), flow
      EXPECT_EQ(get16(seg, l3 + 4), seg.size() - l4);
      EXPECT_TRUE(std::equal(seg.begin() + static_cast<std::ptrdiff_t>(l3 + 6),
                             seg.begin() + static_cast<std::ptrdiff_t>(l4),
                             frame.begin() + static_cast<std::ptrdiff_t>(l3 + 6)));
    } else {
      EXPECT_EQ(seg[l3], frame[l3]);          // version, IHL
      EXPECT_EQ(seg[l3 + 1], frame[l3 + 1]);  // TOS with ECN
      EXPECT_EQ(get16(seg, l3 + 2), seg.size() - l3);
      EXPECT_EQ(get16(seg, l3 + 4), static_cast<std::uint16_t>(get16(frame, l3 + 4) + i));
      EXPECT_EQ(get32(seg, l3 + 6), get32(frame, l3 + 6));  // flags, fragment, TTL, protocol
      EXPECT_TRUE(std::equal(seg.begin() + static_cast<std::ptrdiff_t>(l3 + 12),
                             seg.begin() + static_cast<std::ptrdiff_t>(l4),
                             frame.begin() + static_cast<std::ptrdiff_t>(l3 + 12)));  // addresses, options
      EXPECT_EQ(reference_sum(seg.subspan(l3, l4 - l3)), 0xffff) << "IPv4 header checksum";
    }
    // TCP or UDP.
    EXPECT_EQ(get32(seg, l4), get32(frame, l4));  // ports
    if (sf.udp) {
      EXPECT_EQ(get16(seg, l4 + 4), seg.size() - l4);
      EXPECT_NE(get16(seg, l4 + 6), 0);
      EXPECT_TRUE(l4_checksum_valid(seg, l3, l4, sf.ipv6, 17)) << "UDP checksum";
    } else {
      EXPECT_EQ(get32(seg, l4 + 4), static_cast<std::uint32_t>(get32(frame, l4 + 4) + i * mss));
      EXPECT_EQ(get32(seg, l4 + 8), get32(frame, l4 + 8));  // ack
      EXPECT_EQ(seg[l4 + 12], frame[l4 + 12]);             // data offset
      std::uint8_t flags = original_flags;
      if (i + 1 < count) flags &= static_cast<std::uint8_t>(~(tcp_fin | tcp_psh));
      if (i > 0) flags &= static_cast<std::uint8_t>(~tcp_cwr);
      EXPECT_EQ(std::to_integer<std::uint8_t>(seg[l4 + 13]), flags);
      EXPECT_EQ(get16(seg, l4 + 14), get16(frame, l4 + 14));  // window
      EXPECT_EQ(get16(seg, l4 + 18), get16(frame, l4 + 18));  // urgent pointer
      EXPECT_TRUE(std::equal(seg.begin() + static_cast<std::ptrdiff_t>(l4 + 20),
                             seg.begin() + static_cast<std::ptrdiff_t>(headers),
                             frame.begin() + static_cast<std::ptrdiff_t>(l4 + 20)));  // options
      EXPECT_TRUE(l4_checksum_valid(seg, l3, l4, sf.ipv6, 6)) << "TCP checksum";
    }
    append(reassembled, seg.subspan(headers));
  }
  EXPECT_EQ(reassembled, sf.payload);
  for (std::size_t b = result.total_size; b < out.size(); ++b) ASSERT_EQ(out[b], sentinel) << "written past total_size";
}

/// Segments `sf` into a sentinel-filled buffer of segment_buffer_size() and checks it.
void segment_and_check(const super_frame& sf, std::size_t headroom) {
  ASSERT_TRUE(l2::validate(sf.header, sf.frame));
  byte_vector out(l2::segment_buffer_size(sf.frame.size(), headroom), sentinel);
  const l2::segment_result result = l2::segment(sf.frame, sf.header, headroom, out);
  check_segments(sf, result, out, headroom);
}

// ---------------------------------------------------------------------------
// Captured frames: tcpdump -xx on a namespace's loopback, which (like a TAP
// with offloads) carries partial checksums; "cksum ... (incorrect -> X)" is
// tcpdump's own computation of the complete one.

// 127.0.0.1.48754 > 127.0.0.1.5001: Flags [P.], seq 1:23, ack 1, win 64,
// options [nop,nop,TS val 1710961641 ecr 1888720865], length 22;
// "cksum 0xfe3e (incorrect -> 0x3d88)".
const byte_vector captured_tcpv4 = hex(
    "0000 0000 0000 0000 0000 0000 0800 4500"
    "004a 8e0a 4000 4006 aea1 7f00 0001 7f00"
    "0001 be72 1389 2595 63b9 1e8c 0565 8018"
    "0040 fe3e 0000 0101 080a 65fb 33e9 7093"
    "97e1 7673 7769 7463 6864 206f 6666 6c6f"
    "6164 2074 6573 740a");
constexpr std::uint16_t captured_tcpv4_checksum = 0x3d88;

// ::1.39272 > ::1.5001: Flags [P.], seq 1:23, ack 1, win 64, options
// [nop,nop,TS val 559956394 ecr 3811602966], length 22;
// "cksum 0x003e (incorrect -> 0x1adb)".
const byte_vector captured_tcpv6 = hex(
    "0000 0000 0000 0000 0000 0000 86dd 6000"
    "74ea 0036 0640 0000 0000 0000 0000 0000"
    "0000 0000 0001 0000 0000 0000 0000 0000"
    "0000 0000 0001 9968 1389 a304 0488 5274"
    "e2fe 8018 0040 003e 0000 0101 080a 2160"
    "41aa e330 7216 7673 7769 7463 6864 206f"
    "6666 6c6f 6164 2074 6573 740a");
constexpr std::uint16_t captured_tcpv6_checksum = 0x1adb;

// 127.0.0.1.48352 > 127.0.0.1.5002: UDP, length 13;
// "bad udp cksum 0xfe28 -> 0xd7cc".
const byte_vector captured_udpv4 = hex(
    "0000 0000 0000 0000 0000 0000 0800 4500"
    "0029 52ae 4000 4011 ea13 7f00 0001 7f00"
    "0001 bce0 138a 0015 fe28 7673 7769 7463"
    "6864 2075 6470 0a");
constexpr std::uint16_t captured_udpv4_checksum = 0xd7cc;

vnet_header csum_header(std::uint16_t start, std::uint16_t offset) {
  vnet_header h;
  h.flags = l2::vnet_flag_needs_csum;
  h.csum_start = start;
  h.csum_offset = offset;
  return h;
}

/// A captured TCP frame described as a GSO super-frame with `gso_size`.
super_frame captured_super_frame(const byte_vector& frame, bool ipv6, std::uint16_t gso_size) {
  super_frame sf;
  sf.frame = frame;
  sf.ipv6 = ipv6;
  sf.l3 = 14;
  sf.l4 = ipv6 ? 54 : 34;
  sf.headers_size = sf.l4 + 32;  // TCP with timestamps
  sf.payload.assign(frame.begin() + static_cast<std::ptrdiff_t>(sf.headers_size), frame.end());
  sf.header = csum_header(static_cast<std::uint16_t>(sf.l4), 16);
  sf.header.gso_type = ipv6 ? l2::gso_tcpv6 : l2::gso_tcpv4;
  sf.header.gso_size = gso_size;
  sf.header.hdr_len = static_cast<std::uint16_t>(sf.headers_size);
  return sf;
}

// ---------------------------------------------------------------------------
// The header itself.

TEST(vnet_header, parse_golden_bytes) {
  const byte_vector wire = bytes({0x01, 0x81, 0x42, 0x00, 0xa8, 0x05, 0x22, 0x00, 0x10, 0x00});
  const vnet_header h = l2::parse_vnet_header(std::span<const std::byte, l2::vnet_header_size>(wire));
  EXPECT_EQ(h.flags, l2::vnet_flag_needs_csum);
  EXPECT_EQ(h.gso_type, l2::gso_tcpv4 | l2::gso_ecn);
  EXPECT_EQ(h.hdr_len, 66);
  EXPECT_EQ(h.gso_size, 1448);
  EXPECT_EQ(h.csum_start, 34);
  EXPECT_EQ(h.csum_offset, 16);
  EXPECT_TRUE(h.is_gso());
  EXPECT_FALSE(h.is_plain());
}

TEST(vnet_header, emit_golden_bytes_and_round_trip) {
  const vnet_header h{l2::vnet_flag_needs_csum, l2::gso_tcpv6, 0x4a, 0x0598, 0x36, 0x10};
  byte_vector wire(l2::vnet_header_size, sentinel);
  l2::emit_vnet_header(h, std::span<std::byte, l2::vnet_header_size>(wire));
  EXPECT_EQ(wire, bytes({0x01, 0x04, 0x4a, 0x00, 0x98, 0x05, 0x36, 0x00, 0x10, 0x00}));
  EXPECT_EQ(l2::parse_vnet_header(std::span<const std::byte, l2::vnet_header_size>(wire)), h);
}

TEST(vnet_header, random_round_trips) {
  std::mt19937 rng(1);
  for (int i = 0; i < 1000; ++i) {
    byte_vector wire(l2::vnet_header_size);
    for (std::byte& b : wire) b = static_cast<std::byte>(rng());
    const vnet_header h = l2::parse_vnet_header(std::span<const std::byte, l2::vnet_header_size>(wire));
    byte_vector again(l2::vnet_header_size);
    l2::emit_vnet_header(h, std::span<std::byte, l2::vnet_header_size>(again));
    ASSERT_EQ(again, wire);
    ASSERT_EQ(l2::parse_vnet_header(std::span<const std::byte, l2::vnet_header_size>(again)), h);
  }
}

TEST(vnet_header, plain_and_gso_predicates) {
  EXPECT_TRUE(vnet_header{}.is_plain());
  EXPECT_FALSE(vnet_header{}.is_gso());
  EXPECT_TRUE((vnet_header{l2::vnet_flag_data_valid, 0, 0, 0, 0, 0}.is_plain()));
  EXPECT_FALSE((vnet_header{l2::vnet_flag_needs_csum, 0, 0, 0, 0, 0}.is_plain()));
  EXPECT_FALSE((vnet_header{0, l2::gso_ecn, 0, 0, 0, 0}.is_plain()));
  EXPECT_FALSE((vnet_header{0, l2::gso_ecn, 0, 0, 0, 0}.is_gso()));
  EXPECT_TRUE((vnet_header{0, l2::gso_udp_l4, 0, 0, 0, 0}.is_gso()));
}

// ---------------------------------------------------------------------------
// Segmentation: the table of super-frames.

struct segment_case {
  std::string name;
  spec s;
  std::size_t headroom = 8;
};

std::vector<segment_case> segment_cases() {
  return {
      {"tcpv4", {}},
      {"tcpv4 no headroom", {}, 0},
      {"tcpv4 vxlan-over-ipv6 headroom", {}, 70},
      {"tcpv4 exact multiple", {.payload_size = 4 * 1448}},
      {"tcpv4 one short segment", {.payload_size = 100}},
      {"tcpv4 payload equal to gso_size", {.payload_size = 1448}},
      {"tcpv4 one byte", {.payload_size = 1}},
      {"tcpv4 timestamps", {.timestamps = true, .payload_size = 10000, .gso_size = 1436}},
      {"tcpv4 ip options", {.ip_options = 8, .payload_size = 5000}},
      {"tcpv4 ip and tcp options, maximal", {.ip_options = 40, .timestamps = true, .tcp_padding = 28}},
      {"tcpv4 vlan", {.vid = 100, .timestamps = true}},
      {"tcpv4 ecn ect0, cwr+ece, gso_ecn", {.ecn = 2, .tcp_flags = tcp_ack | tcp_cwr | tcp_ece, .gso_ecn = true}},
      {"tcpv4 ecn ce", {.ecn = 3}},
      {"tcpv4 fin psh", {.tcp_flags = tcp_ack | tcp_fin | tcp_psh}},
      {"tcpv4 cwr fin psh urg", {.tcp_flags = tcp_ack | tcp_fin | tcp_psh | tcp_cwr | tcp_urg}},
      {"tcpv4 cwr one segment", {.tcp_flags = tcp_ack | tcp_cwr | tcp_fin, .payload_size = 10}},
      {"tcpv4 id wraps", {.ip_id = 0xfffe, .payload_size = 5000}},
      {"tcpv4 seq wraps", {.seq = 0xfffff000, .payload_size = 9000}},
      {"tcpv4 odd gso_size", {.payload_size = 4001, .gso_size = 1001}},
      {"tcpv4 smallest gso_size", {.payload_size = 100, .gso_size = 8}},
      {"tcpv4 gso_size larger than any segment", {.payload_size = 3000, .gso_size = 65535}},
      {"tcpv4 64k", {.timestamps = true, .payload_size = 65535 - 20 - 32, .gso_size = 1448}},
      {"tcpv6", {.ipv6 = true}},
      {"tcpv6 timestamps", {.ipv6 = true, .timestamps = true, .payload_size = 7000, .gso_size = 1428}},
      {"tcpv6 vlan", {.ipv6 = true, .vid = 4094, .payload_size = 2000}},
      {"tcpv6 ecn cwr", {.ipv6 = true, .ecn = 1, .tcp_flags = tcp_ack | tcp_cwr, .gso_ecn = true}},
      {"tcpv6 exact multiple", {.ipv6 = true, .payload_size = 3 * 1440, .gso_size = 1440}},
      {"tcpv6 one short segment", {.ipv6 = true, .payload_size = 99}},
      {"tcpv6 64k", {.ipv6 = true, .payload_size = 65535 - 20, .gso_size = 9000}},
      {"udpv4", {.udp = true, .payload_size = 4000, .gso_size = 1400}},
      {"udpv4 vlan odd", {.udp = true, .vid = 7, .payload_size = 3333, .gso_size = 1111}},
      {"udpv4 ip options", {.udp = true, .ip_options = 4, .payload_size = 2800, .gso_size = 1400}},
      {"udpv4 one datagram", {.udp = true, .payload_size = 500, .gso_size = 1400}},
      {"udpv6", {.ipv6 = true, .udp = true, .payload_size = 4000, .gso_size = 1232}},
      {"udpv6 exact multiple", {.ipv6 = true, .udp = true, .payload_size = 2464, .gso_size = 1232}},
  };
}

TEST(segment, super_frames) {
  for (const segment_case& c : segment_cases()) {
    SCOPED_TRACE(c.name);
    const super_frame sf = build(c.s);
    segment_and_check(sf, c.headroom);
  }
}

TEST(segment, case_details) {
  // Spot checks of what check_segments() derives, stated literally.
  const super_frame sf = build({.tcp_flags = tcp_ack | tcp_cwr | tcp_fin | tcp_psh, .ip_id = 0xffff,
                                .payload_size = 2 * 1448 + 4});
  byte_vector out(l2::segment_buffer_size(sf.frame.size(), 8), sentinel);
  const l2::segment_result r = l2::segment(sf.frame, sf.header, 8, out);
  ASSERT_TRUE(r);
  ASSERT_EQ(r.count, 3u);
  EXPECT_EQ(r.stride, 8u + 54 + 1448);
  EXPECT_EQ(r.total_size, 2 * r.stride + 8 + 54 + 4);
  const std::span<const std::byte> first(out.data() + 8, 54 + 1448);
  const std::span<const std::byte> last(out.data() + 2 * r.stride + 8, 54 + 4);
  EXPECT_EQ(get16(first, 16), 20 + 20 + 1448);  // total length
  EXPECT_EQ(get16(last, 16), 20 + 20 + 4);
  EXPECT_EQ(get16(first, 18), 0xffff);  // id
  EXPECT_EQ(get16(last, 18), 0x0001);
  EXPECT_EQ(get32(first, 38), 0x10000000u);  // seq
  EXPECT_EQ(get32(last, 38), 0x10000000u + 2 * 1448);
  EXPECT_EQ(std::to_integer<int>(first[47]), tcp_ack | tcp_cwr);  // flags
  EXPECT_EQ(std::to_integer<int>(last[47]), tcp_ack | tcp_fin | tcp_psh);
}

TEST(segment, plain_frame_is_one_copy) {
  const super_frame sf = build({.payload_size = 300});
  for (const vnet_header& h : {vnet_header{}, vnet_header{l2::vnet_flag_data_valid, 0, 0, 0, 0, 0}}) {
    byte_vector out(l2::segment_buffer_size(sf.frame.size(), 8), sentinel);
    const l2::segment_result r = l2::segment(sf.frame, h, 8, out);
    ASSERT_TRUE(r);
    EXPECT_EQ(r.count, 1u);
    EXPECT_EQ(r.total_size, 8 + sf.frame.size());
    EXPECT_EQ(r.stride, r.total_size);
    EXPECT_TRUE(std::all_of(out.begin(), out.begin() + 8, [](std::byte b) { return b == sentinel; }));
    EXPECT_TRUE(std::equal(sf.frame.begin(), sf.frame.end(), out.begin() + 8));
    EXPECT_TRUE(std::all_of(out.begin() + static_cast<std::ptrdiff_t>(r.total_size), out.end(),
                            [](std::byte b) { return b == sentinel; }));
  }
}

TEST(segment, plain_frame_of_any_content_is_copied) {
  const byte_vector junk = bytes({1, 2, 3});
  byte_vector out(l2::segment_buffer_size(junk.size(), 0), sentinel);
  const l2::segment_result r = l2::segment(junk, vnet_header{}, 0, out);
  ASSERT_TRUE(r);
  EXPECT_EQ(byte_vector(out.begin(), out.begin() + 3), junk);
}

TEST(segment, needs_csum_only_is_one_copy_with_checksum_completed) {
  for (const spec& s : {spec{.payload_size = 777}, spec{.ipv6 = true, .payload_size = 10},
                        spec{.udp = true, .payload_size = 1001}, spec{.ipv6 = true, .udp = true, .vid = 3}}) {
    const super_frame sf = build(s);
    const vnet_header h = needs_csum_only(sf);
    byte_vector out(l2::segment_buffer_size(sf.frame.size(), 4), sentinel);
    const l2::segment_result r = l2::segment(sf.frame, h, 4, out);
    ASSERT_TRUE(r);
    EXPECT_EQ(r.count, 1u);
    EXPECT_EQ(r.total_size, 4 + sf.frame.size());
    EXPECT_EQ(r.stride, r.total_size);
    const std::span<const std::byte> copy(out.data() + 4, sf.frame.size());
    EXPECT_TRUE(l4_checksum_valid(copy, sf.l3, sf.l4, s.ipv6, s.udp ? 17 : 6));
    const std::size_t field = sf.l4 + (s.udp ? 6 : 16);
    EXPECT_TRUE(std::equal(copy.begin(), copy.begin() + static_cast<std::ptrdiff_t>(field), sf.frame.begin()));
    EXPECT_TRUE(std::equal(copy.begin() + static_cast<std::ptrdiff_t>(field + 2), copy.end(),
                           sf.frame.begin() + static_cast<std::ptrdiff_t>(field + 2)));
  }
}

TEST(segment, captured_frames_as_super_frames) {
  // The captured 22-byte payloads cut with gso_size 8: 8 + 8 + 6.
  for (bool ipv6 : {false, true}) {
    SCOPED_TRACE(ipv6 ? "tcpv6" : "tcpv4");
    const super_frame sf = captured_super_frame(ipv6 ? captured_tcpv6 : captured_tcpv4, ipv6, 8);
    ASSERT_EQ(sf.payload, hex("7673 7769 7463 6864 206f 6666 6c6f 6164 2074 6573 740a"));  // "vswitchd offload test\n"
    segment_and_check(sf, 8);
    byte_vector out(l2::segment_buffer_size(sf.frame.size(), 0), sentinel);
    const l2::segment_result r = l2::segment(sf.frame, sf.header, 0, out);
    ASSERT_TRUE(r);
    ASSERT_EQ(r.count, 3u);
    const std::size_t seq_at = sf.l4 + 4;
    const std::uint32_t seq = ipv6 ? 0xa3040488 : 0x259563b9;
    EXPECT_EQ(get32(std::span<const std::byte>(out).subspan(0 * r.stride), seq_at), seq);
    EXPECT_EQ(get32(std::span<const std::byte>(out).subspan(1 * r.stride), seq_at), seq + 8);
    EXPECT_EQ(get32(std::span<const std::byte>(out).subspan(2 * r.stride), seq_at), seq + 16);
    EXPECT_EQ(r.total_size - 2 * r.stride, sf.headers_size + 6);
  }
  // With gso_size >= the payload, the one segment is the frame with its checksum completed.
  const super_frame sf = captured_super_frame(captured_tcpv4, false, 1448);
  byte_vector out(l2::segment_buffer_size(sf.frame.size(), 0), sentinel);
  const l2::segment_result r = l2::segment(sf.frame, sf.header, 0, out);
  ASSERT_TRUE(r);
  ASSERT_EQ(r.count, 1u);
  ASSERT_EQ(r.total_size, captured_tcpv4.size());
  byte_vector expected = captured_tcpv4;
  put16(expected, 34 + 16, captured_tcpv4_checksum);
  EXPECT_EQ(byte_vector(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(r.total_size)), expected);
}

TEST(largest_segment_size, is_what_segment_cuts) {
  for (bool ipv6 : {false, true}) {
    SCOPED_TRACE(ipv6 ? "tcpv6" : "tcpv4");
    const byte_vector& frame = ipv6 ? captured_tcpv6 : captured_tcpv4;
    // gso_size 8 on a 22-byte payload: the largest segment is headers + 8,
    // as segment() cuts it (its stride, with no headroom).
    const super_frame sf = captured_super_frame(frame, ipv6, 8);
    byte_vector out(l2::segment_buffer_size(sf.frame.size(), 0), sentinel);
    const l2::segment_result r = l2::segment(sf.frame, sf.header, 0, out);
    ASSERT_TRUE(r);
    EXPECT_EQ(l2::largest_segment_size(sf.frame, sf.header), r.stride);
    EXPECT_EQ(l2::largest_segment_size(sf.frame, sf.header), sf.headers_size + 8);
    // gso_size beyond the payload: one segment, the frame itself.
    const super_frame whole = captured_super_frame(frame, ipv6, 1448);
    EXPECT_EQ(l2::largest_segment_size(whole.frame, whole.header), frame.size());
  }
  // Not GSO (plain, or a partial checksum only), or a header that does not
  // fit the frame: the frame's own size.
  EXPECT_EQ(l2::largest_segment_size(captured_tcpv4, vnet_header{}), captured_tcpv4.size());
  EXPECT_EQ(l2::largest_segment_size(captured_tcpv4, csum_header(34, 16)), captured_tcpv4.size());
  vnet_header wrong = captured_super_frame(captured_tcpv4, false, 8).header;
  wrong.gso_type = l2::gso_tcpv6;  // an IPv4 frame
  EXPECT_EQ(l2::largest_segment_size(captured_tcpv4, wrong), captured_tcpv4.size());
}

TEST(segment, ethernet_padding_is_accepted_and_dropped) {
  for (bool tagged : {false, true}) {
    SCOPED_TRACE(tagged ? "tagged" : "untagged");
    spec s{.payload_size = 1};
    if (tagged) s.vid = 1;
    super_frame sf = build(s);
    const std::size_t unpadded = sf.frame.size();
    ASSERT_LT(unpadded, 60u);
    sf.frame.resize(tagged ? 64 : 60, std::byte{0});
    EXPECT_TRUE(l2::validate(sf.header, sf.frame));
    byte_vector out(l2::segment_buffer_size(sf.frame.size(), 8), sentinel);
    const l2::segment_result r = l2::segment(sf.frame, sf.header, 8, out);
    check_segments(sf, r, out, 8);
    EXPECT_EQ(r.total_size, 8 + unpadded);
    // One byte more than padding allows is not padding.
    sf.frame.push_back(std::byte{0});
    EXPECT_FALSE(l2::validate(sf.header, sf.frame));
  }
}

// ---------------------------------------------------------------------------
// The buffer bound.

TEST(segment_buffer_size, sane_for_the_datapath) {
  const std::size_t size = l2::segment_buffer_size(l2::max_frame_size, 8);
  EXPECT_GT(size, l2::max_frame_size);
  EXPECT_LT(size, 8u << 20);
  EXPECT_LT(l2::segment_buffer_size(l2::max_frame_size, 64), 8u << 20);
}

TEST(segment_buffer_size, covers_plain_copies_and_saturates) {
  for (std::size_t size : {0u, 1u, 13u, 60u, 1514u, 9018u, 65553u}) {
    for (std::size_t headroom : {0u, 8u, 50u}) {
      EXPECT_GE(l2::segment_buffer_size(size, headroom), headroom + size);
      EXPECT_LE(l2::segment_buffer_size(size, headroom), l2::segment_buffer_size(size + 1, headroom));
    }
  }
  const std::size_t max = std::numeric_limits<std::size_t>::max();
  EXPECT_EQ(l2::segment_buffer_size(1000, max), max);
  EXPECT_EQ(l2::segment_buffer_size(max, 8), max);
}

TEST(segment_buffer_size, worst_case_fits) {
  // Largest headers, largest payload, smallest gso_size: the most segments,
  // each with the most header bytes.
  const super_frame sf = build({.vid = 5, .ip_options = 40, .timestamps = true, .tcp_padding = 28,
                                .payload_size = 65535 - 60 - 60, .gso_size = 8});
  ASSERT_EQ(sf.frame.size(), l2::max_frame_size);
  ASSERT_EQ(sf.headers_size, 18u + 60 + 60);
  segment_and_check(sf, 8);
  const super_frame v6 = build({.ipv6 = true, .vid = 5, .timestamps = true, .tcp_padding = 28,
                                .payload_size = 65535 - 60, .gso_size = 8});
  segment_and_check(v6, 64);
  const super_frame udp = build({.udp = true, .vid = 5, .ip_options = 40, .payload_size = 65535 - 60 - 8,
                                 .gso_size = 8});
  segment_and_check(udp, 8);
}

// ---------------------------------------------------------------------------
// Output that does not fit.

TEST(segment, out_too_small_fails_without_writing) {
  for (const spec& s : {spec{}, spec{.ipv6 = true, .udp = true}, spec{.payload_size = 1}}) {
    super_frame sf = build(s);
    for (const vnet_header& h : {sf.header, needs_csum_only(sf), vnet_header{}}) {
      constexpr std::size_t headroom = 8;
      byte_vector big(l2::segment_buffer_size(sf.frame.size(), headroom), sentinel);
      const l2::segment_result full = l2::segment(sf.frame, h, headroom, big);
      ASSERT_TRUE(full);
      const std::size_t need = full.total_size;
      for (std::size_t size : {need - 1, need - 2, need / 2, headroom, headroom - 1, std::size_t{0}}) {
        SCOPED_TRACE(size);
        byte_vector out(need + 64, sentinel);
        const l2::segment_result r = l2::segment(sf.frame, h, headroom, std::span(out).first(size));
        EXPECT_FALSE(r);
        EXPECT_FALSE(r.ok);
        EXPECT_EQ(r.reason, drop_reason::bad_vnet_header);
        EXPECT_TRUE(std::all_of(out.begin(), out.end(), [](std::byte b) { return b == sentinel; }));
      }
      // The exact size is enough.
      byte_vector exact(need, sentinel);
      EXPECT_TRUE(l2::segment(sf.frame, h, headroom, exact));
      EXPECT_EQ(byte_vector(exact.begin(), exact.end()), byte_vector(big.begin(), big.begin() + static_cast<std::ptrdiff_t>(need)));
    }
  }
}

TEST(segment, huge_headroom_fails_cleanly) {
  const super_frame sf = build({});
  byte_vector out(4096, sentinel);
  for (std::size_t headroom : {std::numeric_limits<std::size_t>::max(), std::numeric_limits<std::size_t>::max() / 2,
                               std::size_t{4096}, std::size_t{4000}}) {
    EXPECT_FALSE(l2::segment(sf.frame, sf.header, headroom, out));
    EXPECT_FALSE(l2::segment(sf.frame, vnet_header{}, headroom, out));
  }
  EXPECT_TRUE(std::all_of(out.begin(), out.end(), [](std::byte b) { return b == sentinel; }));
}

// ---------------------------------------------------------------------------
// Malformed headers and frames: validate() refuses, segment() drops.

struct bad_case {
  std::string name;
  spec s;
  std::function<void(super_frame&)> mutate;
};

std::vector<bad_case> bad_cases() {
  const auto set_ip_total_length = [](super_frame& sf, std::size_t length) {
    put16(sf.frame, sf.l3 + 2, static_cast<std::uint16_t>(length));
  };
  return {
      {"gso_size 0", {}, [](super_frame& sf) { sf.header.gso_size = 0; }},
      {"gso_size 7 (under the MSS floor)", {}, [](super_frame& sf) { sf.header.gso_size = 7; }},
      {"udp gso_size 0", {.udp = true}, [](super_frame& sf) { sf.header.gso_size = 0; }},
      {"hdr_len beyond the frame", {}, [](super_frame& sf) { sf.header.hdr_len = static_cast<std::uint16_t>(sf.frame.size() + 1); }},
      {"hdr_len 0xffff", {.payload_size = 100}, [](super_frame& sf) { sf.header.hdr_len = 0xffff; }},
      {"hdr_len beyond the frame, needs_csum only", {}, [](super_frame& sf) {
         sf.header = needs_csum_only(sf);
         sf.header.hdr_len = static_cast<std::uint16_t>(sf.frame.size() + 1);
       }},
      {"gso without needs_csum", {}, [](super_frame& sf) { sf.header.flags = 0; }},
      {"gso with data_valid instead of needs_csum", {}, [](super_frame& sf) { sf.header.flags = l2::vnet_flag_data_valid; }},
      {"csum_start not at tcp", {}, [](super_frame& sf) { sf.header.csum_start += 2; }},
      {"csum_start at ip", {}, [](super_frame& sf) { sf.header.csum_start = static_cast<std::uint16_t>(sf.l3); }},
      {"csum_start past the end", {}, [](super_frame& sf) { sf.header.csum_start = 0xffff; }},
      {"csum_offset wrong for tcp", {}, [](super_frame& sf) { sf.header.csum_offset = 6; }},
      {"csum_offset wrong for udp", {.udp = true}, [](super_frame& sf) { sf.header.csum_offset = 16; }},
      {"csum_offset huge", {}, [](super_frame& sf) { sf.header.csum_offset = 0xffff; }},
      {"needs_csum only: csum_start past the end", {}, [](super_frame& sf) {
         sf.header = needs_csum_only(sf);
         sf.header.csum_start = static_cast<std::uint16_t>(sf.frame.size());
         sf.header.csum_offset = 0;
       }},
      {"needs_csum only: field one byte past the end", {}, [](super_frame& sf) {
         sf.header = needs_csum_only(sf);
         sf.header.csum_start = static_cast<std::uint16_t>(sf.frame.size() - 10);
         sf.header.csum_offset = 9;
       }},
      {"needs_csum only: both fields maximal", {}, [](super_frame& sf) {
         sf.header = needs_csum_only(sf);
         sf.header.csum_start = 0xffff;
         sf.header.csum_offset = 0xffff;
       }},
      {"tcpv4 on an ipv6 frame", {.ipv6 = true}, [](super_frame& sf) { sf.header.gso_type = l2::gso_tcpv4; }},
      {"tcpv6 on an ipv4 frame", {}, [](super_frame& sf) { sf.header.gso_type = l2::gso_tcpv6; }},
      {"udp_l4 on a tcp frame", {}, [](super_frame& sf) { sf.header.gso_type = l2::gso_udp_l4; }},
      {"tcpv4 on a udp frame", {.udp = true}, [](super_frame& sf) { sf.header.gso_type = l2::gso_tcpv4; }},
      {"tcpv6 on a udp frame", {.ipv6 = true, .udp = true}, [](super_frame& sf) { sf.header.gso_type = l2::gso_tcpv6; }},
      {"ufo", {.udp = true}, [](super_frame& sf) { sf.header.gso_type = l2::gso_udp; }},
      {"ufo with ecn", {.udp = true}, [](super_frame& sf) { sf.header.gso_type = l2::gso_udp | l2::gso_ecn; }},
      {"unknown type 2", {}, [](super_frame& sf) { sf.header.gso_type = 2; }},
      {"unknown type 6", {}, [](super_frame& sf) { sf.header.gso_type = 6; }},
      {"unknown type 0x7f", {}, [](super_frame& sf) { sf.header.gso_type = 0x7f; }},
      {"unknown type 0xff", {}, [](super_frame& sf) { sf.header.gso_type = 0xff; }},
      {"ecn without a type", {}, [](super_frame& sf) { sf.header.gso_type = l2::gso_ecn; }},
      {"shorter than ethernet", {}, [](super_frame& sf) { sf.frame.resize(10); }},
      {"cut inside the vlan tag", {.vid = 9}, [](super_frame& sf) { sf.frame.resize(16); }},
      {"not ip (arp)", {}, [](super_frame& sf) { put16(sf.frame, 12, 0x0806); }},
      {"two vlan tags", {.vid = 9}, [](super_frame& sf) {
         const byte_vector tag = bytes({0x81, 0x00, 0x00, 0x05});
         sf.frame.insert(sf.frame.begin() + 16, tag.begin(), tag.end());
         sf.header.csum_start += 4;
         sf.header.hdr_len += 4;
       }},
      {"truncated ipv4 header", {}, [](super_frame& sf) { sf.frame.resize(sf.l3 + 10); }},
      {"truncated ipv6 header", {.ipv6 = true}, [](super_frame& sf) { sf.frame.resize(sf.l3 + 39); }},
      {"truncated tcp header", {}, [=](super_frame& sf) {
         sf.frame.resize(sf.l4 + 19);
         set_ip_total_length(sf, sf.l4 + 19 - sf.l3);
       }},
      {"truncated udp header", {.udp = true}, [=](super_frame& sf) {
         sf.frame.resize(sf.l4 + 7);
         set_ip_total_length(sf, sf.l4 + 7 - sf.l3);
       }},
      {"tcp options beyond the datagram", {.payload_size = 10}, [](super_frame& sf) { sf.frame[sf.l4 + 12] = std::byte{0xf0}; }},
      {"tcp data offset 4", {}, [](super_frame& sf) { sf.frame[sf.l4 + 12] = std::byte{0x40}; }},
      {"tcp data offset 0", {}, [](super_frame& sf) { sf.frame[sf.l4 + 12] = std::byte{0x00}; }},
      {"ipv4 ihl 4", {}, [](super_frame& sf) { sf.frame[sf.l3] = std::byte{0x44}; }},
      {"ipv4 ihl 0", {}, [](super_frame& sf) { sf.frame[sf.l3] = std::byte{0x40}; }},
      {"ipv4 ihl beyond the datagram", {.payload_size = 10}, [](super_frame& sf) { sf.frame[sf.l3] = std::byte{0x4f}; }},
      {"ipv4 version 6", {}, [](super_frame& sf) { sf.frame[sf.l3] = std::byte{0x65}; }},
      {"ipv4 total length larger than the frame", {}, [=](super_frame& sf) {
         set_ip_total_length(sf, sf.frame.size() - sf.l3 + 1);
       }},
      {"ipv4 total length 0xffff", {}, [=](super_frame& sf) { set_ip_total_length(sf, 0xffff); }},
      {"ipv4 total length shorter than the frame", {}, [=](super_frame& sf) {
         set_ip_total_length(sf, sf.frame.size() - sf.l3 - 1);
       }},
      {"ipv4 total length shorter than its header", {}, [=](super_frame& sf) { set_ip_total_length(sf, 19); }},
      {"ipv4 total length shorter than its header, small frame", {.payload_size = 1},
       [=](super_frame& sf) { set_ip_total_length(sf, 19); }},
      {"ipv6 payload length shorter than the tcp header", {.ipv6 = true, .payload_size = 1},
       [](super_frame& sf) { put16(sf.frame, sf.l3 + 4, 19); }},
      {"ipv4 more fragments", {}, [](super_frame& sf) { sf.frame[sf.l3 + 6] = std::byte{0x20}; }},
      {"ipv4 fragment offset", {}, [](super_frame& sf) { sf.frame[sf.l3 + 7] = std::byte{0x01}; }},
      {"ipv4 protocol icmp", {}, [](super_frame& sf) { sf.frame[sf.l3 + 9] = std::byte{1}; }},
      {"ipv6 version 4", {.ipv6 = true}, [](super_frame& sf) { sf.frame[sf.l3] = std::byte{0x42}; }},
      {"ipv6 payload length larger than the frame", {.ipv6 = true}, [](super_frame& sf) {
         put16(sf.frame, sf.l3 + 4, static_cast<std::uint16_t>(sf.frame.size() - sf.l3 - 40 + 1));
       }},
      {"ipv6 payload length shorter than the frame", {.ipv6 = true}, [](super_frame& sf) {
         put16(sf.frame, sf.l3 + 4, static_cast<std::uint16_t>(sf.frame.size() - sf.l3 - 40 - 1));
       }},
      {"ipv6 payload length 0 (jumbogram)", {.ipv6 = true}, [](super_frame& sf) { put16(sf.frame, sf.l3 + 4, 0); }},
      {"ipv6 hop-by-hop header", {.ipv6 = true}, [](super_frame& sf) { sf.frame[sf.l3 + 6] = std::byte{0}; }},
      {"ipv6 fragment header", {.ipv6 = true}, [](super_frame& sf) { sf.frame[sf.l3 + 6] = std::byte{44}; }},
      {"empty tcp payload", {.payload_size = 0}, [](super_frame&) {}},
      {"empty udp payload", {.ipv6 = true, .udp = true, .payload_size = 0}, [](super_frame&) {}},
      {"empty tcpv6 payload, padded", {.ipv6 = true, .payload_size = 0}, [](super_frame& sf) { sf.frame.resize(60); }},
  };
}

TEST(validate, accepts_every_super_frame_and_its_needs_csum_form) {
  for (const segment_case& c : segment_cases()) {
    SCOPED_TRACE(c.name);
    const super_frame sf = build(c.s);
    EXPECT_TRUE(l2::validate(sf.header, sf.frame));
    EXPECT_TRUE(l2::validate(needs_csum_only(sf), sf.frame));
    vnet_header no_hint = sf.header;  // hdr_len is only a hint
    no_hint.hdr_len = 0;
    EXPECT_TRUE(l2::validate(no_hint, sf.frame));
    no_hint.hdr_len = static_cast<std::uint16_t>(sf.frame.size());
    EXPECT_TRUE(l2::validate(no_hint, sf.frame));
  }
}

TEST(validate, captured_frames) {
  EXPECT_TRUE(l2::validate(captured_super_frame(captured_tcpv4, false, 1448).header, captured_tcpv4));
  EXPECT_TRUE(l2::validate(captured_super_frame(captured_tcpv6, true, 1448).header, captured_tcpv6));
  vnet_header udp = csum_header(34, 6);
  udp.gso_type = l2::gso_udp_l4;
  udp.gso_size = 8;
  EXPECT_TRUE(l2::validate(udp, captured_udpv4));
  EXPECT_TRUE(l2::validate(csum_header(34, 16), captured_tcpv4));
  EXPECT_TRUE(l2::validate(csum_header(54, 16), captured_tcpv6));
  EXPECT_TRUE(l2::validate(csum_header(34, 6), captured_udpv4));
}

TEST(validate, plain_is_always_valid) {
  for (const byte_vector& f : {byte_vector{}, bytes({1, 2, 3}), captured_tcpv4}) {
    EXPECT_TRUE(l2::validate(vnet_header{}, f));
    EXPECT_TRUE(l2::validate(vnet_header{l2::vnet_flag_data_valid, 0, 0xffff, 0xffff, 0xffff, 0xffff}, f));
  }
}

TEST(validate, needs_csum_only_takes_any_protocol_inside_the_frame) {
  const byte_vector arp(42, std::byte{0x06});
  EXPECT_TRUE(l2::validate(csum_header(14, 26), arp));  // field ends at the last byte
  EXPECT_FALSE(l2::validate(csum_header(14, 27), arp));
  EXPECT_TRUE(l2::validate(csum_header(40, 0), arp));
  EXPECT_FALSE(l2::validate(csum_header(41, 0), arp));
  EXPECT_FALSE(l2::validate(csum_header(0, 0), byte_vector(1)));
  EXPECT_FALSE(l2::validate(csum_header(0, 0), byte_vector{}));
}

TEST(validate, rejects_malformed) {
  for (const bad_case& c : bad_cases()) {
    SCOPED_TRACE(c.name);
    super_frame sf = build(c.s);
    c.mutate(sf);
    EXPECT_FALSE(l2::validate(sf.header, sf.frame));
    byte_vector out(l2::segment_buffer_size(sf.frame.size(), 8) + 64, sentinel);
    const l2::segment_result r = l2::segment(sf.frame, sf.header, 8, out);
    EXPECT_FALSE(r);
    EXPECT_EQ(r.reason, drop_reason::bad_vnet_header);
    EXPECT_EQ(r.count, 0u);
    EXPECT_TRUE(std::all_of(out.begin(), out.end(), [](std::byte b) { return b == sentinel; }));
  }
}

TEST(validate, mutations_only_break_what_they_touch) {
  // Each bad case's base frame is valid before the mutation: the rejection is
  // the mutation's doing.
  for (const bad_case& c : bad_cases()) {
    SCOPED_TRACE(c.name);
    const super_frame sf = build(c.s);
    if (sf.payload.empty()) continue;  // the empty-payload cases are bad as built
    EXPECT_TRUE(l2::validate(sf.header, sf.frame));
  }
}

// ---------------------------------------------------------------------------
// Checksum completion.

TEST(complete_checksum, captured_frames_get_the_known_checksum) {
  struct case_t {
    std::string name;
    const byte_vector& frame;
    vnet_header header;
    std::uint16_t expected;
    bool ipv6;
    std::uint8_t protocol;
  };
  const case_t cases[] = {
      {"tcpv4", captured_tcpv4, csum_header(34, 16), captured_tcpv4_checksum, false, 6},
      {"tcpv6", captured_tcpv6, csum_header(54, 16), captured_tcpv6_checksum, true, 6},
      {"udpv4", captured_udpv4, csum_header(34, 6), captured_udpv4_checksum, false, 17},
  };
  for (const case_t& c : cases) {
    SCOPED_TRACE(c.name);
    const std::size_t l3 = 14;
    const std::size_t l4 = c.header.csum_start;
    const std::size_t field = l4 + c.header.csum_offset;
    byte_vector frame = c.frame;
    EXPECT_FALSE(l4_checksum_valid(frame, l3, l4, c.ipv6, c.protocol));  // partial as captured
    if (!c.ipv6) {
      EXPECT_EQ(reference_sum(std::span(frame).subspan(l3, 20)), 0xffff);
    }
    ASSERT_TRUE(l2::complete_checksum(frame, c.header));
    EXPECT_EQ(get16(frame, field), c.expected);
    EXPECT_TRUE(l4_checksum_valid(frame, l3, l4, c.ipv6, c.protocol));
    put16(frame, field, get16(c.frame, field));
    EXPECT_EQ(frame, c.frame);  // nothing else changed
  }
}

TEST(complete_checksum, built_frames) {
  for (const spec& s : {spec{.payload_size = 1}, spec{.payload_size = 1500}, spec{.ipv6 = true, .payload_size = 333},
                        spec{.udp = true, .payload_size = 0}, spec{.udp = true, .vid = 2, .payload_size = 1473},
                        spec{.ipv6 = true, .udp = true, .payload_size = 64}}) {
    super_frame sf = build(s);
    const vnet_header h = needs_csum_only(sf);
    ASSERT_TRUE(l2::complete_checksum(sf.frame, h));
    EXPECT_TRUE(l4_checksum_valid(sf.frame, sf.l3, sf.l4, s.ipv6, s.udp ? 17 : 6));
    // The same value as computed from scratch with the field zeroed.
    byte_vector zeroed = sf.frame;
    const std::size_t field = sf.l4 + h.csum_offset;
    put16(zeroed, field, 0);
    const std::uint16_t expected = static_cast<std::uint16_t>(
        ~reference_sum(with_pseudo_header(zeroed, sf.l3, s.ipv6, s.udp ? 17 : 6, std::span(zeroed).subspan(sf.l4))));
    EXPECT_EQ(get16(sf.frame, field), expected == 0 ? 0xffff : expected);
  }
}

TEST(complete_checksum, udp_zero_is_sent_as_ffff) {
  for (bool ipv6 : {false, true}) {
    SCOPED_TRACE(ipv6 ? "udpv6" : "udpv4");
    super_frame sf = build({.ipv6 = ipv6, .udp = true, .payload_size = 32});
    // Choose the first payload word so that the full sum is 0xffff (checksum 0).
    put16(sf.frame, sf.headers_size, 0);
    byte_vector probe = sf.frame;
    put16(probe, sf.l4 + 6, 0);
    const std::uint16_t rest =
        reference_sum(with_pseudo_header(probe, sf.l3, ipv6, 17, std::span(probe).subspan(sf.l4)));
    put16(sf.frame, sf.headers_size, static_cast<std::uint16_t>(0xffff - rest));
    ASSERT_TRUE(l2::complete_checksum(sf.frame, needs_csum_only(sf)));
    EXPECT_EQ(get16(sf.frame, sf.l4 + 6), 0xffff);
    EXPECT_TRUE(l4_checksum_valid(sf.frame, sf.l3, sf.l4, ipv6, 17));
    // segment() of that datagram as UDP_L4 does the same.
    sf.payload.assign(sf.frame.begin() + static_cast<std::ptrdiff_t>(sf.headers_size), sf.frame.end());
    byte_vector out(l2::segment_buffer_size(sf.frame.size(), 0), sentinel);
    const l2::segment_result r = l2::segment(sf.frame, sf.header, 0, out);
    check_segments(sf, r, out, 0);
    EXPECT_EQ(get16(out, sf.l4 + 6), 0xffff);
  }
}

TEST(complete_checksum, field_at_the_very_end) {
  byte_vector frame = bytes({0x12, 0x34, 0x56, 0x78, 0x00, 0x00});
  ASSERT_TRUE(l2::complete_checksum(frame, csum_header(0, 4)));
  EXPECT_EQ(get16(frame, 4), static_cast<std::uint16_t>(~(0x1234 + 0x5678)));
  EXPECT_EQ(reference_sum(frame), 0xffff);
}

TEST(complete_checksum, refuses_a_header_that_does_not_fit) {
  for (const vnet_header& h : {csum_header(60, 0), csum_header(0, 59), csum_header(59, 0), csum_header(30, 29),
                               csum_header(0xffff, 0xffff)}) {
    byte_vector frame(60, std::byte{0x77});
    EXPECT_FALSE(l2::complete_checksum(frame, h)) << h.csum_start << "+" << h.csum_offset;
    EXPECT_EQ(frame, byte_vector(60, std::byte{0x77}));
  }
  byte_vector empty;
  EXPECT_FALSE(l2::complete_checksum(empty, csum_header(0, 0)));
}

TEST(complete_checksum, without_needs_csum_changes_nothing) {
  byte_vector frame = captured_tcpv4;
  EXPECT_TRUE(l2::complete_checksum(frame, vnet_header{}));
  EXPECT_TRUE(l2::complete_checksum(frame, vnet_header{l2::vnet_flag_data_valid, 0, 0, 0, 0xffff, 0xffff}));
  EXPECT_EQ(frame, captured_tcpv4);
}

// ---------------------------------------------------------------------------
// Robustness: untrusted input never crashes, never reads or writes out of
// bounds (ASan), and every verdict is consistent.

/// A random, often nearly valid, header for `sf`.
vnet_header random_header(std::mt19937& rng, const super_frame& sf) {
  vnet_header h = sf.header;
  const auto pick = [&](std::uint16_t valid) -> std::uint16_t {
    switch (rng() % 6) {
      case 0: return static_cast<std::uint16_t>(rng());
      case 1: return static_cast<std::uint16_t>(valid + static_cast<int>(rng() % 5) - 2);
      case 2: return static_cast<std::uint16_t>(rng() % 80);
      default: return valid;
    }
  };
  if (rng() % 4 == 0) h.flags = static_cast<std::uint8_t>(rng());
  if (rng() % 4 == 0) h.gso_type = static_cast<std::uint8_t>(rng() % 3 == 0 ? rng() : rng() % 8);
  h.hdr_len = pick(h.hdr_len);
  h.gso_size = pick(h.gso_size);
  h.csum_start = pick(h.csum_start);
  h.csum_offset = pick(h.csum_offset);
  return h;
}

void exercise(const byte_vector& frame, const vnet_header& h, std::size_t headroom) {
  const bool valid = l2::validate(h, frame);
  // A buffer of exactly the bound, on the heap, so ASan sees any overrun.
  std::vector<std::byte> out(l2::segment_buffer_size(frame.size(), headroom), sentinel);
  const l2::segment_result r = l2::segment(frame, h, headroom, out);
  ASSERT_EQ(r.ok, valid) << "segment() disagrees with validate(), or the bound was too small";
  if (r.ok) {
    ASSERT_GE(r.count, 1u);
    ASSERT_LE(r.total_size, out.size());
    ASSERT_GE(r.stride, headroom);
    ASSERT_LE((r.count - 1) * r.stride + headroom, r.total_size);
  }
  byte_vector copy = frame;
  const bool completed = l2::complete_checksum(copy, h);
  const bool fits = std::size_t{h.csum_start} + h.csum_offset + 2 <= frame.size();
  if ((h.flags & l2::vnet_flag_needs_csum) != 0) {
    ASSERT_EQ(completed, fits);
  } else {
    ASSERT_TRUE(completed);
  }
  if (!completed || (h.flags & l2::vnet_flag_needs_csum) == 0) {
    ASSERT_EQ(copy, frame);
  }
}

TEST(offload_robustness, mutated_super_frames) {
  std::mt19937 rng(20240611);
  std::size_t segmented = 0;  // mutated GSO frames that were still valid
  for (int i = 0; i < 3000; ++i) {
    spec s;
    s.ipv6 = rng() % 2 == 0;
    s.udp = rng() % 3 == 0;
    if (rng() % 3 == 0) s.vid = static_cast<std::uint16_t>(rng() % 4095);
    if (!s.ipv6 && rng() % 3 == 0) s.ip_options = 4 * (rng() % 11);
    if (!s.udp) s.timestamps = rng() % 2 == 0;
    s.tcp_flags = static_cast<std::uint8_t>(rng());
    s.seq = static_cast<std::uint32_t>(rng());
    s.ip_id = static_cast<std::uint16_t>(rng());
    s.payload_size = rng() % 4 == 0 ? rng() % 20 : rng() % 3000;
    s.gso_size = static_cast<std::uint16_t>(rng() % 2 == 0 ? 8 + rng() % 100 : 1 + rng() % 2000);
    super_frame sf = build(s);
    const super_frame original = sf;

    // Flip some header bytes, perhaps truncate or extend.
    const std::size_t flips = rng() % 4;
    for (std::size_t k = 0; k < flips && !sf.frame.empty(); ++k) {
      const std::size_t at = rng() % std::min(sf.frame.size(), sf.headers_size + 8);
      sf.frame[at] = static_cast<std::byte>(rng());
    }
    switch (rng() % 8) {
      case 0: sf.frame.resize(rng() % (sf.frame.size() + 1)); break;
      case 1: sf.frame.resize(sf.frame.size() + 1 + rng() % 10, std::byte{0}); break;
      default: break;
    }
    const vnet_header h = rng() % 4 == 0 ? sf.header : random_header(rng, sf);
    const std::size_t headroom = rng() % 3 == 0 ? 0 : rng() % 80;
    SCOPED_TRACE("iteration " + std::to_string(i));
    exercise(sf.frame, h, headroom);
    if (HasFatalFailure()) return;

    // Untouched, the frame segments correctly.
    if (flips == 0 && sf.frame == original.frame && h == original.header && original.header.gso_size >= 8 &&
        !original.payload.empty()) {
      segment_and_check(original, headroom);
      if (HasFatalFailure()) return;
    }
    // When segment() takes a mutated frame, its segments' checksums still verify.
    if (h.is_gso() && l2::validate(h, sf.frame)) {
      std::vector<std::byte> out(l2::segment_buffer_size(sf.frame.size(), headroom));
      const l2::segment_result r = l2::segment(sf.frame, h, headroom, out);
      ASSERT_TRUE(r);
      ++segmented;
      const std::size_t l4 = h.csum_start;  // validate() checked it is the real L4 offset
      for (std::size_t k = 0; k < r.count; ++k) {
        const std::size_t start = k * r.stride + headroom;
        const std::size_t end = k + 1 == r.count ? r.total_size : (k + 1) * r.stride;
        const std::span<const std::byte> seg = std::span<const std::byte>(out).subspan(start, end - start);
        const std::size_t l3 = get16(seg, 12) == 0x8100 ? 18 : 14;
        const bool v6 = get16(seg, l3 - 2) == 0x86dd;
        const std::uint8_t protocol = h.csum_offset == 16 ? 6 : 17;
        ASSERT_TRUE(l4_checksum_valid(seg, l3, l4, v6, protocol)) << "segment " << k;
        if (!v6) {
          ASSERT_EQ(reference_sum(seg.subspan(l3, l4 - l3)), 0xffff);
        }
      }
    }
  }
  EXPECT_GT(segmented, 300u) << "too few mutated frames reached segmentation";
}

TEST(offload_robustness, random_bytes) {
  std::mt19937 rng(99);
  for (int i = 0; i < 20000; ++i) {
    byte_vector frame(rng() % 200);
    for (std::byte& b : frame) b = static_cast<std::byte>(rng());
    // Make IP likely enough that the deeper checks run.
    if (frame.size() >= 14 && rng() % 2 == 0) put16(frame, 12, rng() % 2 == 0 ? 0x0800 : 0x86dd);
    if (frame.size() >= 15 && rng() % 2 == 0) frame[14] = static_cast<std::byte>(rng() % 2 == 0 ? 0x45 : 0x60);
    vnet_header h;
    h.flags = static_cast<std::uint8_t>(rng() % 4);
    h.gso_type = static_cast<std::uint8_t>(rng() % 2 == 0 ? rng() % 6 : rng());
    h.hdr_len = static_cast<std::uint16_t>(rng() % 2 == 0 ? rng() % 100 : rng());
    h.gso_size = static_cast<std::uint16_t>(rng() % 2 == 0 ? rng() % 100 : rng());
    h.csum_start = static_cast<std::uint16_t>(rng() % 2 == 0 ? rng() % 100 : rng());
    h.csum_offset = static_cast<std::uint16_t>(rng() % 2 == 0 ? (rng() % 2 == 0 ? 6 : 16) : rng());
    SCOPED_TRACE("iteration " + std::to_string(i));
    exercise(frame, h, rng() % 16);
    if (HasFatalFailure()) return;
  }
}

}  // namespace
