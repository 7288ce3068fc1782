// certificate: host certificates of an overlay certificate authority (as
// Nebula's): an Ed25519 CA signs a host's name, its X25519 public key (its
// identity) and a validity period, optionally with the VLANs it may use.
// A daemon started with --ca admits any host that presents, in its
// handshake, a valid and unexpired certificate of that CA for the key it
// handshakes with, unless it is revoked (--revoked: by key or by the
// certificate's fingerprint). Pure: bytes and times in, verdicts out.
//
// Encoding (one line of base64 in a file; big-endian):
//   0   4  "VSWC"
//   4   1  version 1
//   5   3  reserved, zero
//   8   32 the host's X25519 public key
//   40  8  not before, seconds since 1970
//   48  8  not after, seconds since 1970
//   56  1  name length n (1..63), then n bytes: letters, digits, . _ -
//   ..  1  VLAN count v (0: any), then v x 2 bytes: VLAN ids
//   ..  32 the CA's Ed25519 public key
//   ..  64 Ed25519 signature of everything before it
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ports/noise.hpp"

namespace ports::certificate {

using ca_public_key = std::array<std::byte, 32>;
using ca_secret_key = std::array<std::byte, 64>;  ///< libsodium's: seed and public key
using time_point = std::chrono::system_clock::time_point;

inline constexpr std::size_t max_name = 63;
inline constexpr std::size_t max_vlans = 64;
inline constexpr std::size_t max_size = 8 + 32 + 16 + 1 + max_name + 1 + 2 * max_vlans + 32 + 64;

/// What a certificate says.
struct contents {
  noise::public_key host_key{};
  std::string name;
  time_point not_before{};
  time_point not_after{};
  std::vector<std::uint16_t> vlans;  ///< empty: any
  ca_public_key ca{};
};

/// A new CA key pair.
struct ca_keys {
  ca_public_key public_key{};
  ca_secret_key secret_key{};
  ~ca_keys();
};
ca_keys generate_ca();
/// The CA key pair of a secret key's seed (its first 32 bytes).
ca_keys ca_from_seed(std::span<const std::byte, 32> seed);

/// Whether `name` may be a host name in a certificate (1..63 of A-Z a-z 0-9 . _ -).
bool valid_name(std::string_view name);

/// Signs `c` (its `ca` is set from `ca`): the certificate's bytes.
std::vector<std::byte> sign(contents c, const ca_keys& ca);

/// Decodes and checks the signature of a certificate; nullopt with `error`
/// if it is malformed or the signature is wrong. Does not check the CA,
/// the time or revocation: see check().
std::optional<contents> decode(std::span<const std::byte> bytes, std::string& error);

/// Why a certificate is not accepted, or nullopt if it is: it must decode,
/// be signed by `ca`, be valid at `now`, and be for `host_key`.
std::optional<std::string> check(std::span<const std::byte> bytes, const ca_public_key& ca,
                                 const noise::public_key& host_key, time_point now,
                                 contents* out = nullptr);

/// The certificate's fingerprint: the first 16 bytes of its SHA-256, in hex
/// (what --revoked lists to revoke one certificate).
std::string fingerprint(std::span<const std::byte> bytes);

/// Base64 (one line) and back.
std::string to_base64(std::span<const std::byte> bytes);
std::optional<std::vector<std::byte>> from_base64(std::string_view text);

}  // namespace ports::certificate
