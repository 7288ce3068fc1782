#include "ports/log_limiter.hpp"

namespace ports {

bool log_limiter::admit(clock::time_point now) {
  if (!started_ || now - window_start_ >= interval_) {
    started_ = true;
    window_start_ = now;
    in_window_ = 0;
  }
  if (in_window_ < burst_) {
    ++in_window_;
    return true;
  }
  ++passed_over_;
  ++passed_over_total_;
  return false;
}

void log_limiter::log(spdlog::level::level_enum level, std::string_view text,
                      clock::time_point now) {
  if (!admit(now)) return;
  const std::uint64_t more = take_passed_over();
  if (more == 0) {
    spdlog::log(level, "{}", text);
  } else {
    spdlog::log(level, "{} ({} more like it not logged)", text, more);
  }
}

}  // namespace ports
