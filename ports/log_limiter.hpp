// log_limiter: the one rate limit for log lines that outside events can cause
// (accept errors, flapping MAC addresses, bad input). It lets `burst` lines
// through per `interval` and counts the rest; the next line it lets through
// says how many were passed over, so nothing is hidden, only folded. Time comes
// in as a parameter so that the datapath can use its own (test) clock.
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace ports {

class log_limiter {
 public:
  using clock = std::chrono::steady_clock;

  explicit log_limiter(std::uint32_t burst = 1,
                       clock::duration interval = std::chrono::seconds(1))
      : burst_(burst), interval_(interval) {}

  /// Whether a line may be logged at `now`. Counts the lines it refuses.
  bool admit(clock::time_point now);
  /// The lines refused since the last one admitted, and resets that count:
  /// call it after admit() returned true to report them.
  std::uint64_t take_passed_over() { return std::exchange(passed_over_, 0); }
  /// The lines refused in all.
  std::uint64_t passed_over_total() const { return passed_over_total_; }

  /// Logs `text` at `level` if admit(now) lets it, followed by
  /// " (N more like it not logged)" when lines were passed over since.
  void log(spdlog::level::level_enum level, std::string_view text,
           clock::time_point now = clock::now());

 private:
  std::uint32_t burst_;
  clock::duration interval_;
  clock::time_point window_start_{};
  std::uint32_t in_window_ = 0;
  bool started_ = false;
  std::uint64_t passed_over_ = 0;
  std::uint64_t passed_over_total_ = 0;
};

}  // namespace ports
