// The reference in docs/ and the help agree with the tables they come from:
// docs/options.md is what the option table makes (regenerate it with
// `build/switchd/vswitchd-docs docs`), and --help names every option with
// its value and default.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "switchd/option_table.hpp"

namespace switchd {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(docs, options_md_is_generated_from_the_option_table) {
  const std::string path = std::string(VSWITCHD_SOURCE_DIR) + "/docs/options.md";
  EXPECT_EQ(read_file(path), options_markdown())
      << path << " is not what the option table makes: run build/switchd/vswitchd-docs docs";
}

TEST(docs, help_names_every_option_its_value_and_default) {
  const std::string help = help_text();
  for (const option_row& r : option_table()) {
    const std::string name = "--" + r.name + (r.value_name.empty() ? "" : " " + r.value_name);
    EXPECT_NE(help.find(name), std::string::npos) << "--help lacks " << name;
    if (!r.default_text.empty()) {
      // (Boost wraps long lines, also inside long words: compare without white space.)
      const auto squeeze = [](const std::string& text) {
        std::string out;
        for (char c : text) {
          if (c != ' ' && c != '\n') out += c;
        }
        return out;
      };
      EXPECT_NE(squeeze(help).find(squeeze("(default " + r.default_text + ")")), std::string::npos)
          << "--help lacks the default of --" << r.name;
    }
  }
}

TEST(docs, every_setting_says_what_a_reload_does) {
  for (const option_row& r : option_table()) {
    if (r.reload == reload_effect::none) continue;
    options a, b;
    EXPECT_TRUE(r.same(a, b)) << "--" << r.name;
  }
}

}  // namespace
}  // namespace switchd
