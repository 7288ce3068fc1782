// Tests of the Noise handshake (ports/noise.hpp) against published test
// vectors, kept as data under tests/ports/noise_vectors/:
// - cacophony.json: vectors of the cacophony project (Haskell), JSON, copied
//   verbatim (the source commit is in the file);
// - flynn-noise.txt: vectors of flynn/noise (Go), from Debian's
//   golang-github-flynn-noise-dev, the blocks of our suite copied verbatim.
// Each vector is run both ways: our initiator's messages must be the
// vector's bytes, and our responder must read them; then the transport keys
// must encrypt the transport messages to the vector's bytes.
// Then the failures a peer can cause: any flipped bit, a wrong psk, a wrong
// static key, a low-order point, messages out of turn.
#include "ports/noise.hpp"
#include "ports/sodium_bytes.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace noise = ports::noise;
using bytes = std::vector<std::byte>;
using ports::to_hex;

bytes from_hex(std::string_view hex) {
  bytes out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<std::byte>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  return out;
}

template <std::size_t N>
std::array<std::byte, N> array_of(const bytes& b) {
  std::array<std::byte, N> out{};
  EXPECT_EQ(b.size(), N);
  std::copy_n(b.begin(), std::min(N, b.size()), out.begin());
  return out;
}

/// One vector, in either source's terms.
struct vector_case {
  std::string name;       ///< full protocol name
  std::string source;     ///< for messages
  bytes prologue;
  std::optional<bytes> init_static, resp_static, init_ephemeral, resp_ephemeral;
  std::optional<bytes> init_remote_static, resp_remote_static, psk;
  std::vector<std::pair<bytes, bytes>> messages;  ///< payload, ciphertext
  std::optional<bytes> handshake_hash;
  /// Transport messages after the handshake: true, they keep alternating
  /// senders (cacophony); false, they alternate directions starting with
  /// initiator to responder (flynn/noise).
  bool keep_alternating = true;
};

std::string vectors_dir() { return NOISE_VECTORS_DIR; }

std::vector<vector_case> load_cacophony() {
  std::ifstream in(vectors_dir() + "/cacophony.json");
  const nlohmann::json doc = nlohmann::json::parse(in);
  std::vector<vector_case> out;
  for (const auto& v : doc.at("vectors")) {
    vector_case c;
    c.name = v.value("name", v.value("protocol_name", std::string{}));
    c.source = "cacophony";
    c.prologue = from_hex(v.value("init_prologue", std::string{}));
    const auto opt = [&](const char* key) -> std::optional<bytes> {
      if (!v.contains(key)) return std::nullopt;
      return from_hex(v.at(key).get<std::string>());
    };
    c.init_static = opt("init_static");
    c.resp_static = opt("resp_static");
    c.init_ephemeral = opt("init_ephemeral");
    c.resp_ephemeral = opt("resp_ephemeral");
    c.init_remote_static = opt("init_remote_static");
    c.resp_remote_static = opt("resp_remote_static");
    c.handshake_hash = opt("handshake_hash");
    c.psk = opt("init_psk");  // (newer files: a list, init_psks)
    if (v.contains("init_psks") && !v.at("init_psks").empty())
      c.psk = from_hex(v.at("init_psks").at(0).get<std::string>());
    for (const auto& m : v.at("messages"))
      c.messages.emplace_back(from_hex(m.at("payload").get<std::string>()),
                              from_hex(m.at("ciphertext").get<std::string>()));
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<vector_case> load_flynn() {
  std::ifstream in(vectors_dir() + "/flynn-noise.txt");
  std::vector<vector_case> out;
  std::string line;
  std::map<std::string, std::string> fields;
  bytes payload;
  const auto finish = [&] {
    if (out.empty()) return;
    vector_case& c = out.back();
    // Which static keys each side knows in advance follows from the pattern.
    if (c.name.rfind("Noise_IK", 0) == 0 && c.resp_static) {
      const noise::public_key responder = noise::key_pair::from_private(array_of<32>(*c.resp_static)).public_key;
      c.init_remote_static = bytes(responder.begin(), responder.end());
    }
    const bool initiator_static = c.name.rfind("Noise_IK", 0) == 0 || c.name.rfind("Noise_XX", 0) == 0;
    if (!initiator_static) c.init_static.reset();
    if (c.name.find("psk") == std::string::npos) c.psk.reset();
  };
  while (std::getline(in, line)) {
    const std::size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = line.substr(0, eq);
    const std::string value = line.substr(eq + 1);
    if (key == "handshake") {
      finish();
      vector_case c;
      c.name = value;
      c.source = "flynn/noise";
      c.keep_alternating = false;
      out.push_back(std::move(c));
      continue;
    }
    vector_case& c = out.back();
    if (key == "init_static") c.init_static = from_hex(value);
    else if (key == "resp_static") c.resp_static = from_hex(value);
    else if (key == "gen_init_ephemeral") c.init_ephemeral = from_hex(value);
    else if (key == "gen_resp_ephemeral") c.resp_ephemeral = from_hex(value);
    else if (key == "prologue") c.prologue = from_hex(value);
    else if (key == "preshared_key") c.psk = from_hex(value);
    else if (key.ends_with("_payload")) payload = from_hex(value);
    else if (key.ends_with("_ciphertext")) c.messages.emplace_back(payload, from_hex(value));
  }
  finish();
  return out;
}

/// The pattern part of a protocol name ("IKpsk2" of "Noise_IKpsk2_25519_...").
std::string pattern_of(const std::string& name) {
  const std::size_t start = name.find('_') + 1;
  return name.substr(start, name.find('_', start) - start);
}

noise::handshake_config config_of(const vector_case& c, bool initiator) {
  noise::handshake_config config;
  config.pattern = noise::find_pattern(pattern_of(c.name));
  config.initiator = initiator;
  config.prologue = c.prologue;
  const auto& s = initiator ? c.init_static : c.resp_static;
  const auto& e = initiator ? c.init_ephemeral : c.resp_ephemeral;
  const auto& rs = initiator ? c.init_remote_static : c.resp_remote_static;
  if (s) config.local_static = noise::key_pair::from_private(array_of<32>(*s));
  if (e) config.local_ephemeral = noise::key_pair::from_private(array_of<32>(*e));
  if (rs) config.remote_static = array_of<32>(*rs);
  if (c.psk) config.psk = array_of<32>(*c.psk);
  return config;
}

/// Runs one vector: handshake messages, handshake hash, transport messages.
void run(const vector_case& c) {
  SCOPED_TRACE(c.source + " " + c.name);
  const noise::pattern* p = noise::find_pattern(pattern_of(c.name));
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(noise::protocol_name(*p), c.name);
  noise::handshake initiator(config_of(c, true));
  noise::handshake responder(config_of(c, false));
  ASSERT_GE(c.messages.size(), p->message_count);

  std::array<std::byte, 1024> wire{}, read{};
  for (std::size_t i = 0; i < p->message_count; ++i) {
    SCOPED_TRACE("handshake message " + std::to_string(i));
    const auto& [payload, ciphertext] = c.messages[i];
    noise::handshake& writer = i % 2 == 0 ? initiator : responder;
    noise::handshake& reader = i % 2 == 0 ? responder : initiator;
    ASSERT_TRUE(writer.our_turn());
    EXPECT_EQ(writer.next_message_overhead() + payload.size(), ciphertext.size());
    const auto size = writer.write_message(payload, wire);
    ASSERT_TRUE(size);
    EXPECT_EQ(to_hex(std::span(wire).first(*size)), to_hex(ciphertext));
    const auto got = reader.read_message(ciphertext, read);
    ASSERT_TRUE(got);
    EXPECT_EQ(to_hex(std::span(read).first(*got)), to_hex(payload));
  }
  ASSERT_TRUE(initiator.complete());
  ASSERT_TRUE(responder.complete());
  EXPECT_EQ(to_hex(initiator.handshake_hash()), to_hex(responder.handshake_hash()));
  if (c.handshake_hash) {
    EXPECT_EQ(to_hex(initiator.handshake_hash()), to_hex(*c.handshake_hash));
  }
  // Each side knows the other's static key when the pattern sends or pre-shares it.
  if (c.init_static && responder.remote_static()) {
    EXPECT_EQ(to_hex(*responder.remote_static()),
              to_hex(noise::key_pair::from_private(array_of<32>(*c.init_static)).public_key));
  }

  noise::transport_keys i_keys = initiator.split();
  noise::transport_keys r_keys = responder.split();
  for (std::size_t i = p->message_count; i < c.messages.size(); ++i) {
    SCOPED_TRACE("transport message " + std::to_string(i));
    const auto& [payload, ciphertext] = c.messages[i];
    const bool from_initiator =
        c.keep_alternating ? i % 2 == 0 : (i - p->message_count) % 2 == 0;
    noise::cipher_state& send = from_initiator ? i_keys.initiator_to_responder : r_keys.responder_to_initiator;
    noise::cipher_state& receive = from_initiator ? r_keys.initiator_to_responder : i_keys.responder_to_initiator;
    const auto size = send.encrypt_with_ad({}, payload, wire);
    ASSERT_TRUE(size);
    EXPECT_EQ(to_hex(std::span(wire).first(*size)), to_hex(ciphertext));
    const auto got = receive.decrypt_with_ad({}, ciphertext, read);
    ASSERT_TRUE(got);
    EXPECT_EQ(to_hex(std::span(read).first(*got)), to_hex(payload));
  }
}

TEST(NoiseVectors, Cacophony) {
  const std::vector<vector_case> cases = load_cacophony();
  std::set<std::string> names;
  for (const vector_case& c : cases) {
    names.insert(c.name);
    run(c);
  }
  // The patterns the sealed uplinks use are among them.
  EXPECT_TRUE(names.count("Noise_IKpsk2_25519_ChaChaPoly_SHA256"));
  EXPECT_TRUE(names.count("Noise_NNpsk0_25519_ChaChaPoly_SHA256"));
}

TEST(NoiseVectors, FlynnNoise) {
  const std::vector<vector_case> cases = load_flynn();
  std::set<std::string> names;
  for (const vector_case& c : cases) {
    names.insert(c.name);
    run(c);
  }
  EXPECT_EQ(names.size(), 6u);  // NN, NNpsk0, IK, IKpsk2, XX, XXpsk3
  EXPECT_GE(cases.size(), 12u);  // each with empty and non-empty payloads
}

// ---------------------------------------------------------------------------
// What a peer (or anyone on the path) can do wrong.

struct ik_pair {
  noise::key_pair initiator_static = noise::key_pair::generate();
  noise::key_pair responder_static = noise::key_pair::generate();
  noise::secret psk{};

  noise::handshake_config config(bool initiator) const {
    noise::handshake_config c;
    c.pattern = noise::find_pattern("IKpsk2");
    c.initiator = initiator;
    c.local_static = initiator ? initiator_static : responder_static;
    if (initiator) c.remote_static = responder_static.public_key;
    c.psk = psk;
    return c;
  }
};

TEST(Noise, AnyFlippedBitOfTheFirstMessageIsRefused) {
  const ik_pair keys;
  noise::handshake initiator(keys.config(true));
  std::array<std::byte, 256> wire{}, out{};
  const auto size = initiator.write_message(std::as_bytes(std::span("hello", 5)), wire);
  ASSERT_TRUE(size);
  for (std::size_t bit = 0; bit < *size * 8; ++bit) {
    std::array<std::byte, 256> copy = wire;
    copy[bit / 8] ^= std::byte{static_cast<unsigned char>(1u << (bit % 8))};
    noise::handshake responder(keys.config(false));
    EXPECT_FALSE(responder.read_message(std::span(copy).first(*size), out)) << "bit " << bit;
    EXPECT_TRUE(responder.failed());
  }
  // Truncated by one byte: refused too; the original is read.
  noise::handshake responder(keys.config(false));
  EXPECT_FALSE(responder.read_message(std::span(wire).first(*size - 1), out));
  noise::handshake fresh(keys.config(false));
  const auto payload = fresh.read_message(std::span(wire).first(*size), out);
  ASSERT_TRUE(payload);
  EXPECT_EQ(*payload, 5u);
  EXPECT_EQ(to_hex(*fresh.remote_static()), to_hex(keys.initiator_static.public_key));
}

TEST(Noise, AWrongPskOrStaticKeyFailsTheHandshake) {
  const ik_pair keys;
  std::array<std::byte, 256> wire{}, out{};
  {  // The responder holds another psk: the first message still reads (psk2
     // is mixed in the second), the initiator refuses the answer.
    noise::handshake initiator(keys.config(true));
    ik_pair other = keys;
    other.psk[0] = std::byte{1};
    noise::handshake responder(other.config(false));
    const auto m1 = initiator.write_message({}, wire);
    ASSERT_TRUE(responder.read_message(std::span(wire).first(*m1), out));
    const auto m2 = responder.write_message({}, wire);
    ASSERT_TRUE(m2);
    EXPECT_FALSE(initiator.read_message(std::span(wire).first(*m2), out));
    EXPECT_TRUE(initiator.failed());
  }
  {  // The initiator believes the responder has another key.
    ik_pair other = keys;
    other.responder_static = noise::key_pair::generate();
    noise::handshake initiator(other.config(true));
    noise::handshake responder(keys.config(false));
    const auto m1 = initiator.write_message({}, wire);
    EXPECT_FALSE(responder.read_message(std::span(wire).first(*m1), out));
  }
}

TEST(Noise, ALowOrderEphemeralIsRefused) {
  const ik_pair keys;
  noise::handshake initiator(keys.config(true));
  std::array<std::byte, 256> wire{}, out{};
  const auto m1 = initiator.write_message({}, wire);
  ASSERT_TRUE(m1);
  // The all-zero point: X25519 with it gives zero, which must not key anything.
  std::fill_n(wire.begin(), noise::dh_size, std::byte{0});
  noise::handshake responder(keys.config(false));
  EXPECT_FALSE(responder.read_message(std::span(wire).first(*m1), out));
  noise::secret shared{};
  EXPECT_FALSE(noise::dh(keys.responder_static.private_key, noise::public_key{}, shared));
}

TEST(Noise, MessagesOutOfTurnAreRefused) {
  const ik_pair keys;
  noise::handshake initiator(keys.config(true));
  noise::handshake responder(keys.config(false));
  std::array<std::byte, 256> wire{};
  EXPECT_FALSE(responder.our_turn());
  EXPECT_FALSE(responder.write_message({}, wire));  // the responder cannot speak first
  EXPECT_TRUE(responder.failed());
  const auto m1 = initiator.write_message({}, wire);
  ASSERT_TRUE(m1);
  EXPECT_FALSE(initiator.write_message({}, wire));  // nor the initiator twice
}

TEST(Noise, AConfigWithoutTheKeysItsPatternNeedsIsRejected) {
  noise::handshake_config c;
  c.pattern = noise::find_pattern("IKpsk2");
  c.initiator = true;
  EXPECT_THROW(noise::handshake{c}, std::invalid_argument);  // no static, no remote, no psk
  c.pattern = noise::find_pattern("NNpsk0");
  EXPECT_THROW(noise::handshake{c}, std::invalid_argument);  // no psk
  c.psk = noise::secret{};
  EXPECT_NO_THROW(noise::handshake{c});
  EXPECT_EQ(noise::find_pattern("KK"), nullptr);
}

TEST(Noise, AFailedDecryptionDoesNotUseUpANonce) {
  noise::secret key{};
  key[0] = std::byte{7};
  noise::cipher_state sender(key), receiver(key);
  std::array<std::byte, 64> wire{}, out{};
  const auto size = sender.encrypt_with_ad({}, std::as_bytes(std::span("abc", 3)), wire);
  ASSERT_TRUE(size);
  std::array<std::byte, 64> forged = wire;
  forged[0] ^= std::byte{1};
  EXPECT_FALSE(receiver.decrypt_with_ad({}, std::span(forged).first(*size), out));
  EXPECT_EQ(receiver.nonce(), 0u);
  EXPECT_TRUE(receiver.decrypt_with_ad({}, std::span(wire).first(*size), out));
  EXPECT_EQ(receiver.nonce(), 1u);
}

}  // namespace

// ChaCha20-Poly1305 runs on libsodium below noise::long_text and on OpenSSL's
// EVP from it on: both must give the RFC 8439 bytes, so a datagram sealed on
// one side opens on the other whatever each chose. libsodium (called
// directly here) is the reference, both ways, at sizes on either side of the
// switch, up to a whole offload super-frame.
TEST(NoiseAead, BothImplementationsGiveTheSameBytesAtEverySize) {
  noise::secret key{};
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::byte>(i * 7 + 1);
  const bytes ad = from_hex("0402000000000001000000000000002a");
  // (From 1 byte: a keepalive's empty text is covered by the sealed tests,
  // and an empty vector's null data() is not what a datagram gives.)
  for (const std::size_t size : {std::size_t{1}, std::size_t{64}, noise::long_text - 1, noise::long_text,
                                 noise::long_text + 1, std::size_t{1500}, std::size_t{9000}, std::size_t{65535}}) {
    const std::uint64_t counter = 0x0102030405060708ULL + size;
    bytes plain(size);
    for (std::size_t i = 0; i < size; ++i) plain[i] = static_cast<std::byte>(i * 31 + size);
    std::array<unsigned char, 12> nonce{};
    for (std::size_t i = 0; i < 8; ++i) nonce[4 + i] = static_cast<unsigned char>(counter >> (8 * i));

    // Ours sealed, libsodium opens (and gives the same tag as its own sealing).
    bytes ours = plain;
    std::array<std::byte, noise::tag_size> tag{};
    noise::encrypt(key, counter, ad, ours, tag);
    bytes reference = plain;
    std::array<std::byte, noise::tag_size> reference_tag{};
    crypto_aead_chacha20poly1305_ietf_encrypt_detached(
        ports::sodium_bytes(reference), ports::sodium_bytes(reference_tag), nullptr, ports::sodium_bytes(reference),
        size, ports::sodium_bytes(ad), ad.size(), nullptr, nonce.data(), ports::sodium_bytes(key));
    EXPECT_EQ(ours, reference) << size;
    EXPECT_EQ(tag, reference_tag) << size;

    // libsodium sealed, ours opens; a flipped bit of text, tag or additional
    // data is refused.
    bytes opened = reference;
    ASSERT_TRUE(noise::decrypt(key, counter, ad, opened, reference_tag)) << size;
    EXPECT_EQ(opened, plain) << size;
    auto forged_tag = reference_tag;
    forged_tag[3] ^= std::byte{0x10};
    bytes text = reference;
    EXPECT_FALSE(noise::decrypt(key, counter, ad, text, forged_tag)) << size;
    // What a refused message leaves: zeros (decrypted before the check), or
    // the ciphertext untouched (checked first): never the plaintext.
    EXPECT_TRUE(text == bytes(size) || text == reference) << size;
    EXPECT_NE(text, plain) << size;
    text = reference;
    text[size / 2] ^= std::byte{1};
    EXPECT_FALSE(noise::decrypt(key, counter, ad, text, reference_tag)) << size;
    bytes other_ad = ad;
    other_ad[15] ^= std::byte{1};
    text = reference;
    EXPECT_FALSE(noise::decrypt(key, counter, other_ad, text, reference_tag)) << size;
    text = reference;
    EXPECT_FALSE(noise::decrypt(key, counter + 1, ad, text, reference_tag)) << size;
  }
}

