// sealed: the version 2 codec over libsodium (see sealed.hpp). Byte order is
// handled here only.
#include "ports/sealed.hpp"

#include <sodium.h>

#include <algorithm>
#include <stdexcept>

#include "l2/byte_order.hpp"
#include "ports/sodium_bytes.hpp"
#include "ports/text_lines.hpp"

namespace ports::sealed {
namespace {

constexpr std::size_t version_offset = 0;
constexpr std::size_t type_offset = 1;
constexpr std::size_t reserved_offset = 2;
constexpr std::size_t receiver_offset = 4;  // data, offload, cookie
constexpr std::size_t counter_offset = 8;   // data, offload

static_assert(tag_size == crypto_aead_chacha20poly1305_ietf_ABYTES);
static_assert(crypto_generichash_BYTES_MIN <= mac_size);

using l2::byte_order::load16;
using l2::byte_order::load32;
using l2::byte_order::load64;
using l2::byte_order::load8;
using l2::byte_order::store16;
using l2::byte_order::store32;
using l2::byte_order::store64;

/// The value of a hex digit, or -1.
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr std::string_view generate_hint = "`vswitchd --generate-key` prints one";

/// The smallest datagram of each type (index: the type).
constexpr std::array<std::size_t, 7> minimum_size{
    0, initiation_size_without_identity, response_size, cookie_size, overhead,
    header_size + fragment_header_size + 1, overhead + 1};

/// BLAKE2b-256(label || key).
noise::hash labelled_hash(std::string_view label, std::span<const std::byte, 32> key) {
  initialize();
  noise::hash out{};
  crypto_generichash_state state;
  crypto_generichash_init(&state, nullptr, 0, out.size());
  crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(label.data()), label.size());
  crypto_generichash_update(&state, sodium_bytes(key), key.size());
  crypto_generichash_final(&state, sodium_bytes(out), out.size());
  return out;
}

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

parsed parse(std::span<const std::byte> datagram) {
  parsed out;
  // 1. Version, a known type, reserved zero.
  if (datagram.size() < prefix_size) {
    out.reason = l2::drop_reason::sealed_short;
    return out;
  }
  const std::uint8_t type = load8(datagram, type_offset);
  if (load8(datagram, version_offset) != version || type < 1 || type > 6 ||
      load16(datagram, reserved_offset) != 0) {
    out.reason = l2::drop_reason::sealed_bad_version;
    return out;
  }
  // 2. The size its type needs.
  out.type = static_cast<message>(type);
  if (datagram.size() < minimum_size[type]) {
    out.reason = l2::drop_reason::sealed_short;
    return out;
  }
  // 3. The fields.
  switch (out.type) {
    case message::initiation:
      out.sender = load32(datagram, 4);
      break;
    case message::response:
      out.sender = load32(datagram, 4);
      out.receiver = load32(datagram, 8);
      break;
    case message::cookie:
      out.receiver = load32(datagram, receiver_offset);
      break;
    case message::data:
    case message::offload:
    case message::control:
      out.receiver = load32(datagram, receiver_offset);
      out.counter = load64(datagram, counter_offset);
      break;
  }
  out.ok = true;
  return out;
}

void write_prefix(message type, std::span<std::byte> out) {
  out[version_offset] = std::byte{version};
  out[type_offset] = static_cast<std::byte>(type);
  store16(out, reserved_offset, 0);
}

void write_header(message type, std::uint32_t receiver, std::uint64_t counter,
                  std::span<std::byte, header_size> out) {
  write_prefix(type, out);
  store32(out, receiver_offset, receiver);
  store64(out, counter_offset, counter);
}

std::size_t seal_in_place(const key& k, message type, std::uint32_t receiver, std::uint64_t counter,
                          std::span<std::byte> datagram, std::size_t payload_size) {
  if (datagram.size() < overhead || payload_size > datagram.size() - overhead) return 0;
  write_header(type, receiver, counter, datagram.first<header_size>());
  noise::encrypt(k, counter, datagram.first(header_size), datagram.subspan(header_size, payload_size),
                 datagram.subspan(header_size + payload_size).first<tag_size>());
  return payload_size + overhead;
}

std::optional<std::span<std::byte>> open_in_place(const key& k, std::span<std::byte> datagram) {
  if (datagram.size() < overhead) return std::nullopt;
  return open_into(k, datagram, datagram.subspan(header_size));  // (the payload decrypted where it is)
}

std::optional<std::span<std::byte>> open_into(const key& k, std::span<const std::byte> datagram,
                                              std::span<std::byte> out) {
  if (datagram.size() < overhead) return std::nullopt;
  const std::size_t payload_size = datagram.size() - overhead;
  if (out.size() < payload_size) return std::nullopt;
  if (!noise::decrypt(k, load64(datagram, counter_offset), datagram.first(header_size),
                      datagram.subspan(header_size, payload_size), out.first(payload_size),
                      datagram.subspan(header_size + payload_size).first<tag_size>()))
    return std::nullopt;
  return out.first(payload_size);
}

noise::hash mac1_key(std::span<const std::byte, 32> public_key_or_psk) {
  return labelled_hash("mac1----", public_key_or_psk);
}

noise::hash cookie_key(std::span<const std::byte, 32> public_key_or_psk) {
  return labelled_hash("cookie--", public_key_or_psk);
}

mac keyed_mac(std::span<const std::byte> key, std::span<const std::byte> data) {
  initialize();
  mac out{};
  crypto_generichash(sodium_bytes(out), out.size(), sodium_bytes(data), data.size(), sodium_bytes(key), key.size());
  return out;
}

void write_mac1(const noise::hash& key, std::span<std::byte> message) {
  const std::size_t at = message.size() - 2 * mac_size;
  const mac m = keyed_mac(key, message.first(at));
  std::copy(m.begin(), m.end(), message.begin() + static_cast<std::ptrdiff_t>(at));
  std::fill(message.end() - mac_size, message.end(), std::byte{0});
}

bool check_mac1(const noise::hash& key, std::span<const std::byte> message) {
  if (message.size() < 2 * mac_size) return false;
  const std::size_t at = message.size() - 2 * mac_size;
  const mac m = keyed_mac(key, message.first(at));
  return sodium_memcmp(m.data(), message.data() + at, mac_size) == 0;
}

void write_mac2(const mac& cookie, std::span<std::byte> message) {
  const std::size_t at = message.size() - mac_size;
  const mac m = keyed_mac(cookie, message.first(at));
  std::copy(m.begin(), m.end(), message.begin() + static_cast<std::ptrdiff_t>(at));
}

bool check_mac2(const mac& cookie, std::span<const std::byte> message) {
  if (message.size() < 2 * mac_size) return false;
  const std::size_t at = message.size() - mac_size;
  const mac m = keyed_mac(cookie, message.first(at));
  return sodium_memcmp(m.data(), message.data() + at, mac_size) == 0;
}

mac mac1_of(std::span<const std::byte> message) {
  mac out{};
  if (message.size() >= 2 * mac_size)
    std::copy_n(message.end() - 2 * mac_size, mac_size, out.begin());
  return out;
}

timestamp tai64n(std::chrono::system_clock::time_point t) {
  const auto since = t.time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since);
  const auto nanoseconds = std::chrono::duration_cast<std::chrono::nanoseconds>(since - seconds);
  timestamp out{};
  store64(out, 0, (std::uint64_t{1} << 62) + static_cast<std::uint64_t>(seconds.count()));
  store32(out, 8, static_cast<std::uint32_t>(nanoseconds.count()));
  return out;
}

key_file parse_key_file(std::string_view text) {
  key_file out;
  std::vector<std::size_t> key_lines;  // line number of each key, for messages
  text_lines lines(text);
  while (lines.next()) {
    // 1. One line, without its comment and surrounding whitespace.
    const std::size_t line_number = lines.number();
    const std::string_view raw = lines.raw();
    const std::string_view line = lines.line();
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

std::string fingerprint(const key& k) {
  constexpr std::string_view label = "vswitchd key fingerprint";
  const mac m = keyed_mac(k, std::as_bytes(std::span(label)));
  return to_hex(std::span(m).first<4>());
}

std::string format_key(const key& k) { return to_hex(k); }

key generate_key() {
  initialize();
  key k;
  randombytes_buf(k.data(), k.size());
  return k;
}

std::uint32_t random_index() {
  initialize();
  std::uint32_t value = 0;
  while (value == 0) value = randombytes_random();
  return value;
}

}  // namespace ports::sealed
