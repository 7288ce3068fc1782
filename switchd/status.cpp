#include "switchd/status.hpp"

#include <unistd.h>

#include <algorithm>

#include "ports/identity.hpp"
#include "ports/netdev.hpp"
#include "ports/uplink_port.hpp"

namespace switchd {
namespace {

using clock = std::chrono::steady_clock;

double seconds_between(clock::time_point from, clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

nlohmann::json peer_json(const ports::uplink_port& up, bool learned, clock::time_point now) {
  const auto& st = up.state();
  const bool sealed = up.carries_offload();  // sealed peers carry offloads; plain ones do not
  const auto& key = up.session().remote_static();
  const auto path = up.path();
  nlohmann::json peer = {
      {"address", path == ports::uplink_port::path_kind::direct ? nlohmann::json(ports::to_string(up.remote()))
                                                                : nlohmann::json(nullptr)},
      {"path", path == ports::uplink_port::path_kind::direct  ? "direct"
               : path == ports::uplink_port::path_kind::relay ? "relay"
                                                              : "none"},
      {"relay", up.relay() != nullptr ? nlohmann::json(up.relay()->name()) : nlohmann::json(nullptr)},
      {"path_age_s", nullptr},
      {"path_changes", up.path_changes()},
      {"state", up.is_up() ? "up" : "down"},
      {"sealed", sealed},
      {"learned", learned},
      {"public_key", key ? nlohmann::json(ports::identity::to_base64(*key)) : nlohmann::json(nullptr)},
      {"rtt_ms", nullptr},
      {"last_seen_s", nullptr},
      {"session_age_s", nullptr},
      {"last_handshake_s", nullptr},
      {"handshakes_sent", st.handshakes_sent},
      {"handshakes", st.handshakes_done},
      {"rekeys", st.rekeys},
  };
  if (path != ports::uplink_port::path_kind::none) peer["path_age_s"] = seconds_between(up.path_since(), now);
  if (st.rtt.count() > 0) peer["rtt_ms"] = std::chrono::duration<double, std::milli>(st.rtt).count();
  if (const auto heard = up.last_heard(); heard.time_since_epoch().count() != 0) {
    peer["last_seen_s"] = seconds_between(heard, now);
  }
  if (sealed && up.session().has_session(now)) peer["session_age_s"] = seconds_between(st.session_start, now);
  if (st.last_handshake.time_since_epoch().count() != 0)
    peer["last_handshake_s"] = seconds_between(st.last_handshake, now);
  return peer;
}

}  // namespace

nlohmann::json drops_json(const l2::drop_counters& drops) {
  nlohmann::json out = nlohmann::json::object();
  for (std::size_t i = 0; i < l2::drop_reason_count; ++i) {
    out[std::string(l2::to_string(static_cast<l2::drop_reason>(i)))] = drops.by_reason[i];
  }
  return out;
}

nlohmann::json port_json(const ports::port& p, const l2::mac_table& table, bool learned,
                         clock::time_point now) {
  const auto& c = p.counters();
  nlohmann::json j = {
      {"id", p.id()},
      {"name", p.name()},
      {"kind", ports::to_string(p.kind())},
      {"state", p.is_up() ? "up" : "down"},
      {"mtu", nullptr},
      {"description", p.describe()},
      {"mac_entries", table.port_count(p.id())},
      {"rx_frames", c.rx_frames.load()},
      {"rx_bytes", c.rx_bytes.load()},
      {"tx_frames", c.tx_frames.load()},
      {"tx_bytes", c.tx_bytes.load()},
      {"drops", drops_json(c.drops)},
      {"peer", nullptr},
  };
  if (const auto* up = dynamic_cast<const ports::uplink_port*>(&p)) {
    // An uplink's MTU is the largest inner frame minus its Ethernet header.
    j["mtu"] = up->max_frame_size() - l2::ethernet_header_size;
    j["peer"] = peer_json(*up, learned, now);
  } else if (p.kind() == ports::port_kind::tap || p.kind() == ports::port_kind::device) {
    if (const auto mtu = p.interface_mtu()) j["mtu"] = *mtu;
  }
  return j;
}

nlohmann::json status_json(const datapath& dp, const status_context& context) {
  const auto now = clock::now();
  const l2::mac_table& t = dp.forwarder().table();
  const l2::mac_table_counters& tc = t.counters();
  nlohmann::json status = {
      {"version", context.version},
      {"pid", ::getpid()},
      {"uptime_s", seconds_between(context.started, now)},
      {"mac_table",
       {{"entries", t.count()},
        {"capacity", t.capacity()},
        {"aging_s", std::chrono::duration_cast<std::chrono::seconds>(t.aging()).count()},
        {"learned", tc.learned},
        {"moved", tc.moved},
        {"expired", tc.expired},
        {"refused", tc.refused},
        {"evicted", tc.evicted},
        {"flaps", tc.flaps},
        {"when_full", t.policy() == l2::full_policy::evict ? "evict" : "refuse"}}},
      {"uplink", nullptr},
      {"ports", nlohmann::json::array()},
      {"workers", nlohmann::json::array()},
      {"waiting", context.waiting},
  };
  for (const datapath::worker_stats& w : dp.worker_statistics()) {
    nlohmann::json queues = nlohmann::json::array();
    for (const auto& [port, queue] : w.queues) queues.push_back({{"port", port}, {"queue", queue}});
    status["workers"].push_back({
        {"index", w.index},
        {"queues", queues},
        {"frames", w.frames},
        {"busy_rounds", w.busy_rounds},
        {"handed_over", w.handed_over},
        {"handoff_full", w.handoff_full},
        {"cached", w.cached},
    });
  }
  if (const ports::udp_endpoint* e = context.endpoint) {
    const ports::udp_endpoint::endpoint_counters ec = e->counters();
    status["uplink"] = {
        {"mode", e->is_sealed() ? "sealed" : "vxlan"},
        {"local", ports::to_string(e->local())},
        {"vni", e->vni()},
        {"rx_datagrams", ec.rx_datagrams},
        {"drops", drops_json(ec.drops)},
        {"handshakes_refused", ec.handshakes_refused},
        {"handshakes_refused_by_reason",
         {{"not_peer", ec.refused_not_peer},
          {"invalid", ec.refused_invalid},
          {"rate", ec.refused_rate},
          {"under_load", ec.refused_under_load}}},
        {"introductions", ec.introductions},
        {"introductions_refused", ec.introductions_refused},
        {"relayed_datagrams", ec.relayed},
        {"relayed_bytes", ec.relayed_bytes},
        {"relay_refused", ec.relay_refused},
        {"passed_to_main", ec.handed_to_main},
        {"public_key", e->public_key() ? nlohmann::json(ports::identity::to_base64(*e->public_key()))
                                       : nlohmann::json(nullptr)},
    };
  }
  for (const auto& p : dp.ports()) {
    if (!p) continue;
    const bool learned = std::find(context.learned_peers.begin(), context.learned_peers.end(),
                                   p->id()) != context.learned_peers.end();
    status["ports"].push_back(port_json(*p, t, learned, now));
  }
  return status;
}

nlohmann::json fdb_json(const datapath& dp, std::optional<l2::port_id> port,
                        std::optional<l2::vlan_id> vlan) {
  const l2::time_point now = dp.now();
  const l2::mac_table& t = dp.forwarder().table();
  nlohmann::json entries = nlohmann::json::array();
  t.for_each([&](const l2::mac_entry& e) {
    if (port && e.port != *port) return;
    if (vlan && e.vlan != *vlan) return;
    const auto& ports = dp.ports();
    const std::string name = e.port < ports.size() && ports[e.port] ? ports[e.port]->name() : "?";
    entries.push_back({
        {"mac", e.mac.to_string()},
        {"vlan", e.vlan},
        {"port", name},
        {"type", e.is_static ? "static" : "dynamic"},
        {"age_s", e.is_static ? 0 : std::chrono::duration_cast<std::chrono::seconds>(now - e.last_seen).count()},
    });
  });
  // Stable output: by VLAN, then port, then address.
  std::sort(entries.begin(), entries.end(), [](const nlohmann::json& a, const nlohmann::json& b) {
    return std::tie(a["vlan"], a["port"], a["mac"]) < std::tie(b["vlan"], b["port"], b["mac"]);
  });
  return {{"entries", entries}, {"count", entries.size()}, {"capacity", t.capacity()}};
}

}  // namespace switchd
