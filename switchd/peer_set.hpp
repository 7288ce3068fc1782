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

#include "ports/resolver.hpp"
#include "ports/uplink_port.hpp"
#include "switchd/admission.hpp"
#include "switchd/datapath.hpp"
#include "switchd/options.hpp"
#include "switchd/port_registry.hpp"
#include "switchd/reload_plan.hpp"
#include "switchd/text_file.hpp"

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
  /// Whether handshakes with `key` are refused now (admission::is_refused).
  bool is_refused(const ports::noise::public_key& key, std::span<const std::byte> certificate) const;
  /// Peers admitted by --ca whose certificate has expired are removed.
  void check_certificates();
  /// Applies reloaded admission lists to the peers: admitted peers whose key
  /// left --allowed-keys are removed; revoked peers are removed (admitted)
  /// or lose their sessions (configured).
  void apply(admission::changed c);
  void apply_allowed_keys();
  void apply_revoked();
  /// Removes an admitted peer's port.
  void remove_admitted(l2::port_id id);
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
  admission admission_{opts_};
  struct admitted_peer {
    l2::port_id id = 0;
    bool by_ca = false;  ///< admitted by its certificate (which every handshake must carry)
  };
  std::map<std::string, admitted_peer> admitted_;    ///< peers admitted by --allowed-keys or --ca, by key (base64)
  ports::uplink_port* group_port_ = nullptr;         ///< group mode: the group itself
  static constexpr std::size_t max_learned_peers = 256;
};

}  // namespace switchd
