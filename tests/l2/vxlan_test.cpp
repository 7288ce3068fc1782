// Tests of the VXLAN header: golden encodings, decoding (accepts and every
// reject), reserved bits ignored, and encode -> decode round trips.
#include "l2/vxlan.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "test_bytes.hpp"

namespace {

using l2::drop_reason;
using l2_test::byte_vector;
using l2_test::bytes;

// A 14-byte inner Ethernet header (broadcast ARP from 02:00:00:00:00:01).
const byte_vector inner_header = bytes({
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06,
});

byte_vector datagram(const byte_vector& header, const byte_vector& inner = inner_header) {
  byte_vector out = header;
  out.insert(out.end(), inner.begin(), inner.end());
  return out;
}

TEST(vxlan_encode, golden_bytes) {
  struct case_t {
    l2::vni id;
    byte_vector header;
  };
  const case_t cases[] = {
      {0, bytes({0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00})},
      {1, bytes({0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00})},
      {42, bytes({0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, 0x00})},
      {0xabcdef, bytes({0x08, 0x00, 0x00, 0x00, 0xab, 0xcd, 0xef, 0x00})},
      {0x010203, bytes({0x08, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x00})},
      {l2::max_vni, bytes({0x08, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0x00})},
      // Only the low 24 bits are used.
      {0x12abcdef, bytes({0x08, 0x00, 0x00, 0x00, 0xab, 0xcd, 0xef, 0x00})},
  };
  for (const case_t& c : cases) {
    const auto header = l2::vxlan_encode(c.id);
    EXPECT_EQ(byte_vector(header.begin(), header.end()), c.header) << std::hex << c.id;
  }
}

TEST(vxlan_decode, accepts_ours) {
  const byte_vector d = datagram(bytes({0x08, 0x00, 0x00, 0x00, 0xab, 0xcd, 0xef, 0x00}));
  const l2::vxlan_decode_result result = l2::vxlan_decode(d, 0xabcdef);
  ASSERT_TRUE(result);
  EXPECT_TRUE(result.ok);
  EXPECT_EQ(result.id, 0xabcdefu);
  EXPECT_EQ(result.inner.data(), d.data() + 8);
  EXPECT_EQ(result.inner.size(), 14u);
  EXPECT_TRUE(std::equal(result.inner.begin(), result.inner.end(), inner_header.begin(),
                         inner_header.end()));
}

TEST(vxlan_decode, cases) {
  struct case_t {
    std::string name;
    byte_vector datagram;
    l2::vni expected;
    bool ok;
    drop_reason reason;  // when !ok
    l2::vni id;          // reported VNI
  };
  const byte_vector vni1 = bytes({0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00});
  const case_t cases[] = {
      {"empty", {}, 1, false, drop_reason::vxlan_short, 0},
      {"7 bytes", bytes({0x08, 0, 0, 0, 0, 0, 1}), 1, false, drop_reason::vxlan_short, 0},
      {"header only", vni1, 1, false, drop_reason::vxlan_short, 1},
      {"21 bytes", datagram(vni1, byte_vector(inner_header.begin(), inner_header.end() - 1)), 1,
       false, drop_reason::vxlan_short, 1},
      {"22 bytes", datagram(vni1), 1, true, drop_reason::vxlan_short, 1},
      {"flags clear", datagram(bytes({0x00, 0, 0, 0, 0, 0, 1, 0})), 1, false,
       drop_reason::vxlan_bad_flags, 1},
      {"only other flag bits", datagram(bytes({0xf7, 0, 0, 0, 0, 0, 1, 0})), 1, false,
       drop_reason::vxlan_bad_flags, 1},
      {"wrong VNI", datagram(vni1), 2, false, drop_reason::vxlan_wrong_vni, 1},
      {"VNI 0 expected 1", datagram(bytes({0x08, 0, 0, 0, 0, 0, 0, 0})), 1, false,
       drop_reason::vxlan_wrong_vni, 0},
      {"VNI differs in high byte", datagram(bytes({0x08, 0, 0, 0, 0x01, 0, 1, 0})), 1, false,
       drop_reason::vxlan_wrong_vni, 0x010001},
      {"flags checked before VNI", datagram(bytes({0x00, 0, 0, 0, 0, 0, 2, 0})), 1, false,
       drop_reason::vxlan_bad_flags, 2},
      {"reserved bits set", datagram(bytes({0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x01, 0xff})), 1,
       true, drop_reason::vxlan_short, 1},
      {"GBP-style flags", datagram(bytes({0x88, 0x00, 0x12, 0x34, 0x00, 0x00, 0x01, 0x00})), 1,
       true, drop_reason::vxlan_short, 1},
      {"jumbo inner", datagram(vni1, byte_vector(9000, std::byte{0x11})), 1, true,
       drop_reason::vxlan_short, 1},
  };
  for (const case_t& c : cases) {
    const l2::vxlan_decode_result result = l2::vxlan_decode(c.datagram, c.expected);
    EXPECT_EQ(result.ok, c.ok) << c.name;
    EXPECT_EQ(static_cast<bool>(result), c.ok) << c.name;
    EXPECT_EQ(result.id, c.id) << c.name;
    if (c.ok) {
      EXPECT_EQ(result.inner.size(), c.datagram.size() - 8) << c.name;
      EXPECT_EQ(result.inner.data(), c.datagram.data() + 8) << c.name;
    } else {
      EXPECT_EQ(result.reason, c.reason) << c.name;
      EXPECT_TRUE(result.inner.empty()) << c.name;
    }
  }
}

TEST(vxlan_round_trip, encode_then_decode) {
  const l2::vni ids[] = {0, 1, 2, 255, 256, 4096, 0x7fffff, 0x800000, 0xabcdef, l2::max_vni};
  for (l2::vni id : ids) {
    const auto header = l2::vxlan_encode(id);
    const byte_vector d = datagram(byte_vector(header.begin(), header.end()));
    const l2::vxlan_decode_result result = l2::vxlan_decode(d, id);
    ASSERT_TRUE(result) << id;
    EXPECT_EQ(result.id, id);
    EXPECT_EQ(result.inner.size(), inner_header.size());
    const l2::vxlan_decode_result other = l2::vxlan_decode(d, (id + 1) & l2::max_vni);
    EXPECT_FALSE(other);
    EXPECT_EQ(other.reason, drop_reason::vxlan_wrong_vni);
  }
}

}  // namespace
