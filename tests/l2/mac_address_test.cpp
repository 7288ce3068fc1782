// Tests of mac_address: parsing (good and bad text), formatting, the integer
// packing, the address-class predicates and round trips between them.
#include "l2/mac_address.hpp"

#include <gtest/gtest.h>

#include <random>

#include "test_bytes.hpp"

namespace {

using l2::mac_address;

TEST(mac_address, default_is_zero) {
  const mac_address m;
  EXPECT_TRUE(m.is_zero());
  EXPECT_EQ(m.to_u64(), 0u);
  EXPECT_EQ(m.to_string(), "00:00:00:00:00:00");
}

TEST(mac_address, parse_accepts_canonical_forms) {
  struct case_t {
    std::string_view text;
    std::array<std::uint8_t, 6> octets;
  };
  const case_t cases[] = {
      {"00:11:22:33:44:55", {0x00, 0x11, 0x22, 0x33, 0x44, 0x55}},
      {"aa:bb:cc:dd:ee:ff", {0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}},
      {"AA:BB:CC:DD:EE:FF", {0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}},
      {"aA:Bb:cC:Dd:eE:Ff", {0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}},
      {"02-00-5e-10-00-01", {0x02, 0x00, 0x5e, 0x10, 0x00, 0x01}},
      {"ff:ff:ff:ff:ff:ff", {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
      {"00:00:00:00:00:00", {0, 0, 0, 0, 0, 0}},
      {"09:af:90:FA:0a:A0", {0x09, 0xaf, 0x90, 0xfa, 0x0a, 0xa0}},
  };
  for (const case_t& c : cases) {
    const std::optional<mac_address> parsed = mac_address::parse(c.text);
    ASSERT_TRUE(parsed.has_value()) << c.text;
    EXPECT_EQ(parsed->octets(), c.octets) << c.text;
  }
}

TEST(mac_address, parse_rejects_malformed_text) {
  const std::string_view cases[] = {
      "",
      ":",
      "00:11:22:33:44",           // five groups
      "00:11:22:33:44:55:66",     // seven groups
      "00:11:22:33:44:5",         // short last group
      "00:11:22:33:44:555",       // long last group
      "0:11:22:33:44:55a",        // one-digit group, right length
      "00:11:22:33:44:5g",        // not hex
      "0x:11:22:33:44:55",        // not hex
      "00-11:22:33:44:55",        // mixed separators
      "00:11:22:33:44-55",        // mixed separators
      "00.11.22.33.44.55",        // wrong separator
      "00 11 22 33 44 55",        // wrong separator
      "001122334455",             // no separators
      "0011.2233.4455",           // Cisco form
      " 00:11:22:33:44:55",       // leading space
      "00:11:22:33:44:55 ",       // trailing space
      "00:11:22:33:44:55\n",      // trailing newline
      "00::11:22:33:44:5",        // empty group
      "+0:11:22:33:44:55",        // sign
      "00:11:22:33:44:-5",        // sign
  };
  for (std::string_view text : cases) {
    EXPECT_FALSE(mac_address::parse(text).has_value()) << '"' << text << '"';
  }
  // An embedded NUL is not a hex digit either.
  EXPECT_FALSE(mac_address::parse(std::string_view("00:11:22\0:3:44:55", 17)).has_value());
}

TEST(mac_address, format_is_lower_case_colon_separated) {
  const mac_address m({0xAB, 0x01, 0xcd, 0x00, 0xEF, 0x99});
  EXPECT_EQ(m.to_string(), "ab:01:cd:00:ef:99");
  EXPECT_EQ(mac_address::parse("AB-01-CD-00-EF-99")->to_string(), "ab:01:cd:00:ef:99");
}

TEST(mac_address, u64_packing_is_first_octet_most_significant) {
  const mac_address m({0x00, 0x11, 0x22, 0x33, 0x44, 0x55});
  EXPECT_EQ(m.to_u64(), 0x001122334455u);
  EXPECT_EQ(mac_address::from_u64(0x001122334455u), m);
  EXPECT_EQ(mac_address::from_u64(0xffffffffffffu), mac_address({0xff, 0xff, 0xff, 0xff, 0xff, 0xff}));
  // The high 16 bits are ignored.
  EXPECT_EQ(mac_address::from_u64(0xabcd001122334455u), m);
}

TEST(mac_address, from_bytes_reads_six_bytes) {
  const l2_test::byte_vector b = l2_test::bytes({0x02, 0x42, 0xac, 0x11, 0x00, 0x02, 0xff});
  const mac_address m = mac_address::from_bytes(std::span<const std::byte, 6>(b.data(), 6));
  EXPECT_EQ(m.to_string(), "02:42:ac:11:00:02");
}

TEST(mac_address, predicates) {
  struct case_t {
    std::string_view text;
    bool broadcast;
    bool multicast;
    bool link_local;
    bool zero;
  };
  const case_t cases[] = {
      {"ff:ff:ff:ff:ff:ff", true, true, false, false},
      {"ff:ff:ff:ff:ff:fe", false, true, false, false},
      {"01:00:5e:00:00:01", false, true, false, false},  // IPv4 multicast
      {"33:33:00:00:00:01", false, true, false, false},  // IPv6 multicast
      {"01:80:c2:00:00:00", false, true, true, false},   // STP
      {"01:80:c2:00:00:02", false, true, true, false},   // LACP
      {"01:80:c2:00:00:0e", false, true, true, false},   // LLDP
      {"01:80:c2:00:00:0f", false, true, true, false},
      {"01:80:c2:00:00:10", false, true, false, false},  // just past the range
      {"01:80:c2:00:01:00", false, true, false, false},
      {"01:80:c3:00:00:00", false, true, false, false},
      {"00:80:c2:00:00:00", false, false, false, false},  // unicast lookalike
      {"00:00:00:00:00:00", false, false, false, true},
      {"00:00:00:00:00:01", false, false, false, false},
      {"02:00:00:00:00:01", false, false, false, false},  // locally administered
      {"52:54:00:12:34:56", false, false, false, false},  // QEMU
      {"fe:ff:ff:ff:ff:ff", false, false, false, false},
  };
  for (const case_t& c : cases) {
    const mac_address m = l2_test::mac(c.text);
    EXPECT_EQ(m.is_broadcast(), c.broadcast) << c.text;
    EXPECT_EQ(m.is_multicast(), c.multicast) << c.text;
    EXPECT_EQ(m.is_link_local(), c.link_local) << c.text;
    EXPECT_EQ(m.is_zero(), c.zero) << c.text;
  }
}

TEST(mac_address, round_trips) {
  std::mt19937_64 rng(42);
  for (int i = 0; i < 1000; ++i) {
    const std::uint64_t value = rng() & 0xffffffffffffu;
    const mac_address m = mac_address::from_u64(value);
    EXPECT_EQ(m.to_u64(), value);
    const std::optional<mac_address> parsed = mac_address::parse(m.to_string());
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(*parsed, m);
  }
}

TEST(mac_address, ordering_follows_octets) {
  EXPECT_LT(l2_test::mac("00:00:00:00:00:01"), l2_test::mac("00:00:00:00:01:00"));
  EXPECT_LT(l2_test::mac("00:ff:ff:ff:ff:ff"), l2_test::mac("01:00:00:00:00:00"));
  EXPECT_EQ(l2_test::mac("aa:bb:cc:dd:ee:ff"), l2_test::mac("AA-BB-CC-DD-EE-FF"));
  EXPECT_NE(l2_test::mac("aa:bb:cc:dd:ee:ff"), l2_test::mac("aa:bb:cc:dd:ee:fe"));
}

}  // namespace
