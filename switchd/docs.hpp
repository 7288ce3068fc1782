// docs: where the generated reference goes in docs/control-protocol.md. The
// command table sits between two marker lines; with_commands() puts the
// current one there (vswitchd-docs writes it, docs_test compares).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "switchd/command_table.hpp"

namespace switchd::docs {

inline constexpr std::string_view commands_begin =
    "<!-- commands: generated from switchd/command_table.cpp by vswitchd-docs; checked by "
    "tests/switchd/docs_test.cpp -->";
inline constexpr std::string_view commands_end = "<!-- end of commands -->";

/// `page` with control::commands_markdown() between the markers, or nullopt
/// when a marker is missing.
inline std::optional<std::string> with_commands(const std::string& page) {
  const auto begin = page.find(commands_begin);
  const auto end = page.find(commands_end);
  if (begin == std::string::npos || end == std::string::npos || end < begin) return std::nullopt;
  const auto after_begin = begin + commands_begin.size();
  return page.substr(0, after_begin) + "\n" + control::commands_markdown() + page.substr(end);
}

}  // namespace switchd::docs
