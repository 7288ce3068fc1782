// status: the switch's state as JSON, the one model that `vswitchctl show`,
// `vswitchctl stats`, `vswitchctl fdb show` and the Prometheus metrics are
// rendered from. The schema is in docs/control-protocol.md. Built on
// request (control path), never on the data path.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "l2/drop_reason.hpp"
#include "l2/types.hpp"
#include "switchd/datapath.hpp"

namespace ports {
class udp_endpoint;
}

namespace switchd {

/// Every drop reason with its count: {"runt": 0, ...}.
nlohmann::json drops_json(const l2::drop_counters& drops);

/// One port (the PORT object). `learned`: a peer found from group traffic.
nlohmann::json port_json(const ports::port& p, const l2::mac_table& table, bool learned,
                         std::chrono::steady_clock::time_point now);

/// What the status object is made of besides the datapath.
struct status_context {
  std::string version;
  std::chrono::steady_clock::time_point started{};
  const ports::udp_endpoint* endpoint = nullptr;  ///< null without uplinks
  std::vector<l2::port_id> learned_peers;         ///< group mode
  /// Ports whose interface came back as something they cannot attach: not
  /// ports now, tried again each second.
  std::vector<std::string> waiting;
};

/// The status object.
nlohmann::json status_json(const datapath& dp, const status_context& context);

/// The MAC table's entries, optionally only those on `port` and/or in `vlan`.
nlohmann::json fdb_json(const datapath& dp, std::optional<l2::port_id> port,
                        std::optional<l2::vlan_id> vlan);

}  // namespace switchd
