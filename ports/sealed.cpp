// sealed: the version 1 codec over libsodium (see sealed.hpp). Byte order is
// handled in write_header() and parse() only.
#include "ports/sealed.hpp"

#include <sodium.h>

#include <stdexcept>

#include "l2/byte_order.hpp"

namespace ports::sealed {
namespace {

// Header field offsets.
constexpr std::size_t version_offset = 0;
constexpr std::size_t type_offset = 1;
constexpr std::size_t reserved_offset = 2;
constexpr std::size_t key_id_offset = 4;
constexpr std::size_t sender_offset = 8;
constexpr std::size_t receiver_offset = 16;
constexpr std::size_t sequence_offset = 24;
/// Additional data: the bytes before the nonce.
constexpr std::size_t additional_size = sender_offset;
/// Nonce: sender, receiver and sequence.
constexpr std::size_t nonce_offset = sender_offset;

static_assert(header_size - nonce_offset == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
static_assert(tag_size == crypto_aead_xchacha20poly1305_ietf_ABYTES);
static_assert(key_size == crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
static_assert(overhead == 48);

constexpr std::string_view key_id_message = "vswitchd key id v1";
constexpr std::size_t key_id_hash_size = 16;

using l2::byte_order::load16;
using l2::byte_order::load32;
using l2::byte_order::load64;
using l2::byte_order::load8;
using l2::byte_order::store16;
using l2::byte_order::store32;
using l2::byte_order::store64;

const unsigned char* bytes_of(const key& k) { return reinterpret_cast<const unsigned char*>(k.data()); }
unsigned char* bytes_of(std::span<std::byte> s) { return reinterpret_cast<unsigned char*>(s.data()); }

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

/// The value of a hex digit, or -1.
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr std::string_view generate_hint = "`vswitchd --generate-key` prints one";

}  // namespace

void initialize() {
  // A function-local static: sodium_init() runs once (again only if it threw),
  // and later calls cost one check.
  static const bool initialized = [] {
    if (sodium_init() < 0)
      throw std::runtime_error("libsodium could not be initialized (sodium_init failed)");
    return true;
  }();
  (void)initialized;
}

std::uint32_t key_id_of(const key& k) {
  initialize();
  std::array<std::byte, key_id_hash_size> hash{};
  crypto_generichash(reinterpret_cast<unsigned char*>(hash.data()), hash.size(),
                     reinterpret_cast<const unsigned char*>(key_id_message.data()), key_id_message.size(),
                     bytes_of(k), k.size());
  return load32(hash, 0);
}

void write_header(const header& h, std::span<std::byte> out) {
  out[version_offset] = std::byte{version};
  out[type_offset] = static_cast<std::byte>(h.type);
  store16(out, reserved_offset, 0);
  store32(out, key_id_offset, h.key_id);
  store64(out, sender_offset, h.sender);
  store64(out, receiver_offset, h.receiver);
  store64(out, sequence_offset, h.sequence);
}

std::size_t seal_in_place(const key& k, const header& h, std::span<std::byte> datagram,
                          std::size_t payload_size) {
  initialize();
  if (datagram.size() < overhead || payload_size > datagram.size() - overhead) return 0;
  // 1. The header: additional data and nonce.
  write_header(h, datagram);
  // 2. Encrypt the payload in place; the tag goes right after it.
  const std::span<std::byte> payload = datagram.subspan(header_size, payload_size);
  const std::span<std::byte> tag = datagram.subspan(header_size + payload_size, tag_size);
  crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
      bytes_of(payload), bytes_of(tag), nullptr, bytes_of(payload), payload.size(), bytes_of(datagram),
      additional_size, nullptr, bytes_of(datagram) + nonce_offset, bytes_of(k));
  return payload_size + overhead;
}

parsed parse(std::span<const std::byte> datagram) {
  parsed out;
  // 1. Length: header and tag.
  if (datagram.size() < overhead) {
    out.reason = l2::drop_reason::sealed_short;
    return out;
  }
  // 2. Version, a known type, reserved zero.
  const std::uint8_t type = load8(datagram, type_offset);
  if (load8(datagram, version_offset) != version || type > static_cast<std::uint8_t>(message::offload) ||
      load16(datagram, reserved_offset) != 0) {
    out.reason = l2::drop_reason::sealed_bad_version;
    return out;
  }
  // 3. The fields.
  out.h.type = static_cast<message>(type);
  out.h.key_id = load32(datagram, key_id_offset);
  out.h.sender = load64(datagram, sender_offset);
  out.h.receiver = load64(datagram, receiver_offset);
  out.h.sequence = load64(datagram, sequence_offset);
  out.ok = true;
  return out;
}

std::optional<std::span<std::byte>> open_in_place(const key& k, std::span<std::byte> datagram) {
  initialize();
  if (datagram.size() < overhead) return std::nullopt;
  const std::size_t payload_size = datagram.size() - overhead;
  const std::span<std::byte> payload = datagram.subspan(header_size, payload_size);
  const std::span<std::byte> tag = datagram.subspan(header_size + payload_size, tag_size);
  if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
          bytes_of(payload), nullptr, bytes_of(payload), payload.size(), bytes_of(tag), bytes_of(datagram),
          additional_size, bytes_of(datagram) + nonce_offset, bytes_of(k)) != 0)
    return std::nullopt;
  return payload;
}

key_file parse_key_file(std::string_view text) {
  key_file out;
  std::vector<std::size_t> key_lines;  // line number of each key, for messages
  std::size_t line_number = 0;
  while (!text.empty()) {
    // 1. One line, without its comment and surrounding whitespace.
    ++line_number;
    const std::size_t end = text.find('\n');
    const std::string_view raw = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    const std::string_view line = trim(raw.substr(0, raw.find('#')));
    if (line.empty()) continue;
    const std::string where = "line " + std::to_string(line_number) + ": ";

    // 2. Exactly 64 hex digits.
    if (line.size() != 2 * key_size) {
      out.error = where + "not a key: expected 64 hex digits (32 bytes), found " +
                  std::to_string(line.size()) + " characters; put one key per line (" +
                  std::string(generate_hint) + ") and start comments with #";
      break;
    }
    key k{};
    std::size_t bad = line.size();  // index of the first character that is not a hex digit
    for (std::size_t i = 0; i < line.size(); ++i) {
      if (hex_value(line[i]) < 0) {
        bad = i;
        break;
      }
    }
    if (bad != line.size()) {
      const std::size_t column = static_cast<std::size_t>(line.data() - raw.data()) + bad + 1;
      out.error = where + "not a key: column " + std::to_string(column) +
                  " is not a hex digit (0-9, a-f); put one key per line (" + std::string(generate_hint) +
                  ") and start comments with #";
      break;
    }
    for (std::size_t i = 0; i < k.size(); ++i)
      k[i] = static_cast<std::byte>(hex_value(line[2 * i]) * 16 + hex_value(line[2 * i + 1]));

    // 3. At most two keys, all different.
    bool duplicate = false;
    for (std::size_t i = 0; i < out.keys.size(); ++i) {
      if (sodium_memcmp(out.keys[i].data(), k.data(), k.size()) == 0) {
        out.error = where + "the same key as line " + std::to_string(key_lines[i]) +
                    "; remove one of them";
        duplicate = true;
        break;
      }
    }
    if (duplicate) break;
    if (out.keys.size() == 2) {
      out.error = where + "a third key; a key file holds 1 or 2 keys (the first seals, each opens): "
                  "remove the key that is no longer in use";
      break;
    }
    out.keys.push_back(k);
    key_lines.push_back(line_number);
  }
  if (out.error.empty() && out.keys.empty())
    out.error = "no key in the file; add one line of 64 hex digits (" + std::string(generate_hint) + ")";
  if (!out.error.empty()) out.keys.clear();
  return out;
}

std::string format_key(const key& k) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * k.size());
  for (std::byte b : k) {
    out.push_back(digits[std::to_integer<unsigned>(b) >> 4]);
    out.push_back(digits[std::to_integer<unsigned>(b) & 0x0f]);
  }
  return out;
}

key generate_key() {
  initialize();
  key k;
  randombytes_buf(k.data(), k.size());
  return k;
}

std::uint64_t random_instance() {
  initialize();
  std::uint64_t value = 0;
  while (value == 0) randombytes_buf(&value, sizeof value);
  return value;
}

}  // namespace ports::sealed
