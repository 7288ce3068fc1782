// byte_order: reading and writing fixed-width fields of wire formats. Network
// (big-endian) order for Ethernet, IP, TCP, UDP and VXLAN fields; little-endian
// for the virtio-net header. These are the only places that know byte order;
// parse and emit functions in l2 use them. The caller checks bounds first
// (every span access here is in range by construction of the parsers).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace l2::byte_order {

inline std::uint8_t load8(std::span<const std::byte> bytes, std::size_t offset) {
  return std::to_integer<std::uint8_t>(bytes[offset]);
}

/// Big-endian 16 bits at `offset`.
inline std::uint16_t load16(std::span<const std::byte> bytes, std::size_t offset) {
  return static_cast<std::uint16_t>((std::to_integer<unsigned>(bytes[offset]) << 8) |
                                    std::to_integer<unsigned>(bytes[offset + 1]));
}

/// Big-endian 32 bits at `offset`.
inline std::uint32_t load32(std::span<const std::byte> bytes, std::size_t offset) {
  return (std::uint32_t{load16(bytes, offset)} << 16) | load16(bytes, offset + 2);
}

/// Writes `value` big-endian at `offset`.
inline void store16(std::span<std::byte> bytes, std::size_t offset, std::uint16_t value) {
  bytes[offset] = static_cast<std::byte>(value >> 8);
  bytes[offset + 1] = static_cast<std::byte>(value & 0xff);
}

/// Writes `value` big-endian at `offset`.
inline void store32(std::span<std::byte> bytes, std::size_t offset, std::uint32_t value) {
  store16(bytes, offset, static_cast<std::uint16_t>(value >> 16));
  store16(bytes, offset + 2, static_cast<std::uint16_t>(value & 0xffff));
}

/// Big-endian 64 bits at `offset`.
inline std::uint64_t load64(std::span<const std::byte> bytes, std::size_t offset) {
  return (std::uint64_t{load32(bytes, offset)} << 32) | load32(bytes, offset + 4);
}

/// Writes `value` big-endian at `offset`.
inline void store64(std::span<std::byte> bytes, std::size_t offset, std::uint64_t value) {
  store32(bytes, offset, static_cast<std::uint32_t>(value >> 32));
  store32(bytes, offset + 4, static_cast<std::uint32_t>(value & 0xffffffff));
}

/// Little-endian 16 bits at `offset` (virtio-net header).
inline std::uint16_t load16_le(std::span<const std::byte> bytes, std::size_t offset) {
  return static_cast<std::uint16_t>(std::to_integer<unsigned>(bytes[offset]) |
                                    (std::to_integer<unsigned>(bytes[offset + 1]) << 8));
}

/// Writes `value` little-endian at `offset` (virtio-net header).
inline void store16_le(std::span<std::byte> bytes, std::size_t offset, std::uint16_t value) {
  bytes[offset] = static_cast<std::byte>(value & 0xff);
  bytes[offset + 1] = static_cast<std::byte>(value >> 8);
}

}  // namespace l2::byte_order
