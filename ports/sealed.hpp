// sealed: the wire format of sealed (encrypted and authenticated) uplinks,
// version 2, and the overlay key files. The protocol that runs over it (the
// Noise handshake, sessions, rekeying) is ports/sealed_session.hpp; the
// handshake itself is ports/noise.hpp. docs/wire-formats.md shows it byte by
// byte. Multi-byte fields are big-endian.
//
// Every datagram starts with:
//   0  1  version = 2
//   1  1  type: 1 initiation, 2 response, 3 cookie, 4 data, 5 offload, 6 control
//   2  2  reserved, zero
//
// initiation (the initiator's first handshake message), 100 or 148 bytes
// (+ the initiator's certificate in the payload, with --certificate):
//   4  4  sender index: the initiator's, for this handshake
//   8  n  Noise message 1: e (32), then with identities s (32 + 16), then the
//         payload: a TAI64N timestamp (12) and a certificate (if any) + 16
//   .. 16 mac1: keyed BLAKE2b-128 of everything before it (see mac1_key)
//   .. 16 mac2: keyed BLAKE2b-128 under a cookie of everything before it; zero without one
// response, 92 bytes (+ the responder's certificate):
//   4  4  sender index: the responder's
//   8  4  receiver index: the initiator's sender index
//   12 48 Noise message 2: e (32), payload (a certificate, if any) + 16
//   60 16 mac1, 76 16 mac2, as above
// cookie (an answer to a handshake message under load), 64 bytes:
//   4  4  receiver index: the sender index of the message it answers
//   8  24 nonce
//   32 32 the cookie (16) + 16, XChaCha20-Poly1305 under cookie_key(), the
//         answered message's mac1 as additional data
// data, 32 bytes + the frame:
//   4  4  receiver index: the receiving side's index of the session
//   8  8  counter: the Noise nonce, from 0 per session and direction
//   16 n  the inner Ethernet frame (none: a keepalive), ChaCha20-Poly1305
//   16+n 16 tag; the additional data is bytes 0..15
// offload (a virtio-net header + frame, e.g. a TCP super-frame, sealed once as
// a data message of type 5, then cut into fragments): each datagram carries
// the 16-byte header, an 8-byte fragment header (offset and total size of the
// sealed bytes, u32 each; not authenticated by itself, the reassembled
// message is) and a piece of the ciphertext and tag.
//
// Sealing and opening work in place on the datagram buffer: no allocation,
// no copy. Key files hold one overlay key per line as 64 hex digits (the
// pre-shared key mixed into every handshake); parse_key_file() checks them
// and explains any error to the user.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "l2/drop_reason.hpp"
#include "ports/noise.hpp"

namespace ports::sealed {

inline constexpr std::uint8_t version = 2;

/// What a datagram carries.
enum class message : std::uint8_t {
  initiation = 1,  ///< handshake message 1
  response = 2,    ///< handshake message 2
  cookie = 3,      ///< a cookie for the next handshake message (under load)
  data = 4,        ///< an inner Ethernet frame, or nothing (a keepalive)
  offload = 5,     ///< a fragment of a sealed virtio-net header + frame
  control = 6,     ///< a control message between the hosts (ports/reach.hpp), sealed as data
};

inline constexpr std::size_t prefix_size = 4;        ///< version, type, reserved
inline constexpr std::size_t header_size = 16;       ///< data and offload: prefix, receiver, counter
inline constexpr std::size_t tag_size = noise::tag_size;
inline constexpr std::size_t overhead = header_size + tag_size;  ///< 32 bytes per data datagram
inline constexpr std::size_t mac_size = 16;
inline constexpr std::size_t timestamp_size = 12;    ///< TAI64N
inline constexpr std::size_t fragment_header_size = 8;
inline constexpr std::size_t key_size = noise::key_size;
/// Handshake message sizes.
inline constexpr std::size_t initiation_size_with_identity = 8 + 32 + 48 + timestamp_size + tag_size + 2 * mac_size;
inline constexpr std::size_t initiation_size_without_identity = 8 + 32 + timestamp_size + tag_size + 2 * mac_size;
inline constexpr std::size_t response_size = 12 + 32 + tag_size + 2 * mac_size;
inline constexpr std::size_t cookie_size = 8 + 24 + mac_size + tag_size;
static_assert(initiation_size_with_identity == 148 && response_size == 92 && cookie_size == 64);

/// A 32-byte overlay key (the Noise pre-shared key).
using key = noise::secret;
/// A TAI64N time stamp: seconds since 1970 + 2^62, then nanoseconds.
using timestamp = std::array<std::byte, timestamp_size>;
using mac = std::array<std::byte, mac_size>;

/// Initializes libsodium (once; later calls do nothing). Throws
/// std::runtime_error if it cannot. The other functions call it themselves.
void initialize();

/// What parse() found in the clear parts of a datagram.
struct parsed {
  message type = message::data;
  std::uint32_t sender = 0;    ///< initiation, response
  std::uint32_t receiver = 0;  ///< response, cookie, data, offload
  std::uint64_t counter = 0;   ///< data, offload
  l2::drop_reason reason = l2::drop_reason::sealed_short;  ///< why not, when !ok
  bool ok = false;
};

/// Checks the clear parts of a datagram, without crypto: version 2, a known
/// type and zero reserved bytes (else sealed_bad_version), and the size its
/// type needs (else sealed_short). Nothing in it is trustworthy until the
/// message authenticates.
parsed parse(std::span<const std::byte> datagram);

/// Writes the 16-byte header of a data or offload message.
void write_header(message type, std::uint32_t receiver, std::uint64_t counter, std::span<std::byte, header_size> out);
/// Writes the 4-byte prefix of any message.
void write_prefix(message type, std::span<std::byte> out);

/// Seals the payload at datagram[header_size, header_size + payload_size):
/// writes the header, encrypts in place, appends the tag. Returns the
/// datagram's size, or 0 (nothing written) when `datagram` is too short.
std::size_t seal_in_place(const key& k, message type, std::uint32_t receiver, std::uint64_t counter,
                          std::span<std::byte> datagram, std::size_t payload_size);

/// Verifies a data or offload message (header, payload, tag) under `k` and
/// decrypts it in place; the counter is read from its header. Returns the
/// plaintext, or nullopt if it does not authenticate (the bytes are then unusable).
std::optional<std::span<std::byte>> open_in_place(const key& k, std::span<std::byte> datagram);
/// The same, decrypting into `out` (the datagram is left as it was): the
/// plaintext at its start, or nullopt (also when `out` is too short).
std::optional<std::span<std::byte>> open_into(const key& k, std::span<const std::byte> datagram,
                                              std::span<std::byte> out);

/// The key of mac1 for messages to a host: BLAKE2b-256("mac1----" || its
/// static public key), or of the overlay key where hosts have no identities.
noise::hash mac1_key(std::span<const std::byte, 32> public_key_or_psk);
/// The key of cookie messages from a host: BLAKE2b-256("cookie--" || the same).
noise::hash cookie_key(std::span<const std::byte, 32> public_key_or_psk);
/// Keyed BLAKE2b-128 of `data`.
mac keyed_mac(std::span<const std::byte> key, std::span<const std::byte> data);
/// Writes mac1 (and a zero mac2) at the end of a handshake message.
void write_mac1(const noise::hash& key, std::span<std::byte> message);
/// Whether a handshake message's mac1 is right under `key`.
bool check_mac1(const noise::hash& key, std::span<const std::byte> message);
/// Writes mac2 under `cookie` at the end of a handshake message (after write_mac1).
void write_mac2(const mac& cookie, std::span<std::byte> message);
/// Whether a handshake message's mac2 is right under `cookie`.
bool check_mac2(const mac& cookie, std::span<const std::byte> message);
/// A handshake message's mac1.
mac mac1_of(std::span<const std::byte> message);

/// The TAI64N time stamp of `t`.
timestamp tai64n(std::chrono::system_clock::time_point t);

/// A key file's contents.
struct key_file {
  std::vector<key> keys;  ///< 1 or 2 keys in file order (the first is used, each accepted), when error is empty
  std::string error;      ///< for the user: what is wrong, on which line, and the fix
};

/// Parses a key file: one key per line as 64 hex digits (either case);
/// surrounding whitespace, blank lines and `#` comments (whole lines or after
/// a key) are ignored. Errors: no key, more than 2 keys, a line that is not
/// 64 hex digits, the same key twice. Error texts never contain key material.
key_file parse_key_file(std::string_view text);

/// A key's fingerprint for logs: 8 hex digits of a keyed hash (BLAKE2b of
/// "vswitchd key fingerprint" under the key), which reveals nothing of it.
std::string fingerprint(const key& k);

/// A key as 64 lowercase hex digits (one line of a key file).
std::string format_key(const key& k);

/// A fresh random key.
key generate_key();

/// Random non-zero 32 bits (session indexes).
std::uint32_t random_index();

}  // namespace ports::sealed
