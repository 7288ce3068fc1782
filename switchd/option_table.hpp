// option_table: every vswitchd option, declared once. A row holds the long
// name, the value's name, the default as --help shows it, the help text,
// what a reload does with a changed value, whether it repeats, and how its
// value is parsed into `options` (and compared and kept for reload). The
// command line, `--config FILE`, `--help`, the reload (which values apply at
// once and which need a restart) and docs/options.md are all read from this
// table; tests/switchd/docs_test.cpp fails when docs/options.md is not what
// the table makes. Adding an option is adding a row (and its field in
// `options`).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "switchd/options.hpp"

namespace switchd {

/// What a reload does when the option's value changed.
enum class reload_effect {
  none,     ///< not a setting: --help, --version, --generate-key, --config, ...
  at_once,  ///< applied by the reload (log level, MAC aging, ...)
  diff,     ///< a list the reload diffs: ports and uplinks added, removed or reopened
  restart,  ///< fixed while running: reported as "restart needed", running value kept
};

/// "at once", "diff", "restart", "".
std::string_view to_string(reload_effect effect);

struct option_row {
  std::string name;          ///< long name without dashes, e.g. "mac-aging"
  std::string value_name;    ///< e.g. "SECONDS"; empty for a switch (no value)
  std::string default_text;  ///< the default as shown; empty: none
  std::string help;          ///< what it does, one paragraph
  reload_effect reload = reload_effect::restart;
  bool repeatable = false;   ///< may be given more than once (values in order)
  /// Parses one value into `o` (called for each value, in order; a switch
  /// gets ""); throws options_error naming the option and the fix.
  std::function<void(options& o, const std::string& value)> set;
  /// Whether `a` and `b` hold the same value (settings only).
  std::function<bool(const options& a, const options& b)> same;
  /// Copies the value from `from` into `to` (a reload keeps a restart option's running value).
  std::function<void(options& to, const options& from)> keep;
};

/// Every option, in the order --help lists them.
const std::vector<option_row>& option_table();

/// The --help text.
std::string help_text();

/// docs/options.md: the options as a Markdown reference.
std::string options_markdown();

}  // namespace switchd
