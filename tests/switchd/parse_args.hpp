// parse(): the options of a vswitchd command line given as words (without
// the program name), for the tests of the option table and of reload.
#pragma once

#include <string>
#include <vector>

#include "switchd/options.hpp"

namespace switchd::testing {

inline command parse(std::vector<std::string> args) {
  args.insert(args.begin(), "vswitchd");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  return parse_options(static_cast<int>(argv.size()), argv.data());
}

}  // namespace switchd::testing
