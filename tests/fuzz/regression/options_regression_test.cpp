// Fuzz finding (config_parse): switchd::parse_options hung, using 100% CPU
// and ever more memory, when an option name (on the command line or in the
// --config file) or a config line contained one of Boost.Program_options'
// own message placeholders: Boost formats an error by replacing
// "%canonical_option%", "%original_token%", "%value%", "%invalid_line%", ...
// with the user's text until none is left (error_with_option_name::
// replace_token), so text that contains the placeholder never runs out, and
// switchd/options.cpp called e.what() on those errors. The daemon re-runs
// parse_options on SIGHUP and `vswitchctl reload`, so such a line in the
// config file hung the running switch instead of keeping its configuration.
//
// Each case runs parse_options in a child process and expects it to end
// within 10 s, with an options_error where the text is wrong.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "switchd/options.hpp"

namespace {

enum class outcome { options_error, accepted, other_exception, hung };

std::ostream& operator<<(std::ostream& out, outcome o) {
  switch (o) {
    case outcome::options_error: return out << "options_error";
    case outcome::accepted: return out << "accepted";
    case outcome::other_exception: return out << "another exception or a crash";
    case outcome::hung: return out << "hung (killed after 10 s)";
  }
  return out;
}

outcome run_with_deadline(std::vector<std::string> args) {
  const pid_t child = fork();
  if (child == 0) {
    std::vector<const char*> argv{"vswitchd"};
    for (const auto& a : args) argv.push_back(a.c_str());
    argv.push_back(nullptr);
    try {
      (void)switchd::parse_options(static_cast<int>(argv.size() - 1), argv.data());
      _exit(1);
    } catch (const switchd::options_error&) {
      _exit(0);
    } catch (...) {
      _exit(2);
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  int status = 0;
  while (waitpid(child, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(child, SIGKILL);
      waitpid(child, &status, 0);
      return outcome::hung;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!WIFEXITED(status)) return outcome::other_exception;
  switch (WEXITSTATUS(status)) {
    case 0: return outcome::options_error;
    case 1: return outcome::accepted;
    default: return outcome::other_exception;
  }
}

class config_file {
 public:
  explicit config_file(const std::string& text) {
    char dir[] = "/tmp/vswitchd-fuzz-regression-XXXXXX";
    dir_ = mkdtemp(dir);
    path_ = dir_ + "/vswitchd.conf";
    std::ofstream(path_) << text;
  }
  ~config_file() {
    std::remove(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  const std::string& path() const { return path_; }

 private:
  std::string dir_;
  std::string path_;
};

// Minimised input (argv word): --%canonical_option% (hex 2d2d2563616e6f6e6963616c5f6f7074696f6e25).
TEST(FuzzRegression, PlaceholderInAnOptionNameIsAnErrorNotAHang) {
  EXPECT_EQ(run_with_deadline({"--%canonical_option%"}), outcome::options_error);
  EXPECT_EQ(run_with_deadline({"--x%original_token%"}), outcome::options_error);
}

// Minimised input (config file): %canonical_option%=1 (hex 2563616e6f6e6963616c5f6f7074696f6e253d31).
TEST(FuzzRegression, PlaceholderInAConfigFileIsAnErrorNotAHang) {
  for (const std::string line : {"%canonical_option%=1", "x%original_token%=1", "%invalid_line%",
                                 "clamp-mss = %value%"}) {
    SCOPED_TRACE(line);
    const config_file file("port = tap0\n" + line + "\n");
    EXPECT_EQ(run_with_deadline({"--config", file.path()}), outcome::options_error);
  }
}

// A '%' in a value, in a comment, or in a bool: accepted or an options_error
// (either is a fix), never a hang.
TEST(FuzzRegression, PercentElsewhereIsNeverAHang) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--port", "tap0", "--log-file", "/var/log/vswitchd-%h.log"},
           {"--port", "tap0", "--uplink", "h:4789", "--clamp-mss=%value%"},
           {"--port=%canonical_option%"}}) {
    const outcome o = run_with_deadline(args);
    EXPECT_TRUE(o == outcome::accepted || o == outcome::options_error) << args.back() << ": " << o;
  }
  const config_file file("port = tap0  # 100% sure\nlog-file = /var/log/%original_token%\n");
  const outcome o = run_with_deadline({"--config", file.path()});
  EXPECT_TRUE(o == outcome::accepted || o == outcome::options_error) << o;
}

}  // namespace
