// mac_address: conversions between the 6-octet value and bytes, text and the
// packed 48-bit integer, and the address-class predicates. Parsing accepts
// only the canonical shape: six two-digit hex groups joined by one separator,
// ':' or '-', used consistently ("aa:bb:cc:dd:ee:ff", "AA-BB-CC-DD-EE-FF").
#include "l2/mac_address.hpp"

#include <cstring>

namespace l2 {
namespace {

// Length of "aa:bb:cc:dd:ee:ff".
constexpr std::size_t text_size = mac_address::size * 3 - 1;

// The value of one hex digit, or -1.
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

mac_address mac_address::from_bytes(std::span<const std::byte, size> bytes) {
  std::array<std::uint8_t, size> octets{};
  for (std::size_t i = 0; i < size; ++i) octets[i] = std::to_integer<std::uint8_t>(bytes[i]);
  return mac_address(octets);
}

std::optional<mac_address> mac_address::parse(std::string_view text) {
  if (text.size() != text_size) return std::nullopt;
  const char separator = text[2];
  if (separator != ':' && separator != '-') return std::nullopt;
  std::array<std::uint8_t, size> octets{};
  for (std::size_t i = 0; i < size; ++i) {
    const std::size_t at = i * 3;
    if (i > 0 && text[at - 1] != separator) return std::nullopt;
    const int high = hex_value(text[at]);
    const int low = hex_value(text[at + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    octets[i] = static_cast<std::uint8_t>(high * 16 + low);
  }
  return mac_address(octets);
}

mac_address mac_address::from_u64(std::uint64_t value) {
  std::array<std::uint8_t, size> octets{};
  for (std::size_t i = 0; i < size; ++i) {
    octets[size - 1 - i] = static_cast<std::uint8_t>(value >> (8 * i));
  }
  return mac_address(octets);
}

std::string mac_address::to_string() const {
  static constexpr char digits[] = "0123456789abcdef";
  std::string text(text_size, ':');
  for (std::size_t i = 0; i < size; ++i) {
    text[i * 3] = digits[octets_[i] >> 4];
    text[i * 3 + 1] = digits[octets_[i] & 0x0f];
  }
  return text;
}

bool mac_address::is_broadcast() const {
  for (std::uint8_t octet : octets_) {
    if (octet != 0xff) return false;
  }
  return true;
}

bool mac_address::is_link_local() const {
  return octets_[0] == 0x01 && octets_[1] == 0x80 && octets_[2] == 0xc2 && octets_[3] == 0x00 &&
         octets_[4] == 0x00 && (octets_[5] & 0xf0) == 0x00;
}

bool mac_address::is_zero() const {
  for (std::uint8_t octet : octets_) {
    if (octet != 0) return false;
  }
  return true;
}

}  // namespace l2
