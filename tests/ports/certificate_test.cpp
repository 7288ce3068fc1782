// Tests of overlay certificates (ports/certificate.hpp): a CA signs, a host's
// certificate checks out for its key within its validity, and every way one
// can be wrong is named: another CA, another key, not yet valid, expired,
// altered bytes, truncation, a bad name.
#include "ports/certificate.hpp"

#include <gtest/gtest.h>

namespace {

namespace cert = ports::certificate;
namespace noise = ports::noise;
using namespace std::chrono_literals;

const cert::time_point t0 = cert::time_point(std::chrono::seconds(1'800'000'000));

cert::contents host(const noise::public_key& key, std::string name = "h1.lab") {
  cert::contents c;
  c.host_key = key;
  c.name = std::move(name);
  c.not_before = t0;
  c.not_after = t0 + 24h * 30;
  return c;
}

TEST(Certificate, ASignedCertificateChecksOutForItsKeyWithinItsValidity) {
  const cert::ca_keys ca = cert::generate_ca();
  const noise::key_pair h = noise::key_pair::generate();
  cert::contents c = host(h.public_key);
  c.vlans = {10, 20};
  const std::vector<std::byte> bytes = cert::sign(c, ca);
  EXPECT_LE(bytes.size(), cert::max_size);
  cert::contents got;
  EXPECT_EQ(cert::check(bytes, ca.public_key, h.public_key, t0 + 1h, &got), std::nullopt);
  EXPECT_EQ(got.name, "h1.lab");
  EXPECT_EQ(got.vlans, (std::vector<std::uint16_t>{10, 20}));
  EXPECT_EQ(got.not_after, t0 + 24h * 30);
  // Round trip through base64, as in a file.
  const auto again = cert::from_base64(cert::to_base64(bytes) + "\n");
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, bytes);
  EXPECT_EQ(cert::fingerprint(bytes).size(), 32u);
}

TEST(Certificate, EveryWrongCertificateIsNamed) {
  const cert::ca_keys ca = cert::generate_ca();
  const cert::ca_keys other_ca = cert::generate_ca();
  const noise::key_pair h = noise::key_pair::generate();
  const noise::key_pair other = noise::key_pair::generate();
  const std::vector<std::byte> bytes = cert::sign(host(h.public_key), ca);
  EXPECT_EQ(cert::check(bytes, other_ca.public_key, h.public_key, t0 + 1h), "signed by another CA");
  EXPECT_EQ(cert::check(bytes, ca.public_key, other.public_key, t0 + 1h), "issued for another key");
  EXPECT_EQ(cert::check(bytes, ca.public_key, h.public_key, t0 - 1s), "not valid yet");
  EXPECT_EQ(cert::check(bytes, ca.public_key, h.public_key, t0 + 24h * 30), "expired");
  // A certificate signed by another CA that names our CA: the signature fails.
  cert::contents forged = host(h.public_key);
  std::vector<std::byte> by_other = cert::sign(forged, other_ca);
  std::copy(ca.public_key.begin(), ca.public_key.end(), by_other.end() - 64 - 32);
  EXPECT_EQ(cert::check(by_other, ca.public_key, h.public_key, t0 + 1h), "the certificate's signature is not valid");
  // Any altered byte: refused.
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    std::vector<std::byte> altered = bytes;
    altered[i] ^= std::byte{0x01};
    EXPECT_NE(cert::check(altered, ca.public_key, h.public_key, t0 + 1h), std::nullopt) << i;
  }
  for (std::size_t n = 0; n < bytes.size(); n += 7) {
    EXPECT_NE(cert::check(std::span(bytes).first(n), ca.public_key, h.public_key, t0 + 1h), std::nullopt) << n;
  }
  EXPECT_FALSE(cert::valid_name(""));
  EXPECT_FALSE(cert::valid_name("has space"));
  EXPECT_FALSE(cert::valid_name(std::string(64, 'a')));
  EXPECT_TRUE(cert::valid_name("db-2.example_net"));
  EXPECT_FALSE(cert::from_base64("not base64!"));
}

TEST(Certificate, TheCaKeyComesBackFromItsSeed) {
  const cert::ca_keys ca = cert::generate_ca();
  const cert::ca_keys again = cert::ca_from_seed(std::span(ca.secret_key).first<32>());
  EXPECT_EQ(again.public_key, ca.public_key);
}

}  // namespace
