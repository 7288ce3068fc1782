#include "l2/checksum.hpp"

#include <cstring>

namespace l2::checksum {

std::uint64_t add(std::uint64_t sum, std::span<const std::byte> bytes) {
  const std::byte* p = bytes.data();
  std::size_t n = bytes.size();
  // Eight bytes at a time: the sum of big-endian 16-bit words equals, after
  // folding, the byte-swapped sum of native 64-bit words (RFC 1071 section 2).
  std::uint64_t wide = 0;
  while (n >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    wide += w;
    if (wide < w) ++wide;  // end-around carry
    p += 8;
    n -= 8;
  }
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
