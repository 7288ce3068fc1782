// replay_window: anti-replay for sealed uplinks (RFC 6479's sliding window).
//
// A receiver remembers which sequence numbers it has accepted from a peer, at
// and up to `size` - 1 behind the highest so far, in a ring of 64-bit blocks
// (no allocation, fixed size per peer). A sequence number is accepted once:
// never 0, never twice, never `size` or more behind the highest. Anything
// ahead of the highest is accepted and slides the window forward; sliding
// clears whole blocks, so a jump costs at most one pass over the ring however
// far it goes. One block more than `size` needs is kept so that the block
// holding the highest number never overlaps the oldest one still tracked.
//
// check() is for before authentication (cheap rejection of replays), accept()
// for after: only an authentic datagram may move the window.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace l2 {

class replay_window {
 public:
  /// Sequence numbers tracked at and behind the highest: 8192, as
  /// WireGuard's kernel module, so that frames several threads seal for one
  /// peer, held in their batches a while, are not pushed out of it.
  static constexpr std::uint64_t size = 8192;

  /// Whether `sequence` would be accepted: never 0, not seen before, not
  /// `size` or more behind the highest.
  bool check(std::uint64_t sequence) const;
  /// check(), then marks it seen (call only after the datagram authenticated).
  /// Returns check()'s answer; false changes nothing.
  bool accept(std::uint64_t sequence);
  /// Forgets everything (new peer instance).
  void reset();
  /// Starts afresh at `sequence`: it and everything before it count as seen,
  /// only later numbers are accepted.
  void reset_at(std::uint64_t sequence);
  /// The highest sequence number accepted; 0 when nothing accepted yet.
  std::uint64_t highest() const { return highest_; }

 private:
  static constexpr std::size_t block_bits = 64;
  /// size / 64 blocks for the window, plus the one the highest may share with older numbers.
  static constexpr std::size_t block_count = size / block_bits + 1;
  static_assert(size % block_bits == 0);

  std::uint64_t highest_ = 0;                       ///< highest accepted, 0 = none
  std::array<std::uint64_t, block_count> blocks_{};  ///< bit (n % 64) of block (n / 64) % count: n seen
};

}  // namespace l2
