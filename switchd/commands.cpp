// The control socket's commands (switchd/control_protocol.md): what each
// request does to the running daemon, and packet capture.
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstring>

#include "switchd/capture.hpp"
#include "switchd/daemon.hpp"
#include "switchd/status.hpp"

#ifndef VSWITCHD_VERSION
#define VSWITCHD_VERSION "unknown"
#endif

namespace switchd {

namespace {

/// args[key] as a string, or an error message in `error`.
std::optional<std::string> string_arg(const nlohmann::json& args, const char* key, std::string& error,
                                      bool required = true) {
  const auto it = args.find(key);
  if (it == args.end()) {
    if (required) error = std::string("missing \"") + key + "\"";
    return std::nullopt;
  }
  if (!it->is_string()) {
    error = std::string("\"") + key + "\" must be a string";
    return std::nullopt;
  }
  return it->get<std::string>();
}

/// args[key] as an unsigned number in [min, max], or an error message in `error`.
std::optional<std::uint64_t> number_arg(const nlohmann::json& args, const char* key,
                                        std::uint64_t min, std::uint64_t max, std::string& error) {
  const auto it = args.find(key);
  if (it == args.end()) return std::nullopt;
  if (!it->is_number_unsigned() || it->get<std::uint64_t>() < min || it->get<std::uint64_t>() > max) {
    error = std::string("\"") + key + "\" must be a number from " + std::to_string(min) + " to " +
            std::to_string(max);
    return std::nullopt;
  }
  return it->get<std::uint64_t>();
}

}  // namespace

std::optional<l2::port_id> daemon::port_named(const std::string& name) const {
  for (const auto& p : datapath_.ports()) {
    if (p && p->name() == name) return p->id();
  }
  return std::nullopt;
}

nlohmann::json daemon::status() const {
  status_context context;
  context.version = VSWITCHD_VERSION;
  context.started = started_;
  context.endpoint = endpoint_.get();
  context.learned_peers = learned_peers_;
  context.waiting.assign(reattach_failures_.begin(), reattach_failures_.end());
  return status_json(datapath_, context);
}

void daemon::remove_port(l2::port_id id) {
  // Captures on it end first (the datapath refuses to remove a watched port).
  for (std::size_t i = captures_.size(); i-- > 0;) {
    if (captures_[i]->port_ == id) end_capture(captures_[i].get(), "port removed");
  }
  if (id < datapath_.ports().size() && datapath_.ports()[id]) {
    running_specs_.erase(datapath_.ports()[id]->name());
  }
  datapath_.remove_port(id);
}

void daemon::remove_port_to_reopen(l2::port_id id) {
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
  remove_port(id);
}

bool daemon::forget_held_static(l2::vlan_id vlan, const l2::mac_address& mac) {
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

void daemon::reopen_port(const port_spec& spec, const std::string& option) {
  open_port(spec, option);
  reattach_failures_.erase(spec.name);
  restore_static_entries(spec.name);
}

void daemon::restore_static_entries(const std::string& name) {
  const auto held = held_statics_.find(name);
  if (held == held_statics_.end()) return;
  const auto id = port_named(name);
  if (!id) return;
  std::size_t restored = 0;
  for (const static_mac& s : held->second) {
    if (datapath_.forwarder().table().add_static(s.vlan, s.mac, *id)) ++restored;
  }
  if (restored != held->second.size()) {
    spdlog::warn("port {}: {} of {} static MAC entries restored (the MAC table is full)", name, restored,
                 held->second.size());
  }
  held_statics_.erase(held);
}

void daemon::handle_request(const std::string& cmd, const nlohmann::json& args,
                            const std::shared_ptr<control_client>& client) {
  std::string error;
  // Errors name the command as vswitchctl spells it: "port del", not "port/del".
  std::string words = cmd;
  std::replace(words.begin(), words.end(), '/', ' ');
  const auto bad = [&](const std::string& message) { client->fail(words + ": " + message); };
  /// The port named by args[key] into `out` (nothing if absent and not
  /// required); false after sending the client a failure.
  const auto port_arg = [&](const char* key, bool required, std::optional<l2::port_id>& out) {
    const std::optional<std::string> name = string_arg(args, key, error, required);
    if (!error.empty()) {
      bad(error);
      return false;
    }
    if (!name) return true;
    out = port_named(*name);
    if (!out) bad("no port named " + *name + "; see vswitchctl show");
    return out.has_value();
  };
  /// args["vlan"] into `out` (left as it is when absent); false after sending a failure.
  const auto vlan_arg = [&](std::optional<l2::vlan_id>& out) {
    const auto v = number_arg(args, "vlan", 0, 4095, error);
    if (!error.empty()) {
      bad(error);
      return false;
    }
    if (v) out = static_cast<l2::vlan_id>(*v);
    return true;
  };
  /// args["mac"] as an address, or a failure sent to the client.
  const auto mac_arg = [&]() -> std::optional<l2::mac_address> {
    const std::optional<std::string> text = string_arg(args, "mac", error);
    if (!error.empty()) {
      bad(error);
      return std::nullopt;
    }
    const auto mac = l2::mac_address::parse(*text);
    if (!mac) bad("'" + *text + "' is not a MAC address; write it as 52:54:00:12:34:56");
    return mac;
  };
  l2::mac_table& table = datapath_.forwarder().table();

  if (cmd == "show" || cmd == "stats") {
    client->reply(status());
  } else if (cmd == "fdb/show") {
    std::optional<l2::port_id> port;
    std::optional<l2::vlan_id> vlan;
    if (!port_arg("port", false, port) || !vlan_arg(vlan)) return;
    client->reply(fdb_json(datapath_, port, vlan));
  } else if (cmd == "fdb/add") {
    const auto mac = mac_arg();
    if (!mac) return;
    std::optional<l2::port_id> port;
    std::optional<l2::vlan_id> vlan = 0;
    if (!port_arg("port", true, port) || !vlan_arg(vlan)) return;
    if (mac->is_multicast() || mac->is_zero()) {
      bad(mac->to_string() + " is a group or zero address; a static entry needs a unicast address");
      return;
    }
    if (!table.add_static(*vlan, *mac, *port)) {
      bad("the MAC table is full (" + std::to_string(table.capacity()) +
          " entries); raise --mac-table-size or delete entries");
      return;
    }
    forget_held_static(*vlan, *mac);  // the user's newer word wins over a held entry
    const std::string name = datapath_.ports()[*port]->name();
    spdlog::info("control: static MAC {} vlan {} on {}", mac->to_string(), *vlan, name);
    client->reply({{"mac", mac->to_string()}, {"vlan", *vlan}, {"port", name}});
  } else if (cmd == "fdb/del") {
    const auto mac = mac_arg();
    if (!mac) return;
    std::optional<l2::vlan_id> vlan = 0;
    if (!vlan_arg(vlan)) return;
    std::optional<l2::mac_entry> found;
    table.for_each([&](const l2::mac_entry& e) {
      if (e.mac == *mac && e.vlan == *vlan) found = e;
    });
    const bool was_held = forget_held_static(*vlan, *mac);
    if (was_held && !found) {
      // Held for a port that is gone and waited for: not coming back with it.
      spdlog::info("control: MAC {} vlan {} (held for a port that is gone) deleted", mac->to_string(), *vlan);
      client->reply({{"mac", mac->to_string()}, {"vlan", *vlan}, {"port", "-"}, {"type", "static"}});
      return;
    }
    if (!found || !table.remove(*vlan, *mac)) {
      bad("no entry for " + mac->to_string() + " in vlan " + std::to_string(*vlan) +
          "; see vswitchctl fdb show");
      return;
    }
    const auto& ports = datapath_.ports();
    const std::string name = found->port < ports.size() && ports[found->port] ? ports[found->port]->name() : "?";
    spdlog::info("control: MAC {} vlan {} on {} deleted", mac->to_string(), *vlan, name);
    client->reply({{"mac", mac->to_string()}, {"vlan", *vlan}, {"port", name},
                   {"type", found->is_static ? "static" : "dynamic"}});
  } else if (cmd == "fdb/flush") {
    std::optional<l2::port_id> port;
    if (!port_arg("port", false, port)) return;
    const std::size_t n = port ? table.flush_port(*port) : table.flush();
    spdlog::info("control: flushed {} dynamic MAC entr{}{}", n, n == 1 ? "y" : "ies",
                 port ? " on " + datapath_.ports()[*port]->name() : std::string());
    client->reply({{"flushed", n}});
  } else if (cmd == "port/add") {
    const std::optional<std::string> text = string_arg(args, "spec", error);
    if (!text) return bad(error);
    try {
      const port_spec spec = parse_port_spec(*text);
      if (port_named(spec.name)) return bad(spec.name + " is already a port; see vswitchctl show");
      if (datapath_.next_id() >= l2::max_ports) {
        return bad("too many ports (at most " + std::to_string(l2::max_ports) + ")");
      }
      reopen_port(spec, "port add");  // (one waited for: here now, with its static entries)
      const l2::port_id id = *port_named(spec.name);
      client->reply(port_json(*datapath_.ports()[id], table, false, std::chrono::steady_clock::now()));
    } catch (const options_error& e) {
      // parse_port_spec names "--port SPEC"; here it is the argument of port add.
      std::string message = e.what();
      if (message.starts_with("--port ")) message.erase(0, 7);
      bad(message);
    } catch (const startup_error& e) {
      client->fail(e.what());  // it names "port add SPEC" already
    }
  } else if (cmd == "port/del") {
    // A port whose interface is gone and is being waited for: stop waiting.
    const std::optional<std::string> gone = string_arg(args, "name", error);
    if (gone && !port_named(*gone) && reattach_failures_.erase(*gone) != 0) {
      running_specs_.erase(*gone);
      held_statics_.erase(*gone);
      spdlog::info("port {}: no longer waited for (vswitchctl port del)", *gone);
      return client->reply({{"name", *gone}});
    }
    error.clear();
    std::optional<l2::port_id> port;
    if (!port_arg("name", true, port)) return;
    const l2::port_id id = *port;
    const auto& p = datapath_.ports()[id];
    if (p->kind() == ports::port_kind::uplink) {
      return bad(p->name() + " is an uplink; remove it with vswitchctl uplink del " + p->name());
    }
    const std::string name = p->name();
    remove_port(id);
    reattach_failures_.erase(name);
    held_statics_.erase(name);
    spdlog::info("port {}: removed (vswitchctl port del)", name);
    client->reply({{"name", name}, {"id", id}});
  } else if (cmd == "uplink/add") {
    const std::optional<std::string> text = string_arg(args, "peer", error);
    if (!text) return bad(error);
    if (!endpoint_) {
      return bad("this vswitchd has no uplink socket; start it with --listen ADDR:PORT (or an "
                 "--uplink) to add uplinks at runtime");
    }
    host_port hp;
    try {
      hp = parse_uplink(*text, "uplink add");
    } catch (const options_error& e) {
      return client->fail(e.what());  // it names "uplink add PEER" already
    }
    add_uplink_async(hp, [] { return true; }, [this, client, words, hp](std::optional<l2::port_id> id,
                                                             const std::string& why_not) {
      if (!id) {
        client->fail(words + " " + hp.text + ": " + why_not);
        return;
      }
      spdlog::info("peer {}: added (vswitchctl uplink add)", datapath_.ports()[*id]->name());
      client->reply(port_json(*datapath_.ports()[*id], datapath_.forwarder().table(), false,
                              std::chrono::steady_clock::now()));
    });
  } else if (cmd == "uplink/del") {
    const std::optional<std::string> text = string_arg(args, "peer", error);
    if (!text) return bad(error);
    std::optional<l2::port_id> found;
    for (const auto& p : datapath_.ports()) {
      const auto* up = dynamic_cast<const ports::uplink_port*>(p.get());
      if (up == nullptr) continue;
      if (up->name() == *text || ports::to_string(up->remote()) == *text) found = up->id();
    }
    if (!found) return bad("no uplink " + *text + "; see the peers in vswitchctl show");
    if (datapath_.ports()[*found].get() == group_port_) {
      return bad(*text + " is the --group itself; it can only go with a restart");
    }
    const std::string name = datapath_.ports()[*found]->name();
    std::erase_if(file_peers_, [&](const auto& kv) { return kv.second == *found; });
    std::erase_if(option_peers_, [&](const auto& kv) { return kv.second == *found; });
    std::erase(learned_peers_, *found);
    remove_port(*found);
    spdlog::info("peer {}: removed (vswitchctl uplink del)", name);
    client->reply({{"name", name}, {"id", *found}});
  } else if (cmd == "log-level") {
    const std::optional<std::string> level = string_arg(args, "level", error);
    if (!level) return bad(error);
    static const std::array<std::string, 5> levels = {"trace", "debug", "info", "warn", "error"};
    if (std::find(levels.begin(), levels.end(), *level) == levels.end()) {
      return bad("unknown level '" + *level + "'; use trace, debug, info, warn or error");
    }
    const auto previous = spdlog::level::to_string_view(spdlog::default_logger()->level());
    spdlog::set_level(spdlog::level::from_str(*level));
    spdlog::info("log level {} (was {}; vswitchctl log-level)", *level,
                 std::string(previous.data(), previous.size()));
    client->reply({{"previous", std::string(previous.data(), previous.size())}, {"level", *level}});
  } else if (cmd == "reload") {
    nlohmann::json result = reload_config();
    reload_keys();
    reload_peers();
    if (result.contains("error")) return bad(result["error"].get<std::string>());
    client->reply(result);
  } else if (cmd == "capture") {
    start_capture(args, client);
  } else {
    bad("unknown command; the commands are show, stats, fdb/show, fdb/add, fdb/del, fdb/flush, "
        "port/add, port/del, uplink/add, uplink/del, log-level, reload and capture");
  }
}

void daemon::start_capture(const nlohmann::json& args, const std::shared_ptr<control_client>& client) {
  std::string error;
  const auto bad = [&](const std::string& message) { client->fail("capture: " + message); };
  const std::optional<std::string> name = string_arg(args, "port", error);
  if (!name) return bad(error);
  const auto id = port_named(*name);
  if (!id) return bad("no port named " + *name + "; see vswitchctl show");
  const auto count = number_arg(args, "count", 1, UINT64_MAX, error);
  if (!error.empty()) return bad(error);
  const auto seconds = number_arg(args, "seconds", 1, 86400 * 365, error);
  if (!error.empty()) return bad(error);
  if (captures_.size() >= 8) return bad("8 captures are running already; end one first");

  static std::uint64_t next_serial = 0;
  const std::uint64_t serial = ++next_serial;
  auto session = std::make_unique<capture_session>(io_, client, *id, count.value_or(0), serial);
  capture_session* c = session.get();
  captures_.push_back(std::move(session));
  /// The session, if it has not ended.
  const auto find = [this](std::uint64_t serial) -> capture_session* {
    for (const auto& s : captures_) {
      if (s->serial_ == serial) return s.get();
    }
    return nullptr;
  };
  // Ends on --seconds, on the count (finish_soon), or when the client leaves.
  c->timer_.expires_after(seconds ? std::chrono::seconds(*seconds)
                                  : std::chrono::seconds(86400 * 365 * 10));
  c->timer_.async_wait([this, serial, find](const boost::system::error_code&) {
    // Whatever woke it (time, count, the client), the session may already be gone.
    if (capture_session* s = find(serial)) end_capture(s, s->ended_ ? s->reason_ : "seconds");
  });
  client->on_close([serial, find] {
    if (capture_session* s = find(serial)) s->finish_soon("client closed");
  });
  datapath_.watch(*id, *c);
  spdlog::info("capture on {} started{}{}", *name,
               count ? " (" + std::to_string(*count) + " frames)" : std::string(),
               seconds ? " (" + std::to_string(*seconds) + " s)" : std::string());
  client->reply({{"port", *name}, {"snaplen", capture_session::snaplen}, {"linktype", 1}}, true);
}

void daemon::end_capture(capture_session* c, const char* reason) {
  const auto it = std::find_if(captures_.begin(), captures_.end(),
                               [c](const auto& s) { return s.get() == c; });
  if (it == captures_.end()) return;
  datapath_.unwatch(*c);
  const std::string name = datapath_.ports()[c->port_] ? datapath_.ports()[c->port_]->name() : "?";
  spdlog::info("capture on {} ended ({}): {} frames, {} dropped", name, reason, c->captured_, c->dropped_);
  // The end marker (a record header of all ones), then the summary line.
  std::string tail(16, '\xff');
  tail += nlohmann::json({{"captured", c->captured_}, {"dropped", c->dropped_}, {"reason", reason}}).dump();
  tail += '\n';
  c->client_->on_close(nullptr);
  c->client_->end_stream(std::as_bytes(std::span(tail.data(), tail.size())));
  std::unique_ptr<capture_session> gone = std::move(*it);
  captures_.erase(it);
  gone->timer_.cancel();  // its handler finds it gone
}

}  // namespace switchd
