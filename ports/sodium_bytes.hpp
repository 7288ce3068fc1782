// sodium_bytes: std::byte arrays and spans as the `unsigned char*` libsodium
// takes (const when they are), and bytes as lowercase hex for people.
#pragma once

#include <sodium.h>

#include <cstddef>
#include <iterator>
#include <span>
#include <string>
#include <type_traits>

namespace ports {

template <class Bytes>
auto sodium_bytes(Bytes&& b) {
  using element = std::remove_pointer_t<decltype(std::data(b))>;
  if constexpr (std::is_const_v<element>) {
    return reinterpret_cast<const unsigned char*>(std::data(b));
  } else {
    return reinterpret_cast<unsigned char*>(std::data(b));
  }
}

/// `b` as lowercase hex digits, two per byte (libsodium's constant-time
/// encoder: safe for secrets too).
inline std::string to_hex(std::span<const std::byte> b) {
  std::string out(2 * b.size() + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), sodium_bytes(b), b.size());
  out.pop_back();  // the terminating zero
  return out;
}

}  // namespace ports
