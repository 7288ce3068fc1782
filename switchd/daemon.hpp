// daemon: builds the running switch from checked options. The constructor
// opens every device and socket or throws with a message that names the
// option, the reason and the fix — so nothing is half started: whatever was
// opened before the failure is closed again (TAPs it created vanish). run()
// serves until SIGINT or SIGTERM; SIGUSR1 logs the counters; SIGHUP (and
// `vswitchctl reload`) re-reads the options and the --config file and applies
// the difference, and reloads the --key-file and the --peers-file (also done
// when either file changes, checked each second). A bad file on reload is
// logged and changes nothing. The control socket's commands are in
// switchd/commands.cpp. The parts it wires: the port_registry (local ports,
// opened through the port_factory), the peer_set (uplinks) and the datapath.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "ports/stream_listener.hpp"
#include "switchd/control.hpp"
#include "switchd/datapath.hpp"
#include "switchd/options.hpp"
#include "switchd/peer_set.hpp"
#include "switchd/port_factory.hpp"
#include "switchd/port_registry.hpp"
#include "switchd/reload_plan.hpp"

namespace switchd {

class metrics_server;
class capture_session;

class daemon {
 public:
  /// Opens everything `opts` names. Throws startup_error. `args` are the
  /// command line's arguments (without the program name): a reload parses
  /// them, and the --config file they name, again.
  explicit daemon(const options& opts, std::vector<std::string> args = {});
  ~daemon();

  /// Serves until a stop signal; calls `ready` once everything is up.
  /// Returns the exit status.
  int run(const std::function<void()>& ready = {});

  /// The control commands it handles (the request's "cmd"), for the test
  /// that holds them to the command table.
  static std::vector<std::string_view> handled_commands();

 private:
  /// Runs the io_context until stopped: io_.run(), or with --busy-poll a loop
  /// that polls without sleeping for that long after each event.
  void run_loop();
  /// --mac-table-full and move damping, on the MAC table.
  void apply_mac_table_settings(const options& o);
  /// Listens for QEMU stream guests; each connection becomes a port.
  void open_stream_listener(const stream_listen_spec& spec);
  void wait_for_signals();
  /// Each second: watched files, idle peers, ports to attach again.
  void schedule_watch();
  /// Re-reads the options and applies the difference (plan_reload, then the
  /// registry's, the peer set's and the settings' part); the summary (or an error).
  nlohmann::json reload_config();
  /// What runs now, as plan_reload needs to know it.
  running_view running_now() const;
  void apply_settings(const reload_plan& plan);
  /// Removes a port (through the registry; captures on it end first).
  void remove_port(l2::port_id id) { registry_.remove(id); }

  // The control socket (switchd/commands.cpp): one handler per row of the
  // command table (switchd/command_table.hpp).
  struct request;
  void handle_request(const std::string& cmd, const nlohmann::json& args,
                      const std::shared_ptr<control_client>& client);
  static const std::map<std::string_view, void (daemon::*)(request&)>& handlers();
  void cmd_show(request& r);
  void cmd_fdb_show(request& r);
  void cmd_fdb_add(request& r);
  void cmd_fdb_del(request& r);
  void cmd_fdb_flush(request& r);
  void cmd_port_add(request& r);
  void cmd_port_del(request& r);
  void cmd_uplink_add(request& r);
  void cmd_uplink_del(request& r);
  void cmd_log_level(request& r);
  void cmd_reload(request& r);
  void cmd_capture(request& r);
  nlohmann::json status() const;
  void start_capture(const nlohmann::json& args, const std::shared_ptr<control_client>& client);
  void end_capture(capture_session* c, const char* reason);
  /// Logs the peers' and the datapath's counters.
  void log_counters() const;

  options opts_;
  std::vector<std::string> args_;  ///< the command line, parsed again on reload
  boost::asio::io_context io_{1};
  system_port_factory factory_{io_};
  // (Declared before the datapath, which holds the uplink ports: the peer
  // set's UDP endpoint outlives them. It only keeps references meanwhile.)
  peer_set peers_{io_, datapath_, registry_, opts_};
  datapath datapath_;
  port_registry registry_{datapath_, factory_};
  std::vector<std::unique_ptr<ports::stream_listener>> listeners_;  ///< --stream-listen
  boost::asio::signal_set signals_;
  boost::asio::steady_timer watch_timer_;
  boost::asio::steady_timer stop_timer_;  ///< bounds the wait for control clients at exit
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::unique_ptr<control_server> control_;
  std::unique_ptr<metrics_server> metrics_;
  std::vector<std::unique_ptr<capture_session>> captures_;
};

}  // namespace switchd
