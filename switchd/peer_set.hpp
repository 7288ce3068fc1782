// peer_set: the single owner of "which remote addresses are peers". It opens
// the UDP endpoint (the uplink socket) and holds every uplink port by where it
// came from: --uplink peers, --peers-file peers (reloaded when the file
// changes), peers added with `vswitchctl uplink add`, and, in --group mode,
// the group and the peers learned from its traffic (forgotten after
// --mac-aging of silence). It resolves names off the data path, refuses a
// peer that is a duplicate or this daemon itself, reloads the --key-file, and
// applies the uplink part of a reload plan. Removal goes through the
// port_registry, so captures on a peer end first.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ports/certificate.hpp"
#include "ports/resolver.hpp"
#include "ports/uplink_port.hpp"
#include "switchd/datapath.hpp"
#include "switchd/options.hpp"
#include "switchd/port_registry.hpp"
#include "switchd/reload_plan.hpp"

namespace switchd {

/// Reads and checks a --key-file: it must not be readable or writable by
/// group or others. Throws std::runtime_error with a message naming the fix.
std::vector<ports::sealed::key> load_key_file(const std::string& path);

/// Reads and checks an --identity file (as a key file). Throws
/// std::runtime_error with a message naming the fix.
ports::noise::key_pair load_identity_file(const std::string& path);

/// Resolves `hp` (a name or an address) now, to UDP endpoints; `passive`
/// for an address to bind. Throws startup_error naming `option` and the fix.
std::vector<boost::asio::ip::udp::endpoint> resolve_now(boost::asio::io_context& io, const host_port& hp,
                                                        const std::string& option, bool passive);

/// What a reload did to the --uplink peers.
struct peer_changes {
  std::vector<std::string> added, removed;  ///< added: being resolved
};

class peer_set {
 public:
  /// `opts` are the daemon's running options (read again after a reload).
  peer_set(boost::asio::io_context& io, datapath& dp, port_registry& registry, const options& opts);
  ~peer_set();

  /// Reads the --peers-file and checks that the ports and peers fit, before
  /// anything is opened. Throws startup_error.
  void load();
  /// Opens the uplink socket and adds the peers of --uplink and the
  /// --peers-file load() read (resolved now), when the options ask for
  /// uplinks at all. Throws startup_error.
  void open();
  /// Starts reading the uplink socket (also with no peer yet: --listen alone).
  void start();
  void stop();

  /// The uplink socket, or nullptr without uplinks.
  ports::udp_endpoint* endpoint() const { return endpoint_.get(); }
  /// Resolves `hp` off the data path and, if still_wanted() then, adds it;
  /// `done` gets the new port's id or the reason it was not added.
  void add_async(const host_port& hp, std::function<bool()> still_wanted,
                 std::function<void(std::optional<l2::port_id>, const std::string&)> done);
  /// Removes the uplink called `text` (its name or its address): vswitchctl
  /// uplink del. Returns its name and id, or sets `error`.
  std::optional<std::pair<std::string, l2::port_id>> remove(const std::string& text, std::string& error);
  /// Applies the uplink part of a reload plan.
  peer_changes apply(const reload_plan& plan);
  /// "host|port" of the --uplink peers that run.
  std::set<std::string> option_peer_keys() const;
  /// Group mode: peers learned from traffic.
  const std::vector<l2::port_id>& learned() const { return learned_; }

  /// Each second: the key and peers files reloaded if they changed; idle
  /// learned peers forgotten.
  void tick();
  /// Reloads the --key-file and --allowed-keys (a bad one is logged; what
  /// is in use stays). Peers whose key left --allowed-keys are removed.
  void reload_keys();
  /// Reloads the --peers-file: peers added and removed, the others untouched.
  void reload_peers();

  /// Logs the uplink mode at start.
  void log_ready() const;
  /// Logs the UDP endpoint's counters and each peer's state.
  void log_counters() const;

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

  /// The endpoint's settings from the options (the key file read). Throws startup_error.
  ports::uplink_settings endpoint_settings();
  /// Opens the endpoint and the first peers (from open()).
  void open_uplinks(const std::vector<host_port>& file_peers);
  /// Adds an uplink to `remote` unless it is a duplicate or our own address;
  /// returns its port id. `why_not` gets the reason it was refused.
  std::optional<l2::port_id> add(const host_port& hp, const boost::asio::ip::udp::endpoint& remote,
                                 std::string& why_not);
  /// Group mode: a new peer for a stranger's valid VXLAN (nullptr when at the limit).
  ports::uplink_port* learn(const boost::asio::ip::udp::endpoint& from);
  /// --allowed-keys or --ca: a new peer for an authenticated initiation
  /// from `key` at `from` with `certificate`, if the key is allowed or the
  /// certificate valid (nullptr, with the reason in `why_not`: refused).
  ports::uplink_port* admit(const ports::noise::public_key& key, const boost::asio::ip::udp::endpoint& from,
                            std::span<const std::byte> certificate, std::string& why_not);
  /// Whether `key` (or `certificate`) is in --revoked. A key whose
  /// certificate was revoked stays refused without that certificate too.
  bool is_revoked(const ports::noise::public_key& key, std::span<const std::byte> certificate) const;
  /// Whether handshakes with `key` are refused now: revoked, or admitted by
  /// --ca and its certificate (in this handshake) no longer valid.
  bool is_refused(const ports::noise::public_key& key, std::span<const std::byte> certificate) const;
  /// Peers admitted by --ca whose certificate has expired are removed.
  void check_certificates();
  /// Reloads --revoked: revoked peers' sessions end (admitted ones are removed).
  void reload_revoked();
  /// This host's --certificate, checked against its identity; throws startup_error.
  std::vector<std::byte> load_certificate(const ports::uplink_settings& settings) const;
  /// The --ca public key (given, or in a file); throws startup_error.
  ports::certificate::ca_public_key load_ca_key() const;
  /// Reads --allowed-keys; throws options_error or startup_error.
  std::vector<allowed_key> read_allowed_keys() const;
  /// Reloads --allowed-keys: admitted peers whose key left it are removed.
  void reload_allowed_keys();
  /// Removes learned peers silent for --mac-aging.
  void forget_idle();
  /// Whether `remote` is this daemon: our port on one of this host's addresses.
  bool is_this_host(const boost::asio::ip::udp::endpoint& remote) const;

  boost::asio::io_context& io_;
  datapath& datapath_;
  port_registry& registry_;
  const options& opts_;
  std::unique_ptr<ports::udp_endpoint> endpoint_;  ///< outlives the uplink ports that use it
  std::unique_ptr<ports::resolver> resolver_;
  file_stamp key_stamp_;
  file_stamp peers_stamp_;
  std::vector<host_port> listed_;                    ///< the --peers-file as load() read it
  std::map<std::string, l2::port_id> file_peers_;    ///< from --peers-file, by "host|port"
  std::map<std::string, l2::port_id> option_peers_;  ///< --uplink peers, by "host|port"
  std::uint64_t peers_generation_ = 0;               ///< bumped by each peers reload
  std::vector<l2::port_id> learned_;                 ///< group mode: peers found from traffic
  std::vector<allowed_key> allowed_;                 ///< --allowed-keys as last read
  file_stamp allowed_stamp_;
  std::map<std::string, l2::port_id> admitted_;      ///< peers admitted by --allowed-keys or --ca, by key (base64)
  std::optional<ports::certificate::ca_public_key> ca_;  ///< --ca
  std::set<std::string> revoked_;                    ///< --revoked: keys (base64) and fingerprints (hex)
  mutable std::set<std::string> revoked_by_certificate_;  ///< keys whose certificate is revoked
  std::set<std::string> admitted_by_ca_;             ///< keys (base64) of the peers --ca admitted
  file_stamp revoked_stamp_;
  ports::uplink_port* group_port_ = nullptr;         ///< group mode: the group itself
  static constexpr std::size_t max_learned_peers = 256;
};

}  // namespace switchd
