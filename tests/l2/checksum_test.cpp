// The Internet checksum against a plain 16-bit reference, and RFC 1071's example.
#include "l2/checksum.hpp"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "test_bytes.hpp"

namespace {

using l2::checksum::add;
using l2::checksum::fold;

TEST(checksum, rfc1071_example) {
  const std::vector<std::byte> data = {std::byte{0x00}, std::byte{0x01}, std::byte{0xf2},
                                       std::byte{0x03}, std::byte{0xf4}, std::byte{0xf5},
                                       std::byte{0xf6}, std::byte{0xf7}};
  EXPECT_EQ(fold(add(0, data)), 0xddf2);
}

TEST(checksum, matches_reference_for_every_length_and_alignment) {
  std::mt19937 rng(7);
  for (std::size_t size = 0; size < 200; ++size) {
    std::vector<std::byte> data(size);
    for (auto& b : data) b = static_cast<std::byte>(rng());
    EXPECT_EQ(fold(add(0, data)), l2_test::reference_sum(data)) << "size " << size;
  }
  std::vector<std::byte> ones(9000, std::byte{0xff});
  EXPECT_EQ(fold(add(0, ones)), l2_test::reference_sum(ones));
  // A whole 64 KiB super-frame, all ones (the most carries) and random, at
  // every alignment of its start.
  std::vector<std::byte> big(65536 + 3, std::byte{0xff});
  for (std::size_t at = 0; at < 4; ++at) {
    const std::span<const std::byte> s = std::span(big).subspan(at, 65535);
    EXPECT_EQ(fold(add(0, s)), l2_test::reference_sum(s)) << "all ones at " << at;
  }
  for (auto& b : big) b = static_cast<std::byte>(rng());
  for (std::size_t at = 0; at < 4; ++at) {
    const std::span<const std::byte> s = std::span(big).subspan(at, 65536);
    EXPECT_EQ(fold(add(0, s)), l2_test::reference_sum(s)) << "random at " << at;
  }
}

TEST(checksum, split_at_even_offsets_equals_whole) {
  std::mt19937 rng(9);
  std::vector<std::byte> data(1501);
  for (auto& b : data) b = static_cast<std::byte>(rng());
  const std::span<const std::byte> all(data);
  for (std::size_t cut = 0; cut <= data.size(); cut += 2) {
    EXPECT_EQ(fold(add(add(0, all.first(cut)), all.subspan(cut))), fold(add(0, all)));
  }
}

}  // namespace
