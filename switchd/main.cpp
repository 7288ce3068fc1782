// vswitchd: the daemon's entry point. Parses the options, sets up logging,
// builds the switch (daemon) and runs it. Exit status: 0 after a clean stop,
// 2 for a bad option, 1 when the switch cannot start.
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ports/sealed.hpp"
#include "switchd/daemon.hpp"
#include "switchd/key_commands.hpp"
#include "switchd/service.hpp"
#include "switchd/options.hpp"

#ifndef VSWITCHD_VERSION
#define VSWITCHD_VERSION "unknown"
#endif

int main(int argc, char** argv) {
  switchd::command cmd;
  try {
    cmd = switchd::parse_options(argc, argv);
  } catch (const switchd::options_error& e) {
    std::cerr << "vswitchd: " << e.what() << "\n";
    return 2;
  }
  switch (cmd.what) {
    case switchd::command::action::help:
      std::cout << cmd.text;
      return 0;
    case switchd::command::action::version:
      std::cout << "vswitchd " << VSWITCHD_VERSION << "\n";
      return 0;
    case switchd::command::action::generate_key:
    case switchd::command::action::generate_identity:
    case switchd::command::action::public_key:
    case switchd::command::action::ca_init:
    case switchd::command::action::ca_sign:
      return switchd::run_key_command(cmd, std::cout, std::cerr);
    case switchd::command::action::run:
      break;
  }

  // The log: a file (appended to), or stderr. Under systemd (JOURNAL_STREAM
  // set) the journal adds its own time stamps and has no use for colours.
  std::shared_ptr<spdlog::logger> logger;
  const bool journal = std::getenv("JOURNAL_STREAM") != nullptr;
  try {
    if (cmd.opts.log_file) {
      logger = spdlog::basic_logger_mt("vswitchd", *cmd.opts.log_file);
    } else if (journal) {
      logger = spdlog::stderr_logger_mt("vswitchd");
    } else {
      logger = spdlog::stderr_color_mt("vswitchd");
    }
  } catch (const spdlog::spdlog_ex& e) {
    std::cerr << "vswitchd: --log-file " << cmd.opts.log_file.value_or("") << ": cannot open it ("
              << e.what() << "); check that the directory exists and is writable\n";
    return 1;
  }
  logger->set_pattern(journal && !cmd.opts.log_file ? "%l: %v" : "%Y-%m-%d %H:%M:%S.%e %^%l%$: %v");
  logger->set_level(spdlog::level::from_str(cmd.opts.log_level));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  std::signal(SIGPIPE, SIG_IGN);

  try {
    ports::sealed::initialize();
    switchd::daemon d(cmd.opts, std::vector<std::string>(argv + 1, argv + argc));
    // Written once everything is open, so that its existence means "started".
    std::optional<switchd::pid_file> pid;
    if (cmd.opts.pid_file) pid.emplace(*cmd.opts.pid_file);
    if (cmd.opts.user) {
      switchd::drop_privileges(*cmd.opts.user);
      spdlog::info("running as {} (uid {}), with CAP_NET_ADMIN and CAP_NET_RAW only",
                   *cmd.opts.user, ::getuid());
    }
    const int status = d.run([] {
      if (!switchd::notify_systemd("READY=1")) spdlog::warn("could not tell systemd we are ready ($NOTIFY_SOCKET)");
    });
    switchd::notify_systemd("STOPPING=1");
    return status;
  } catch (const switchd::service_error& e) {
    spdlog::error("{}", e.what());
    spdlog::error("not started; nothing was left behind");
    return 1;
  } catch (const switchd::startup_error& e) {
    spdlog::error("{}", e.what());
    spdlog::error("not started; nothing was left behind");
    return 1;
  } catch (const std::exception& e) {
    spdlog::error("internal error: {}", e.what());
    return 1;
  }
}
