// The reference in docs/ and the help agree with the tables they come from:
// docs/options.md is what the option table makes and docs/control-protocol.md
// holds the command table's commands (regenerate both with
// `build/switchd/vswitchd-docs docs`); --help names every option with its
// value and default; the daemon handles exactly the table's commands.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

#include "switchd/command_table.hpp"
#include "switchd/daemon.hpp"
#include "switchd/docs.hpp"
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

TEST(docs, the_protocol_page_has_the_command_table) {
  const std::string path = std::string(VSWITCHD_SOURCE_DIR) + "/docs/control-protocol.md";
  const std::string page = read_file(path);
  const auto expected = docs::with_commands(page);
  ASSERT_TRUE(expected) << path << " lacks the commands markers";
  EXPECT_EQ(page, *expected)
      << path << " is not what the command table makes: run build/switchd/vswitchd-docs docs";
}

TEST(docs, the_daemon_handles_exactly_the_commands_of_the_table) {
  std::vector<std::string_view> table;
  for (const control::command_row& r : control::command_table()) table.push_back(r.cmd);
  std::vector<std::string_view> handled = daemon::handled_commands();
  std::sort(table.begin(), table.end());
  std::sort(handled.begin(), handled.end());
  EXPECT_EQ(table, handled);
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
