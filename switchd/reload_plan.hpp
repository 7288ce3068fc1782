// reload_plan: what a reload (SIGHUP, `vswitchctl reload`) changes, worked
// out as a pure function of the running options, the newly read ones and a
// view of what runs now, before anything changes. The daemon then applies
// the plan. Decided here, and unit-tested table by table
// (tests/switchd/reload_plan_test.cpp):
//
// - Ports, by interface name: one no longer listed is removed; a new one is
//   opened; one whose spec changed is reopened (its static MAC entries kept);
//   one that runs (or is waited for) as the file says is left alone. A dev:
//   port whose interface does not exist refuses the whole reload.
// - --uplink peers, by host and port: one no longer listed (or with another
//   vni-map) is removed; a new one is added; one added at runtime with
//   `vswitchctl uplink add` under the same name is taken over as it runs.
//   Uplinks without an uplink socket refuse the whole reload.
// - Settings, by the option table's reload column: "at once" ones that
//   changed are listed for the daemon to apply; "restart" ones that changed
//   are reported and keep their running value in `next`.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "switchd/options.hpp"

namespace switchd {

/// What the reload needs to know of the running daemon.
struct running_view {
  /// Local ports as opened (their spec as it runs), by interface name.
  std::map<std::string, port_spec> opened;
  /// Names that run as a port now.
  std::set<std::string> running;
  /// Names gone and waited for (their name came back as something else).
  std::set<std::string> waited_for;
  /// "host|port" of the --uplink peers that run.
  std::set<std::string> option_peers;
  /// Names of uplink ports that run (any origin: --uplink, vswitchctl, file).
  std::set<std::string> uplinks;
  /// Whether the uplink socket is open.
  bool has_uplink_socket = false;
  /// Whether an interface of that name exists (for dev: ports).
  std::function<bool(const std::string& name)> interface_exists;
};

/// A port the reload opens.
struct port_to_open {
  port_spec spec;
  bool running = false;     ///< it runs now: closed and reopened as written
  bool waited_for = false;  ///< waited for: if it cannot be opened, still waited for, now as written
};

struct reload_plan {
  /// Set when the reload is refused: nothing changes; the reason (with the fix).
  std::optional<std::string> refusal;
  std::vector<std::string> ports_to_remove;  ///< names no longer listed
  std::vector<port_to_open> ports_to_open;   ///< new, changed, or waited for as written now
  std::vector<host_port> peers_to_remove;    ///< --uplink peers no longer listed (or remapped)
  std::vector<host_port> peers_to_adopt;     ///< runtime uplinks the file now lists
  std::vector<host_port> peers_to_add;       ///< --uplink peers to resolve and add
  std::size_t unchanged = 0;                 ///< ports and peers left as they run
  std::vector<std::string> at_once;          ///< changed settings to apply now (option names)
  std::vector<std::string> restart_needed;   ///< changed settings kept as they run (option names)
  options next;  ///< the options that run after the reload (restart settings as before)
};

/// "host|port": how peers are told apart before they are resolved.
std::string peer_key(const host_port& hp);

/// Plans the reload from `running` to `next`, given what runs now.
reload_plan plan_reload(const options& running, const options& next, const running_view& now);

}  // namespace switchd
