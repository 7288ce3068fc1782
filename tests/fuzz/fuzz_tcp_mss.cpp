// tcp_mss: l2::clamp_mss and l2::needs_mss_clamp (l2/tcp_mss.hpp) on frames
// crossing an uplink.
//
// Why: with --clamp-mss, every TCP SYN a guest sends across an uplink is
// parsed (IP header lengths, the TCP option walk) and rewritten in place,
// with an incremental checksum update (RFC 1624) that must stay right for
// any MSS position, odd ones included. Checked:
//   - needs_mss_clamp() says exactly whether clamp_mss() changes the frame;
//   - clamp_mss() changes at most the two bytes of one option value and the
//     two bytes of the TCP checksum (not those with checksum_partial);
//   - a clamped frame needs no clamping again (idempotent);
//   - a frame whose TCP checksum was right still has a right checksum after
//     the rewrite (checked by a full recomputation). Since random bytes
//     rarely carry a right checksum, mode bit 1 first makes it right.
//
// Input: [mode][max_frame_size u16 big-endian][frame]. Mode bit 0:
// checksum_partial; bit 1: fix the TCP checksum before clamping.
#include <optional>
#include <vector>

#include "fuzz_util.hpp"
#include "l2/tcp_mss.hpp"

namespace {

/// Where the TCP checksum field is, if the frame is TCP as find_l4 sees it.
std::optional<std::size_t> tcp_checksum_at(std::span<const std::byte> f, fuzz::l4_view& v) {
  v = fuzz::find_l4(f);
  if (!v.ok || v.protocol != 6 || v.ip_end - v.l4 < 20) return std::nullopt;
  return v.l4 + 16;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::cursor in(fuzz::as_bytes(data, size));
  const std::uint8_t mode = in.u8();
  const std::size_t max_frame_size = in.u16();
  const std::span<const std::byte> input = in.rest();
  const bool partial = (mode & 1) != 0;

  std::vector<std::byte> before(input.begin(), input.end());
  fuzz::l4_view v;
  const std::optional<std::size_t> checksum_at = tcp_checksum_at(before, v);
  if (checksum_at && (mode & 2) != 0) {
    before[*checksum_at] = before[*checksum_at + 1] = std::byte{0};
    const std::uint16_t c = static_cast<std::uint16_t>(~fuzz::l4_sum(before, v));
    before[*checksum_at] = static_cast<std::byte>(c >> 8);
    before[*checksum_at + 1] = static_cast<std::byte>(c & 0xff);
  }
  const bool checksum_was_right = checksum_at && fuzz::l4_sum(before, v) == 0xffff;

  const bool needed = l2::needs_mss_clamp(before, max_frame_size);
  std::vector<std::byte> after = before;
  const bool changed = l2::clamp_mss(after, max_frame_size, partial);
  FUZZ_CHECK(changed == needed);
  if (!changed) {
    FUZZ_CHECK(after == before);
    return 0;
  }
  FUZZ_CHECK(checksum_at.has_value());  // only TCP frames are touched

  // Only the option value (two adjacent bytes) and the checksum change.
  std::size_t lowest = after.size(), highest = 0;
  for (std::size_t i = 0; i < after.size(); ++i) {
    if (after[i] == before[i]) continue;
    if (i == *checksum_at || i == *checksum_at + 1) {
      FUZZ_CHECK(!partial);
      continue;
    }
    lowest = std::min(lowest, i);
    highest = std::max(highest, i);
  }
  FUZZ_CHECK(lowest <= highest && highest - lowest <= 1);  // something changed, in one 16-bit value
  FUZZ_CHECK(lowest >= v.l4 + 20 && highest < v.ip_end);   // inside the TCP options

  // Idempotent.
  FUZZ_CHECK(!l2::needs_mss_clamp(after, max_frame_size));
  std::vector<std::byte> again = after;
  FUZZ_CHECK(!l2::clamp_mss(again, max_frame_size, partial) && again == after);

  // The incremental update keeps a right checksum right.
  if (!partial && checksum_was_right) FUZZ_CHECK(fuzz::l4_sum(after, v) == 0xffff);
  return 0;
}
