// Tests of frame_view::parse (lengths, tags), the field accessors on literal
// bytes, emit() golden bytes, and parse(emit(h)).header() == h round trips.
#include "l2/frame.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "test_bytes.hpp"

namespace {

using l2::drop_reason;
using l2::frame_view;
using l2_test::byte_vector;
using l2_test::bytes;
using l2_test::mac;

// A 14-byte untagged header: 52:54:00:00:00:02 <- 52:54:00:00:00:01, IPv4.
const byte_vector untagged_header = bytes({
    0x52, 0x54, 0x00, 0x00, 0x00, 0x02,  // destination
    0x52, 0x54, 0x00, 0x00, 0x00, 0x01,  // source
    0x08, 0x00,                          // ethertype IPv4
});

// `size` bytes whose ethertype field is `type` (and the rest zero).
byte_vector sized(std::size_t size, std::uint16_t type) {
  byte_vector out(size, std::byte{0});
  if (size > 13) {
    out[12] = static_cast<std::byte>(type >> 8);
    out[13] = static_cast<std::byte>(type & 0xff);
  }
  return out;
}

// `size` bytes tagged (VLAN 10), the inner ethertype another TPID (found by fuzzing:
// 21 bytes popped to a 17-byte truncated tag).
byte_vector double_tagged(std::size_t size) {
  byte_vector out = sized(size, 0x8100);
  out[15] = std::byte{0x0a};
  out[16] = std::byte{0x81};
  out[17] = std::byte{0x00};
  return out;
}

TEST(frame_parse, lengths_and_tags) {
  struct case_t {
    std::string name;
    byte_vector frame;
    bool ok;
    drop_reason reason;  // when !ok
  };
  const case_t cases[] = {
      {"empty", {}, false, drop_reason::runt},
      {"1 byte", bytes({0xff}), false, drop_reason::runt},
      {"13 bytes", byte_vector(untagged_header.begin(), untagged_header.end() - 1), false,
       drop_reason::runt},
      {"13 bytes with half a TPID", sized(13, 0), false, drop_reason::runt},
      {"exactly 14 bytes", untagged_header, true, drop_reason::runt},
      {"14 bytes TPID", sized(14, 0x8100), false, drop_reason::truncated_tag},
      {"15 bytes TPID", sized(15, 0x8100), false, drop_reason::truncated_tag},
      {"16 bytes TPID", sized(16, 0x8100), false, drop_reason::truncated_tag},
      {"17 bytes TPID", sized(17, 0x8100), false, drop_reason::truncated_tag},
      {"18 bytes TPID", sized(18, 0x8100), true, drop_reason::runt},
      // A second TPID behind the tag: it needs its own four bytes too.
      {"21 bytes double TPID", double_tagged(21), false, drop_reason::truncated_tag},
      {"22 bytes double TPID", double_tagged(22), true, drop_reason::runt},
      {"17 bytes untagged", sized(17, 0x0800), true, drop_reason::runt},
      {"60 bytes", sized(60, 0x0800), true, drop_reason::runt},
      {"1514 bytes", sized(1514, 0x0800), true, drop_reason::runt},
      {"9000 bytes (jumbo)", sized(9000, 0x0800), true, drop_reason::runt},
      {"9000 bytes tagged", sized(9000, 0x8100), true, drop_reason::runt},
      {"max_frame_size", sized(l2::max_frame_size, 0x0800), true, drop_reason::runt},
      {"max_frame_size + 1", sized(l2::max_frame_size + 1, 0x0800), false, drop_reason::giant},
      {"max_frame_size + 1 tagged", sized(l2::max_frame_size + 1, 0x8100), false,
       drop_reason::giant},
      {"64 KiB super-frame + 1 KiB", sized(65536 + 1024, 0x0800), false, drop_reason::giant},
  };
  for (const case_t& c : cases) {
    const l2::frame_parse_result result = frame_view::parse(c.frame);
    EXPECT_EQ(static_cast<bool>(result), c.ok) << c.name;
    EXPECT_EQ(result.frame.has_value(), c.ok) << c.name;
    if (c.ok) {
      EXPECT_EQ(result.frame->size(), c.frame.size()) << c.name;
      EXPECT_EQ(result.frame->bytes().data(), c.frame.data()) << c.name;
    } else {
      EXPECT_EQ(result.reason, c.reason) << c.name;
    }
  }
}

TEST(frame_parse, untagged_fields) {
  byte_vector frame = untagged_header;
  frame.push_back(std::byte{0x45});
  frame.push_back(std::byte{0x00});
  const l2::frame_parse_result result = frame_view::parse(frame);
  ASSERT_TRUE(result);
  const frame_view& f = *result.frame;
  EXPECT_EQ(f.destination(), mac("52:54:00:00:00:02"));
  EXPECT_EQ(f.source(), mac("52:54:00:00:00:01"));
  EXPECT_FALSE(f.tag().has_value());
  EXPECT_EQ(f.ethertype(), 0x0800);
  ASSERT_EQ(f.payload().size(), 2u);
  EXPECT_EQ(f.payload().data(), frame.data() + 14);
  EXPECT_EQ(f.payload()[0], std::byte{0x45});
}

TEST(frame_parse, exactly_14_bytes_has_empty_payload) {
  const l2::frame_parse_result result = frame_view::parse(untagged_header);
  ASSERT_TRUE(result);
  EXPECT_TRUE(result.frame->payload().empty());
  EXPECT_EQ(result.frame->ethertype(), 0x0800);
}

TEST(frame_parse, tag_fields) {
  struct case_t {
    std::string name;
    int tci_high;
    int tci_low;
    l2::vlan_tag tag;
  };
  const case_t cases[] = {
      {"vid 100, pcp 5, dei", 0xb0, 0x64, {5, true, 100}},
      {"vid 1", 0x00, 0x01, {0, false, 1}},
      {"priority tag: vid 0, pcp 3", 0x60, 0x00, {3, false, 0}},
      {"priority tag: vid 0, pcp 0", 0x00, 0x00, {0, false, 0}},
      {"vid 4094, pcp 7", 0xef, 0xfe, {7, false, 4094}},
      {"vid 4095 (reserved, still parsed)", 0x0f, 0xff, {0, false, 4095}},
      {"all bits set", 0xff, 0xff, {7, true, 4095}},
      {"dei only", 0x10, 0x00, {0, true, 0}},
      {"vid 0x800", 0x08, 0x00, {0, false, 0x800}},
  };
  for (const case_t& c : cases) {
    const byte_vector frame = bytes({
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  // destination
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56,  // source
        0x81, 0x00, c.tci_high, c.tci_low,   // 802.1Q tag
        0x86, 0xdd,                          // ethertype IPv6
        0x60, 0x00, 0x00,                    // payload
    });
    const l2::frame_parse_result result = frame_view::parse(frame);
    ASSERT_TRUE(result) << c.name;
    const frame_view& f = *result.frame;
    ASSERT_TRUE(f.tag().has_value()) << c.name;
    EXPECT_EQ(*f.tag(), c.tag) << c.name;
    EXPECT_EQ(f.ethertype(), 0x86dd) << c.name;
    EXPECT_EQ(f.destination(), mac("ff:ff:ff:ff:ff:ff")) << c.name;
    EXPECT_EQ(f.source(), mac("52:54:00:12:34:56")) << c.name;
    ASSERT_EQ(f.payload().size(), 3u) << c.name;
    EXPECT_EQ(f.payload().data(), frame.data() + 18) << c.name;
  }
}

TEST(frame_parse, tag_with_no_payload) {
  const byte_vector frame = bytes({
      0x01, 0x00, 0x5e, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
      0x81, 0x00, 0x00, 0x0a, 0x08, 0x06,
  });
  const l2::frame_parse_result result = frame_view::parse(frame);
  ASSERT_TRUE(result);
  EXPECT_EQ(result.frame->tag()->vid, 10);
  EXPECT_EQ(result.frame->ethertype(), 0x0806);
  EXPECT_TRUE(result.frame->payload().empty());
}

TEST(frame_parse, only_tpid_8100_is_a_tag) {
  // An 802.1ad S-tag (0x88a8) is not parsed as a tag: transparent forwarding.
  const byte_vector frame = bytes({
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
      0x88, 0xa8, 0x00, 0x64, 0x81, 0x00, 0x00, 0xc8, 0x08, 0x00,
  });
  const l2::frame_parse_result result = frame_view::parse(frame);
  ASSERT_TRUE(result);
  EXPECT_FALSE(result.frame->tag().has_value());
  EXPECT_EQ(result.frame->ethertype(), 0x88a8);
  EXPECT_EQ(result.frame->payload().size(), 8u);
}

TEST(frame_parse, header_value) {
  const byte_vector frame = bytes({
      0x33, 0x33, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x07,
      0x81, 0x00, 0x20, 0x2a, 0x88, 0xcc,
  });
  const l2::frame_parse_result result = frame_view::parse(frame);
  ASSERT_TRUE(result);
  l2::frame_header expected;
  expected.destination = mac("33:33:00:00:00:01");
  expected.source = mac("02:00:00:00:00:07");
  expected.tag = l2::vlan_tag{1, false, 42};
  expected.ethertype = 0x88cc;
  EXPECT_EQ(result.frame->header(), expected);
}

TEST(frame_emit, golden_bytes_untagged) {
  l2::frame_header header;
  header.destination = mac("ff:ff:ff:ff:ff:ff");
  header.source = mac("52:54:00:12:34:56");
  header.ethertype = 0x0806;
  EXPECT_EQ(header.size(), 14u);
  byte_vector out(20, std::byte{0xee});
  EXPECT_EQ(l2::emit(header, out), 14u);
  EXPECT_EQ(out, bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
                        0x08, 0x06, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee}));
}

TEST(frame_emit, golden_bytes_tagged) {
  l2::frame_header header;
  header.destination = mac("00:11:22:33:44:55");
  header.source = mac("66:77:88:99:aa:bb");
  header.tag = l2::vlan_tag{6, true, 0xabc};
  header.ethertype = 0x86dd;
  EXPECT_EQ(header.size(), 18u);
  byte_vector out(18);
  EXPECT_EQ(l2::emit(header, out), 18u);
  EXPECT_EQ(out, bytes({0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
                        0x81, 0x00, 0xda, 0xbc, 0x86, 0xdd}));
}

TEST(frame_emit, short_buffer_writes_nothing) {
  l2::frame_header header;
  header.destination = mac("00:11:22:33:44:55");
  header.tag = l2::vlan_tag{0, false, 1};
  byte_vector out(17, std::byte{0xee});
  EXPECT_EQ(l2::emit(header, out), 0u);
  EXPECT_EQ(out, byte_vector(17, std::byte{0xee}));
  header.tag.reset();
  byte_vector small(13, std::byte{0xee});
  EXPECT_EQ(l2::emit(header, small), 0u);
  EXPECT_EQ(small, byte_vector(13, std::byte{0xee}));
  EXPECT_EQ(l2::emit(header, std::span<std::byte>{}), 0u);
}

TEST(frame_round_trip, parse_emit_is_identity) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    l2::frame_header header;
    header.destination = l2::mac_address::from_u64(rng());
    header.source = l2::mac_address::from_u64(rng());
    if (rng() % 2 != 0) {
      header.tag = l2::vlan_tag{static_cast<std::uint8_t>(rng() % 8), rng() % 2 != 0,
                                static_cast<l2::vlan_id>(rng() % 4096)};
      header.ethertype = static_cast<std::uint16_t>(rng());  // inner type: anything
    } else {
      // Untagged, the type field cannot be 0x8100 (that would be a tag).
      do header.ethertype = static_cast<std::uint16_t>(rng());
      while (header.ethertype == l2::ethertype_vlan);
    }
    std::size_t payload_size = rng() % 64;
    // An inner type that is another TPID needs that tag's four bytes.
    if (header.tag && header.ethertype == l2::ethertype_vlan) payload_size += l2::vlan_tag_size;
    const byte_vector frame = l2_test::make_frame(header, payload_size);
    const l2::frame_parse_result result = frame_view::parse(frame);
    ASSERT_TRUE(result);
    EXPECT_EQ(result.frame->header(), header);
    EXPECT_EQ(result.frame->payload().size(), payload_size);
  }
}

TEST(frame_round_trip, fixed_headers) {
  const l2::frame_header headers[] = {
      {mac("ff:ff:ff:ff:ff:ff"), mac("02:00:00:00:00:01"), std::nullopt, 0x0806},
      {mac("01:80:c2:00:00:0e"), mac("02:00:00:00:00:01"), std::nullopt, 0x88cc},
      {mac("02:00:00:00:00:02"), mac("02:00:00:00:00:01"), l2::vlan_tag{0, false, 0}, 0x0800},
      {mac("02:00:00:00:00:02"), mac("02:00:00:00:00:01"), l2::vlan_tag{7, true, 4094}, 0x8100},
      {mac("00:00:00:00:00:00"), mac("00:00:00:00:00:00"), std::nullopt, 0x0000},
  };
  for (const l2::frame_header& header : headers) {
    // (A second TPID as the inner type: its tag's four bytes follow.)
    const std::size_t payload = header.ethertype == l2::ethertype_vlan ? l2::vlan_tag_size : 0;
    const byte_vector frame = l2_test::make_frame(header, payload);
    EXPECT_EQ(frame.size(), header.size() + payload);
    const l2::frame_parse_result result = frame_view::parse(frame);
    ASSERT_TRUE(result);
    EXPECT_EQ(result.frame->header(), header);
  }
}

// flow_hash: a frame's flow picks one of several queues (a multi-queue TAP's).

/// A TCP or UDP frame between two hosts: IPv4 addresses 10.0.0.a and
/// 10.0.0.b (IPv6 fd00::a and fd00::b), ports pa and pb, `fragment` the
/// IPv4 flags and offset field.
byte_vector ip_frame(bool v6, int protocol, int a, int b, int pa, int pb, int fragment = 0,
                     std::string_view from = "02:00:00:00:00:01", std::string_view to = "02:00:00:00:00:02") {
  l2::frame_header header{mac(to), mac(from), std::nullopt,
                          static_cast<std::uint16_t>(v6 ? 0x86dd : 0x0800)};
  const std::size_t l3_size = v6 ? 40 : 20;
  byte_vector frame = l2_test::make_frame(header, l3_size + 20);
  const auto put = [&](std::size_t at, int value) { frame[14 + at] = static_cast<std::byte>(value); };
  if (v6) {
    put(0, 0x60);
    put(6, protocol);
    for (int i = 8; i < 40; ++i) put(static_cast<std::size_t>(i), 0);
    put(8, 0xfd), put(23, a), put(24, 0xfd), put(39, b);
  } else {
    put(0, 0x45);
    put(6, fragment >> 8), put(7, fragment & 0xff);
    put(9, protocol);
    put(12, 10), put(13, 0), put(14, 0), put(15, a);
    put(16, 10), put(17, 0), put(18, 0), put(19, b);
  }
  put(l3_size, pa >> 8), put(l3_size + 1, pa & 0xff);
  put(l3_size + 2, pb >> 8), put(l3_size + 3, pb & 0xff);
  return frame;
}

std::uint32_t hash_of(const byte_vector& frame) {
  const l2::frame_parse_result parsed = frame_view::parse(frame);
  EXPECT_TRUE(parsed);
  return parsed ? l2::flow_hash(*parsed.frame) : 0;
}

TEST(flow_hash, is_the_same_in_both_directions) {
  for (const bool v6 : {false, true}) {
    for (const int protocol : {6, 17}) {
      EXPECT_EQ(hash_of(ip_frame(v6, protocol, 1, 2, 40000, 5201)),
                hash_of(ip_frame(v6, protocol, 2, 1, 5201, 40000, 0, "02:00:00:00:00:02",
                                 "02:00:00:00:00:01")))
          << (v6 ? "IPv6 " : "IPv4 ") << protocol;
    }
  }
  const l2::frame_header arp{mac("02:00:00:00:00:02"), mac("02:00:00:00:00:01"), std::nullopt, 0x0806};
  const l2::frame_header reply{mac("02:00:00:00:00:01"), mac("02:00:00:00:00:02"), std::nullopt, 0x0806};
  EXPECT_EQ(hash_of(l2_test::make_frame(arp)), hash_of(l2_test::make_frame(reply)));
}

TEST(flow_hash, spreads_the_flows_of_one_pair_of_hosts_over_queues) {
  for (const bool v6 : {false, true}) {
    for (const std::size_t queues : {2u, 4u}) {
      std::vector<int> per_queue(queues, 0);
      for (int port = 40000; port < 40064; ++port) {
        ++per_queue[hash_of(ip_frame(v6, 6, 1, 2, port, 5201)) % queues];
      }
      for (std::size_t q = 0; q < queues; ++q) {
        EXPECT_GE(per_queue[q], 64 / static_cast<int>(queues) / 2)
            << (v6 ? "IPv6, " : "IPv4, ") << queues << " queues: queue " << q;
      }
    }
  }
}

TEST(flow_hash, keeps_the_fragments_of_a_datagram_together) {
  // First fragment (more fragments, offset 0) and a later one (offset 185,
  // whose "ports" are payload bytes): the same flow.
  EXPECT_EQ(hash_of(ip_frame(false, 17, 1, 2, 4789, 4789, 0x2000)),
            hash_of(ip_frame(false, 17, 1, 2, 0x1234, 0x5678, 185)));
}

TEST(flow_hash, reads_no_further_than_a_short_frame) {
  // IPv4 ethertype with a 3-byte payload: not an IP header, hashed by MACs.
  const l2::frame_header header{mac("02:00:00:00:00:02"), mac("02:00:00:00:00:01"), std::nullopt, 0x0800};
  const byte_vector frame = l2_test::make_frame(header, 3);
  const l2::frame_header arp{mac("02:00:00:00:00:02"), mac("02:00:00:00:00:01"), std::nullopt, 0x0806};
  EXPECT_EQ(hash_of(frame), hash_of(l2_test::make_frame(arp)));
  // A full IPv4 header whose TCP ports are cut off: addresses only.
  byte_vector cut = ip_frame(false, 6, 1, 2, 40000, 5201);
  cut.resize(14 + 20 + 2);
  byte_vector other = ip_frame(false, 6, 1, 2, 40001, 5202);
  other.resize(14 + 20 + 2);
  EXPECT_EQ(hash_of(cut), hash_of(other));
}

}  // namespace
