// replay_window: RFC 6479's bitmap of blocks (see replay_window.hpp).
#include "l2/replay_window.hpp"

namespace l2 {
namespace {

constexpr std::uint64_t block_of(std::uint64_t sequence) { return sequence / 64; }
constexpr std::uint64_t bit_of(std::uint64_t sequence) { return std::uint64_t{1} << (sequence % 64); }

}  // namespace

bool replay_window::check(std::uint64_t sequence) const {
  if (sequence == 0) return false;
  if (sequence > highest_) return true;  // ahead: always new
  if (highest_ - sequence >= size) return false;  // too old
  return (blocks_[block_of(sequence) % block_count] & bit_of(sequence)) == 0;
}

bool replay_window::accept(std::uint64_t sequence) {
  if (!check(sequence)) return false;
  if (sequence > highest_) {
    // Slide: clear the blocks after the highest's, up to and including the
    // new one's (they hold numbers from block_count blocks ago). A jump of
    // block_count blocks or more clears the whole ring.
    const std::uint64_t old_block = block_of(highest_);
    const std::uint64_t new_block = block_of(sequence);
    const std::uint64_t steps = new_block - old_block;  // no overflow: new_block >= old_block
    if (steps >= block_count) {
      blocks_.fill(0);
    } else {
      for (std::uint64_t b = old_block + 1; b <= new_block; ++b) blocks_[b % block_count] = 0;
    }
    highest_ = sequence;
  }
  blocks_[block_of(sequence) % block_count] |= bit_of(sequence);
  return true;
}

void replay_window::reset() {
  highest_ = 0;
  blocks_.fill(0);
}

void replay_window::reset_at(std::uint64_t sequence) {
  highest_ = sequence;
  blocks_.fill(~std::uint64_t{0});
  // The numbers after `sequence` in its own block are not seen yet.
  const std::uint64_t up_to = (std::uint64_t{2} << (sequence % 64)) - 1;  // bits 0..sequence%64
  blocks_[block_of(sequence) % block_count] = up_to;
}

}  // namespace l2
