#include "l2/checksum.hpp"

#include <bit>
#include <cstring>

namespace l2::checksum {

// add() sums native words and swaps the folded result: little-endian hosts only.
static_assert(std::endian::native == std::endian::little);

std::uint64_t add(std::uint64_t sum, std::span<const std::byte> bytes) {
  const std::byte* p = bytes.data();
  std::size_t n = bytes.size();
  // Native 32-bit words summed into 64-bit accumulators (RFC 1071's deferred
  // carries: none is lost below 2^32 words), four of them so that the
  // additions run in parallel (and vectorise). After folding, the sum of
  // native words equals the byte-swapped sum of big-endian 16-bit words.
  std::uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
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
