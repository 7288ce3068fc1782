#include "switchd/port_registry.hpp"

#include <spdlog/spdlog.h>

#include <string_view>

namespace switchd {

void port_registry::open(const port_spec& spec, const std::string& option) {
  const l2::port_id id = datapath_.next_id();
  if (id >= l2::max_ports) {
    throw startup_error(option + " " + spec.text + ": too many ports (at most " +
                        std::to_string(l2::max_ports) + " ports and uplinks together)");
  }
  try {
    add(factory_.open(spec, id), spec.options);
  } catch (const ports::port_error& e) {
    // Port errors start with the interface name, which the option already gives.
    std::string_view message = e.what();
    if (message.starts_with(spec.name + ": ")) message.remove_prefix(spec.name.size() + 2);
    throw startup_error(option + " " + spec.text + ": " + std::string(message));
  }
  opened_[spec.name] = spec;
}

void port_registry::add(std::unique_ptr<ports::port> port, const port_options& options,
                        std::optional<l2::port_role> role) {
  const l2::port_id id = port->id();
  const auto paused = datapath_.pause();  // the workers see the port with its limits
  datapath_.add_port(std::move(port), role, options.vlans);
  if (options.max_macs != 0) datapath_.forwarder().table().set_port_limit(id, options.max_macs);
  datapath_.forwarder().set_storm_limits(id, options.storm);
}

void port_registry::reopen(const port_spec& spec, const std::string& option) {
  open(spec, option);
  waited_for_.erase(spec.name);
  restore_static_entries(spec.name);
}

void port_registry::remove(l2::port_id id) {
  const auto paused = datapath_.pause();
  if (before_remove_) before_remove_(id);
  if (id < datapath_.ports().size() && datapath_.ports()[id]) {
    opened_.erase(datapath_.ports()[id]->name());
  }
  datapath_.remove_port(id);
}

void port_registry::remove_to_reopen(l2::port_id id) {
  const auto paused = datapath_.pause();
  const std::string name = datapath_.ports()[id]->name();
  std::vector<static_mac> kept;
  datapath_.forwarder().table().for_each([&](const l2::mac_entry& e) {
    if (e.is_static && e.port == id) kept.push_back({e.vlan, e.mac});
  });
  if (kept.empty()) {
    held_statics_.erase(name);
  } else {
    held_statics_[name] = std::move(kept);
  }
  remove(id);
}

void port_registry::forget(const std::string& name) {
  waited_for_.erase(name);
  held_statics_.erase(name);
  opened_.erase(name);
}

bool port_registry::stop_waiting(const std::string& name) {
  if (named(name) || waited_for_.count(name) == 0) return false;
  forget(name);
  return true;
}

bool port_registry::forget_held_static(l2::vlan_id vlan, const l2::mac_address& mac) {
  bool found = false;
  for (auto it = held_statics_.begin(); it != held_statics_.end();) {
    auto& list = it->second;
    const auto before = list.size();
    std::erase_if(list, [&](const static_mac& s) { return s.vlan == vlan && s.mac == mac; });
    found = found || list.size() != before;
    it = list.empty() ? held_statics_.erase(it) : std::next(it);
  }
  return found;
}

void port_registry::restore_static_entries(const std::string& name) {
  const auto held = held_statics_.find(name);
  if (held == held_statics_.end()) return;
  const auto id = named(name);
  if (!id) return;
  const auto paused = datapath_.pause();
  std::size_t restored = 0;
  for (const static_mac& s : held->second) {
    if (datapath_.forwarder().table().add_static(s.vlan, s.mac, *id)) ++restored;
  }
  if (restored != held->second.size()) {
    spdlog::warn("port {}: {} of {} static MAC entries restored (the MAC table is full)", name,
                 restored, held->second.size());
  }
  held_statics_.erase(held);
}

void port_registry::reattach_gone() {
  // A TAP or interface deleted under a port, then made again with the same
  // name (a guest restarted, `ip tuntap add` again): the port comes back.
  for (std::size_t id = 0; id < datapath_.ports().size(); ++id) {
    const auto& p = datapath_.ports()[id];
    if (!p || !p->detached()) continue;
    const std::string name = p->name();
    const auto spec = opened_.find(name);
    if (spec == opened_.end() || !factory_.interface_exists(name)) continue;
    const port_spec again = spec->second;
    remove_to_reopen(static_cast<l2::port_id>(id));
    try {
      reopen(again, "--port");
      spdlog::info("port {}: the interface is back; attached again", name);
    } catch (const std::exception& e) {
      // Its spec is kept: tried again each second, logged once.
      opened_[name] = again;
      if (waited_for_.insert(name).second) {
        spdlog::warn("port {}: cannot attach it again ({}); trying every second", name, e.what());
      }
    }
  }
  // Ones that failed (their port is gone): try again.
  const std::vector<std::string> waiting(waited_for_.begin(), waited_for_.end());
  for (const std::string& name : waiting) {
    if (named(name) || !factory_.interface_exists(name)) continue;
    try {
      reopen(opened_.at(name), "--port");
      spdlog::info("port {}: the interface is back; attached again", name);
    } catch (const std::exception&) {
      // (still waited for; logged when it first failed)
    }
  }
}

port_changes port_registry::apply(const reload_plan& plan) {
  port_changes done;
  for (const std::string& name : plan.ports_to_remove) {
    forget(name);  // no longer wanted back
    if (const auto id = named(name)) {
      remove(*id);
      spdlog::info("port {}: removed (reload)", name);
      done.removed.push_back(name);
    }
  }
  for (const port_to_open& p : plan.ports_to_open) {
    const port_spec& spec = p.spec;
    if (p.running) {
      if (const auto id = named(spec.name)) remove_to_reopen(*id);  // opened again as written
    }
    try {
      reopen(spec, "--port");
      spdlog::info("port {}: {} (reload)", spec.name, p.running ? "changed, reopened" : "added");
      (p.running ? done.changed : done.added).push_back(spec.name);
    } catch (const startup_error& e) {
      // One waited for stays waited for, now as the file says; a running
      // one that could not be reopened is gone, its entries with it.
      if (p.waited_for) {
        opened_[spec.name] = spec;
      } else {
        held_statics_.erase(spec.name);
      }
      spdlog::error("reload: {}", e.what());
      done.failed.push_back(e.what());
    }
  }
  return done;
}

std::optional<l2::port_id> port_registry::named(const std::string& name) const {
  for (const auto& p : datapath_.ports()) {
    if (p && p->name() == name) return p->id();
  }
  return std::nullopt;
}

}  // namespace switchd
