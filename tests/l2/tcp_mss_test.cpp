// Tests of MSS clamping: golden frames (computed independently with Python,
// checksums recomputed in full there) for IPv4, IPv6, a tagged frame, SYN-ACK
// and an MSS at an odd offset; what is left alone (no SYN, MSS small enough,
// no MSS option, malformed options, fragments, other protocols); truncation
// at every length; the checksum checked valid with l2::checksum after every
// rewrite; and a partial (NEEDS_CSUM) checksum left alone.
#include "l2/tcp_mss.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "l2/checksum.hpp"
#include "test_bytes.hpp"

namespace {

using l2_test::byte_vector;
using l2_test::bytes;

constexpr int syn = 0x02;
constexpr int ack = 0x10;

std::uint16_t get16(std::span<const std::byte> b, std::size_t at) {
  return static_cast<std::uint16_t>((std::to_integer<unsigned>(b[at]) << 8) |
                                    std::to_integer<unsigned>(b[at + 1]));
}

void put16(std::span<std::byte> b, std::size_t at, std::uint16_t v) {
  b[at] = static_cast<std::byte>(v >> 8);
  b[at + 1] = static_cast<std::byte>(v & 0xff);
}

/// Offset of the IP header (after one optional tag).
std::size_t l3_of(std::span<const std::byte> frame) { return get16(frame, 12) == 0x8100 ? 18 : 14; }

/// Whether the TCP checksum of an IPv4 or IPv6 frame is valid, summed with l2::checksum.
bool tcp_checksum_ok(std::span<const std::byte> frame) {
  const std::size_t l3 = l3_of(frame);
  std::uint64_t sum = 0;
  std::span<const std::byte> segment;
  if (get16(frame, l3 - 2) == 0x0800) {
    const std::size_t ihl = (std::to_integer<std::size_t>(frame[l3]) & 0x0f) * 4;
    const std::size_t l4_length = get16(frame, l3 + 2) - ihl;
    sum = l2::checksum::pseudo_header(frame.subspan(l3 + 12, 4), frame.subspan(l3 + 16, 4), 6,
                                      static_cast<std::uint32_t>(l4_length));
    segment = frame.subspan(l3 + ihl, l4_length);
  } else {
    const std::size_t l4_length = get16(frame, l3 + 4);
    sum = l2::checksum::pseudo_header(frame.subspan(l3 + 8, 16), frame.subspan(l3 + 24, 16), 6,
                                      static_cast<std::uint32_t>(l4_length));
    segment = frame.subspan(l3 + 40, l4_length);
  }
  return l2::checksum::fold(l2::checksum::add(sum, segment)) == 0xffff;
}

// ---------------------------------------------------------------------------
// Golden frames (Python, see the header comment). Linux's SYN options: MSS,
// SACK permitted, timestamps, NOP, window scale 7.

// 10.0.0.1:40000 -> 10.0.0.2:5201, SYN, MSS 1460.
const byte_vector ipv4_syn = bytes({
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00,
    0x45, 0x00, 0x00, 0x3c, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06, 0x14, 0x86, 0x0a, 0x00,
    0x00, 0x01, 0x0a, 0x00, 0x00, 0x02, 0x9c, 0x40, 0x14, 0x51, 0x01, 0x02, 0x03, 0x04,
    0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa, 0xf0, 0x84, 0x74, 0x00, 0x00, 0x02, 0x04,
    0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x03, 0x03, 0x07,
});
// The same with MSS 1370 (1424 - 14 - 40).
const byte_vector ipv4_syn_1370 = bytes({
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00,
    0x45, 0x00, 0x00, 0x3c, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06, 0x14, 0x86, 0x0a, 0x00,
    0x00, 0x01, 0x0a, 0x00, 0x00, 0x02, 0x9c, 0x40, 0x14, 0x51, 0x01, 0x02, 0x03, 0x04,
    0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa, 0xf0, 0x84, 0xce, 0x00, 0x00, 0x02, 0x04,
    0x05, 0x5a, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x03, 0x03, 0x07,
});
// [fd00::1]:5201 -> [fd00::2]:40000, SYN-ACK, MSS 1440.
const byte_vector ipv6_synack = bytes({
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x86, 0xdd,
    0x60, 0x00, 0x00, 0x00, 0x00, 0x28, 0x06, 0x40, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xfd, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x14, 0x51,
    0x9c, 0x40, 0xa0, 0xb0, 0xc0, 0xd0, 0x01, 0x02, 0x03, 0x05, 0xa0, 0x12, 0xfa, 0xf0,
    0x3c, 0xf4, 0x00, 0x00, 0x02, 0x04, 0x05, 0xa0, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x00,
    0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
});
// The same with MSS 1330 (1404 - 14 - 60).
const byte_vector ipv6_synack_1330 = bytes({
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x86, 0xdd,
    0x60, 0x00, 0x00, 0x00, 0x00, 0x28, 0x06, 0x40, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xfd, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x14, 0x51,
    0x9c, 0x40, 0xa0, 0xb0, 0xc0, 0xd0, 0x01, 0x02, 0x03, 0x05, 0xa0, 0x12, 0xfa, 0xf0,
    0x3d, 0x62, 0x00, 0x00, 0x02, 0x04, 0x05, 0x32, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x00,
    0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
});
// VLAN 100, IPv4 SYN, MSS 8960 (a jumbo-frame host).
const byte_vector tagged_syn = bytes({
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x81, 0x00,
    0x00, 0x64, 0x08, 0x00, 0x45, 0x00, 0x00, 0x3c, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06,
    0x14, 0x86, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02, 0x9c, 0x40, 0x14, 0x51,
    0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa, 0xf0, 0x67, 0x28,
    0x00, 0x00, 0x02, 0x04, 0x23, 0x00, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x00, 0x00, 0x01,
    0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
});
// The same with MSS 1366 (1424 - 18 - 40).
const byte_vector tagged_syn_1366 = bytes({
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x81, 0x00,
    0x00, 0x64, 0x08, 0x00, 0x45, 0x00, 0x00, 0x3c, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06,
    0x14, 0x86, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02, 0x9c, 0x40, 0x14, 0x51,
    0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa, 0xf0, 0x84, 0xd2,
    0x00, 0x00, 0x02, 0x04, 0x05, 0x56, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x00, 0x00, 0x01,
    0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
});
// Options NOP, MSS 1460, NOP, NOP, EOL: the MSS value at an odd offset.
const byte_vector odd_syn = bytes({
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00,
    0x45, 0x00, 0x00, 0x30, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06, 0x14, 0x92, 0x0a, 0x00,
    0x00, 0x01, 0x0a, 0x00, 0x00, 0x02, 0x9c, 0x40, 0x14, 0x51, 0x01, 0x02, 0x03, 0x04,
    0x00, 0x00, 0x00, 0x00, 0x70, 0x02, 0xfa, 0xf0, 0x12, 0x47, 0x00, 0x00, 0x01, 0x02,
    0x04, 0x05, 0xb4, 0x01, 0x01, 0x00,
});
// The same with MSS 1370.
const byte_vector odd_syn_1370 = bytes({
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00,
    0x45, 0x00, 0x00, 0x30, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06, 0x14, 0x92, 0x0a, 0x00,
    0x00, 0x01, 0x0a, 0x00, 0x00, 0x02, 0x9c, 0x40, 0x14, 0x51, 0x01, 0x02, 0x03, 0x04,
    0x00, 0x00, 0x00, 0x00, 0x70, 0x02, 0xfa, 0xf0, 0x6c, 0x47, 0x00, 0x00, 0x01, 0x02,
    0x04, 0x05, 0x5a, 0x01, 0x01, 0x00,
});

TEST(clamp_mss, golden_frames_are_valid) {
  for (const byte_vector* f : {&ipv4_syn, &ipv4_syn_1370, &ipv6_synack, &ipv6_synack_1330, &tagged_syn,
                               &tagged_syn_1366, &odd_syn, &odd_syn_1370})
    EXPECT_TRUE(tcp_checksum_ok(*f));
}

TEST(clamp_mss, golden) {
  struct case_t {
    std::string name;
    byte_vector in;
    std::size_t max_frame_size;
    byte_vector out;  // == in when nothing changes
  };
  const case_t cases[] = {
      {"IPv4 SYN", ipv4_syn, 1424, ipv4_syn_1370},
      {"IPv6 SYN-ACK", ipv6_synack, 1404, ipv6_synack_1330},
      {"tagged", tagged_syn, 1424, tagged_syn_1366},
      {"MSS at an odd offset", odd_syn, 1424, odd_syn_1370},
      {"IPv4 MSS equal to the limit", ipv4_syn, 1460 + 54, ipv4_syn},
      {"IPv4 MSS below the limit", ipv4_syn, 1600, ipv4_syn},
      {"IPv6 MSS equal to the limit", ipv6_synack, 1440 + 74, ipv6_synack},
      {"tagged MSS equal to the limit", tagged_syn, 8960 + 58, tagged_syn},
      {"already clamped", ipv4_syn_1370, 1424, ipv4_syn_1370},
      {"max_frame_size smaller than the headers", ipv4_syn, 54, ipv4_syn},
      {"max_frame_size 0", ipv4_syn, 0, ipv4_syn},
  };
  for (const case_t& c : cases) {
    byte_vector frame = c.in;
    EXPECT_EQ(l2::clamp_mss(frame, c.max_frame_size, false), c.out != c.in) << c.name;
    EXPECT_EQ(frame, c.out) << c.name;
    EXPECT_TRUE(tcp_checksum_ok(frame)) << c.name;
  }
}

TEST(clamp_mss, every_limit_keeps_the_checksum_valid) {
  for (const byte_vector* f : {&ipv4_syn, &ipv6_synack, &tagged_syn, &odd_syn}) {
    const std::size_t mss_at = f == &odd_syn ? 57 : (f == &tagged_syn ? 60 : (f == &ipv6_synack ? 76 : 56));
    const std::size_t overhead = f == &ipv6_synack ? 74 : (f == &tagged_syn ? 58 : 54);
    const std::uint16_t original = get16(*f, mss_at);
    for (std::size_t max_frame_size = overhead + 1; max_frame_size <= overhead + 9100; ++max_frame_size) {
      byte_vector frame = *f;
      const std::size_t limit = max_frame_size - overhead;
      const bool changed = l2::clamp_mss(frame, max_frame_size, false);
      ASSERT_EQ(changed, original > limit) << max_frame_size;
      ASSERT_EQ(get16(frame, mss_at), changed ? limit : original) << max_frame_size;
      ASSERT_TRUE(tcp_checksum_ok(frame)) << max_frame_size;
    }
  }
}

TEST(clamp_mss, partial_checksum_is_left_alone) {
  byte_vector frame = ipv4_syn;
  put16(frame, 50, 0x1234);  // as if the field held a pseudo-header sum
  EXPECT_TRUE(l2::clamp_mss(frame, 1424, true));
  byte_vector expected = ipv4_syn_1370;
  put16(expected, 50, 0x1234);
  EXPECT_EQ(frame, expected);

  frame = ipv6_synack;
  EXPECT_TRUE(l2::clamp_mss(frame, 1404, true));
  expected = ipv6_synack_1330;
  put16(expected, 70, get16(ipv6_synack, 70));
  EXPECT_EQ(frame, expected);
}

TEST(clamp_mss, ethernet_padding_is_fine) {
  byte_vector frame = odd_syn;  // 62 bytes; pad to 64 as a switch might see it
  frame.push_back(std::byte{0});
  frame.push_back(std::byte{0});
  EXPECT_TRUE(l2::clamp_mss(frame, 1424, false));
  byte_vector expected = odd_syn_1370;
  expected.resize(64);
  EXPECT_EQ(frame, expected);
}

TEST(clamp_mss, truncated_at_every_length) {
  for (const byte_vector* f : {&ipv4_syn, &ipv6_synack, &tagged_syn, &odd_syn}) {
    for (std::size_t size = 0; size < f->size(); ++size) {
      // An exact-size heap copy, so that ASan sees any read past the end.
      byte_vector frame(f->begin(), f->begin() + static_cast<std::ptrdiff_t>(size));
      frame.shrink_to_fit();
      EXPECT_FALSE(l2::clamp_mss(frame, 1000, false)) << size;
      EXPECT_TRUE(std::equal(frame.begin(), frame.end(), f->begin())) << size;
    }
  }
}

// ---------------------------------------------------------------------------
// Built frames: IPv4, TCP with the given flags and options, checksum correct.

/// IPv4 frame 10.0.0.1 -> 10.0.0.2 with TCP `flags` and `options` (a multiple
/// of 4 bytes, at most 40), `ip_options` (multiple of 4) in the IP header.
byte_vector build(int flags, const byte_vector& options, const byte_vector& ip_options = {}) {
  const std::size_t ihl = 20 + ip_options.size();
  const std::size_t tcp_size = 20 + options.size();
  byte_vector f = bytes({0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00});
  const byte_vector ip = bytes({0x40 | static_cast<int>(ihl / 4), 0x00, 0x00, 0x00, 0x12, 0x34, 0x40, 0x00,
                                0x40, 0x06, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02});
  f.insert(f.end(), ip.begin(), ip.end());
  f.insert(f.end(), ip_options.begin(), ip_options.end());
  put16(f, 16, static_cast<std::uint16_t>(ihl + tcp_size));
  const byte_vector tcp = bytes({0x9c, 0x40, 0x14, 0x51, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x00,
                                 static_cast<int>(tcp_size / 4) << 4, flags, 0xfa, 0xf0, 0x00, 0x00, 0x00,
                                 0x00});
  f.insert(f.end(), tcp.begin(), tcp.end());
  f.insert(f.end(), options.begin(), options.end());
  // TCP checksum with the test's own reference sum.
  const std::size_t l4 = 14 + ihl;
  byte_vector pseudo(f.begin() + 26, f.begin() + 34);
  const byte_vector rest = bytes({0x00, 0x06, 0x00, static_cast<int>(tcp_size)});
  pseudo.insert(pseudo.end(), rest.begin(), rest.end());
  pseudo.insert(pseudo.end(), f.begin() + static_cast<std::ptrdiff_t>(l4), f.end());
  put16(f, l4 + 16, static_cast<std::uint16_t>(~l2_test::reference_sum(pseudo)));
  return f;
}

TEST(clamp_mss, options_and_flags) {
  struct case_t {
    std::string name;
    int flags;
    byte_vector options;
    int mss_at;  // offset of the MSS value in the TCP options when it changes, else -1
  };
  const case_t cases[] = {
      {"SYN, MSS first", syn, bytes({0x02, 0x04, 0x05, 0xb4}), 2},
      {"SYN-ACK", syn | ack, bytes({0x02, 0x04, 0x05, 0xb4}), 2},
      {"ACK only", ack, bytes({0x02, 0x04, 0x05, 0xb4}), -1},
      {"no flags", 0, bytes({0x02, 0x04, 0x05, 0xb4}), -1},
      {"FIN", 0x01, bytes({0x02, 0x04, 0x05, 0xb4}), -1},
      {"all flags", 0xff, bytes({0x02, 0x04, 0x05, 0xb4}), 2},
      {"no options", syn, {}, -1},
      {"no MSS option", syn, bytes({0x01, 0x03, 0x03, 0x07, 0x04, 0x02, 0x01, 0x01}), -1},
      {"NOPs before", syn, bytes({0x01, 0x01, 0x01, 0x01, 0x02, 0x04, 0x05, 0xb4}), 6},
      {"three NOPs before (odd)", syn, bytes({0x01, 0x01, 0x01, 0x02, 0x04, 0xff, 0xff, 0x00}), 5},
      {"after window scale and SACK permitted", syn,
       bytes({0x03, 0x03, 0x07, 0x04, 0x02, 0x02, 0x04, 0x05, 0xb4, 0x01, 0x01, 0x00}), 7},
      {"after timestamps", syn,
       bytes({0x08, 0x0a, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x00,
              0x00}),
       12},
      {"after an unknown option", syn, bytes({0xfe, 0x04, 0xaa, 0xbb, 0x02, 0x04, 0x05, 0xb4}), 6},
      {"MSS at the very end", syn,
       bytes({0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x02, 0x04, 0x05, 0xb4}), 10},
      {"only the first MSS counts (small)", syn, bytes({0x02, 0x04, 0x01, 0x00, 0x02, 0x04, 0x05, 0xb4}), -1},
      {"only the first MSS counts (large)", syn, bytes({0x02, 0x04, 0x05, 0xb4, 0x02, 0x04, 0x05, 0xb4}), 2},
      {"EOL before MSS", syn, bytes({0x00, 0x00, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4}), -1},
      {"EOL after MSS", syn, bytes({0x02, 0x04, 0x05, 0xb4, 0x00, 0x00, 0x00, 0x00}), 2},
      {"length 0 before MSS", syn, bytes({0x03, 0x00, 0x07, 0x01, 0x02, 0x04, 0x05, 0xb4}), -1},
      {"length 1 before MSS", syn, bytes({0x03, 0x01, 0x07, 0x01, 0x02, 0x04, 0x05, 0xb4}), -1},
      {"length past the options", syn, bytes({0x08, 0x0a, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4}), -1},
      {"length byte missing at the end", syn, bytes({0x01, 0x01, 0x01, 0x08}), -1},
      {"MSS length 3", syn, bytes({0x02, 0x03, 0x05, 0xb4}), -1},
      {"MSS length 5", syn, bytes({0x02, 0x05, 0x05, 0xb4, 0x00, 0x01, 0x01, 0x01}), -1},
      {"MSS length 2", syn, bytes({0x02, 0x02, 0x01, 0x01, 0x02, 0x04, 0x05, 0xb4}), -1},
      {"MSS cut off by the data offset", syn, bytes({0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x02, 0x04}), -1},
      {"MSS 65535", syn, bytes({0x02, 0x04, 0xff, 0xff}), 2},
      {"MSS 0", syn, bytes({0x02, 0x04, 0x00, 0x00}), -1},
      {"40 bytes of NOPs", syn, byte_vector(40, std::byte{0x01}), -1},
  };
  for (const case_t& c : cases) {
    const byte_vector original = build(c.flags, c.options);
    ASSERT_TRUE(tcp_checksum_ok(original)) << c.name;
    byte_vector frame = original;
    const bool changed = l2::clamp_mss(frame, 1424, false);
    EXPECT_EQ(changed, c.mss_at >= 0) << c.name;
    EXPECT_TRUE(tcp_checksum_ok(frame)) << c.name;
    byte_vector expected = original;
    if (c.mss_at >= 0) {
      const std::size_t at = 54 + static_cast<std::size_t>(c.mss_at);
      put16(expected, at, 1370);
      put16(expected, 50, get16(frame, 50));  // the checksum, checked valid above
    }
    EXPECT_EQ(frame, expected) << c.name;
  }
}

TEST(clamp_mss, ip_headers) {
  const byte_vector mss = bytes({0x02, 0x04, 0x05, 0xb4});
  struct case_t {
    std::string name;
    byte_vector frame;
    bool changed;
  };
  const auto with = [](byte_vector f, std::size_t at, int value) {
    f[at] = static_cast<std::byte>(value);
    return f;
  };
  const byte_vector plain = build(syn, mss);
  const byte_vector ip_options = build(syn, mss, bytes({0x01, 0x01, 0x01, 0x00}));  // IHL 6
  byte_vector ip_options_40 = build(syn, mss, byte_vector(40, std::byte{0x01}));    // IHL 15
  byte_vector short_total = plain;
  put16(short_total, 16, 20 + 19);  // TCP header cut by the IP length
  byte_vector long_total = plain;
  put16(long_total, 16, 20 + 25);  // longer than the frame
  byte_vector offset_past_ip = plain;
  offset_past_ip[46] = std::byte{0x70};  // data offset 28 > 24 bytes of TCP
  byte_vector ipv6_hop_by_hop = ipv6_synack;
  ipv6_hop_by_hop[20] = std::byte{0x00};
  byte_vector ipv6_long_payload = ipv6_synack;
  put16(ipv6_long_payload, 18, 41);
  byte_vector ipv6_short_payload = ipv6_synack;
  put16(ipv6_short_payload, 18, 39);  // options cut off
  byte_vector ipv6_version_4 = with(ipv6_synack, 14, 0x40);
  byte_vector double_tagged = tagged_syn;
  double_tagged.insert(double_tagged.begin() + 16, {std::byte{0x81}, std::byte{0x00}, std::byte{0x00},
                                                    std::byte{0x65}});
  const case_t cases[] = {
      {"plain", plain, true},
      {"IPv4 options (IHL 6)", ip_options, true},
      {"IPv4 options (IHL 15)", ip_options_40, true},
      {"IHL 4", with(plain, 14, 0x44), false},
      {"IPv4 version 6 in an IPv4 ethertype", with(plain, 14, 0x65), false},
      {"more fragments", with(plain, 20, 0x60), false},
      {"fragment offset", with(plain, 21, 0x01), false},
      {"DF only", with(plain, 20, 0x40), true},
      {"reserved fragment flag", with(plain, 20, 0xc0), true},
      {"UDP", with(plain, 23, 17), false},
      {"IPv4 length cuts the TCP header", short_total, false},
      {"IPv4 length past the frame", long_total, false},
      {"data offset 4", with(plain, 46, 0x40), false},
      {"data offset past the datagram", offset_past_ip, false},
      {"ARP ethertype", with(plain, 13, 0x06), false},
      {"IPv6 hop-by-hop header", ipv6_hop_by_hop, false},
      {"IPv6 payload length past the frame", ipv6_long_payload, false},
      {"IPv6 payload length cuts the options", ipv6_short_payload, false},
      {"IPv6 version 4", ipv6_version_4, false},
      {"two tags", double_tagged, false},
  };
  for (const case_t& c : cases) {
    byte_vector frame = c.frame;
    EXPECT_EQ(l2::clamp_mss(frame, 1424, false), c.changed) << c.name;
    if (!c.changed) {
      EXPECT_EQ(frame, c.frame) << c.name;
    }
    if (c.changed && c.frame[13] == std::byte{0x00}) {
      // IPv4: the fixed checksum helper reads the IHL and lengths itself.
      EXPECT_TRUE(tcp_checksum_ok(frame)) << c.name;
    }
  }
}

TEST(clamp_mss, random_mutations_stay_inside_and_touch_only_mss_and_checksum) {
  std::mt19937 rng(4242);
  for (const byte_vector* f : {&ipv4_syn, &ipv6_synack, &tagged_syn, &odd_syn}) {
    for (int i = 0; i < 20000; ++i) {
      byte_vector frame = *f;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int k = 0; k < flips; ++k) frame[rng() % frame.size()] = static_cast<std::byte>(rng());
      frame.resize(frame.size() - rng() % 3);
      frame.shrink_to_fit();
      const byte_vector before = frame;
      const bool changed = l2::clamp_mss(frame, 1000 + rng() % 600, rng() % 2 == 0);
      std::size_t differing = 0;
      for (std::size_t b = 0; b < frame.size(); ++b) differing += frame[b] != before[b];
      ASSERT_LE(differing, 4u);
      if (!changed) {
        ASSERT_EQ(differing, 0u);
      }
    }
  }
}

}  // namespace

TEST(needs_mss_clamp, agrees_with_clamp_mss_and_changes_nothing) {
  for (const byte_vector* f : {&ipv4_syn, &ipv6_synack, &tagged_syn, &odd_syn}) {
    for (std::size_t max_frame_size = 0; max_frame_size <= 9200; max_frame_size += 7) {
      const byte_vector before = *f;
      const bool needs = l2::needs_mss_clamp(before, max_frame_size);
      byte_vector frame = *f;
      ASSERT_EQ(needs, l2::clamp_mss(frame, max_frame_size, false)) << max_frame_size;
    }
    for (std::size_t size = 0; size < f->size(); ++size) {  // truncated: never
      ASSERT_FALSE(l2::needs_mss_clamp(std::span<const std::byte>(f->data(), size), 1000)) << size;
    }
  }
}
