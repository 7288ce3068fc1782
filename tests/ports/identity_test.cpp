// Tests of host identities (ports/identity.hpp): keys in WireGuard's base64
// form (RFC 7748's X25519 example: Alice's key pair), identity files as
// `wg genkey` writes them, and every error a user can make in one.
#include "ports/identity.hpp"

#include <gtest/gtest.h>

namespace {

namespace identity = ports::identity;
namespace noise = ports::noise;

// RFC 7748, section 6.1: Alice's private and public keys, in base64.
constexpr std::string_view alice_private = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=";
constexpr std::string_view alice_public = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=";

TEST(Identity, AnIdentityFileGivesItsPublicKey) {
  const identity::identity_file f = identity::parse_identity_file(std::string(alice_private) + "\n");
  ASSERT_TRUE(f.keys) << f.error;
  EXPECT_EQ(identity::to_base64(f.keys->public_key), alice_public);
  EXPECT_EQ(identity::format_identity_file(*f.keys), std::string(alice_private) + "\n");
}

TEST(Identity, CommentsBlankLinesAndSpacesAreIgnored) {
  const identity::identity_file f =
      identity::parse_identity_file("# host h1\n\n   " + std::string(alice_private) + "  # the key\n\n");
  ASSERT_TRUE(f.keys) << f.error;
  EXPECT_EQ(identity::to_base64(f.keys->public_key), alice_public);
}

TEST(Identity, ABadIdentityFileSaysWhatIsWrongWithoutShowingTheKey) {
  const auto error_of = [](std::string_view text) { return identity::parse_identity_file(text).error; };
  EXPECT_NE(error_of("").find("no private key"), std::string::npos);
  EXPECT_NE(error_of("# only a comment\n").find("no private key"), std::string::npos);
  const std::string two = std::string(alice_private) + "\n" + std::string(alice_private) + "\n";
  EXPECT_NE(error_of(two).find("line 2: a second key"), std::string::npos);
  // A hex key (a --key-file) is not an identity.
  const std::string hex(64, 'a');
  const std::string wrong = error_of(hex);
  EXPECT_NE(wrong.find("line 1: not a private key"), std::string::npos);
  EXPECT_NE(wrong.find("--generate-identity"), std::string::npos);
  std::string bad_char(alice_private);
  bad_char[3] = '!';
  EXPECT_NE(error_of(bad_char).find("not a private key"), std::string::npos);
  EXPECT_EQ(error_of(bad_char).find(bad_char), std::string::npos);
  EXPECT_FALSE(identity::parse_identity_file(bad_char).keys);
}

TEST(Identity, PublicKeysParseAndRoundTrip) {
  std::string error;
  const auto key = identity::parse_public_key(std::string(" ") + std::string(alice_public) + "\n", error);
  ASSERT_TRUE(key) << error;
  EXPECT_EQ(identity::to_base64(*key), alice_public);
  EXPECT_FALSE(identity::parse_public_key("abc", error));
  EXPECT_NE(error.find("44 characters"), std::string::npos);
  std::string bad(alice_public);
  bad[43] = 'A';  // the padding is not base64 of 32 bytes any more
  EXPECT_FALSE(identity::parse_public_key(bad, error));
  EXPECT_NE(error.find("not valid base64"), std::string::npos);
}

TEST(Identity, GeneratedIdentitiesDifferAndRoundTrip) {
  const noise::key_pair a = noise::key_pair::generate();
  const noise::key_pair b = noise::key_pair::generate();
  EXPECT_NE(a.public_key, b.public_key);
  const identity::identity_file f = identity::parse_identity_file(identity::format_identity_file(a));
  ASSERT_TRUE(f.keys);
  EXPECT_EQ(f.keys->public_key, a.public_key);
  EXPECT_EQ(identity::to_base64(a.public_key).size(), 44u);
}

}  // namespace
