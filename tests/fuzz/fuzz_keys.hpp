// The fixed keys of the sealed_open target and of make_seeds, which seals
// the seed datagrams under fuzz_key().
#pragma once

#include "ports/sealed.hpp"

namespace fuzz {

/// The key the seeds are sealed with: bytes 0x01 .. 0x20.
inline const ports::sealed::key& fuzz_key() {
  static const ports::sealed::key k = [] {
    ports::sealed::key out{};
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::byte>(i + 1);
    return out;
  }();
  return k;
}

/// Another key (bytes 0xa0 .. 0xbf): nothing sealed under fuzz_key() opens with it.
inline const ports::sealed::key& other_key() {
  static const ports::sealed::key k = [] {
    ports::sealed::key out{};
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::byte>(0xa0 + i);
    return out;
  }();
  return k;
}

}  // namespace fuzz
