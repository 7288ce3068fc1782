// command_table: every control command, declared once: the words vswitchctl
// takes, the request's "cmd", the positional arguments and options (and the
// request argument each becomes), the help line, what the protocol carries
// (arguments and result), and how vswitchctl prints the result. Read by
// vswitchctl's parser and --help (ctl_format.cpp), by the daemon's dispatcher
// (commands.cpp: one handler per row, checked by a test), and by
// docs/control-protocol.md, whose command table tests/switchd/docs_test.cpp
// checks against this one. It depends on nothing but nlohmann::json, so
// vswitchctl stays a small program that never links the daemon.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace control {

/// A positional argument: how --help names it, and its request argument.
struct command_param {
  std::string_view name;   ///< "MAC", as messages name it
  std::string_view arg;    ///< "mac"; empty: not sent (capture's FILE)
  std::string_view shown = {};  ///< in the synopsis, when not `name`: "trace|debug|info|warn|error"
};

/// A command's option: --port P, --vlan V, --count N, --seconds S.
struct command_option {
  std::string_view flag;        ///< "--vlan"
  std::string_view value_name;  ///< "V"
  std::string_view arg;         ///< the request argument it becomes: "vlan"
};

/// How vswitchctl prints a result (switchd/ctl_format.cpp).
using result_formatter = std::string (*)(const nlohmann::ordered_json& result);

struct command_row {
  std::string_view words;  ///< as typed: "fdb add"
  std::string_view cmd;    ///< the request's "cmd": "fdb/add"
  std::vector<command_param> params;
  std::vector<command_option> options;
  std::string_view help;        ///< vswitchctl --help, one paragraph
  std::string_view args_doc;    ///< the protocol's args column
  std::string_view result_doc;  ///< the protocol's result column
  result_formatter format = nullptr;  ///< set by vswitchctl's table (see ctl_format.cpp)
};

/// Every command, in the order --help lists them (format unset).
const std::vector<command_row>& command_table();

/// The row for the request's `cmd`, or nullptr.
const command_row* command_for(std::string_view cmd);

/// "fdb add MAC PORT [--vlan V]".
std::string synopsis(const command_row& row);

/// The Commands section of vswitchctl --help.
std::string commands_help();

/// The protocol's command table, in Markdown (docs/control-protocol.md).
std::string commands_markdown();

/// "show, stats, fdb/show, ... and capture": the cmds, for an error message.
std::string command_list();

}  // namespace control
