// noise: the Noise Protocol Framework (revision 34, noiseprotocol.org) for
// the suite 25519_ChaChaPoly_SHA256, over libsodium: X25519, ChaCha20-Poly1305
// (IETF; the 96-bit nonce is 4 zero bytes and the 64-bit counter,
// little-endian) and SHA-256 with HMAC-SHA-256 for HKDF.
//
// One implementation of the handshake runs every pattern in the table below
// (a pattern is data: pre-messages and message token lists); the sealed
// uplinks use IKpsk2 (hosts with identities, as WireGuard) and NNpsk0 (an
// overlay key alone). tests/ports/noise_test.cpp checks each pattern against
// the published test vectors of the cacophony and flynn/noise projects
// (tests/ports/noise_vectors/).
//
// Pure computation: no I/O, no clock. Ephemeral keys come from libsodium's
// generator unless the caller fixes them (test vectors). Secrets are wiped
// when the objects holding them go away.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace ports::noise {

inline constexpr std::size_t dh_size = 32;    ///< X25519 keys and shared secrets
inline constexpr std::size_t hash_size = 32;  ///< SHA-256
inline constexpr std::size_t key_size = 32;   ///< ChaCha20-Poly1305 keys
inline constexpr std::size_t tag_size = 16;   ///< Poly1305 tags

using public_key = std::array<std::byte, dh_size>;
using secret = std::array<std::byte, dh_size>;  ///< a private key or a symmetric key
using hash = std::array<std::byte, hash_size>;

/// Initializes libsodium once (sealed::initialize); throws if it cannot.
void initialize();

/// An X25519 key pair. The private half is wiped on destruction.
struct key_pair {
  secret private_key{};
  noise::public_key public_key{};

  key_pair() = default;
  key_pair(const key_pair&) = default;
  key_pair& operator=(const key_pair&) = default;
  ~key_pair();

  /// A fresh random pair.
  static key_pair generate();
  /// The pair of a private key (its public key computed).
  static key_pair from_private(const secret& private_key);
};

/// X25519(private, public). False (and `out` zero) when the result is all
/// zero: `remote` is a low-order point, which a peer must never send.
[[nodiscard]] bool dh(const secret& private_key, const public_key& remote, secret& out);

/// SHA-256 of `data`.
hash sha256(std::span<const std::byte> data);

/// Texts of this many bytes and more are sealed and opened with OpenSSL's EVP
/// (its vectorised ChaCha20-Poly1305: 2.2x libsodium's at 64 KiB on AVX-512);
/// shorter ones with libsodium, which has no per-call set-up (2x faster at 64
/// bytes). Both compute the same RFC 8439 AEAD: the bytes do not change.
inline constexpr std::size_t long_text = 1280;

/// ChaCha20-Poly1305 (IETF) in place with the Noise nonce for `counter`:
/// encrypts `text` and writes the tag to `tag`. Should OpenSSL fail halfway
/// through a long text (it does not, short of memory corruption), text and
/// tag are zeroed: the peer refuses the message, and nothing leaks.
void encrypt(const secret& key, std::uint64_t counter, std::span<const std::byte> ad,
             std::span<std::byte> text, std::span<std::byte, tag_size> tag);
/// Verifies `tag` and decrypts `text` in place; false (text unusable: zeros or
/// the ciphertext) if forged.
[[nodiscard]] bool decrypt(const secret& key, std::uint64_t counter, std::span<const std::byte> ad,
                           std::span<std::byte> text, std::span<const std::byte, tag_size> tag);
/// The same, decrypting `in` into `out` (at least as long; `in` is left as it was).
[[nodiscard]] bool decrypt(const secret& key, std::uint64_t counter, std::span<const std::byte> ad,
                           std::span<const std::byte> in, std::span<std::byte> out,
                           std::span<const std::byte, tag_size> tag);

/// A Noise CipherState: a key (or none) and the next nonce.
class cipher_state {
 public:
  cipher_state() = default;
  explicit cipher_state(const secret& key) : key_(key), has_key_(true) {}
  cipher_state(const cipher_state&) = default;
  cipher_state& operator=(const cipher_state&) = default;
  ~cipher_state();

  bool has_key() const { return has_key_; }
  const secret& key() const { return key_; }
  std::uint64_t nonce() const { return nonce_; }

  /// EncryptWithAd: `plaintext` to `out` (plaintext.size() + tag_size bytes
  /// when keyed, else a copy). Returns the bytes written, or nullopt if `out`
  /// is too small or the nonce space is spent.
  std::optional<std::size_t> encrypt_with_ad(std::span<const std::byte> ad,
                                             std::span<const std::byte> plaintext,
                                             std::span<std::byte> out);
  /// DecryptWithAd: `ciphertext` to `out`. nullopt if it does not
  /// authenticate (the nonce is then not advanced) or `out` is too small.
  std::optional<std::size_t> decrypt_with_ad(std::span<const std::byte> ad,
                                             std::span<const std::byte> ciphertext,
                                             std::span<std::byte> out);

 private:
  secret key_{};
  bool has_key_ = false;
  std::uint64_t nonce_ = 0;
};

/// A token of a handshake pattern.
enum class token : std::uint8_t { e, s, ee, es, se, ss, psk };

/// A handshake pattern: pre-messages and up to three messages of up to six tokens.
struct pattern {
  std::string_view name;  ///< e.g. "IKpsk2"
  struct message {
    std::array<token, 6> tokens{};
    std::size_t count = 0;
  };
  message initiator_premessage;  ///< public keys the responder knows in advance ("s" or empty)
  message responder_premessage;  ///< public keys the initiator knows in advance
  std::array<message, 3> messages{};
  std::size_t message_count = 0;

  bool has_psk() const;
};

/// The patterns this implementation runs: NN, NNpsk0, IK, IKpsk2, XX, XXpsk3.
/// nullptr for any other name.
const pattern* find_pattern(std::string_view name);

/// "Noise_" + pattern + "_25519_ChaChaPoly_SHA256".
std::string protocol_name(const pattern& p);

/// Everything a handshake starts from.
struct handshake_config {
  const noise::pattern* pattern = nullptr;
  bool initiator = false;
  std::span<const std::byte> prologue;
  std::optional<key_pair> local_static;
  std::optional<public_key> remote_static;  ///< known in advance (IK's responder key)
  std::optional<secret> psk;                ///< required when the pattern has a psk token
  std::optional<key_pair> local_ephemeral;  ///< fixed (test vectors); else generated when needed
};

/// The two transport ciphers a finished handshake gives, in Noise's order.
struct transport_keys {
  cipher_state initiator_to_responder;
  cipher_state responder_to_initiator;
};

/// A Noise HandshakeState. Messages are written and read in turn; any
/// failure (forged, wrong size, bad key) ends the handshake (failed()).
class handshake {
 public:
  /// Throws std::invalid_argument if the config lacks a key its pattern needs.
  explicit handshake(const handshake_config& config);
  handshake(const handshake&) = default;
  handshake& operator=(const handshake&) = default;
  /// Wipes the chaining key and the psk (the key pairs wipe themselves).
  ~handshake();

  /// The bytes write_message adds to a payload of `payload_size` for the next message.
  std::size_t next_message_overhead() const;
  /// WriteMessage: the next message with `payload`, to `out`. Returns its
  /// size; nullopt (and failed()) when it is not our turn, `out` is too small
  /// or a DH fails.
  std::optional<std::size_t> write_message(std::span<const std::byte> payload, std::span<std::byte> out);
  /// ReadMessage: the payload of the peer's next message, to `payload_out`.
  /// nullopt (and failed()) when it does not authenticate or is malformed.
  std::optional<std::size_t> read_message(std::span<const std::byte> message,
                                          std::span<std::byte> payload_out);

  /// Replaces the pre-shared key before its psk token is processed (an
  /// initiator trying each overlay key on the answer).
  void use_psk(const secret& psk) { psk_ = psk; }

  /// All messages have been written and read.
  bool complete() const { return next_ == pattern_->message_count && !failed_; }
  bool failed() const { return failed_; }
  /// Whose turn: the next message is ours to write.
  bool our_turn() const;
  /// The Split() of a complete handshake.
  transport_keys split() const;
  /// The handshake hash (for channel binding).
  const hash& handshake_hash() const { return h_; }
  /// The peer's static key once received (or known in advance).
  const std::optional<public_key>& remote_static() const { return rs_; }
  const std::optional<key_pair>& local_ephemeral() const { return e_; }

 private:
  void mix_hash(std::span<const std::byte> data);
  void mix_key(std::span<const std::byte> input);
  void mix_key_and_hash(std::span<const std::byte> input);
  std::optional<std::size_t> encrypt_and_hash(std::span<const std::byte> plaintext, std::span<std::byte> out);
  std::optional<std::size_t> decrypt_and_hash(std::span<const std::byte> ciphertext, std::span<std::byte> out);
  /// One DH token's MixKey; false if the DH fails.
  bool mix_dh(token t);
  /// Ends the handshake: nothing more is written or read.
  std::nullopt_t fail();

  const pattern* pattern_;
  bool initiator_;
  bool psk_mode_;
  std::optional<key_pair> s_, e_;
  std::optional<public_key> rs_, re_;
  std::optional<secret> psk_;
  hash h_{};
  hash ck_{};
  cipher_state cipher_;
  std::size_t next_ = 0;  ///< index of the next message
  bool failed_ = false;
};

}  // namespace ports::noise
