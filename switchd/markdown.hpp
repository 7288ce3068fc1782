// markdown: the one escaping of text for a cell of the Markdown tables the
// reference pages are generated with (docs/options.md, the command table).
#pragma once

#include <string>
#include <string_view>

namespace markdown {

/// `text` with every '|' escaped, so it stays in its table cell.
inline std::string cell(std::string_view text) {
  std::string escaped;
  for (char c : text) {
    if (c == '|') escaped += '\\';
    escaped += c;
  }
  return escaped;
}

}  // namespace markdown
