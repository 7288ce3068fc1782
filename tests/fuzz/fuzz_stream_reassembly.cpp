// stream_reassembly: l2::stream_reassembler (QEMU -netdev stream records:
// a 4-byte big-endian length, then the frame) fed a byte stream cut into
// reads at positions the input chooses.
//
// Why: a guest controls every byte of its stream and how the kernel splits
// it into reads; the reassembler copies frames cut across reads into a
// 69,632-byte buffer, so a length or offset slip is a heap overflow.
// Checked against a one-pass reference parse of the whole stream:
//   - the frames delivered are exactly the records, in order, byte for
//     byte; each is at most 69,632 bytes; feed() counts them right;
//   - a frame that lies wholly inside one read (its length prefix may end
//     the read before) is handed on in place (a view into that read), as
//     documented; any other is a copy;
//   - a length over 69,632 fails the stream with that length, after the
//     frames before it, and every later feed() fails too;
//   - otherwise pending()/pending_size() describe the incomplete record left;
//   - after reset(), the whole stream fed in one read gives the same frames.
//
// Input: [k][k piece lengths, u16 big-endian each][stream]: the stream is
// cut after those lengths (clipped to what is left; 0 is an empty read),
// the rest is the last read. k is byte 0 % 16.
#include <vector>

#include "fuzz_util.hpp"
#include "l2/stream_framing.hpp"

namespace {

struct record {
  std::size_t offset;  ///< where the frame's bytes start in the stream
  std::size_t size;
};

/// The records of `stream` parsed in one pass: the complete ones, and either
/// the length that is too long or the bytes of an incomplete record at the end.
struct reference {
  std::vector<record> records;
  bool too_long = false;
  std::uint32_t bad_length = 0;
  std::size_t pending = 0;
};

reference parse_whole(std::span<const std::byte> stream) {
  reference ref;
  std::size_t at = 0;
  while (stream.size() - at >= 4) {
    const std::uint32_t length = std::uint32_t{fuzz::load16(stream, at)} << 16 | fuzz::load16(stream, at + 2);
    if (length > l2::stream_max_frame_size) {
      ref.too_long = true;
      ref.bad_length = length;
      return ref;
    }
    if (stream.size() - at - 4 < length) break;
    ref.records.push_back({at + 4, length});
    at += 4 + length;
  }
  ref.pending = stream.size() - at;
  return ref;
}

/// Feeds `pieces` of `stream` and checks the frames against `ref`.
void feed_and_check(l2::stream_reassembler& r, std::span<const std::byte> stream,
                    const std::vector<std::size_t>& cuts, const reference& ref) {
  std::size_t next = 0;       // index of the next expected record
  std::size_t start = 0;      // stream offset of the current piece
  bool failed = false;
  for (std::size_t i = 0; i <= cuts.size(); ++i) {
    const std::size_t end = i < cuts.size() ? cuts[i] : stream.size();
    const std::span<const std::byte> piece = stream.subspan(start, end - start);
    std::size_t delivered = 0;
    const l2::stream_feed_result res = r.feed(piece, [&](std::span<const std::byte> frame) {
      FUZZ_CHECK(!failed);
      FUZZ_CHECK(next < ref.records.size());
      const record& want = ref.records[next++];
      FUZZ_CHECK(frame.size() == want.size);
      FUZZ_CHECK(frame.size() <= l2::stream_max_frame_size);
      FUZZ_CHECK(std::equal(frame.begin(), frame.end(), stream.begin() + static_cast<std::ptrdiff_t>(want.offset)));
      // A frame whose bytes all lie in this read is handed on in place, also
      // when its length prefix ended exactly at the end of the previous read.
      const bool inside = want.offset >= start && want.offset + want.size <= end;
      if (inside && want.size > 0) {
        FUZZ_CHECK(frame.data() == piece.data() + (want.offset - start));  // in place, no copy
      } else if (want.size > 0) {
        // A copy: it must not point into the read.
        FUZZ_CHECK(frame.data() + frame.size() <= piece.data() || frame.data() >= piece.data() + piece.size());
      }
      ++delivered;
    });
    FUZZ_CHECK(res.frames == delivered);
    if (res.error == l2::stream_error::too_long) {
      FUZZ_CHECK(ref.too_long && res.bad_length == ref.bad_length);
      FUZZ_CHECK(r.failed());
      failed = true;
    } else {
      FUZZ_CHECK(!failed);
    }
    start = end;
  }
  FUZZ_CHECK(next == ref.records.size());
  if (ref.too_long) {
    // Only reached once the bad length's four bytes were all fed, i.e. always here.
    FUZZ_CHECK(failed && r.failed());
    const l2::stream_feed_result again = r.feed(stream, [](std::span<const std::byte>) { FUZZ_CHECK(false); });
    FUZZ_CHECK(again.error == l2::stream_error::too_long && again.frames == 0);
  } else {
    FUZZ_CHECK(!r.failed());
    FUZZ_CHECK(r.pending() == (ref.pending != 0));
    FUZZ_CHECK(r.pending_size() == ref.pending);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::cursor in(fuzz::as_bytes(data, size));
  const std::size_t k = in.u8() % 16;
  std::vector<std::size_t> lengths;
  for (std::size_t i = 0; i < k; ++i) lengths.push_back(in.u16());
  const std::span<const std::byte> stream = in.rest();
  std::vector<std::size_t> cuts;
  std::size_t at = 0;
  for (std::size_t length : lengths) {
    at = std::min(stream.size(), at + length);
    cuts.push_back(at);
  }
  const reference ref = parse_whole(stream);

  l2::stream_reassembler r;
  feed_and_check(r, stream, cuts, ref);
  r.reset();
  FUZZ_CHECK(!r.pending() && !r.failed());
  feed_and_check(r, stream, {}, ref);
  return 0;
}
