// sodium_bytes: std::byte arrays and spans as the `unsigned char*` libsodium
// takes (const when they are).
#pragma once

#include <iterator>
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

}  // namespace ports
