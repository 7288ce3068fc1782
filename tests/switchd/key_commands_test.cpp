// Tests of the key actions (switchd/key_commands.hpp) as a user runs them:
// vswitchd --generate-identity FILE, then --public-key FILE; an existing
// file is never overwritten; a file others can read is refused.
#include "switchd/key_commands.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ports/certificate.hpp"
#include "ports/identity.hpp"
#include "tests/switchd/parse_args.hpp"

namespace {

namespace fs = std::filesystem;

struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string pattern = (fs::temp_directory_path() / "vswitchd-keys-XXXXXX").string();
    path = ::mkdtemp(pattern.data());
  }
  ~temp_dir() { fs::remove_all(path); }
};

struct result {
  int status;
  std::string out, err;
};

result run(std::vector<std::string> args) {
  const switchd::command cmd = switchd::testing::parse(args);
  std::ostringstream out, err;
  const int status = switchd::run_key_command(cmd, out, err);
  return {status, out.str(), err.str()};
}

TEST(KeyCommands, GenerateIdentityWritesAPrivateFileAndPrintsItsPublicKey) {
  const temp_dir dir;
  const std::string file = (dir.path / "h1.key").string();
  const result made = run({"--generate-identity", file});
  ASSERT_EQ(made.status, 0) << made.err;
  ASSERT_EQ(made.out.size(), 45u);  // 44 characters of base64 and a newline
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  const result shown = run({"--public-key", file});
  ASSERT_EQ(shown.status, 0) << shown.err;
  EXPECT_EQ(shown.out, made.out);
  // Two identities differ.
  const result other = run({"--generate-identity", (dir.path / "h2.key").string()});
  EXPECT_NE(other.out, made.out);
}

TEST(KeyCommands, AnExistingFileIsNeverOverwritten) {
  const temp_dir dir;
  const std::string file = (dir.path / "h1.key").string();
  ASSERT_EQ(run({"--generate-identity", file}).status, 0);
  const result before = run({"--public-key", file});
  const result again = run({"--generate-identity", file});
  EXPECT_EQ(again.status, 1);
  EXPECT_NE(again.err.find("--generate-identity " + file + ": exists"), std::string::npos) << again.err;
  EXPECT_EQ(run({"--public-key", file}).out, before.out);
}

TEST(KeyCommands, PublicKeyRefusesWhatIsNotASecretIdentity) {
  const temp_dir dir;
  const std::string missing = (dir.path / "none.key").string();
  const result gone = run({"--public-key", missing});
  EXPECT_EQ(gone.status, 1);
  EXPECT_NE(gone.err.find("--public-key " + missing + ": cannot read it"), std::string::npos) << gone.err;
  EXPECT_NE(gone.err.find("--generate-identity"), std::string::npos);

  const std::string open = (dir.path / "open.key").string();
  ASSERT_EQ(run({"--generate-identity", open}).status, 0);
  ::chmod(open.c_str(), 0644);
  const result readable = run({"--public-key", open});
  EXPECT_EQ(readable.status, 1);
  EXPECT_NE(readable.err.find("chmod 600"), std::string::npos) << readable.err;

  const std::string hex = (dir.path / "overlay.key").string();
  { std::ofstream(hex) << std::string(64, 'a') << "\n"; }
  ::chmod(hex.c_str(), 0600);
  const result wrong = run({"--public-key", hex});
  EXPECT_EQ(wrong.status, 1);
  EXPECT_NE(wrong.err.find("not a private key"), std::string::npos) << wrong.err;
}

TEST(KeyCommands, TheActionsNeedAFile) {
  EXPECT_THROW(switchd::testing::parse({"--generate-identity"}), switchd::options_error);
  EXPECT_THROW(switchd::testing::parse({"--public-key="}), switchd::options_error);
  EXPECT_EQ(switchd::testing::parse({"--public-key", "x"}).what, switchd::command::action::public_key);
}

TEST(KeyCommands, ACaSignsHostCertificates) {
  const temp_dir dir;
  const std::string ca_dir = (dir.path / "ca").string();
  const result made = run({"--ca-init", ca_dir});
  ASSERT_EQ(made.status, 0) << made.err;
  struct stat st {};
  ASSERT_EQ(::stat((ca_dir + "/ca.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  std::ifstream pub_file(ca_dir + "/ca.pub");
  std::string pub;
  std::getline(pub_file, pub);
  EXPECT_EQ(pub + "\n", made.out);
  EXPECT_EQ(run({"--ca-init", ca_dir}).status, 1);  // never over an existing CA

  const std::string id = (dir.path / "h1.id").string();
  const std::string host_key = run({"--generate-identity", id}).out.substr(0, 44);
  const result signed_ = run({"--ca-sign", ca_dir, "--name", "h1.lab", "--public-key", host_key, "--valid", "30",
                             "--vlans", "10,20-21"});
  ASSERT_EQ(signed_.status, 0) << signed_.err;
  const auto bytes = ports::certificate::from_base64(signed_.out);
  ASSERT_TRUE(bytes);
  std::string error;
  const auto ca = ports::certificate::from_base64(pub);
  ASSERT_TRUE(ca && ca->size() == 32);
  ports::certificate::ca_public_key ca_key{};
  std::copy(ca->begin(), ca->end(), ca_key.begin());
  const auto key = ports::identity::parse_public_key(host_key, error);
  ASSERT_TRUE(key) << error;
  ports::certificate::contents c;
  EXPECT_EQ(ports::certificate::check(*bytes, ca_key, *key, std::chrono::system_clock::now(), &c), std::nullopt);
  EXPECT_EQ(c.name, "h1.lab");
  EXPECT_EQ(c.vlans, (std::vector<std::uint16_t>{10, 20, 21}));
  const double days = std::chrono::duration<double>(c.not_after - c.not_before).count() / 86400;
  EXPECT_NEAR(days, 30.0, 0.01);

  EXPECT_EQ(run({"--ca-sign", ca_dir, "--name", "bad name", "--public-key", host_key}).status, 1);
  EXPECT_EQ(run({"--ca-sign", ca_dir, "--name", "h2", "--public-key", "abc"}).status, 1);
  EXPECT_THROW(switchd::testing::parse({"--ca-sign", ca_dir, "--public-key", host_key}), switchd::options_error);
  EXPECT_THROW(switchd::testing::parse({"--ca-sign", ca_dir, "--name", "h2"}), switchd::options_error);
  EXPECT_THROW(switchd::testing::parse({"--name", "h2"}), switchd::options_error);
  const result no_ca = run({"--ca-sign", (dir.path / "none").string(), "--name", "h2", "--public-key", host_key});
  EXPECT_EQ(no_ca.status, 1);
  EXPECT_NE(no_ca.err.find("--ca-init"), std::string::npos) << no_ca.err;
}

}  // namespace
