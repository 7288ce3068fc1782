// Helpers shared by the fuzz targets: an invariant check that stops the
// fuzzer with a message, a cursor over the input, and an independent (slow,
// obvious) Internet checksum to judge the frames the code under test writes.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

namespace fuzz {

/// Stops the run (libFuzzer saves the input as a crash) when an invariant fails.
[[noreturn]] inline void fail(const char* file, int line, const char* what) {
  std::fprintf(stderr, "\n*** fuzz invariant violated at %s:%d: %s\n", file, line, what);
  std::abort();
}

#define FUZZ_CHECK(condition)                                             \
  do {                                                                    \
    if (!(condition)) ::fuzz::fail(__FILE__, __LINE__, #condition);       \
  } while (false)

inline std::span<const std::byte> as_bytes(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const std::byte*>(data), size};
}

/// Reads the input front to back; reads past the end give zeros / empty spans.
class cursor {
 public:
  explicit cursor(std::span<const std::byte> data) : data_(data) {}

  bool empty() const { return data_.empty(); }
  std::size_t size() const { return data_.size(); }

  std::uint8_t u8() {
    if (data_.empty()) return 0;
    const auto v = std::to_integer<std::uint8_t>(data_[0]);
    data_ = data_.subspan(1);
    return v;
  }
  std::uint16_t u16() {  // big-endian
    const std::uint16_t hi = u8();
    return static_cast<std::uint16_t>(hi << 8 | u8());
  }
  /// Up to `n` bytes (fewer at the end of the input).
  std::span<const std::byte> take(std::size_t n) {
    const std::span<const std::byte> out = data_.first(std::min(n, data_.size()));
    data_ = data_.subspan(out.size());
    return out;
  }
  std::span<const std::byte> rest() { return take(data_.size()); }

 private:
  std::span<const std::byte> data_;
};

inline std::uint16_t load16(std::span<const std::byte> b, std::size_t at) {
  return static_cast<std::uint16_t>(std::to_integer<unsigned>(b[at]) << 8 |
                                    std::to_integer<unsigned>(b[at + 1]));
}

/// The 32-bit ones'-complement accumulation of `bytes` as big-endian 16-bit
/// words (an odd last byte padded with zero), added to `sum`.
inline std::uint64_t sum16(std::uint64_t sum, std::span<const std::byte> bytes) {
  for (std::size_t i = 0; i + 1 < bytes.size(); i += 2) sum += load16(bytes, i);
  if (bytes.size() % 2 != 0) sum += std::to_integer<unsigned>(bytes.back()) << 8;
  return sum;
}

inline std::uint16_t fold(std::uint64_t sum) {
  while (sum >> 16 != 0) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(sum);
}

/// Where a frame's TCP (or UDP) segment is, found by a small parser of our
/// own: Ethernet, at most one 802.1Q tag, IPv4 (any IHL) or IPv6 (L4 header
/// right after it), bounded by the IP length. Used to judge checksums.
struct l4_view {
  bool ok = false;
  bool ipv6 = false;
  std::uint8_t protocol = 0;
  std::size_t l3 = 0;      ///< IP header offset
  std::size_t l4 = 0;      ///< L4 header offset
  std::size_t ip_end = 0;  ///< end of the IP datagram (<= frame size)
};

inline l4_view find_l4(std::span<const std::byte> f) {
  l4_view v;
  if (f.size() < 14) return v;
  std::size_t l3 = 14;
  std::uint16_t type = load16(f, 12);
  if (type == 0x8100) {
    if (f.size() < 18) return v;
    type = load16(f, 16);
    l3 = 18;
  }
  v.l3 = l3;
  if (type == 0x0800) {
    if (f.size() < l3 + 20) return v;
    const unsigned ihl = (std::to_integer<unsigned>(f[l3]) & 0x0f) * 4u;
    const std::size_t total = load16(f, l3 + 2);
    if ((std::to_integer<unsigned>(f[l3]) >> 4) != 4 || ihl < 20 || total < ihl || l3 + total > f.size()) return v;
    v.protocol = std::to_integer<std::uint8_t>(f[l3 + 9]);
    v.l4 = l3 + ihl;
    v.ip_end = l3 + total;
  } else if (type == 0x86dd) {
    if (f.size() < l3 + 40 || (std::to_integer<unsigned>(f[l3]) >> 4) != 6) return v;
    const std::size_t payload = load16(f, l3 + 4);
    if (l3 + 40 + payload > f.size()) return v;
    v.ipv6 = true;
    v.protocol = std::to_integer<std::uint8_t>(f[l3 + 6]);
    v.l4 = l3 + 40;
    v.ip_end = l3 + 40 + payload;
  } else {
    return v;
  }
  v.ok = true;
  return v;
}

/// The ones'-complement sum of the pseudo-header and the L4 segment
/// [l4, ip_end) of `f` (which find_l4 located). A segment whose checksum
/// field is right sums to 0xffff.
inline std::uint16_t l4_sum(std::span<const std::byte> f, const l4_view& v) {
  std::uint64_t sum = 0;
  const std::size_t address_size = v.ipv6 ? 16 : 4;
  const std::size_t addresses = v.l3 + (v.ipv6 ? 8 : 12);
  sum = sum16(sum, f.subspan(addresses, 2 * address_size));
  const std::size_t length = v.ip_end - v.l4;
  sum += v.protocol;
  sum += length;
  sum = sum16(sum, f.subspan(v.l4, length));
  return fold(sum);
}

inline std::string to_string(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

}  // namespace fuzz
