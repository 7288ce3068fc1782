// mac_address: a 48-bit Ethernet address as a value type. Predicates for the
// address classes the forwarding rules care about (broadcast, multicast,
// IEEE link-local), parsing and formatting of the usual aa:bb:cc:dd:ee:ff form,
// and a packing into the low 48 bits of an integer for the MAC table key.
#pragma once

#include <array>
#include <bit>
#include <compare>
#include <cstring>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace l2 {

class mac_address {
 public:
  static constexpr std::size_t size = 6;

  constexpr mac_address() = default;
  constexpr explicit mac_address(const std::array<std::uint8_t, size>& octets) : octets_(octets) {}

  /// The address stored in the first 6 bytes of `bytes` (caller checks length).
  static mac_address from_bytes(std::span<const std::byte, size> bytes);
  /// Parses "aa:bb:cc:dd:ee:ff" (also '-' separators, either case); nullopt if malformed.
  static std::optional<mac_address> parse(std::string_view text);
  /// The address in the low 48 bits, first octet most significant.
  static mac_address from_u64(std::uint64_t value);

  /// Lower-case "aa:bb:cc:dd:ee:ff".
  std::string to_string() const;
  /// The address in the low 48 bits, first octet most significant.
  std::uint64_t to_u64() const {
    // In registers: a 4-byte and a 2-byte load, each byte-swapped. (Copying
    // the 6 bytes into a stack word and reading it back as 8 costs a failed
    // store-to-load forward on every call; this runs for every frame.)
    std::uint32_t high = 0;
    std::uint16_t low = 0;
    std::memcpy(&high, octets_.data(), 4);
    std::memcpy(&low, octets_.data() + 4, 2);
    if constexpr (std::endian::native == std::endian::little) {
      high = __builtin_bswap32(high);
      low = __builtin_bswap16(low);
    }
    return (std::uint64_t{high} << 16) | low;
  }
  const std::array<std::uint8_t, size>& octets() const { return octets_; }

  /// True for ff:ff:ff:ff:ff:ff.
  bool is_broadcast() const;
  /// True when the group bit (LSB of the first octet) is set; includes broadcast.
  bool is_multicast() const { return (octets_[0] & 0x01) != 0; }
  /// True for the IEEE 802.1D reserved group 01:80:c2:00:00:00 .. 01:80:c2:00:00:0f.
  bool is_link_local() const;
  /// True for 00:00:00:00:00:00.
  bool is_zero() const;

  friend constexpr auto operator<=>(const mac_address&, const mac_address&) = default;

 private:
  std::array<std::uint8_t, size> octets_{};
};

}  // namespace l2
