#include "ports/identity.hpp"

#include <sodium.h>

#include "ports/text_lines.hpp"

namespace ports::identity {
namespace {

constexpr std::size_t base64_size = 44;  ///< 32 bytes with padding
constexpr int variant = sodium_base64_VARIANT_ORIGINAL;

/// 32 bytes from 44 characters of base64, or nullopt.
std::optional<noise::secret> decode(std::string_view text) {
  if (text.size() != base64_size) return std::nullopt;
  noise::secret out{};
  std::size_t size = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(), text.size(),
                        nullptr, &size, nullptr, variant) != 0 ||
      size != out.size())
    return std::nullopt;
  return out;
}

constexpr std::string_view generate_hint = "`vswitchd --generate-identity FILE` makes one";

}  // namespace

std::string to_base64(std::span<const std::byte, noise::dh_size> key) {
  noise::initialize();
  char out[base64_size + 1];
  sodium_bin2base64(out, sizeof out, reinterpret_cast<const unsigned char*>(key.data()), key.size(), variant);
  return std::string(out, base64_size);
}

std::optional<noise::public_key> parse_public_key(std::string_view text, std::string& error) {
  noise::initialize();
  text = trim_space(text);
  if (text.size() != base64_size) {
    error = "not a public key: expected 44 characters of base64 (as `vswitchd --public-key FILE` or "
            "`wg pubkey` print), found " + std::to_string(text.size());
    return std::nullopt;
  }
  const std::optional<noise::secret> bytes = decode(text);
  if (!bytes) {
    error = "not a public key: not valid base64 of 32 bytes (as `vswitchd --public-key FILE` prints)";
    return std::nullopt;
  }
  noise::public_key key;
  std::copy(bytes->begin(), bytes->end(), key.begin());
  return key;
}

identity_file parse_identity_file(std::string_view text) {
  noise::initialize();
  identity_file out;
  std::size_t key_line = 0;
  text_lines lines(text);
  while (lines.next()) {
    const std::size_t line_number = lines.number();
    const std::string_view line = lines.line();
    const std::string where = "line " + std::to_string(line_number) + ": ";
    if (key_line != 0) {
      out.error = where + "a second key (the first is on line " + std::to_string(key_line) +
                  "); an identity file holds one private key";
      break;
    }
    std::optional<noise::secret> key = decode(line);
    if (!key) {
      out.error = where + "not a private key: expected 44 characters of base64, found " +
                  std::to_string(line.size()) + " characters; " + std::string(generate_hint);
      break;
    }
    out.keys = noise::key_pair::from_private(*key);
    sodium_memzero(key->data(), key->size());
    key_line = line_number;
  }
  if (out.error.empty() && !out.keys) out.error = "no private key in the file; " + std::string(generate_hint);
  if (!out.error.empty()) out.keys.reset();
  return out;
}

std::string format_identity_file(const noise::key_pair& keys) { return to_base64(keys.private_key) + "\n"; }

}  // namespace ports::identity
