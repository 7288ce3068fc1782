// Fuzz finding (control_request): vswitchctl's output formatting converted
// JSON numbers to std::uint64_t with static_cast<std::uint64_t>(double),
// which is undefined behaviour for values of 2^64 and above
// (switchd/ctl_format.cpp, count() and duration()). The daemon never sends
// such numbers, but vswitchctl must not trust what comes back over the
// socket: clang's UBSan aborted, and g++ -O2 code printed 0 ("flushed 0
// dynamic entries", "up 0s", "ports: no drops" for 1e20 runts). These cases
// expect a number at least as large as the largest counter instead (e.g.
// saturated at 18446744073709551615). GCC's -fsanitize=undefined does not
// include float-cast-overflow, so the values are checked, not just run.
#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "switchd/ctl_format.hpp"

namespace {

using vswitchctl::format_result;
using vswitchctl::json;

/// The digits captured by `pattern`'s first group in `text`, or "".
std::string first_match(const std::string& text, const std::string& pattern) {
  std::smatch m;
  return std::regex_search(text, m, std::regex(pattern)) ? m[1].str() : std::string();
}

// Input: {"flushed":1e20} (hex 7b22666c7573686564223a316532307d), cmd "fdb/flush"
// (ctl_format.cpp count(): static_cast<std::uint64_t>(std::max(0.0, value->get<double>()))).
TEST(FuzzRegression, ACounterBeyond64BitsIsNotShownAsZero) {
  const std::string out = format_result("fdb/flush", json::parse(R"({"flushed":1e20})"));
  EXPECT_GE(first_match(out, R"(flushed (\d+) dynamic)").size(), 20u) << out;  // >= 10^19
}

// The same count() sums a port's drops for `stats`.
TEST(FuzzRegression, DropsBeyond64BitsAreNotShownAsNone) {
  const std::string out =
      format_result("stats", json::parse(R"({"ports": [{"name": "p", "drops": {"runt": 1e20}}]})"));
  EXPECT_EQ(out.find("no drops"), std::string::npos) << out;
  EXPECT_GE(first_match(out, R"(runt\s+(\d+))").size(), 20u) << out;
}

// Minimised input: {"uptime_s":9e22} (hex 7b22757074696d655f73223a396532327d), cmd "show"
// (ctl_format.cpp duration(): static_cast<std::uint64_t>(std::max(0.0, seconds))).
TEST(FuzzRegression, AnUptimeBeyond64BitsIsNotShownAsZero) {
  const std::string out = format_result("show", json::parse(R"({"uptime_s":9e22})"));
  // 2^64 - 1 seconds are 213503982334601 days: at least 15 digits of days.
  EXPECT_GE(first_match(out, R"(up (\d+)d)").size(), 15u) << out;
}

// A peer's last_seen_s of a minute or more goes through the same duration().
TEST(FuzzRegression, ALastSeenBeyond64BitsIsNotShownAsZero) {
  const std::string out = format_result(
      "show", json::parse(R"({"ports": [{"name": "p", "peer": {"address": "a", "last_seen_s": 1e30}}]})"));
  EXPECT_GE(first_match(out, R"(\s(\d+)d \d\dh)").size(), 15u) << out;
}

}  // namespace
