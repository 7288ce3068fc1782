#include "ports/certificate.hpp"

#include <sodium.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "l2/byte_order.hpp"
#include "ports/sodium_bytes.hpp"

namespace ports::certificate {
namespace {

constexpr std::string_view magic = "VSWC";
constexpr std::uint8_t version = 1;
constexpr std::size_t signature_size = crypto_sign_BYTES;
static_assert(signature_size == 64);
static_assert(sizeof(ca_public_key) == crypto_sign_PUBLICKEYBYTES);
static_assert(sizeof(ca_secret_key) == crypto_sign_SECRETKEYBYTES);

std::int64_t seconds_of(time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
time_point from_seconds(std::uint64_t s) {
  return time_point(std::chrono::seconds(static_cast<std::int64_t>(s)));
}

void put(std::vector<std::byte>& out, std::span<const std::byte> bytes) {
  for (std::byte b : bytes) out.push_back(b);  // (insert() makes GCC 12 -O3 warn falsely of an overflow)
}
void put8(std::vector<std::byte>& out, unsigned v) { out.push_back(static_cast<std::byte>(v)); }
void put64(std::vector<std::byte>& out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) put8(out, static_cast<unsigned>(v >> (8 * i)) & 0xff);
}

}  // namespace

ca_keys::~ca_keys() { sodium_memzero(secret_key.data(), secret_key.size()); }

ca_keys generate_ca() {
  noise::initialize();
  ca_keys out;
  crypto_sign_keypair(sodium_bytes(out.public_key), sodium_bytes(out.secret_key));
  return out;
}

ca_keys ca_from_seed(std::span<const std::byte, 32> seed) {
  noise::initialize();
  ca_keys out;
  crypto_sign_seed_keypair(sodium_bytes(out.public_key), sodium_bytes(out.secret_key), sodium_bytes(seed));
  return out;
}

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > max_name) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}

std::vector<std::byte> sign(contents c, const ca_keys& ca) {
  c.ca = ca.public_key;
  std::vector<std::byte> out;
  out.reserve(max_size);
  put(out, std::as_bytes(std::span(magic)));
  put8(out, version);
  put8(out, 0);
  put8(out, 0);
  put8(out, 0);
  put(out, c.host_key);
  put64(out, static_cast<std::uint64_t>(seconds_of(c.not_before)));
  put64(out, static_cast<std::uint64_t>(seconds_of(c.not_after)));
  put8(out, static_cast<unsigned>(c.name.size()));
  put(out, std::as_bytes(std::span(c.name)));
  put8(out, static_cast<unsigned>(c.vlans.size()));
  for (std::uint16_t v : c.vlans) {
    put8(out, v >> 8);
    put8(out, v & 0xff);
  }
  put(out, c.ca);
  std::array<std::byte, signature_size> signature{};
  crypto_sign_detached(sodium_bytes(signature), nullptr, sodium_bytes(out), out.size(), sodium_bytes(ca.secret_key));
  put(out, signature);
  return out;
}

std::optional<contents> decode(std::span<const std::byte> bytes, std::string& error) {
  noise::initialize();
  contents c;
  std::size_t at = 0;
  const auto need = [&](std::size_t n) { return bytes.size() >= at + n; };
  if (!need(8) || std::memcmp(bytes.data(), magic.data(), magic.size()) != 0 ||
      std::to_integer<unsigned>(bytes[4]) != version) {
    error = "not a vswitchd certificate (version 1)";
    return std::nullopt;
  }
  at = 8;
  if (!need(32 + 16 + 1)) {
    error = "truncated certificate";
    return std::nullopt;
  }
  std::copy_n(bytes.begin() + static_cast<std::ptrdiff_t>(at), 32, c.host_key.begin());
  at += 32;
  const std::uint64_t not_before = l2::byte_order::load64(bytes, at);
  const std::uint64_t not_after = l2::byte_order::load64(bytes, at + 8);
  at += 16;
  // (Beyond the year 36000 a time would overflow the clock's nanoseconds.)
  if (not_before > (std::uint64_t{1} << 40) || not_after > (std::uint64_t{1} << 40)) {
    error = "the certificate's validity is out of range";
    return std::nullopt;
  }
  c.not_before = from_seconds(not_before);
  c.not_after = from_seconds(not_after);
  const std::size_t name_size = std::to_integer<std::size_t>(bytes[at++]);
  if (!need(name_size + 1)) {
    error = "truncated certificate";
    return std::nullopt;
  }
  c.name.assign(reinterpret_cast<const char*>(bytes.data() + at), name_size);
  at += name_size;
  if (!valid_name(c.name)) {
    error = "the certificate's name is not valid";
    return std::nullopt;
  }
  const std::size_t vlan_count = std::to_integer<std::size_t>(bytes[at++]);
  if (vlan_count > max_vlans || !need(2 * vlan_count + 32 + signature_size)) {
    error = "truncated certificate";
    return std::nullopt;
  }
  for (std::size_t i = 0; i < vlan_count; ++i) c.vlans.push_back(l2::byte_order::load16(bytes, at + 2 * i));
  at += 2 * vlan_count;
  std::copy_n(bytes.begin() + static_cast<std::ptrdiff_t>(at), 32, c.ca.begin());
  at += 32;
  if (bytes.size() != at + signature_size) {
    error = "the certificate has extra bytes";
    return std::nullopt;
  }
  if (crypto_sign_verify_detached(sodium_bytes(bytes.subspan(at)), sodium_bytes(bytes), at, sodium_bytes(c.ca)) != 0) {
    error = "the certificate's signature is not valid";
    return std::nullopt;
  }
  return c;
}

std::optional<std::string> check(std::span<const std::byte> bytes, const ca_public_key& ca,
                                 const noise::public_key& host_key, time_point now, contents* out) {
  std::string error;
  const std::optional<contents> c = decode(bytes, error);
  if (!c) return error;
  if (c->ca != ca) return "signed by another CA";
  if (c->host_key != host_key) return "issued for another key";
  if (now < c->not_before) return "not valid yet";
  if (now >= c->not_after) return "expired";
  if (out != nullptr) *out = *c;
  return std::nullopt;
}

std::string fingerprint(std::span<const std::byte> bytes) {
  const noise::hash h = noise::sha256(bytes);
  return to_hex(std::span(h).first<16>());
}

std::string to_base64(std::span<const std::byte> bytes) {
  noise::initialize();
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), sodium_bytes(bytes), bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}

std::optional<std::vector<std::byte>> from_base64(std::string_view text) {
  noise::initialize();
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  std::vector<std::byte> out(text.size());
  std::size_t size = 0;
  if (sodium_base642bin(sodium_bytes(out), out.size(), text.data(), text.size(), nullptr, &size, nullptr,
                        sodium_base64_VARIANT_ORIGINAL) != 0)
    return std::nullopt;
  out.resize(size);
  return out;
}

}  // namespace ports::certificate
