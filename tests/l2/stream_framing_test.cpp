// Tests of l2::stream_reassembler and the length prefix of QEMU's stream
// framing, from literal bytes: a record split at every byte position, several
// records per read, a record over three reads, the 69,632-byte limit, a zero
// length, a stream that ends mid-frame, and encode/decode round trips.
#include "l2/stream_framing.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "test_bytes.hpp"

namespace {

using l2::stream_error;
using l2_test::byte_vector;
using l2_test::bytes;

/// A record as QEMU sends it: length 18, then an 18-byte frame (broadcast
/// destination, source 52:54:00:12:34:56, ethertype 0x88b5, 4 bytes of payload).
const byte_vector golden_record = bytes({
    0x00, 0x00, 0x00, 0x12,              // length 18, big-endian
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  // destination
    0x52, 0x54, 0x00, 0x12, 0x34, 0x56,  // source
    0x88, 0xb5,                          // ethertype
    0xde, 0xad, 0xbe, 0xef,              // payload
});
const byte_vector golden_frame(golden_record.begin() + 4, golden_record.end());

/// A second record: length 15, a frame with a one-byte payload.
const byte_vector second_record = bytes({
    0x00, 0x00, 0x00, 0x0f, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
    0x52, 0x54, 0x00, 0xab, 0xcd, 0xef, 0x08, 0x06, 0x01,
});
const byte_vector second_frame(second_record.begin() + 4, second_record.end());

/// Collects the frames a reassembler hands on (copies: they are valid only during the call).
struct collector {
  std::vector<byte_vector> frames;
  std::vector<const std::byte*> where;  ///< where each frame was when handed on
  void operator()(std::span<const std::byte> f) {
    frames.emplace_back(f.begin(), f.end());
    where.push_back(f.data());
  }
};

l2::stream_feed_result feed(l2::stream_reassembler& r, std::span<const std::byte> b, collector& c) {
  return r.feed(b, [&](std::span<const std::byte> f) { c(f); });
}

byte_vector concat(std::initializer_list<std::span<const std::byte>> parts) {
  byte_vector out;
  for (auto p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

/// A record of `size` frame bytes with a recognisable pattern.
byte_vector record_of(std::size_t size) {
  byte_vector out(4 + size);
  l2::encode_length(size, std::span(out).first<4>());
  for (std::size_t i = 0; i < size; ++i) out[4 + i] = static_cast<std::byte>((i * 31 + 7) & 0xff);
  return out;
}

TEST(stream_framing, encode_length_golden) {
  std::array<std::byte, 4> out{};
  l2::encode_length(18, out);
  EXPECT_EQ(byte_vector(out.begin(), out.end()), bytes({0x00, 0x00, 0x00, 0x12}));
  l2::encode_length(1514, out);
  EXPECT_EQ(byte_vector(out.begin(), out.end()), bytes({0x00, 0x00, 0x05, 0xea}));
  l2::encode_length(69632, out);
  EXPECT_EQ(byte_vector(out.begin(), out.end()), bytes({0x00, 0x01, 0x10, 0x00}));
  l2::encode_length(0, out);
  EXPECT_EQ(byte_vector(out.begin(), out.end()), bytes({0x00, 0x00, 0x00, 0x00}));
}

TEST(stream_framing, decode_length_golden) {
  const byte_vector b = bytes({0x01, 0x02, 0x03, 0x04});
  EXPECT_EQ(l2::decode_length(std::span(b).first<4>()), 0x01020304u);
  EXPECT_EQ(l2::decode_length(std::span(golden_record).first<4>()), 18u);
}

TEST(stream_framing, encode_decode_round_trip) {
  for (std::size_t n : {0u, 1u, 14u, 60u, 255u, 256u, 1514u, 9000u, 65535u, 65553u, 69632u}) {
    std::array<std::byte, 4> out{};
    l2::encode_length(n, out);
    EXPECT_EQ(l2::decode_length(out), n);
  }
  // And through the reassembler: encoded records come back byte-exact.
  for (std::size_t n : {14u, 60u, 1514u, 65553u, 69632u}) {
    const byte_vector rec = record_of(n);
    l2::stream_reassembler r;
    collector c;
    const auto res = feed(r, rec, c);
    EXPECT_EQ(res.error, stream_error::none);
    ASSERT_EQ(c.frames.size(), 1u) << n;
    EXPECT_EQ(c.frames[0], byte_vector(rec.begin() + 4, rec.end()));
  }
}

TEST(stream_framing, whole_record_is_handed_on_in_place) {
  l2::stream_reassembler r;
  collector c;
  const auto res = feed(r, golden_record, c);
  EXPECT_EQ(res.error, stream_error::none);
  EXPECT_EQ(res.frames, 1u);
  ASSERT_EQ(c.frames.size(), 1u);
  EXPECT_EQ(c.frames[0], golden_frame);
  EXPECT_EQ(c.where[0], golden_record.data() + 4) << "copied although it lay in one read";
  EXPECT_FALSE(r.pending());
}

TEST(stream_framing, frame_after_a_length_that_ended_a_read_is_handed_on_in_place) {
  // The first read ends with the second record's whole length prefix; the
  // second read holds its whole frame: no copy (also when the prefix is cut).
  for (std::size_t prefix_in_first : {4u, 2u}) {
    const byte_vector first = concat({golden_record, std::span(second_record).first(prefix_in_first)});
    const byte_vector second(second_record.begin() + static_cast<std::ptrdiff_t>(prefix_in_first),
                             second_record.end());
    l2::stream_reassembler r;
    collector c;
    EXPECT_EQ(feed(r, first, c).frames, 1u);
    EXPECT_TRUE(r.pending());
    EXPECT_EQ(r.pending_size(), prefix_in_first);
    EXPECT_EQ(feed(r, second, c).frames, 1u);
    ASSERT_EQ(c.frames.size(), 2u);
    EXPECT_EQ(c.frames[1], second_frame);
    EXPECT_EQ(c.where[1], second.data() + (4 - prefix_in_first)) << "copied although it lay in one read";
    EXPECT_FALSE(r.pending());
  }
  // The prefix cut over two reads, the second ending with it; the frame in a third.
  const byte_vector first = concat({golden_record, std::span(second_record).first(2)});
  const byte_vector middle(second_record.begin() + 2, second_record.begin() + 4);
  const byte_vector last(second_record.begin() + 4, second_record.end());
  l2::stream_reassembler r;
  collector c;
  EXPECT_EQ(feed(r, first, c).frames, 1u);
  EXPECT_EQ(feed(r, middle, c).frames, 0u);
  EXPECT_EQ(r.pending_size(), 4u);
  EXPECT_EQ(feed(r, last, c).frames, 1u);
  ASSERT_EQ(c.frames.size(), 2u);
  EXPECT_EQ(c.frames[1], second_frame);
  EXPECT_EQ(c.where[1], last.data()) << "copied although it lay in one read";
  EXPECT_FALSE(r.pending());
}

TEST(stream_framing, one_record_split_at_every_byte_position) {
  for (std::size_t cut = 0; cut <= golden_record.size(); ++cut) {
    SCOPED_TRACE(cut);
    l2::stream_reassembler r;
    collector c;
    const std::span<const std::byte> all(golden_record);
    const auto first = feed(r, all.first(cut), c);
    EXPECT_EQ(first.error, stream_error::none);
    EXPECT_EQ(first.frames, cut == golden_record.size() ? 1u : 0u);
    EXPECT_EQ(r.pending(), cut > 0 && cut < golden_record.size());
    EXPECT_EQ(r.pending_size(), cut == golden_record.size() ? 0u : cut);
    const auto second = feed(r, all.subspan(cut), c);
    EXPECT_EQ(second.error, stream_error::none);
    ASSERT_EQ(c.frames.size(), 1u);
    EXPECT_EQ(c.frames[0], golden_frame);
    EXPECT_FALSE(r.pending());
  }
}

TEST(stream_framing, two_records_split_at_every_byte_position) {
  const byte_vector stream = concat({golden_record, second_record});
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    SCOPED_TRACE(cut);
    l2::stream_reassembler r;
    collector c;
    const std::span<const std::byte> all(stream);
    EXPECT_EQ(feed(r, all.first(cut), c).error, stream_error::none);
    EXPECT_EQ(feed(r, all.subspan(cut), c).error, stream_error::none);
    ASSERT_EQ(c.frames.size(), 2u);
    EXPECT_EQ(c.frames[0], golden_frame);
    EXPECT_EQ(c.frames[1], second_frame);
    EXPECT_FALSE(r.pending());
    // The second record, whole in the second read after a cut inside the first, is not copied.
    if (cut > 0 && cut <= golden_record.size()) {
      EXPECT_EQ(c.where[1], stream.data() + golden_record.size() + 4);
    }
  }
}

TEST(stream_framing, two_records_in_one_read) {
  const byte_vector stream = concat({golden_record, second_record});
  l2::stream_reassembler r;
  collector c;
  const auto res = feed(r, stream, c);
  EXPECT_EQ(res.error, stream_error::none);
  EXPECT_EQ(res.frames, 2u);
  ASSERT_EQ(c.frames.size(), 2u);
  EXPECT_EQ(c.frames[0], golden_frame);
  EXPECT_EQ(c.frames[1], second_frame);
  EXPECT_EQ(c.where[0], stream.data() + 4);
  EXPECT_EQ(c.where[1], stream.data() + golden_record.size() + 4);
}

TEST(stream_framing, one_record_over_three_reads_at_every_pair_of_cuts) {
  const std::span<const std::byte> all(golden_record);
  for (std::size_t a = 0; a <= all.size(); ++a) {
    for (std::size_t b = a; b <= all.size(); ++b) {
      SCOPED_TRACE(testing::Message() << a << "," << b);
      l2::stream_reassembler r;
      collector c;
      EXPECT_EQ(feed(r, all.first(a), c).error, stream_error::none);
      EXPECT_EQ(feed(r, all.subspan(a, b - a), c).error, stream_error::none);
      EXPECT_EQ(feed(r, all.subspan(b), c).error, stream_error::none);
      ASSERT_EQ(c.frames.size(), 1u);
      EXPECT_EQ(c.frames[0], golden_frame);
    }
  }
}

TEST(stream_framing, large_record_over_three_reads) {
  const byte_vector rec = record_of(9000);
  const std::span<const std::byte> all(rec);
  l2::stream_reassembler r;
  collector c;
  EXPECT_EQ(feed(r, all.first(2), c).frames, 0u);  // half the length
  EXPECT_EQ(feed(r, all.subspan(2, 4000), c).frames, 0u);
  EXPECT_EQ(r.pending_size(), 4002u);
  EXPECT_EQ(feed(r, all.subspan(4002), c).frames, 1u);
  ASSERT_EQ(c.frames.size(), 1u);
  EXPECT_EQ(c.frames[0], byte_vector(rec.begin() + 4, rec.end()));
}

TEST(stream_framing, length_69632_is_accepted) {
  const byte_vector rec = record_of(69632);
  EXPECT_EQ(byte_vector(rec.begin(), rec.begin() + 4), bytes({0x00, 0x01, 0x10, 0x00}));
  // Whole, and cut in the middle (through the reassembly buffer, filled to the brim).
  for (std::size_t cut :
       {rec.size(), std::size_t{3}, std::size_t{4}, std::size_t{30000}, rec.size() - 1}) {
    SCOPED_TRACE(cut);
    l2::stream_reassembler r;
    collector c;
    EXPECT_EQ(feed(r, std::span(rec).first(cut), c).error, stream_error::none);
    EXPECT_EQ(feed(r, std::span(rec).subspan(cut), c).error, stream_error::none);
    ASSERT_EQ(c.frames.size(), 1u);
    EXPECT_EQ(c.frames[0].size(), 69632u);
    EXPECT_EQ(c.frames[0], byte_vector(rec.begin() + 4, rec.end()));
  }
}

TEST(stream_framing, length_69633_is_a_protocol_error) {
  const byte_vector bad = bytes({0x00, 0x01, 0x10, 0x01, 0xaa, 0xbb});
  // Alone, behind a good record, and with the length cut at every position.
  {
    l2::stream_reassembler r;
    collector c;
    const auto res = feed(r, bad, c);
    EXPECT_EQ(res.error, stream_error::too_long);
    EXPECT_EQ(res.bad_length, 69633u);
    EXPECT_EQ(res.frames, 0u);
    EXPECT_TRUE(c.frames.empty());
    EXPECT_TRUE(r.failed());
    // Failed for good: later bytes are not read as records.
    const auto later = feed(r, golden_record, c);
    EXPECT_EQ(later.error, stream_error::too_long);
    EXPECT_TRUE(c.frames.empty());
  }
  {
    l2::stream_reassembler r;
    collector c;
    const byte_vector stream = concat({golden_record, bad, second_record});
    const auto res = feed(r, stream, c);
    EXPECT_EQ(res.error, stream_error::too_long);
    EXPECT_EQ(res.frames, 1u);
    ASSERT_EQ(c.frames.size(), 1u);  // the good one before it, nothing after
    EXPECT_EQ(c.frames[0], golden_frame);
  }
  for (std::size_t cut = 1; cut < 4; ++cut) {
    SCOPED_TRACE(cut);
    l2::stream_reassembler r;
    collector c;
    EXPECT_EQ(feed(r, std::span(bad).first(cut), c).error, stream_error::none);
    const auto res = feed(r, std::span(bad).subspan(cut), c);
    EXPECT_EQ(res.error, stream_error::too_long);
    EXPECT_EQ(res.bad_length, 69633u);
    EXPECT_TRUE(c.frames.empty());
  }
  // The largest length is refused too.
  l2::stream_reassembler r;
  collector c;
  const auto res = feed(r, bytes({0xff, 0xff, 0xff, 0xff}), c);
  EXPECT_EQ(res.error, stream_error::too_long);
  EXPECT_EQ(res.bad_length, 0xffffffffu);
  // reset() starts a new stream.
  r.reset();
  EXPECT_FALSE(r.failed());
  EXPECT_EQ(feed(r, golden_record, c).frames, 1u);
}

TEST(stream_framing, zero_length_is_an_empty_frame_and_the_stream_stays_in_step) {
  const byte_vector stream = concat({bytes({0x00, 0x00, 0x00, 0x00}), golden_record});
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    SCOPED_TRACE(cut);
    l2::stream_reassembler r;
    collector c;
    EXPECT_EQ(feed(r, std::span(stream).first(cut), c).error, stream_error::none);
    EXPECT_EQ(feed(r, std::span(stream).subspan(cut), c).error, stream_error::none);
    ASSERT_EQ(c.frames.size(), 2u);
    EXPECT_TRUE(c.frames[0].empty());
    EXPECT_EQ(c.frames[1], golden_frame);
    EXPECT_FALSE(r.pending());
  }
}

TEST(stream_framing, end_of_stream_mid_frame_is_visible) {
  l2::stream_reassembler r;
  collector c;
  EXPECT_FALSE(r.pending());
  feed(r, std::span(golden_record).first(10), c);  // length and 6 frame bytes
  EXPECT_TRUE(r.pending());
  EXPECT_EQ(r.pending_size(), 10u);
  EXPECT_TRUE(c.frames.empty());
  r.reset();
  EXPECT_FALSE(r.pending());
  // Mid-length, too.
  feed(r, std::span(golden_record).first(2), c);
  EXPECT_TRUE(r.pending());
  EXPECT_EQ(r.pending_size(), 2u);
  // An empty read changes nothing.
  EXPECT_EQ(feed(r, {}, c).frames, 0u);
  EXPECT_EQ(r.pending_size(), 2u);
}

TEST(stream_framing, error_names) {
  EXPECT_EQ(l2::to_string(stream_error::none), "none");
  EXPECT_EQ(l2::to_string(stream_error::too_long), "too_long");
}

}  // namespace
