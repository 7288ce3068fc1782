// pcap: the one writer and reader of the classic little-endian pcap format
// (microsecond timestamps, version 2.4): the 24-byte global header that
// vswitchctl writes at the top of a capture file, and the 16-byte record
// header the daemon streams before each captured frame. Header-only, no
// dependencies: the daemon (switchd/capture.hpp) and vswitchctl both use it.
#pragma once

#include <array>
#include <cstdint>

namespace pcap {

inline constexpr std::uint32_t magic_microseconds = 0xa1b2c3d4;
inline constexpr std::uint32_t linktype_ethernet = 1;
inline constexpr std::size_t global_header_size = 24;
inline constexpr std::size_t record_header_size = 16;

namespace detail {
template <typename Byte>
void put_le(Byte* at, std::uint32_t value, int size) {
  for (int i = 0; i < size; ++i) at[i] = static_cast<Byte>(value >> (8 * i));
}
}  // namespace detail

/// The global header of a file whose records hold at most `snaplen` bytes.
template <typename Byte = std::uint8_t>
std::array<Byte, global_header_size> global_header(std::uint32_t snaplen, std::uint32_t linktype) {
  std::array<Byte, global_header_size> h{};
  detail::put_le(&h[0], magic_microseconds, 4);
  detail::put_le(&h[4], 2, 2);  // version 2.4
  detail::put_le(&h[6], 4, 2);
  detail::put_le(&h[8], 0, 4);   // thiszone: UTC
  detail::put_le(&h[12], 0, 4);  // sigfigs
  detail::put_le(&h[16], snaplen, 4);
  detail::put_le(&h[20], linktype, 4);
  return h;
}

/// The header of a record holding `kept` of a frame's `size` bytes, taken
/// `usec` microseconds after the epoch.
template <typename Byte = std::uint8_t>
std::array<Byte, record_header_size> record_header(std::uint64_t usec, std::uint32_t kept,
                                                   std::uint32_t size) {
  std::array<Byte, record_header_size> h{};
  detail::put_le(&h[0], static_cast<std::uint32_t>(usec / 1'000'000), 4);
  detail::put_le(&h[4], static_cast<std::uint32_t>(usec % 1'000'000), 4);
  detail::put_le(&h[8], kept, 4);
  detail::put_le(&h[12], size, 4);
  return h;
}

/// A record header's incl_len: the bytes of the frame that follow it.
inline std::uint32_t record_length(const std::uint8_t* header) {
  return static_cast<std::uint32_t>(header[8]) | static_cast<std::uint32_t>(header[9]) << 8 |
         static_cast<std::uint32_t>(header[10]) << 16 | static_cast<std::uint32_t>(header[11]) << 24;
}

}  // namespace pcap
