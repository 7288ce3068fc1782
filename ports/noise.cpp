// noise: the Noise handshake over libsodium (see noise.hpp). The function
// names follow the specification's (MixHash, MixKey, EncryptAndHash, ...), so
// the code reads beside section 5 of it. ChaCha20-Poly1305 of long texts runs
// on OpenSSL's EVP, whose vectorised code is two to three times faster there.
#include "ports/noise.hpp"

#include <openssl/evp.h>
#include <sodium.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <initializer_list>
#include <stdexcept>

#include "ports/sealed.hpp"
#include "ports/sodium_bytes.hpp"

namespace ports::noise {
namespace {

static_assert(dh_size == crypto_scalarmult_BYTES);
static_assert(key_size == crypto_aead_chacha20poly1305_ietf_KEYBYTES);
static_assert(tag_size == crypto_aead_chacha20poly1305_ietf_ABYTES);
static_assert(hash_size == crypto_hash_sha256_BYTES);

constexpr std::size_t nonce_size = crypto_aead_chacha20poly1305_ietf_NPUBBYTES;
/// The largest counter: 2^64-1 is reserved by the specification.
constexpr std::uint64_t max_nonce = ~std::uint64_t{0};

/// The 96-bit ChaChaPoly nonce: 32 bits of zeros, then the counter little-endian.
std::array<unsigned char, nonce_size> nonce_of(std::uint64_t counter) {
  std::array<unsigned char, nonce_size> n{};
  for (std::size_t i = 0; i < 8; ++i) n[4 + i] = static_cast<unsigned char>(counter >> (8 * i));
  return n;
}

/// HMAC-SHA-256 of the concatenation of `parts` under `key`.
hash hmac(std::span<const std::byte> key, std::initializer_list<std::span<const std::byte>> parts) {
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, sodium_bytes(key), key.size());
  for (const std::span<const std::byte> part : parts) crypto_auth_hmacsha256_update(&state, sodium_bytes(part), part.size());
  hash out{};
  crypto_auth_hmacsha256_final(&state, sodium_bytes(out));
  sodium_memzero(&state, sizeof state);
  return out;
}

/// HKDF(chaining_key, input) of the specification: two or three outputs.
struct hkdf_outputs {
  hash first{}, second{}, third{};
  ~hkdf_outputs() {
    sodium_memzero(first.data(), first.size());
    sodium_memzero(second.data(), second.size());
    sodium_memzero(third.data(), third.size());
  }
};

void hkdf(const hash& chaining_key, std::span<const std::byte> input, std::size_t outputs, hkdf_outputs& out) {
  hash temp_key = hmac(chaining_key, {input});
  const std::array<std::byte, 1> one{std::byte{1}}, two{std::byte{2}}, three{std::byte{3}};
  out.first = hmac(temp_key, {one});
  out.second = hmac(temp_key, {out.first, two});
  if (outputs == 3) out.third = hmac(temp_key, {out.second, three});
  sodium_memzero(temp_key.data(), temp_key.size());
}

using message = pattern::message;

constexpr message tokens(std::initializer_list<token> list) {
  message m;
  for (const token t : list) m.tokens[m.count++] = t;
  return m;
}

constexpr pattern make(std::string_view name, message responder_premessage,
                       std::initializer_list<message> messages) {
  pattern p;
  p.name = name;
  p.responder_premessage = responder_premessage;
  for (const message& m : messages) p.messages[p.message_count++] = m;
  return p;
}

using enum token;

const std::array<pattern, 6> patterns{
    make("NN", {}, {tokens({e}), tokens({e, ee})}),
    make("NNpsk0", {}, {tokens({psk, e}), tokens({e, ee})}),
    make("IK", tokens({s}), {tokens({e, es, s, ss}), tokens({e, ee, se})}),
    make("IKpsk2", tokens({s}), {tokens({e, es, s, ss}), tokens({e, ee, se, psk})}),
    make("XX", {}, {tokens({e}), tokens({e, ee, s, es}), tokens({s, se})}),
    make("XXpsk3", {}, {tokens({e}), tokens({e, ee, s, es}), tokens({s, se, psk})}),
};

}  // namespace

void initialize() { sealed::initialize(); }

// ---- keys and primitives ----

key_pair::~key_pair() { sodium_memzero(private_key.data(), private_key.size()); }

key_pair key_pair::generate() {
  initialize();
  secret private_key;
  randombytes_buf(private_key.data(), private_key.size());
  key_pair out = from_private(private_key);
  sodium_memzero(private_key.data(), private_key.size());
  return out;
}

key_pair key_pair::from_private(const secret& private_key) {
  initialize();
  key_pair out;
  out.private_key = private_key;
  crypto_scalarmult_base(sodium_bytes(out.public_key), sodium_bytes(out.private_key));
  return out;
}

bool dh(const secret& private_key, const public_key& remote, secret& out) {
  initialize();
  // libsodium refuses (non-zero) when the result is all zero.
  if (crypto_scalarmult(sodium_bytes(out), sodium_bytes(private_key), sodium_bytes(remote)) != 0) {
    out.fill(std::byte{0});
    return false;
  }
  return true;
}

hash sha256(std::span<const std::byte> data) {
  initialize();
  hash out{};
  crypto_hash_sha256(sodium_bytes(out), sodium_bytes(data), data.size());
  return out;
}

namespace {

/// One EVP context per thread and direction, made on first use and kept: the
/// cipher is set once, each call sets the key and nonce. Null if OpenSSL
/// could not make one (then libsodium does the work). A context holds the
/// last key it used until the next call (or the thread's end, when it is
/// freed); sessions wipe their own copies when they end.
EVP_CIPHER_CTX* evp_context(bool encrypting) {
  struct contexts {
    EVP_CIPHER_CTX* seal = make(1);
    EVP_CIPHER_CTX* open = make(0);
    static EVP_CIPHER_CTX* make(int enc) {
      EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
      if (c != nullptr && EVP_CipherInit_ex(c, EVP_chacha20_poly1305(), nullptr, nullptr, nullptr, enc) != 1) {
        EVP_CIPHER_CTX_free(c);
        c = nullptr;
      }
      return c;
    }
    ~contexts() {
      EVP_CIPHER_CTX_free(seal);
      EVP_CIPHER_CTX_free(open);
    }
  };
  thread_local contexts c;
  return encrypting ? c.seal : c.open;
}

const unsigned char* evp_bytes(std::span<const std::byte> b) { return reinterpret_cast<const unsigned char*>(b.data()); }
unsigned char* evp_bytes(std::byte* b) { return reinterpret_cast<unsigned char*>(b); }

/// What an EVP call did with the text.
enum class evp_result {
  done,       ///< sealed (encrypt), or opened and authentic (decrypt)
  forged,     ///< decrypt: the tag did not check; the text is garbage, to be wiped
  failed,     ///< OpenSSL could not run; the text is untouched
  failed_in,  ///< encrypt: OpenSSL failed once it had begun on the text (its state unknown)
};

/// Whether EVP takes spans of these sizes (its lengths are ints).
bool evp_fits(std::span<const std::byte> ad, std::span<const std::byte> text) {
  return ad.size() <= INT_MAX && text.size() <= INT_MAX;
}

/// ChaCha20-Poly1305 through EVP.
evp_result evp_encrypt(const secret& key, const std::array<unsigned char, 12>& nonce, std::span<const std::byte> ad,
                       std::span<std::byte> text, std::span<std::byte, tag_size> tag) {
  EVP_CIPHER_CTX* c = evp_context(true);
  int n = 0;
  if (c == nullptr || EVP_EncryptInit_ex(c, nullptr, nullptr, evp_bytes(std::span(key)), nonce.data()) != 1 ||
      EVP_EncryptUpdate(c, nullptr, &n, evp_bytes(ad), static_cast<int>(ad.size())) != 1)
    return evp_result::failed;
  if (EVP_EncryptUpdate(c, evp_bytes(text.data()), &n, evp_bytes(text), static_cast<int>(text.size())) != 1 ||
      EVP_EncryptFinal_ex(c, evp_bytes(text.data()) + n, &n) != 1 ||
      EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, tag_size, evp_bytes(tag.data())) != 1)
    return evp_result::failed_in;
  return evp_result::done;
}

/// Decrypts in place and checks the tag: done, forged or failed.
evp_result evp_decrypt(const secret& key, const std::array<unsigned char, 12>& nonce, std::span<const std::byte> ad,
                       std::span<const std::byte> in, std::span<std::byte> out,
                       std::span<const std::byte, tag_size> tag) {
  EVP_CIPHER_CTX* c = evp_context(false);
  int n = 0;
  std::array<std::byte, tag_size> expected;  // SET_TAG takes a non-const pointer
  std::copy(tag.begin(), tag.end(), expected.begin());
  if (c == nullptr || EVP_DecryptInit_ex(c, nullptr, nullptr, evp_bytes(std::span(key)), nonce.data()) != 1 ||
      EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, tag_size, expected.data()) != 1 ||
      EVP_DecryptUpdate(c, nullptr, &n, evp_bytes(ad), static_cast<int>(ad.size())) != 1)
    return evp_result::failed;
  if (EVP_DecryptUpdate(c, evp_bytes(out.data()), &n, evp_bytes(in), static_cast<int>(in.size())) != 1)
    return evp_result::forged;
  return EVP_DecryptFinal_ex(c, evp_bytes(out.data()) + n, &n) == 1 ? evp_result::done : evp_result::forged;
}

}  // namespace

void encrypt(const secret& key, std::uint64_t counter, std::span<const std::byte> ad,
             std::span<std::byte> text, std::span<std::byte, tag_size> tag) {
  const auto n = nonce_of(counter);
  if (text.size() >= long_text && evp_fits(ad, text)) {
    switch (evp_encrypt(key, n, ad, text, tag)) {
      case evp_result::done:
        return;
      case evp_result::failed_in:
        // The text may be plaintext, ciphertext or part of each: send none
        // of it. Zeros with a zero tag fail at the peer (counted as forged).
        sodium_memzero(text.data(), text.size());
        sodium_memzero(tag.data(), tag.size());
        return;
      case evp_result::forged:
      case evp_result::failed:
        break;
    }
  }
  crypto_aead_chacha20poly1305_ietf_encrypt_detached(sodium_bytes(text), sodium_bytes(tag), nullptr, sodium_bytes(text),
                                                     text.size(), sodium_bytes(ad), ad.size(), nullptr, n.data(),
                                                     sodium_bytes(key));
}

bool decrypt(const secret& key, std::uint64_t counter, std::span<const std::byte> ad, std::span<std::byte> text,
             std::span<const std::byte, tag_size> tag) {
  return decrypt(key, counter, ad, text, text, tag);
}

bool decrypt(const secret& key, std::uint64_t counter, std::span<const std::byte> ad, std::span<const std::byte> in,
             std::span<std::byte> out, std::span<const std::byte, tag_size> tag) {
  if (out.size() < in.size()) return false;
  const auto n = nonce_of(counter);
  if (in.size() >= long_text && evp_fits(ad, in)) {
    switch (evp_decrypt(key, n, ad, in, out, tag)) {
      case evp_result::done:
        return true;
      case evp_result::forged:
        sodium_memzero(out.data(), in.size());
        return false;
      case evp_result::failed:
      case evp_result::failed_in:
        break;
    }
  }
  return crypto_aead_chacha20poly1305_ietf_decrypt_detached(sodium_bytes(out), nullptr, sodium_bytes(in), in.size(),
                                                            sodium_bytes(tag), sodium_bytes(ad), ad.size(), n.data(),
                                                            sodium_bytes(key)) == 0;
}

// ---- cipher_state ----

cipher_state::~cipher_state() { sodium_memzero(key_.data(), key_.size()); }

std::optional<std::size_t> cipher_state::encrypt_with_ad(std::span<const std::byte> ad,
                                                         std::span<const std::byte> plaintext,
                                                         std::span<std::byte> out) {
  const std::size_t size = plaintext.size() + (has_key_ ? tag_size : 0);
  if (out.size() < size || (has_key_ && nonce_ == max_nonce)) return std::nullopt;
  if (!plaintext.empty() && out.data() != plaintext.data())
    std::memmove(out.data(), plaintext.data(), plaintext.size());
  if (!has_key_) return size;
  encrypt(key_, nonce_++, ad, out.first(plaintext.size()), out.subspan(plaintext.size()).first<tag_size>());
  return size;
}

std::optional<std::size_t> cipher_state::decrypt_with_ad(std::span<const std::byte> ad,
                                                         std::span<const std::byte> ciphertext,
                                                         std::span<std::byte> out) {
  if (!has_key_) {
    if (out.size() < ciphertext.size()) return std::nullopt;
    if (!ciphertext.empty() && out.data() != ciphertext.data())
      std::memmove(out.data(), ciphertext.data(), ciphertext.size());
    return ciphertext.size();
  }
  if (ciphertext.size() < tag_size || nonce_ == max_nonce) return std::nullopt;
  const std::size_t size = ciphertext.size() - tag_size;
  if (out.size() < size) return std::nullopt;
  // The tag is copied out first: `out` may overlap the ciphertext.
  std::array<std::byte, tag_size> tag;
  std::copy_n(ciphertext.begin() + static_cast<std::ptrdiff_t>(size), tag_size, tag.begin());
  if (size != 0 && out.data() != ciphertext.data()) std::memmove(out.data(), ciphertext.data(), size);
  if (!decrypt(key_, nonce_, ad, out.first(size), tag)) {
    sodium_memzero(out.data(), size);
    return std::nullopt;
  }
  ++nonce_;
  return size;
}

// ---- patterns ----

bool pattern::has_psk() const {
  for (std::size_t i = 0; i < message_count; ++i) {
    const message& m = messages[i];
    if (std::find(m.tokens.begin(), m.tokens.begin() + static_cast<std::ptrdiff_t>(m.count), token::psk) !=
        m.tokens.begin() + static_cast<std::ptrdiff_t>(m.count))
      return true;
  }
  return false;
}

const pattern* find_pattern(std::string_view name) {
  for (const pattern& p : patterns)
    if (p.name == name) return &p;
  return nullptr;
}

std::string protocol_name(const pattern& p) {
  std::string name = "Noise_";
  name += p.name;
  name += "_25519_ChaChaPoly_SHA256";
  return name;
}

// ---- handshake ----

handshake::handshake(const handshake_config& config)
    : pattern_(config.pattern),
      initiator_(config.initiator),
      psk_mode_(config.pattern != nullptr && config.pattern->has_psk()),
      s_(config.local_static),
      e_(config.local_ephemeral),
      rs_(config.remote_static),
      psk_(config.psk) {
  initialize();
  if (pattern_ == nullptr) throw std::invalid_argument("noise: no handshake pattern");
  // The keys the pattern needs up front.
  bool sends_static = false;
  for (std::size_t i = initiator_ ? 0 : 1; i < pattern_->message_count; i += 2) {
    const message& m = pattern_->messages[i];
    sends_static |= std::find(m.tokens.begin(), m.tokens.begin() + static_cast<std::ptrdiff_t>(m.count),
                              token::s) != m.tokens.begin() + static_cast<std::ptrdiff_t>(m.count);
  }
  const message& own_pre = initiator_ ? pattern_->initiator_premessage : pattern_->responder_premessage;
  const message& peer_pre = initiator_ ? pattern_->responder_premessage : pattern_->initiator_premessage;
  if ((sends_static || own_pre.count != 0) && !s_)
    throw std::invalid_argument("noise: the pattern needs our static key");
  if (peer_pre.count != 0 && !rs_) throw std::invalid_argument("noise: the pattern needs the peer's static key");
  if (psk_mode_ && !psk_) throw std::invalid_argument("noise: the pattern needs a pre-shared key");

  // InitializeSymmetric(protocol_name), then the prologue and the pre-messages.
  const std::string name = protocol_name(*pattern_);
  if (name.size() <= hash_size) {
    std::memcpy(h_.data(), name.data(), name.size());
  } else {
    h_ = sha256(std::as_bytes(std::span(name)));
  }
  ck_ = h_;
  mix_hash(config.prologue);
  if (pattern_->initiator_premessage.count != 0) mix_hash(initiator_ ? s_->public_key : *rs_);
  if (pattern_->responder_premessage.count != 0) mix_hash(initiator_ ? *rs_ : s_->public_key);
}

handshake::~handshake() {
  sodium_memzero(ck_.data(), ck_.size());
  if (psk_) sodium_memzero(psk_->data(), psk_->size());
}

void handshake::mix_hash(std::span<const std::byte> data) {
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  crypto_hash_sha256_update(&state, sodium_bytes(h_), h_.size());
  crypto_hash_sha256_update(&state, sodium_bytes(data), data.size());
  crypto_hash_sha256_final(&state, sodium_bytes(h_));
}

void handshake::mix_key(std::span<const std::byte> input) {
  hkdf_outputs out;
  hkdf(ck_, input, 2, out);
  ck_ = out.first;
  cipher_ = cipher_state(out.second);
}

void handshake::mix_key_and_hash(std::span<const std::byte> input) {
  hkdf_outputs out;
  hkdf(ck_, input, 3, out);
  ck_ = out.first;
  mix_hash(out.second);
  cipher_ = cipher_state(out.third);
}

std::optional<std::size_t> handshake::encrypt_and_hash(std::span<const std::byte> plaintext,
                                                       std::span<std::byte> out) {
  const std::optional<std::size_t> size = cipher_.encrypt_with_ad(h_, plaintext, out);
  if (size) mix_hash(out.first(*size));
  return size;
}

std::optional<std::size_t> handshake::decrypt_and_hash(std::span<const std::byte> ciphertext,
                                                       std::span<std::byte> out) {
  // h is mixed with the ciphertext, which decryption may overwrite: hash first.
  const hash before = h_;
  mix_hash(ciphertext);
  const std::optional<std::size_t> size = cipher_.decrypt_with_ad(before, ciphertext, out);
  return size;
}

bool handshake::mix_dh(token t) {
  const key_pair* local = nullptr;
  const std::optional<public_key>* remote = nullptr;
  switch (t) {
    case token::ee: local = e_ ? &*e_ : nullptr; remote = &re_; break;
    case token::es:
      local = initiator_ ? (e_ ? &*e_ : nullptr) : (s_ ? &*s_ : nullptr);
      remote = initiator_ ? &rs_ : &re_;
      break;
    case token::se:
      local = initiator_ ? (s_ ? &*s_ : nullptr) : (e_ ? &*e_ : nullptr);
      remote = initiator_ ? &re_ : &rs_;
      break;
    case token::ss: local = s_ ? &*s_ : nullptr; remote = &rs_; break;
    default: return false;
  }
  if (local == nullptr || !remote->has_value()) return false;
  secret shared{};
  const bool ok = dh(local->private_key, **remote, shared);
  if (ok) mix_key(shared);
  sodium_memzero(shared.data(), shared.size());
  return ok;
}

std::nullopt_t handshake::fail() {
  failed_ = true;
  return std::nullopt;
}

bool handshake::our_turn() const {
  return !failed_ && next_ < pattern_->message_count && (next_ % 2 == 0) == initiator_;
}

std::size_t handshake::next_message_overhead() const {
  if (next_ >= pattern_->message_count) return 0;
  const message& m = pattern_->messages[next_];
  bool keyed = cipher_.has_key();
  std::size_t size = 0;
  for (std::size_t i = 0; i < m.count; ++i) {
    switch (m.tokens[i]) {
      case token::e:
        size += dh_size;
        keyed |= psk_mode_;
        break;
      case token::s: size += dh_size + (keyed ? tag_size : 0); break;
      default: keyed = true; break;
    }
  }
  return size + (keyed ? tag_size : 0);
}

std::optional<std::size_t> handshake::write_message(std::span<const std::byte> payload, std::span<std::byte> out) {
  if (!our_turn() || out.size() < next_message_overhead() + payload.size()) return fail();
  const message& m = pattern_->messages[next_];
  std::size_t size = 0;
  for (std::size_t i = 0; i < m.count; ++i) {
    switch (const token t = m.tokens[i]) {
      case token::e:
        if (!e_) e_ = key_pair::generate();
        std::copy(e_->public_key.begin(), e_->public_key.end(), out.begin() + static_cast<std::ptrdiff_t>(size));
        size += dh_size;
        mix_hash(e_->public_key);
        if (psk_mode_) mix_key(e_->public_key);
        break;
      case token::s: {
        const std::optional<std::size_t> n = encrypt_and_hash(s_->public_key, out.subspan(size));
        if (!n) return fail();
        size += *n;
        break;
      }
      case token::psk: mix_key_and_hash(*psk_); break;
      default:
        if (!mix_dh(t)) return fail();
        break;
    }
  }
  const std::optional<std::size_t> n = encrypt_and_hash(payload, out.subspan(size));
  if (!n) return fail();
  ++next_;
  return size + *n;
}

std::optional<std::size_t> handshake::read_message(std::span<const std::byte> in, std::span<std::byte> payload_out) {
  if (failed_ || next_ >= pattern_->message_count || our_turn()) return fail();
  const message& m = pattern_->messages[next_];
  for (std::size_t i = 0; i < m.count; ++i) {
    switch (const token t = m.tokens[i]) {
      case token::e: {
        if (in.size() < dh_size) return fail();
        public_key re;
        std::copy_n(in.begin(), dh_size, re.begin());
        re_ = re;
        in = in.subspan(dh_size);
        mix_hash(re);
        if (psk_mode_) mix_key(re);
        break;
      }
      case token::s: {
        const std::size_t n = dh_size + (cipher_.has_key() ? tag_size : 0);
        if (in.size() < n) return fail();
        public_key rs;
        std::array<std::byte, dh_size + tag_size> buffer;
        if (!decrypt_and_hash(in.first(n), buffer)) return fail();
        std::copy_n(buffer.begin(), dh_size, rs.begin());
        // A static key known in advance must be the one sent.
        if (rs_ && !std::equal(rs.begin(), rs.end(), rs_->begin())) return fail();
        rs_ = rs;
        in = in.subspan(n);
        break;
      }
      case token::psk: mix_key_and_hash(*psk_); break;
      default:
        if (!mix_dh(t)) return fail();
        break;
    }
  }
  const std::optional<std::size_t> n = decrypt_and_hash(in, payload_out);
  if (!n) return fail();
  ++next_;
  return n;
}

transport_keys handshake::split() const {
  hkdf_outputs out;
  hkdf(ck_, {}, 2, out);
  return transport_keys{cipher_state(out.first), cipher_state(out.second)};
}

}  // namespace ports::noise
