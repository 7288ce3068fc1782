// options: the daemon's settings, from the command line and from `--config
// FILE` (the same options as `key = value` lines). parse_options checks
// everything that can be checked without touching the system (syntax, ranges,
// duplicates) and reports the first problem as an options_error whose message
// names the option, the reason and the fix.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "ports/noise.hpp"
#include "switchd/port_spec.hpp"

namespace switchd {


/// --stream-listen unix:PATH|tcp:ADDR:PORT[,OPTION=V...]: QEMU -netdev stream
/// guests connect there; each connection is a port with these options.
struct stream_listen_spec {
  std::string address;  ///< "unix:PATH" or "tcp:ADDR:PORT"
  std::string text;     ///< as the user wrote it
  port_options options;
};

/// HOST:PORT as written; resolved when the daemon starts.
struct host_port {
  std::string host;        ///< name, IPv4 address, or IPv6 address (without brackets)
  std::uint16_t port = 0;
  std::string text;        ///< as the user wrote it
  /// --uplink HOST:PORT,vni-map=V:N,...: each VLAN V in its own VNI N.
  std::vector<std::pair<l2::vlan_id, std::uint32_t>> vni_map;
  /// ,key=PUB: the peer's public key (sealed uplinks with --identity).
  std::optional<ports::noise::public_key> key;
  /// ,name=NAME: what to call the peer (the port's name); empty: as written.
  std::string name;
  /// Named by its key alone (key=PUB, no address): host is empty, port 0,
  /// and its address is learned from the peers that introduce it.
  bool key_only() const { return host.empty() && key.has_value(); }
};

/// Most data-path worker threads --workers takes.
inline constexpr unsigned max_workers = 64;

struct options {
  std::vector<port_spec> ports;        ///< --port, in order
  std::vector<host_port> uplinks;      ///< --uplink, in order
  std::optional<host_port> listen;     ///< --listen; default chosen from the uplinks
  std::uint32_t vni = 1;               ///< --vni
  std::uint32_t mac_aging = 300;       ///< --mac-aging, seconds
  std::uint32_t mac_table_size = 8192; ///< --mac-table-size, entries
  bool mac_table_evict = true;         ///< --mac-table-full evict (else refuse)
  std::uint32_t mac_move_limit = 5;    ///< --mac-move-limit: moves in the window before pinning; 0 off
  std::uint32_t mac_move_window = 10;  ///< --mac-move-window, seconds
  std::uint32_t mac_hold_down = 30;    ///< --mac-hold-down, seconds
  std::uint32_t busy_poll = 0;         ///< --busy-poll, microseconds; 0 off
  std::uint32_t workers = 0;           ///< --workers: data-path threads; 0 one per core (at most 4)
  std::string log_level = "info";      ///< --log-level
  std::optional<std::string> key_file; ///< --key-file: sealed uplinks (the overlay key)
  std::optional<std::string> identity; ///< --identity: this host's key pair (sealed per peer)
  std::optional<std::string> allowed_keys; ///< --allowed-keys: peers that may connect to us first
  std::optional<std::string> ca;           ///< --ca: the overlay CA's public key, or a file holding it
  std::optional<std::string> certificate;  ///< --certificate: this host's certificate from that CA
  std::optional<std::string> revoked;      ///< --revoked: revoked keys and certificate fingerprints
  std::uint32_t rekey_interval = 120;  ///< --rekey-interval, seconds
  std::uint32_t keepalive = 1;         ///< --keepalive, seconds
  std::uint32_t peer_timeout = 5;      ///< --peer-timeout, seconds
  std::uint32_t resolve_interval = 60; ///< --resolve-interval, seconds
  std::uint32_t underlay_mtu = 0;      ///< --underlay-mtu; 0: the route's MTU
  bool clamp_mss = false;              ///< --clamp-mss
  bool relay = true;                   ///< --relay yes|no: relay between peers behind NAT
  std::optional<std::string> peers_file; ///< --peers-file
  std::optional<std::string> group;    ///< --group: VXLAN multicast group (IPv4)
  std::optional<std::string> group_dev; ///< --group-dev: interface for the group
  std::optional<std::string> pid_file; ///< --pid-file
  std::optional<std::string> log_file; ///< --log-file; default: stderr
  std::optional<std::string> user;     ///< --user: drop root after opening everything
  std::string control = default_control; ///< --control: the control socket; "none": without
  std::optional<host_port> metrics;    ///< --metrics: Prometheus endpoint (TCP)
  std::vector<stream_listen_spec> stream_listens; ///< --stream-listen, in order
  std::uint32_t stream_mode = 0660;    ///< --stream-mode: unix stream sockets' mode
  std::optional<std::string> stream_group; ///< --stream-group: their group
  std::optional<std::string> config_file; ///< --config

  static constexpr const char* default_control = "/run/vswitchd/vswitchd.ctl";
};

/// What the command line asks for.
struct command {
  enum class action {
    run, help, version, generate_key, generate_identity, public_key, ca_init, ca_sign
  } what = action::run;
  options opts;
  std::string text;      ///< the help text (for action::help)
  std::string argument;  ///< the action's value: the FILE of --generate-identity and --public-key, the DIR of --ca-*
  /// --ca-sign: the host's name, public key, validity and VLANs.
  std::string cert_name;
  std::string cert_key;
  std::uint32_t cert_days = 365;
  std::vector<std::uint16_t> cert_vlans;
};

/// A line of an --allowed-keys file: a public key and an optional name.
struct allowed_key {
  ports::noise::public_key key{};
  std::string name;  ///< as written; empty: none
};

/// Parses an --allowed-keys file: one public key per line, optionally
/// followed by a name; `#` comments and blank lines are ignored. Throws
/// options_error naming the file, the line and the fix.
std::vector<allowed_key> parse_allowed_keys(std::string_view text, const std::string& file);

/// Parses argv (and the --config file it names) by the option table
/// (switchd/option_table.cpp). Throws options_error.
command parse_options(int argc, const char* const argv[]);

/// Parses a decimal number in [min, max]; throws options_error
/// "OPTION TEXT: not a number|out of range; give WHAT".
std::uint64_t parse_number(const std::string& text, const std::string& option, std::uint64_t min,
                           std::uint64_t max, const std::string& what);

/// Parses a --stream-listen: "unix:PATH" or "tcp:ADDR:PORT", then ",OPTION=V"
/// port options for every connection. Throws options_error.
stream_listen_spec parse_stream_listen(const std::string& text);

/// Parses an --uplink: HOST:PORT (as parse_host_port), then optionally
/// ",vni-map=VLAN:VNI,VLAN:VNI...". `option` names it in errors. Throws options_error.
host_port parse_uplink(const std::string& text, const std::string& option);

/// Parses "HOST:PORT", "[IPv6]:PORT" or "IPv4:PORT". `option` names the
/// option for the error message. Throws options_error.
host_port parse_host_port(const std::string& text, const std::string& option);

/// Parses a --peers-file's text: one HOST:PORT (or HOST, port 4789) per
/// line, `#` comments. `file` names it in errors. Throws options_error.
std::vector<host_port> parse_peers_file(std::string_view text, const std::string& file);

}  // namespace switchd
