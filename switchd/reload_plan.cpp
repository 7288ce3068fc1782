#include "switchd/reload_plan.hpp"

#include "ports/identity.hpp"

#include <algorithm>

#include "switchd/option_table.hpp"

namespace switchd {
namespace {

const port_spec* spec_named(const std::vector<port_spec>& specs, const std::string& name) {
  const auto it = std::find_if(specs.begin(), specs.end(), [&](const port_spec& s) { return s.name == name; });
  return it == specs.end() ? nullptr : &*it;
}

/// Whether `list` has the peer `hp` with the same vni-map.
bool has_same_peer(const std::vector<host_port>& list, const host_port& hp) {
  return std::any_of(list.begin(), list.end(), [&](const host_port& other) {
    return peer_key(other) == peer_key(hp) && other.vni_map == hp.vni_map;
  });
}

std::optional<std::string> refusal_of(const options& running, const options& next,
                                      const running_view& now) {
  for (const port_spec& spec : next.ports) {
    const port_spec* old = spec_named(running.ports, spec.name);
    if ((old == nullptr || !(*old == spec)) && spec.mode == port_mode::device &&
        !(now.interface_exists && now.interface_exists(spec.name))) {
      return "--port " + spec.text + ": no such interface (see `ip link`)";
    }
  }
  if (!next.uplinks.empty() && !now.has_uplink_socket) {
    return "--uplink " + next.uplinks.front().text +
           ": this vswitchd was started without an uplink socket; restart it";
  }
  return std::nullopt;
}

void plan_ports(const options& running, const options& next, const running_view& now,
                reload_plan& plan) {
  for (const port_spec& old : running.ports) {
    if (spec_named(next.ports, old.name) == nullptr) plan.ports_to_remove.push_back(old.name);
  }
  for (const port_spec& spec : next.ports) {
    const bool runs = now.running.count(spec.name) != 0;
    const bool waited_for = !runs && now.waited_for.count(spec.name) != 0;
    const auto opened = now.opened.find(spec.name);
    // Unchanged: running (or waited for) as the file says, whoever opened it.
    if ((runs || waited_for) && opened != now.opened.end() && opened->second == spec) {
      ++plan.unchanged;
      continue;
    }
    plan.ports_to_open.push_back({spec, runs, waited_for});
  }
}

void plan_peers(const options& running, const options& next, const running_view& now,
                reload_plan& plan) {
  std::set<std::string> removed;  // names of the peers this reload removes
  for (const host_port& old : running.uplinks) {
    if (has_same_peer(next.uplinks, old)) continue;  // (a changed vni-map: removed, added again)
    if (now.option_peers.count(peer_key(old)) == 0) continue;
    plan.peers_to_remove.push_back(old);
    removed.insert(old.text);
  }
  for (const host_port& hp : next.uplinks) {
    // (One removed with vswitchctl uplink del comes back: the file lists it.)
    if (has_same_peer(running.uplinks, hp) && now.option_peers.count(peer_key(hp)) != 0) {
      ++plan.unchanged;
    } else if (now.uplinks.count(hp.text) != 0 && removed.count(hp.text) == 0) {
      plan.peers_to_adopt.push_back(hp);  // added with vswitchctl: taken over as it runs
      ++plan.unchanged;
    } else {
      plan.peers_to_add.push_back(hp);
    }
  }
}

void plan_settings(const options& running, reload_plan& plan) {
  for (const option_row& row : option_table()) {
    if (row.same(running, plan.next)) continue;
    if (row.reload == reload_effect::at_once) {
      plan.at_once.push_back(row.name);
    } else if (row.reload == reload_effect::restart) {
      plan.restart_needed.push_back(row.name);
      row.keep(plan.next, running);
    }
  }
}

}  // namespace

std::string peer_key(const host_port& hp) {
  // A peer whose public key changed is another peer (its sessions start afresh).
  std::string key = hp.host;
  key += '|';
  key += std::to_string(hp.port);
  if (hp.key) {
    key += '|';  // (appends only: GCC 12 -O3 warns falsely on "|" + string)
    key += ports::identity::to_base64(*hp.key);
  }
  return key;
}

reload_plan plan_reload(const options& running, const options& next, const running_view& now) {
  reload_plan plan;
  plan.refusal = refusal_of(running, next, now);
  if (plan.refusal) return plan;
  plan.next = next;
  plan_ports(running, next, now, plan);
  plan_peers(running, next, now, plan);
  plan_settings(running, plan);
  return plan;
}

}  // namespace switchd
