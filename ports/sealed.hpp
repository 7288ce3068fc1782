// sealed: the wire format of sealed (encrypted and authenticated) uplinks,
// version 1, and its keys. A sealed datagram replaces the 8-byte VXLAN header
// when the daemon runs with --key-file:
//
//   offset size field
//   0      1    version = 1
//   1      1    type: 0 data, 1 probe, 2 reply
//   2      2    reserved, zero
//   4      4    key id (key_id_of() of the sealing key), big-endian
//   8      8    sender instance (random, non-zero, per daemon start), big-endian
//   16     8    receiver instance (the peer's, as the sender knows it; 0 = not yet), big-endian
//   24     8    sequence number, big-endian, from 1 per sender instance (one counter for all peers)
//   32     n    ciphertext of the payload (data: the inner frame; probe/reply: 8-byte token)
//   32+n   16   Poly1305 tag
//
// AEAD is XChaCha20-Poly1305-IETF (libsodium) with the nonce = bytes 8..31
// and the additional data = bytes 0..7, so every header byte is authenticated
// and, since the sender's one counter never repeats within an instance and
// instances are random, a nonce never repeats under one key.
// Sealing and opening work in place on the datagram buffer: no allocation,
// no copy. This module is the codec only; the peer state (instances, replay
// windows, key choice) lives in the uplink.
//
// Key files hold one key per line as 64 hex digits; parse_key_file() checks
// them and explains any error to the user.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "l2/drop_reason.hpp"

namespace ports::sealed {

inline constexpr std::size_t header_size = 32;  ///< bytes before the ciphertext
inline constexpr std::size_t tag_size = 16;     ///< Poly1305 tag after it
inline constexpr std::size_t overhead = header_size + tag_size;  ///< 48 bytes per datagram
inline constexpr std::size_t key_size = 32;
inline constexpr std::uint8_t version = 1;

/// What a datagram carries.
enum class message : std::uint8_t {
  data = 0,   ///< an inner Ethernet frame
  probe = 1,  ///< keepalive / handshake: an 8-byte token
  reply = 2,  ///< answer to a probe: its token
  offload = 3,  ///< a virtio-net header + frame (e.g. a TCP super-frame), in fragments
};

/// An offload message is sealed once as a whole, then cut into fragments:
/// each datagram carries the 32-byte header, this 8-byte fragment header
/// (offset and total size of the sealed bytes, big-endian u32 each; not
/// authenticated by itself, the reassembled message is) and a piece of the
/// ciphertext and tag.
inline constexpr std::size_t fragment_header_size = 8;

/// A 32-byte secret key.
using key = std::array<std::byte, key_size>;

/// The header fields, in host order.
struct header {
  message type = message::data;
  std::uint32_t key_id = 0;     ///< key_id_of() the sealing key
  std::uint64_t sender = 0;     ///< sender instance
  std::uint64_t receiver = 0;   ///< receiver instance as the sender knows it; 0 = unknown
  std::uint64_t sequence = 0;   ///< per (sender instance, peer), from 1

  friend bool operator==(const header&, const header&) = default;
};

/// Initializes libsodium (once; later calls do nothing). Throws
/// std::runtime_error if it cannot. The other functions call it themselves.
void initialize();

/// The key id sent with datagrams sealed by `k`: the first 4 bytes,
/// big-endian, of the keyed BLAKE2b-128 of "vswitchd key id v1".
std::uint32_t key_id_of(const key& k);

/// Writes the 32-byte header (version 1, reserved zero) to the start of `out`,
/// which must hold at least header_size bytes.
void write_header(const header& h, std::span<std::byte> out);

/// Seals the payload that already sits at datagram[header_size, header_size +
/// payload_size): writes the header, encrypts the payload in place and appends
/// the tag. Returns the datagram's size, payload_size + overhead; or 0, with
/// nothing written, if `datagram` is shorter than that.
std::size_t seal_in_place(const key& k, const header& h, std::span<std::byte> datagram,
                          std::size_t payload_size);

/// Result of parse().
struct parsed {
  header h;                                               ///< the fields, when ok
  l2::drop_reason reason = l2::drop_reason::sealed_short;  ///< why not, when !ok
  bool ok = false;
};

/// Checks the clear parts of a datagram, without crypto: at least overhead
/// bytes (else sealed_short), version 1, a known type and zero reserved bytes
/// (else sealed_bad_version). Nothing in the header is trustworthy until
/// open_in_place() succeeds.
parsed parse(std::span<const std::byte> datagram);

/// Verifies the datagram under `k` and decrypts it in place. Returns the
/// plaintext (datagram[header_size, size - tag_size)), or nullopt if the
/// datagram is shorter than overhead or does not authenticate (forged,
/// truncated, another key); the payload bytes are then zeroed (libsodium does
/// that rather than leave unauthenticated plaintext around).
std::optional<std::span<std::byte>> open_in_place(const key& k, std::span<std::byte> datagram);

/// A key file's contents.
struct key_file {
  std::vector<key> keys;  ///< 1 or 2 keys in file order (the first seals), when error is empty
  std::string error;      ///< for the user: what is wrong, on which line, and the fix
};

/// Parses a key file: one key per line as 64 hex digits (either case);
/// surrounding whitespace, blank lines and `#` comments (whole lines or after
/// a key) are ignored. Errors: no key, more than 2 keys, a line that is not
/// 64 hex digits, the same key twice. Error texts never contain key material.
key_file parse_key_file(std::string_view text);

/// A key as 64 lowercase hex digits (one line of a key file).
std::string format_key(const key& k);

/// A fresh random key.
key generate_key();

/// A random non-zero instance number.
std::uint64_t random_instance();

}  // namespace ports::sealed
