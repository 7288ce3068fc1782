// identity: a host's identity on a sealed overlay, an X25519 key pair (the
// static key of its Noise handshakes, ports/noise.hpp). Keys are written as
// WireGuard writes them: base64 of the 32 bytes, 44 characters. An identity
// file holds the private key on one line (what `wg genkey` writes, so either
// tool's files work with the other); `#` comments and blank lines are
// ignored. Text in, keys or an error for the user out: no files here
// (switchd/secret_file.hpp reads and writes them).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "ports/noise.hpp"

namespace ports::identity {

/// A key as 44 characters of base64 (with padding).
std::string to_base64(std::span<const std::byte, noise::dh_size> key);

/// Parses a public key written by to_base64 (surrounding whitespace ignored).
/// nullopt, with `error` saying what is wrong, if it is not one.
std::optional<noise::public_key> parse_public_key(std::string_view text, std::string& error);

/// An identity file's contents.
struct identity_file {
  std::optional<noise::key_pair> keys;  ///< when error is empty
  std::string error;                    ///< for the user; never contains key material
};

/// Parses an identity file: exactly one private key.
identity_file parse_identity_file(std::string_view text);

/// An identity file for `keys`: the private key and a newline.
std::string format_identity_file(const noise::key_pair& keys);

}  // namespace ports::identity
