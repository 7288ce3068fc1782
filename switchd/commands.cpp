// The control socket's commands (docs/control-protocol.md): what each
// request does to the running daemon, and packet capture.
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstring>

#include "switchd/capture.hpp"
#include "switchd/command_table.hpp"
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

nlohmann::json daemon::status() const {
  const auto paused = datapath_.pause();
  status_context context;
  context.version = VSWITCHD_VERSION;
  context.started = started_;
  context.endpoint = peers_.endpoint();
  context.learned_peers = peers_.learned();
  context.waiting.assign(registry_.waited_for().begin(), registry_.waited_for().end());
  return status_json(datapath_, context);
}

/// One request being answered: its arguments, its client, and the argument
/// checks the handlers share. A check that fails has answered the client.
struct daemon::request {
  daemon& d;
  const nlohmann::json& args;
  const std::shared_ptr<control_client>& client;
  std::string words;  ///< as vswitchctl spells it: "port del", not "port/del"

  void bad(const std::string& message) const { client->fail(words + ": " + message); }
  /// args[key] as a string; nullopt if absent (a failure sent when `required`) or not a string.
  std::optional<std::string> text(const char* key, bool required = true) const {
    std::string error;
    std::optional<std::string> value = string_arg(args, key, error, required);
    if (!error.empty()) bad(error);
    return value;
  }
  /// The port named by args[key] into `out` (nothing if absent and not required).
  bool port(const char* key, bool required, std::optional<l2::port_id>& out) const {
    std::string error;
    const std::optional<std::string> name = string_arg(args, key, error, required);
    if (!error.empty()) {
      bad(error);
      return false;
    }
    if (!name) return true;
    out = d.registry_.named(*name);
    if (!out) bad("no port named " + *name + "; see vswitchctl show");
    return out.has_value();
  }
  /// args["vlan"] into `out` (left as it is when absent).
  bool vlan(std::optional<l2::vlan_id>& out) const {
    std::string error;
    const auto v = number_arg(args, "vlan", 0, 4095, error);
    if (!error.empty()) {
      bad(error);
      return false;
    }
    if (v) out = static_cast<l2::vlan_id>(*v);
    return true;
  }
  /// args["mac"] as an address.
  std::optional<l2::mac_address> mac() const {
    const std::optional<std::string> t = text("mac");
    if (!t) return std::nullopt;
    const auto m = l2::mac_address::parse(*t);
    if (!m) bad("'" + *t + "' is not a MAC address; write it as 52:54:00:12:34:56");
    return m;
  }
};

const std::map<std::string_view, void (daemon::*)(daemon::request&)>& daemon::handlers() {
  // One per row of the command table (switchd/command_table.cpp); a test checks both agree.
  static const std::map<std::string_view, void (daemon::*)(request&)> table = {
      {"show", &daemon::cmd_show},           {"stats", &daemon::cmd_show},
      {"fdb/show", &daemon::cmd_fdb_show},   {"fdb/add", &daemon::cmd_fdb_add},
      {"fdb/del", &daemon::cmd_fdb_del},     {"fdb/flush", &daemon::cmd_fdb_flush},
      {"port/add", &daemon::cmd_port_add},   {"port/del", &daemon::cmd_port_del},
      {"uplink/add", &daemon::cmd_uplink_add}, {"uplink/del", &daemon::cmd_uplink_del},
      {"log-level", &daemon::cmd_log_level}, {"reload", &daemon::cmd_reload},
      {"capture", &daemon::cmd_capture},
  };
  return table;
}

std::vector<std::string_view> daemon::handled_commands() {
  std::vector<std::string_view> out;
  for (const auto& [cmd, handler] : handlers()) out.push_back(cmd);
  return out;
}

void daemon::handle_request(const std::string& cmd, const nlohmann::json& args,
                            const std::shared_ptr<control_client>& client) {
  std::string words = cmd;
  std::replace(words.begin(), words.end(), '/', ' ');
  request r{*this, args, client, words};
  const auto paused = datapath_.pause();  // commands read and change what the workers use
  const auto it = handlers().find(cmd);
  if (control::command_for(cmd) == nullptr || it == handlers().end()) {
    return r.bad("unknown command; the commands are " + control::command_list());
  }
  (this->*(it->second))(r);
}

void daemon::cmd_show(request& r) { r.client->reply(status()); }

void daemon::cmd_fdb_show(request& r) {
  std::optional<l2::port_id> port;
  std::optional<l2::vlan_id> vlan;
  if (!r.port("port", false, port) || !r.vlan(vlan)) return;
  r.client->reply(fdb_json(datapath_, port, vlan));
}

void daemon::cmd_fdb_add(request& r) {
  l2::mac_table& table = datapath_.forwarder().table();
  const auto mac = r.mac();
  if (!mac) return;
  std::optional<l2::port_id> port;
  std::optional<l2::vlan_id> vlan = 0;
  if (!r.port("port", true, port) || !r.vlan(vlan)) return;
  if (mac->is_multicast() || mac->is_zero()) {
    return r.bad(mac->to_string() + " is a group or zero address; a static entry needs a unicast address");
  }
  if (!table.add_static(*vlan, *mac, *port)) {
    return r.bad("the MAC table is full (" + std::to_string(table.capacity()) +
                 " entries); raise --mac-table-size or delete entries");
  }
  registry_.forget_held_static(*vlan, *mac);  // the user's newer word wins over a held entry
  const std::string name = datapath_.ports()[*port]->name();
  spdlog::info("control: static MAC {} vlan {} on {}", mac->to_string(), *vlan, name);
  r.client->reply({{"mac", mac->to_string()}, {"vlan", *vlan}, {"port", name}});
}

void daemon::cmd_fdb_del(request& r) {
  l2::mac_table& table = datapath_.forwarder().table();
  const auto mac = r.mac();
  if (!mac) return;
  std::optional<l2::vlan_id> vlan = 0;
  if (!r.vlan(vlan)) return;
  const std::optional<l2::mac_entry> found = table.find(*vlan, *mac);
  const bool was_held = registry_.forget_held_static(*vlan, *mac);
  if (was_held && !found) {
    // Held for a port that is gone and waited for: not coming back with it.
    spdlog::info("control: MAC {} vlan {} (held for a port that is gone) deleted", mac->to_string(), *vlan);
    return r.client->reply({{"mac", mac->to_string()}, {"vlan", *vlan}, {"port", "-"}, {"type", "static"}});
  }
  if (!found || !table.remove(*vlan, *mac)) {
    return r.bad("no entry for " + mac->to_string() + " in vlan " + std::to_string(*vlan) +
                 "; see vswitchctl fdb show");
  }
  const auto& ports = datapath_.ports();
  const std::string name = found->port < ports.size() && ports[found->port] ? ports[found->port]->name() : "?";
  spdlog::info("control: MAC {} vlan {} on {} deleted", mac->to_string(), *vlan, name);
  r.client->reply({{"mac", mac->to_string()}, {"vlan", *vlan}, {"port", name},
                   {"type", found->is_static ? "static" : "dynamic"}});
}

void daemon::cmd_fdb_flush(request& r) {
  l2::mac_table& table = datapath_.forwarder().table();
  std::optional<l2::port_id> port;
  if (!r.port("port", false, port)) return;
  const std::size_t n = port ? table.flush_port(*port) : table.flush();
  spdlog::info("control: flushed {} dynamic MAC entr{}{}", n, n == 1 ? "y" : "ies",
               port ? " on " + datapath_.ports()[*port]->name() : std::string());
  r.client->reply({{"flushed", n}});
}

void daemon::cmd_port_add(request& r) {
  const std::optional<std::string> text = r.text("spec");
  if (!text) return;
  try {
    const port_spec spec = parse_port_spec(*text);
    if (registry_.named(spec.name)) return r.bad(spec.name + " is already a port; see vswitchctl show");
    if (datapath_.next_id() >= l2::max_ports) {
      return r.bad("too many ports (at most " + std::to_string(l2::max_ports) + ")");
    }
    registry_.reopen(spec, "port add");  // (one waited for: here now, with its static entries)
    const l2::port_id id = *registry_.named(spec.name);
    r.client->reply(port_json(*datapath_.ports()[id], datapath_.forwarder().table(), false,
                              std::chrono::steady_clock::now()));
  } catch (const options_error& e) {
    // parse_port_spec names "--port SPEC"; here it is the argument of port add.
    std::string message = e.what();
    if (message.starts_with("--port ")) message.erase(0, 7);
    r.bad(message);
  } catch (const startup_error& e) {
    r.client->fail(e.what());  // it names "port add SPEC" already
  }
}

void daemon::cmd_port_del(request& r) {
  // A port whose interface is gone and is being waited for: stop waiting.
  std::string ignored;
  const std::optional<std::string> gone = string_arg(r.args, "name", ignored);
  if (gone && registry_.stop_waiting(*gone)) {
    spdlog::info("port {}: no longer waited for (vswitchctl port del)", *gone);
    return r.client->reply({{"name", *gone}});
  }
  std::optional<l2::port_id> port;
  if (!r.port("name", true, port)) return;
  const l2::port_id id = *port;
  const auto& p = datapath_.ports()[id];
  if (p->kind() == ports::port_kind::uplink) {
    return r.bad(p->name() + " is an uplink; remove it with vswitchctl uplink del " + p->name());
  }
  const std::string name = p->name();
  remove_port(id);
  registry_.forget(name);
  spdlog::info("port {}: removed (vswitchctl port del)", name);
  r.client->reply({{"name", name}, {"id", id}});
}

void daemon::cmd_uplink_add(request& r) {
  const std::optional<std::string> text = r.text("peer");
  if (!text) return;
  if (peers_.endpoint() == nullptr) {
    return r.bad("this vswitchd has no uplink socket; start it with --listen ADDR:PORT (or an "
                 "--uplink) to add uplinks at runtime");
  }
  host_port hp;
  try {
    hp = parse_uplink(*text, "uplink add");
  } catch (const options_error& e) {
    return r.client->fail(e.what());  // it names "uplink add PEER" already
  }
  peers_.add_async(hp, [] { return true; },
                   [this, client = r.client, words = r.words, hp](std::optional<l2::port_id> id,
                                                                  const std::string& why_not) {
                     if (!id) return client->fail(words + " " + hp.text + ": " + why_not);
                     const auto paused = datapath_.pause();
                     spdlog::info("peer {}: added (vswitchctl uplink add)", datapath_.ports()[*id]->name());
                     client->reply(port_json(*datapath_.ports()[*id], datapath_.forwarder().table(),
                                             false, std::chrono::steady_clock::now()));
                   });
}

void daemon::cmd_uplink_del(request& r) {
  const std::optional<std::string> text = r.text("peer");
  if (!text) return;
  std::string error;
  const auto removed = peers_.remove(*text, error);
  if (!removed) return r.bad(error);
  const auto& [name, id] = *removed;
  spdlog::info("peer {}: removed (vswitchctl uplink del)", name);
  r.client->reply({{"name", name}, {"id", id}});
}

void daemon::cmd_log_level(request& r) {
  const std::optional<std::string> level = r.text("level");
  if (!level) return;
  static const std::array<std::string, 5> levels = {"trace", "debug", "info", "warn", "error"};
  if (std::find(levels.begin(), levels.end(), *level) == levels.end()) {
    return r.bad("unknown level '" + *level + "'; use trace, debug, info, warn or error");
  }
  const auto previous = spdlog::level::to_string_view(spdlog::default_logger()->level());
  spdlog::set_level(spdlog::level::from_str(*level));
  spdlog::info("log level {} (was {}; vswitchctl log-level)", *level,
               std::string(previous.data(), previous.size()));
  r.client->reply({{"previous", std::string(previous.data(), previous.size())}, {"level", *level}});
}

void daemon::cmd_reload(request& r) {
  nlohmann::json result = reload_config();
  peers_.reload_keys();
  peers_.reload_peers();
  if (result.contains("error")) return r.bad(result["error"].get<std::string>());
  r.client->reply(result);
}

void daemon::cmd_capture(request& r) { start_capture(r.args, r.client); }

void daemon::start_capture(const nlohmann::json& args, const std::shared_ptr<control_client>& client) {
  std::string error;
  const auto bad = [&](const std::string& message) { client->fail("capture: " + message); };
  const std::optional<std::string> name = string_arg(args, "port", error);
  if (!name) return bad(error);
  const auto id = registry_.named(*name);
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
