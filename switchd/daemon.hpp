// daemon: builds the running switch from checked options. The constructor
// opens every device and socket or throws with a message that names the
// option, the reason and the fix — so nothing is half started: whatever was
// opened before the failure is closed again (TAPs it created vanish). run()
// serves until SIGINT or SIGTERM; SIGUSR1 logs the counters; SIGHUP reloads
// the --key-file and the --peers-file (also done when either file changes,
// checked each second). A bad file on reload is logged and changes nothing.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>

#include "ports/udp_uplink.hpp"
#include "switchd/datapath.hpp"
#include "switchd/options.hpp"

namespace switchd {

/// Reads and checks a --key-file: it must not be readable or writable by
/// group or others. Throws std::runtime_error with a message naming the fix.
std::vector<ports::sealed::key> load_key_file(const std::string& path);

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

  void open_port(const port_spec& spec);
  void open_uplinks(const options& opts, const std::vector<host_port>& file_peers);
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
  /// Logs the UDP endpoint's counters and the peers' state, then the datapath's.
  void log_counters() const;

  options opts_;
  boost::asio::io_context io_{1};
  std::unique_ptr<ports::udp_endpoint> endpoint_;  ///< outlives the uplink ports that use it
  datapath datapath_;
  boost::asio::signal_set signals_;
  boost::asio::steady_timer watch_timer_;
  std::unique_ptr<boost::asio::ip::udp::resolver> resolver_;
  file_stamp key_stamp_;
  file_stamp peers_stamp_;
  std::map<std::string, l2::port_id> file_peers_;  ///< from --peers-file, by "host|port"
  std::uint64_t peers_generation_ = 0;             ///< bumped by each peers reload
  std::vector<l2::port_id> learned_peers_;         ///< group mode: peers found from traffic
  ports::uplink_port* group_port_ = nullptr;       ///< group mode: the group itself
  static constexpr std::size_t max_learned_peers = 256;
};

}  // namespace switchd
