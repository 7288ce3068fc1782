// daemon: builds the running switch from checked options. The constructor
// opens every device and socket or throws with a message that names the
// option, the reason and the fix — so nothing is half started: whatever was
// opened before the failure is closed again (TAPs it created vanish). run()
// serves until SIGINT or SIGTERM; SIGUSR1 logs the counters.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <memory>

#include "ports/udp_uplink.hpp"
#include "switchd/datapath.hpp"
#include "switchd/options.hpp"

namespace switchd {

/// A start-up failure; the message is for the user as it stands.
class startup_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class daemon {
 public:
  /// Opens everything `opts` names. Throws startup_error.
  explicit daemon(const options& opts);
  ~daemon();

  /// Serves until a stop signal. Returns the exit status.
  int run();

 private:
  void open_port(const port_spec& spec);
  void open_uplinks(const options& opts);
  void wait_for_signals();
  /// Logs the UDP endpoint's counters, then the datapath's.
  void log_counters() const;

  boost::asio::io_context io_{1};
  std::unique_ptr<ports::udp_endpoint> endpoint_;  ///< outlives the uplink ports that use it
  datapath datapath_;
  boost::asio::signal_set signals_;
};

}  // namespace switchd
