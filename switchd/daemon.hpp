// daemon: builds the running switch from checked options. The constructor
// opens every device and socket or throws with a message that names the
// option, the reason and the fix — so nothing is half started: whatever was
// opened before the failure is closed again (TAPs it created vanish). run()
// serves until SIGINT or SIGTERM; SIGUSR1 logs the counters; SIGHUP (and
// `vswitchctl reload`) re-reads the options and the --config file and applies
// the difference, and reloads the --key-file and the --peers-file (also done
// when either file changes, checked each second). A bad file on reload is
// logged and changes nothing. The control socket's commands are in
// switchd/commands.cpp.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <optional>

#include "ports/stream_listener.hpp"
#include "ports/udp_uplink.hpp"
#include "switchd/control.hpp"
#include "switchd/datapath.hpp"
#include "switchd/options.hpp"
#include "switchd/reload_plan.hpp"

namespace switchd {

/// Reads and checks a --key-file: it must not be readable or writable by
/// group or others. Throws std::runtime_error with a message naming the fix.
std::vector<ports::sealed::key> load_key_file(const std::string& path);

/// A start-up failure; the message is for the user as it stands.
class startup_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

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

 private:
  /// Identity of a file for change detection: inode, size, mtime and ctime
  /// (a chmod changes only the ctime).
  struct file_stamp {
    std::uint64_t inode = 0, size = 0;
    std::int64_t mtime_ns = 0, ctime_ns = 0;
    bool exists = false;
    friend bool operator==(const file_stamp&, const file_stamp&) = default;
  };
  static file_stamp stamp_of(const std::string& path);

  /// Opens and adds a port; throws startup_error naming `option` (e.g. "--port").
  void open_port(const port_spec& spec, const std::string& option = "--port");
  /// --mac-table-full and move damping, on the MAC table.
  void apply_mac_table_settings(const options& o);
  /// Opens the device `spec` names as port `id`. Throws ports::port_error.
  std::unique_ptr<ports::port> attach(const port_spec& spec, l2::port_id id);
  void open_uplinks(const options& opts, const std::vector<host_port>& file_peers);
  /// Listens for QEMU stream guests; each connection becomes a port.
  void open_stream_listener(const stream_listen_spec& spec);
  /// Adds an uplink to `remote` unless it is a duplicate or our own address;
  /// returns its port id. `why_not` gets the reason it was refused.
  std::optional<l2::port_id> add_uplink(const host_port& hp,
                                        const boost::asio::ip::udp::endpoint& remote,
                                        std::string& why_not);
  /// Group mode: a new peer for a stranger's valid VXLAN (nullptr when at the limit).
  ports::uplink_port* learn_peer(const boost::asio::ip::udp::endpoint& from);
  /// Removes learned peers silent for --mac-aging.
  void forget_idle_peers();
  /// Whether `remote` is this daemon: our port on one of this host's addresses.
  bool is_this_host(const boost::asio::ip::udp::endpoint& remote) const;
  void wait_for_signals();
  /// Checks the watched files once a second.
  void schedule_watch();
  void reload_keys();
  void reload_peers();
  /// Attaches again ports whose TAP or interface was deleted and is back.
  void reattach_gone_ports();
  /// Re-reads the options and applies the difference (plan_reload, then the
  /// apply_ steps); the summary (or an error).
  nlohmann::json reload_config();
  /// What runs now, as plan_reload needs to know it.
  running_view running_now() const;
  void apply_port_changes(const reload_plan& plan, nlohmann::json& result);
  void apply_peer_changes(const reload_plan& plan, nlohmann::json& result);
  void apply_settings(const reload_plan& plan);
  /// Starts resolving `hp` and, if still_wanted() then, adds it as an uplink;
  /// `done` gets the new port's id or the reason it was not added.
  void add_uplink_async(const host_port& hp, std::function<bool()> still_wanted,
                        std::function<void(std::optional<l2::port_id>, const std::string&)> done);
  /// Removes a port (and ends captures on it).
  void remove_port(l2::port_id id);
  /// Removes a port that is to be opened again under the same name (gone and
  /// back, or changed by a reload): its static MAC entries are held for it.
  void remove_port_to_reopen(l2::port_id id);
  /// open_port(), then what the name had: no longer waited for (if it was),
  /// and its held static entries back.
  void reopen_port(const port_spec& spec, const std::string& option);
  /// Gives the port just opened as `name` the static entries held for it.
  void restore_static_entries(const std::string& name);
  /// Drops a held static entry (vswitchctl fdb add or del said newer); whether there was one.
  bool forget_held_static(l2::vlan_id vlan, const l2::mac_address& mac);
  /// The port called `name`, if any.
  std::optional<l2::port_id> port_named(const std::string& name) const;

  // The control socket (switchd/commands.cpp).
  void handle_request(const std::string& cmd, const nlohmann::json& args,
                      const std::shared_ptr<control_client>& client);
  nlohmann::json status() const;
  void start_capture(const nlohmann::json& args, const std::shared_ptr<control_client>& client);
  void end_capture(capture_session* c, const char* reason);
  /// Logs the UDP endpoint's counters and the peers' state, then the datapath's.
  void log_counters() const;

  options opts_;
  std::vector<std::string> args_;  ///< the command line, parsed again on reload
  boost::asio::io_context io_{1};
  std::unique_ptr<ports::udp_endpoint> endpoint_;  ///< outlives the uplink ports that use it
  datapath datapath_;
  std::vector<std::unique_ptr<ports::stream_listener>> listeners_;  ///< --stream-listen
  boost::asio::signal_set signals_;
  boost::asio::steady_timer watch_timer_;
  boost::asio::steady_timer stop_timer_;  ///< bounds the wait for control clients at exit
  std::unique_ptr<ports::resolver> resolver_;
  file_stamp key_stamp_;
  file_stamp peers_stamp_;
  std::map<std::string, l2::port_id> file_peers_;  ///< from --peers-file, by "host|port"
  std::uint64_t peers_generation_ = 0;             ///< bumped by each peers reload
  std::vector<l2::port_id> learned_peers_;         ///< group mode: peers found from traffic
  ports::uplink_port* group_port_ = nullptr;       ///< group mode: the group itself
  std::map<std::string, l2::port_id> option_peers_;  ///< --uplink peers, by "host|port"
  std::map<std::string, port_spec> running_specs_;  ///< local ports as opened, by name
  std::set<std::string> reattach_failures_;         ///< gone ports that could not be opened again
  struct static_mac {
    l2::vlan_id vlan;
    l2::mac_address mac;
  };
  /// Static entries (vswitchctl fdb add) of ports being opened again, by name.
  std::map<std::string, std::vector<static_mac>> held_statics_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::unique_ptr<control_server> control_;
  std::unique_ptr<metrics_server> metrics_;
  std::vector<std::unique_ptr<capture_session>> captures_;
  static constexpr std::size_t max_learned_peers = 256;
};

}  // namespace switchd
