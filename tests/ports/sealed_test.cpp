// Tests of the sealed wire format: golden vectors computed independently
// (Python, PyNaCl: crypto_aead_xchacha20poly1305_ietf_encrypt and keyed
// blake2b), round trips, every reject (short, bad version/type/reserved,
// forged: any flipped bit, truncation, another key), key files, and the
// random generators.
#include "ports/sealed.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "tests/l2/test_bytes.hpp"

namespace {

namespace sealed = ports::sealed;
using l2::drop_reason;
using l2_test::byte_vector;
using l2_test::bytes;
using sealed::message;

// ---------------------------------------------------------------------------
// Golden vectors. Computed with /usr/bin/python3 and PyNaCl 1.5.0:
//   key_id = blake2b(b"vswitchd key id v1", digest_size=16, key=key)[:4]
//   datagram = header + crypto_aead_xchacha20poly1305_ietf_encrypt(
//                  payload, header[0:8], header[8:32], key)

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

constexpr std::uint32_t key_a_id = 0x05d24a45;  // blake2b-128: 05d24a457520d50c533acb5f2c4ef332
constexpr std::uint32_t key_b_id = 0x6938856b;  // blake2b-128: 6938856b8c8b65d55579e050e7aa2753

// A 24-byte frame: the start of a broadcast ARP request.
const byte_vector small_frame = bytes({
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00,
});

// small_frame as data under key_a, sender 0x0102030405060708, receiver
// 0x1112131415161718, sequence 42.
const sealed::header data_header{message::data, key_a_id, 0x0102030405060708, 0x1112131415161718, 0x2a};
const byte_vector data_datagram = bytes({
    0x01, 0x00, 0x00, 0x00, 0x05, 0xd2, 0x4a, 0x45, 0x01, 0x02, 0x03, 0x04,
    0x05, 0x06, 0x07, 0x08, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, 0xee, 0x5d, 0x6c, 0x79,
    0xf7, 0x5e, 0x8a, 0xe8, 0x90, 0x76, 0xa1, 0x22, 0x2c, 0xb1, 0x67, 0x5e,
    0xdf, 0x64, 0xc3, 0xc3, 0xba, 0x24, 0xc0, 0xaa, 0xf1, 0xe1, 0x09, 0x26,
    0x16, 0x75, 0x6e, 0xd8, 0x17, 0x5b, 0xa7, 0x21, 0x1c, 0x35, 0x3c, 0xc6,
});

// A probe (token a1..a8) under key_a to an unknown instance (receiver 0), sequence 1.
const byte_vector token = bytes({0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8});
const sealed::header probe_header{message::probe, key_a_id, 0x0102030405060708, 0, 1};
const byte_vector probe_datagram = bytes({
    0x01, 0x01, 0x00, 0x00, 0x05, 0xd2, 0x4a, 0x45, 0x01, 0x02, 0x03, 0x04,
    0x05, 0x06, 0x07, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xcc, 0xe4, 0xae, 0xca,
    0x93, 0x4e, 0xac, 0x49, 0xd5, 0x0a, 0x32, 0x19, 0x30, 0xde, 0x6b, 0x0b,
    0x0c, 0xff, 0x96, 0xe2, 0x57, 0x98, 0x3a, 0x62,
});

// An empty reply under key_a with extreme header values.
const sealed::header empty_header{message::reply, key_a_id, 0xfffffffffffffffe, 0x8000000000000001,
                                  0xffffffffffffffff};
const byte_vector empty_datagram = bytes({
    0x01, 0x02, 0x00, 0x00, 0x05, 0xd2, 0x4a, 0x45, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xa2, 0x7e, 0x06, 0xfe,
    0x16, 0x9e, 0x45, 0x60, 0x3f, 0x67, 0x30, 0xbd, 0xe6, 0xb4, 0x93, 0x2d,
});

/// A buffer of `payload` placed after room for the header, with room for the tag.
byte_vector unsealed(const byte_vector& payload) {
  // Sized once, then filled: GCC 12 at -O3 warns falsely (-Warray-bounds) on insert().
  byte_vector out(sealed::header_size + payload.size() + sealed::tag_size, std::byte{0xee});
  std::copy(payload.begin(), payload.end(), out.begin() + sealed::header_size);
  return out;
}

byte_vector to_vector(std::span<const std::byte> s) { return byte_vector(s.begin(), s.end()); }

// ---------------------------------------------------------------------------
// Golden vectors.

TEST(sealed_golden, constants) {
  EXPECT_EQ(sealed::header_size, 32u);
  EXPECT_EQ(sealed::tag_size, 16u);
  EXPECT_EQ(sealed::overhead, 48u);
  EXPECT_EQ(sealed::key_size, 32u);
  EXPECT_EQ(sealed::version, 1);
}

TEST(sealed_golden, key_id) {
  EXPECT_EQ(sealed::key_id_of(key_a()), key_a_id);
  EXPECT_EQ(sealed::key_id_of(key_b()), key_b_id);
}

TEST(sealed_golden, format_key) {
  EXPECT_EQ(sealed::format_key(key_a()), key_a_hex);
  EXPECT_EQ(sealed::format_key(key_b()), key_b_hex);
}

TEST(sealed_golden, write_header) {
  byte_vector out(40, std::byte{0xcc});
  sealed::write_header(data_header, out);
  EXPECT_EQ(byte_vector(out.begin(), out.begin() + 32),
            byte_vector(data_datagram.begin(), data_datagram.begin() + 32));
  EXPECT_EQ(byte_vector(out.begin() + 32, out.end()), byte_vector(8, std::byte{0xcc}));  // untouched
}

TEST(sealed_golden, seal_and_open) {
  struct case_t {
    std::string name;
    sealed::header h;
    byte_vector payload;
    byte_vector datagram;
  };
  const case_t cases[] = {
      {"data", data_header, small_frame, data_datagram},
      {"probe", probe_header, token, probe_datagram},
      {"empty reply", empty_header, {}, empty_datagram},
  };
  for (const case_t& c : cases) {
    // Seal: exactly the Python bytes.
    byte_vector buffer = unsealed(c.payload);
    EXPECT_EQ(sealed::seal_in_place(key_a(), c.h, buffer, c.payload.size()), c.datagram.size()) << c.name;
    EXPECT_EQ(buffer, c.datagram) << c.name;

    // Parse: the header fields.
    const sealed::parsed p = sealed::parse(c.datagram);
    ASSERT_TRUE(p.ok) << c.name;
    EXPECT_EQ(p.h, c.h) << c.name;

    // Open: the payload, in place.
    byte_vector received = c.datagram;
    const auto plain = sealed::open_in_place(key_a(), received);
    ASSERT_TRUE(plain.has_value()) << c.name;
    EXPECT_EQ(plain->data(), received.data() + 32) << c.name;
    EXPECT_EQ(to_vector(*plain), c.payload) << c.name;
  }
}

// ---------------------------------------------------------------------------
// Round trips.

TEST(sealed_round_trip, every_payload_size_and_type) {
  const message types[] = {message::data, message::probe, message::reply};
  for (std::size_t size : {0, 1, 7, 8, 14, 15, 16, 17, 63, 64, 65, 1424, 9000, 65535 + 18}) {
    for (message type : types) {
      byte_vector payload(size);
      for (std::size_t i = 0; i < size; ++i) payload[i] = static_cast<std::byte>(i * 31 + 7);
      const sealed::header h{type, sealed::key_id_of(key_b()), 7 + size, 9, size + 1};
      byte_vector buffer = unsealed(payload);
      buffer.resize(buffer.size() + 5, std::byte{0x77});  // spare room is not touched
      ASSERT_EQ(sealed::seal_in_place(key_b(), h, buffer, size), size + 48);
      EXPECT_EQ(byte_vector(buffer.end() - 5, buffer.end()), byte_vector(5, std::byte{0x77}));
      buffer.resize(size + 48);
      if (size >= 16) {
        EXPECT_NE(byte_vector(buffer.begin() + 32, buffer.begin() + 32 + 16),
                  byte_vector(payload.begin(), payload.begin() + 16))
            << "payload left in clear, size " << size;
      }

      const sealed::parsed p = sealed::parse(buffer);
      ASSERT_TRUE(p.ok);
      EXPECT_EQ(p.h, h);
      const auto plain = sealed::open_in_place(key_b(), buffer);
      ASSERT_TRUE(plain.has_value()) << size;
      EXPECT_EQ(to_vector(*plain), payload) << size;
    }
  }
}

TEST(sealed_round_trip, buffer_too_small_writes_nothing) {
  for (std::size_t size : {0, 1, 47}) {
    byte_vector buffer(size, std::byte{0x55});
    EXPECT_EQ(sealed::seal_in_place(key_a(), data_header, buffer, 0), 0u) << size;
    EXPECT_EQ(buffer, byte_vector(size, std::byte{0x55}));
  }
  byte_vector buffer(48 + 9, std::byte{0x55});
  EXPECT_EQ(sealed::seal_in_place(key_a(), data_header, buffer, 10), 0u);
  EXPECT_EQ(buffer, byte_vector(48 + 9, std::byte{0x55}));
  EXPECT_EQ(sealed::seal_in_place(key_a(), data_header, buffer, 9), 48u + 9);
}

// ---------------------------------------------------------------------------
// Rejects.

TEST(sealed_parse, short_at_every_length_below_overhead) {
  for (std::size_t size = 0; size < sealed::overhead; ++size) {
    const std::span<const std::byte> prefix(probe_datagram.data(), size);
    const sealed::parsed p = sealed::parse(prefix);
    EXPECT_FALSE(p.ok) << size;
    EXPECT_EQ(p.reason, drop_reason::sealed_short) << size;
    byte_vector copy(prefix.begin(), prefix.end());
    EXPECT_FALSE(sealed::open_in_place(key_a(), copy).has_value()) << size;
  }
  EXPECT_TRUE(sealed::parse(empty_datagram).ok);  // exactly 48
}

TEST(sealed_parse, header_rejects) {
  struct case_t {
    std::string name;
    std::size_t offset;
    int value;
    bool ok;
  };
  const case_t cases[] = {
      {"version 0", 0, 0x00, false},
      {"version 2", 0, 0x02, false},
      {"version 0xff", 0, 0xff, false},
      {"VXLAN flags as version", 0, 0x08, false},
      {"type 4", 1, 0x04, false},
      {"type 0x80", 1, 0x80, false},
      {"type 0xff", 1, 0xff, false},
      {"reserved byte 2", 2, 0x01, false},
      {"reserved byte 3", 3, 0x80, false},
      {"type data", 1, 0x00, true},
      {"type probe", 1, 0x01, true},
      {"type reply", 1, 0x02, true},
      {"type offload", 1, 0x03, true},
      {"any key id", 4, 0xff, true},
  };
  for (const case_t& c : cases) {
    byte_vector d = data_datagram;
    d[c.offset] = static_cast<std::byte>(c.value);
    const sealed::parsed p = sealed::parse(d);
    EXPECT_EQ(p.ok, c.ok) << c.name;
    if (!c.ok) {
      EXPECT_EQ(p.reason, drop_reason::sealed_bad_version) << c.name;
    }
  }
}

TEST(sealed_open, flipped_bit_anywhere_is_forged) {
  for (const byte_vector* golden : {&data_datagram, &probe_datagram, &empty_datagram}) {
    for (std::size_t bit = 0; bit < golden->size() * 8; ++bit) {
      byte_vector d = *golden;
      d[bit / 8] ^= static_cast<std::byte>(1u << (bit % 8));
      EXPECT_FALSE(sealed::open_in_place(key_a(), d).has_value()) << "bit " << bit;
    }
  }
}

TEST(sealed_open, truncated_or_extended_is_forged) {
  for (std::size_t cut = 1; cut <= data_datagram.size(); ++cut) {
    byte_vector d(data_datagram.begin(), data_datagram.end() - static_cast<std::ptrdiff_t>(cut));
    EXPECT_FALSE(sealed::open_in_place(key_a(), d).has_value()) << "cut " << cut;
  }
  byte_vector longer = data_datagram;
  longer.push_back(std::byte{0});
  EXPECT_FALSE(sealed::open_in_place(key_a(), longer).has_value());
}

TEST(sealed_open, wrong_key_is_forged) {
  byte_vector d = data_datagram;
  EXPECT_FALSE(sealed::open_in_place(key_b(), d).has_value());
  sealed::key almost = key_a();
  almost[31] ^= std::byte{0x01};
  d = data_datagram;
  EXPECT_FALSE(sealed::open_in_place(almost, d).has_value());
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
  EXPECT_NE(sealed::key_id_of(*seen.begin()), sealed::key_id_of(*seen.rbegin()));
}

TEST(sealed_random, instances_are_nonzero_and_differ) {
  std::set<std::uint64_t> seen;
  for (int i = 0; i < 64; ++i) {
    const std::uint64_t instance = sealed::random_instance();
    EXPECT_NE(instance, 0u);
    seen.insert(instance);
  }
  EXPECT_EQ(seen.size(), 64u);
}

TEST(sealed_initialize, is_idempotent) {
  sealed::initialize();
  sealed::initialize();
  EXPECT_EQ(sealed::key_id_of(key_a()), key_a_id);
}

}  // namespace
