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

}  // namespace
