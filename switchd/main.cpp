// vswitchd: the daemon's entry point. Parses the options, sets up logging,
// builds the switch (daemon) and runs it. Exit status: 0 after a clean stop,
// 2 for a bad option, 1 when the switch cannot start.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <iostream>

#include "ports/sealed.hpp"
#include "switchd/daemon.hpp"
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
      ports::sealed::initialize();
      std::cout << ports::sealed::format_key(ports::sealed::generate_key()) << "\n";
      return 0;
    case switchd::command::action::run:
      break;
  }

  auto logger = spdlog::stderr_color_mt("vswitchd");
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$: %v");
  logger->set_level(spdlog::level::from_str(cmd.opts.log_level));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  std::signal(SIGPIPE, SIG_IGN);

  try {
    ports::sealed::initialize();
    switchd::daemon d(cmd.opts);
    return d.run();
  } catch (const switchd::startup_error& e) {
    spdlog::error("{}", e.what());
    spdlog::error("not started; nothing was left behind");
    return 1;
  } catch (const std::exception& e) {
    spdlog::error("internal error: {}", e.what());
    return 1;
  }
}
