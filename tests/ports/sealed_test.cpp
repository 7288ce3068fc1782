// Tests of the sealed wire format, version 2 (ports/sealed.hpp): golden
// vectors computed independently (Python 3: cryptography's ChaCha20Poly1305
// and hashlib's blake2b), round trips, every reject (short for its type, bad
// version/type/reserved, forged: any flipped bit, truncation, another key),
// the handshake macs, TAI64N, key files, and the random generators.
#include "ports/sealed.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "tests/l2/test_bytes.hpp"

namespace {

namespace sealed = ports::sealed;
namespace noise = ports::noise;
using l2::drop_reason;
using l2_test::byte_vector;
using l2_test::bytes;
using sealed::message;

/// 00 01 02 ... 1f
sealed::key key_a() {
  sealed::key k;
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::byte>(i);
  return k;
}

/// 20 21 22 ... 3f
sealed::key key_b() {
  sealed::key k;
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::byte>(0x20 + i);
  return k;
}

const std::string key_a_hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const std::string key_b_hex = "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f";

byte_vector from_hex(std::string_view hex) {
  byte_vector out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<std::byte>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  return out;
}

byte_vector text_bytes(std::string_view text) {
  const auto b = std::as_bytes(std::span(text));
  return byte_vector(b.begin(), b.end());
}

// ---------------------------------------------------------------------------
// Golden vectors, computed with Python 3:
//   header = bytes([2, 4, 0, 0]) + struct.pack(">IQ", receiver, counter)
//   datagram = header + ChaCha20Poly1305(key).encrypt(
//       b"\0" * 4 + struct.pack("<Q", counter), payload, header)
//   mac1 key = blake2b(b"mac1----" + key, digest_size=32)
//   mac = blake2b(message, digest_size=16, key=mac1 key)

// "hello vswitchd" as data under key_a, receiver 0x01020304, counter 5.
const byte_vector data_datagram = from_hex(
    "02040000010203040000000000000005"
    "4b6dfa662a05314dfcc34d2b4dd1702c39480178e7cda683be6c8379474f");

TEST(sealed_golden, sizes) {
  EXPECT_EQ(sealed::header_size, 16u);
  EXPECT_EQ(sealed::overhead, 32u);
  EXPECT_EQ(sealed::initiation_size_with_identity, 148u);
  EXPECT_EQ(sealed::initiation_size_without_identity, 100u);
  EXPECT_EQ(sealed::response_size, 92u);
  EXPECT_EQ(sealed::cookie_size, 64u);
}

TEST(sealed_golden, seal_and_open_data) {
  const byte_vector payload = text_bytes("hello vswitchd");
  byte_vector d(payload.size() + sealed::overhead);
  std::copy(payload.begin(), payload.end(), d.begin() + sealed::header_size);
  ASSERT_EQ(sealed::seal_in_place(key_a(), message::data, 0x01020304, 5, d, payload.size()), d.size());
  EXPECT_EQ(d, data_datagram);
  const sealed::parsed p = sealed::parse(d);
  ASSERT_TRUE(p.ok);
  EXPECT_EQ(p.type, message::data);
  EXPECT_EQ(p.receiver, 0x01020304u);
  EXPECT_EQ(p.counter, 5u);
  const auto plain = sealed::open_in_place(key_a(), d);
  ASSERT_TRUE(plain);
  EXPECT_EQ(byte_vector(plain->begin(), plain->end()), payload);
}

TEST(sealed_golden, macs_and_keys) {
  const noise::hash k1 = sealed::mac1_key(key_a());
  EXPECT_EQ(k1, [] {
    noise::hash h;
    const byte_vector b = from_hex("b941bf1b95db7cb783423638ff760265304756babdb2510836584fbfbe257274");
    std::copy(b.begin(), b.end(), h.begin());
    return h;
  }());
  const noise::hash ck = sealed::cookie_key(key_a());
  EXPECT_EQ(byte_vector(ck.begin(), ck.end()),
            from_hex("23e183f41d849970577acaafb23f2891bafd92709b873d0ae8d228560c90a648"));
  // A 100-byte handshake message 00 01 .. 63: mac1 covers the first 68 bytes.
  byte_vector message(100);
  for (std::size_t i = 0; i < message.size(); ++i) message[i] = static_cast<std::byte>(i);
  sealed::write_mac1(k1, message);
  EXPECT_EQ(byte_vector(message.begin() + 68, message.begin() + 84), from_hex("bcb3f420b68ed8b11654f9f712e2e206"));
  EXPECT_EQ(byte_vector(message.begin() + 84, message.end()), byte_vector(16));  // no cookie: mac2 zero
  EXPECT_TRUE(sealed::check_mac1(k1, message));
  EXPECT_FALSE(sealed::check_mac1(sealed::mac1_key(key_b()), message));
  // mac2 under a cookie; mac1 unchanged by it.
  const sealed::mac cookie = sealed::keyed_mac(key_b(), message);
  sealed::write_mac2(cookie, message);
  EXPECT_TRUE(sealed::check_mac1(k1, message));
  EXPECT_TRUE(sealed::check_mac2(cookie, message));
  message[3] ^= std::byte{1};
  EXPECT_FALSE(sealed::check_mac1(k1, message));
  EXPECT_FALSE(sealed::check_mac2(cookie, message));
}

TEST(sealed_golden, tai64n) {
  const auto t = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000) +
                                                       std::chrono::nanoseconds(123456789));
  const sealed::timestamp ts = sealed::tai64n(t);
  EXPECT_EQ(byte_vector(ts.begin(), ts.end()), from_hex("400000006553f100075bcd15"));
}

// ---------------------------------------------------------------------------
// Round trips and rejects.

TEST(sealed_round_trip, every_payload_size_and_both_data_types) {
  for (const message type : {message::data, message::offload}) {
    for (std::size_t size = 0; size <= 300; size += 7) {
      byte_vector payload(size);
      for (std::size_t i = 0; i < size; ++i) payload[i] = static_cast<std::byte>(i * 13 + size);
      byte_vector d(size + sealed::overhead);
      std::copy(payload.begin(), payload.end(), d.begin() + sealed::header_size);
      ASSERT_EQ(sealed::seal_in_place(key_b(), type, 77, size + 1, d, size), d.size());
      EXPECT_EQ(sealed::parse(d).type, type);
      const auto plain = sealed::open_in_place(key_b(), d);
      ASSERT_TRUE(plain) << size;
      EXPECT_EQ(byte_vector(plain->begin(), plain->end()), payload);
    }
  }
}

TEST(sealed_round_trip, buffer_too_small_writes_nothing) {
  byte_vector d(sealed::overhead + 9, std::byte{0x77});
  EXPECT_EQ(sealed::seal_in_place(key_a(), message::data, 1, 1, d, 10), 0u);
  EXPECT_TRUE(std::all_of(d.begin(), d.end(), [](std::byte b) { return b == std::byte{0x77}; }));
}

TEST(sealed_parse, each_type_needs_its_size) {
  const std::pair<message, std::size_t> minimum[] = {
      {message::initiation, sealed::initiation_size_without_identity},
      {message::response, sealed::response_size},
      {message::cookie, sealed::cookie_size},
      {message::data, sealed::overhead},
      {message::offload, sealed::header_size + sealed::fragment_header_size + 1},
  };
  for (const auto& [type, size] : minimum) {
    byte_vector d(size);
    sealed::write_prefix(type, d);
    EXPECT_TRUE(sealed::parse(d).ok) << static_cast<int>(type);
    d.pop_back();
    const sealed::parsed p = sealed::parse(d);
    EXPECT_FALSE(p.ok);
    EXPECT_EQ(p.reason, drop_reason::sealed_short) << static_cast<int>(type);
  }
  for (std::size_t size = 0; size < sealed::prefix_size; ++size)
    EXPECT_EQ(sealed::parse(byte_vector(size)).reason, drop_reason::sealed_short);
}

TEST(sealed_parse, header_rejects) {
  const auto reason_of = [](byte_vector d) { return sealed::parse(d).reason; };
  byte_vector d = data_datagram;
  d[0] = std::byte{1};  // version 1 (an older vswitchd)
  EXPECT_EQ(reason_of(d), drop_reason::sealed_bad_version);
  d = data_datagram;
  d[0] = std::byte{0x08};  // plain VXLAN's flags byte
  EXPECT_EQ(reason_of(d), drop_reason::sealed_bad_version);
  for (int type : {0, 7, 255}) {
    d = data_datagram;
    d[1] = static_cast<std::byte>(type);
    EXPECT_EQ(reason_of(d), drop_reason::sealed_bad_version) << type;
  }
  for (std::size_t i : {2, 3}) {
    d = data_datagram;
    d[i] = std::byte{1};
    EXPECT_EQ(reason_of(d), drop_reason::sealed_bad_version) << i;
  }
}

TEST(sealed_open, flipped_bit_anywhere_is_forged) {
  for (std::size_t bit = 0; bit < data_datagram.size() * 8; ++bit) {
    byte_vector d = data_datagram;
    d[bit / 8] ^= static_cast<std::byte>(1u << (bit % 8));
    EXPECT_FALSE(sealed::open_in_place(key_a(), d)) << bit;
  }
}

TEST(sealed_open, truncated_or_extended_is_forged) {
  byte_vector d(data_datagram.begin(), data_datagram.end() - 1);
  EXPECT_FALSE(sealed::open_in_place(key_a(), d));
  d = data_datagram;
  d.push_back(std::byte{0});
  EXPECT_FALSE(sealed::open_in_place(key_a(), d));
  d = byte_vector(data_datagram.begin(), data_datagram.begin() + sealed::overhead - 1);
  EXPECT_FALSE(sealed::open_in_place(key_a(), d));
}

TEST(sealed_open, wrong_key_is_forged) {
  byte_vector d = data_datagram;
  EXPECT_FALSE(sealed::open_in_place(key_b(), d));
  d = data_datagram;
  EXPECT_TRUE(sealed::open_in_place(key_a(), d).has_value());  // the right key still opens it
}

// ---------------------------------------------------------------------------
// Key files.

TEST(sealed_key_file, good) {
  struct case_t {
    std::string name;
    std::string text;
    std::vector<sealed::key> keys;
  };
  std::string upper_a = key_a_hex;
  std::transform(upper_a.begin(), upper_a.end(), upper_a.begin(), [](char c) { return std::toupper(c); });
  const case_t cases[] = {
      {"one key", key_a_hex + "\n", {key_a()}},
      {"no final newline", key_a_hex, {key_a()}},
      {"two keys, first seals", key_b_hex + "\n" + key_a_hex + "\n", {key_b(), key_a()}},
      {"comments and blank lines",
       "# vswitchd keys\n\n   # indented comment\n" + key_a_hex + "  # current\n\n" + key_b_hex + "#next\n",
       {key_a(), key_b()}},
      {"CRLF", key_a_hex + "\r\n" + key_b_hex + "\r\n", {key_a(), key_b()}},
      {"uppercase", upper_a + "\n", {key_a()}},
      {"mixed case", "000102030405060708090A0B0C0D0E0F101112131415161718191a1b1c1d1e1f", {key_a()}},
      {"surrounding whitespace", " \t" + key_a_hex + "\t \n", {key_a()}},
  };
  for (const case_t& c : cases) {
    const sealed::key_file f = sealed::parse_key_file(c.text);
    EXPECT_EQ(f.error, "") << c.name;
    EXPECT_EQ(f.keys, c.keys) << c.name;
  }
}

TEST(sealed_key_file, errors) {
  struct case_t {
    std::string name;
    std::string text;
    std::vector<std::string> error_has;  // substrings of the message
  };
  const std::string k63 = key_a_hex.substr(0, 63);
  const case_t cases[] = {
      {"empty", "", {"no key", "--generate-key"}},
      {"only comments", "# keys\n\n  \n# none yet\n", {"no key", "64 hex digits"}},
      {"63 digits", "# keys\n" + k63 + "\n", {"line 2:", "64 hex digits", "found 63 characters"}},
      {"65 digits", key_a_hex + "0\n", {"line 1:", "found 65 characters"}},
      {"0x prefix", "0x" + key_a_hex, {"line 1:", "found 66 characters"}},
      {"not hex", "\n\n  " + key_a_hex.substr(0, 10) + "g" + key_a_hex.substr(11) + "\n",
       {"line 3:", "column 13", "hex digit"}},
      {"space inside", key_a_hex.substr(0, 31) + " " + key_a_hex.substr(32), {"line 1:", "column 32"}},
      {"comment without #", key_a_hex + " current\n", {"line 1:", "found 72 characters", "#"}},
      {"bad second line after a good one", key_a_hex + "\nfoo\n", {"line 2:", "found 3 characters"}},
      {"three keys",
       key_a_hex + "\n# old\n" + key_b_hex + "\n\n" + "4" + key_a_hex.substr(1) + "\n",
       {"line 5:", "third key", "1 or 2 keys"}},
      {"same key twice", "# a\n" + key_a_hex + "\n\n" + key_a_hex + "\n", {"line 4:", "same key as line 2"}},
      {"same key, other case",
       key_b_hex + "\n" + "202122232425262728292A2B2C2D2E2F303132333435363738393A3B3C3D3E3F",
       {"line 2:", "same key as line 1", "remove one"}},
  };
  for (const case_t& c : cases) {
    const sealed::key_file f = sealed::parse_key_file(c.text);
    EXPECT_TRUE(f.keys.empty()) << c.name;
    ASSERT_FALSE(f.error.empty()) << c.name;
    for (const std::string& part : c.error_has)
      EXPECT_NE(f.error.find(part), std::string::npos)
          << c.name << ": \"" << part << "\" not in: " << f.error;
    // Never echo key material.
    EXPECT_EQ(f.error.find(key_a_hex.substr(0, 16)), std::string::npos) << c.name;
    EXPECT_EQ(f.error.find(key_b_hex.substr(0, 16)), std::string::npos) << c.name;
  }
}

TEST(sealed_key_file, format_parse_round_trip) {
  const sealed::key k = sealed::generate_key();
  const sealed::key_file f = sealed::parse_key_file(sealed::format_key(k) + "\n");
  ASSERT_EQ(f.error, "");
  ASSERT_EQ(f.keys.size(), 1u);
  EXPECT_EQ(f.keys[0], k);
}

// ---------------------------------------------------------------------------
// Randomness.

TEST(sealed_random, keys_are_nonzero_and_differ) {
  const sealed::key zero{};
  std::set<sealed::key> seen;
  for (int i = 0; i < 16; ++i) {
    const sealed::key k = sealed::generate_key();
    EXPECT_NE(k, zero);
    seen.insert(k);
  }
  EXPECT_EQ(seen.size(), 16u);
}

TEST(sealed_random, indexes_are_nonzero_and_differ) {
  std::set<std::uint32_t> seen;
  for (int i = 0; i < 64; ++i) {
    const std::uint32_t index = sealed::random_index();
    EXPECT_NE(index, 0u);
    seen.insert(index);
  }
  EXPECT_GE(seen.size(), 63u);
}

}  // namespace
