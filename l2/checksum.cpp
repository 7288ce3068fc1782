#include "l2/checksum.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

namespace l2::checksum {

// add() sums native words and swaps the folded result: little-endian hosts only.
static_assert(std::endian::native == std::endian::little);

namespace {

/// Eight 32-bit lanes (a GCC/Clang vector extension): one AVX2 register, or
/// two SSE2 or NEON ones.
using lanes = std::uint32_t __attribute__((vector_size(32)));

// On x86-64 add_blocks is built twice, for AVX2 and for the baseline; the
// loader picks by the CPU (an ifunc). 1.8 times as fast as the baseline for a
// 1500-byte frame (bench/micro: complete_checksum_1500). Not in sanitizer
// builds: ThreadSanitizer's runtime is not up yet when the loader runs an
// ifunc's resolver (the binary crashes before main).
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define L2_CHECKSUM_NO_CLONES
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define L2_CHECKSUM_NO_CLONES
#endif
#endif
#if defined(__x86_64__) && !defined(L2_CHECKSUM_NO_CLONES)
#define L2_CHECKSUM_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define L2_CHECKSUM_CLONES
#endif

/// The sum of the native 16-bit words of `p`'s first `blocks` 64-byte blocks.
/// Each lane gathers the low and the high halves of its 32-bit words apart,
/// at most 0xffff per block: no carry is lost below 65536 blocks.
L2_CHECKSUM_CLONES std::uint64_t add_blocks(const std::byte* p, std::size_t blocks) {
  const lanes low_half = {0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff};
  lanes lo0{}, hi0{}, lo1{}, hi1{};
  for (std::size_t i = 0; i < blocks; ++i, p += 64) {
    lanes v0, v1;
    std::memcpy(&v0, p, 32);
    std::memcpy(&v1, p + 32, 32);
    lo0 += v0 & low_half;
    hi0 += v0 >> 16;
    lo1 += v1 & low_half;
    hi1 += v1 >> 16;
  }
  std::uint64_t wide = 0;
  for (int k = 0; k < 8; ++k) wide += std::uint64_t{lo0[k]} + lo1[k] + hi0[k] + hi1[k];
  return wide;
}

}  // namespace

std::uint64_t add(std::uint64_t sum, std::span<const std::byte> bytes) {
  const std::byte* p = bytes.data();
  std::size_t n = bytes.size();
  // Whole 64-byte blocks as vectors of 16-bit halves (up to 1 MiB per round,
  // within add_blocks' limit); the rest as native 32-bit words summed into
  // 64-bit accumulators (RFC 1071's deferred carries: none is lost below
  // 2^32 words), four of them so that the additions run in parallel. Native
  // 16- and 32-bit words fold to the same 16 bits, which are the byte-swapped
  // sum of big-endian 16-bit words.
  std::uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  while (n >= 64) {
    const std::size_t blocks = std::min<std::size_t>(n / 64, 16384);
    a0 += add_blocks(p, blocks);
    p += blocks * 64;
    n -= blocks * 64;
  }
  while (n >= 16) {
    std::uint32_t w[4];
    std::memcpy(w, p, 16);
    a0 += w[0];
    a1 += w[1];
    a2 += w[2];
    a3 += w[3];
    p += 16;
    n -= 16;
  }
  while (n >= 4) {
    std::uint32_t w;
    std::memcpy(&w, p, 4);
    a0 += w;
    p += 4;
    n -= 4;
  }
  std::uint64_t wide = a0 + a1 + a2 + a3;  // no overflow below 2^30 words (4 GiB)
  // Fold `wide` to 16 bits of native-order words, then swap to big-endian.
  wide = (wide & 0xffffffff) + (wide >> 32);
  wide = (wide & 0xffffffff) + (wide >> 32);
  wide = (wide & 0xffff) + (wide >> 16);
  wide = (wide & 0xffff) + (wide >> 16);
  sum += ((wide & 0xff) << 8) | (wide >> 8);
  while (n >= 2) {
    sum += (std::to_integer<std::uint64_t>(p[0]) << 8) | std::to_integer<std::uint64_t>(p[1]);
    p += 2;
    n -= 2;
  }
  if (n == 1) sum += std::to_integer<std::uint64_t>(p[0]) << 8;
  return sum;
}

std::uint16_t fold(std::uint64_t sum) {
  while ((sum >> 16) != 0) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(sum);
}

std::uint64_t pseudo_header(std::span<const std::byte> source, std::span<const std::byte> destination,
                            std::uint8_t protocol, std::uint32_t l4_length) {
  std::uint64_t sum = add(0, source);
  sum = add(sum, destination);
  sum += protocol;
  sum += l4_length >> 16;
  sum += l4_length & 0xffff;
  return sum;
}

}  // namespace l2::checksum
