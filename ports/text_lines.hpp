// text_lines: the lines of a hand-edited file (key files, identities, peers
// files, allowed keys): `#` starts a comment, surrounding whitespace and
// blank lines are ignored, and each line keeps its number for messages.
#pragma once

#include <cctype>
#include <cstddef>
#include <string_view>

namespace ports {

/// `s` without whitespace at either end.
inline std::string_view trim_space(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

class text_lines {
 public:
  explicit text_lines(std::string_view text) : rest_(text) {}

  /// Moves to the next line with content; false at the end of the text.
  bool next() {
    while (!rest_.empty()) {
      ++number_;
      const std::size_t end = rest_.find('\n');
      raw_ = rest_.substr(0, end);
      rest_ = end == std::string_view::npos ? std::string_view{} : rest_.substr(end + 1);
      line_ = trim_space(raw_.substr(0, raw_.find('#')));
      if (!line_.empty()) return true;
    }
    return false;
  }
  /// The line without its comment and surrounding whitespace.
  std::string_view line() const { return line_; }
  /// The whole line as written (for column numbers).
  std::string_view raw() const { return raw_; }
  /// Its number, from 1.
  std::size_t number() const { return number_; }

 private:
  std::string_view rest_;
  std::string_view raw_, line_;
  std::size_t number_ = 0;
};

}  // namespace ports
