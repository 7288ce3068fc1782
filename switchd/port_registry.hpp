// port_registry: the daemon's local ports by name. It opens them through the
// port_factory with their per-port options (MAC limit, VLAN mode, storm
// limits), removes them, and keeps what must outlive a port for a while:
//
// - the spec each local port runs with (a reload compares against it, and a
//   port whose interface went away is opened again as it was);
// - ports waited for: their name came back as something that cannot be
//   attached (a TAP port's name back as a veth), tried again each second;
// - static MAC entries (vswitchctl fdb add) of a port being opened again
//   (gone and back, or changed by a reload), held by name until it is back.
//
// Every port removal (local, uplink, stream guest) goes through remove(), so
// the daemon's hook (ending captures on it) runs first. One thread; no locks.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "switchd/datapath.hpp"
#include "switchd/port_factory.hpp"
#include "switchd/reload_plan.hpp"

namespace switchd {

/// A start-up failure; the message is for the user as it stands.
class startup_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// What a reload did to the local ports.
struct port_changes {
  std::vector<std::string> added, removed, changed;
  std::vector<std::string> failed;  ///< error messages
};

class port_registry {
 public:
  port_registry(datapath& dp, port_factory& factory) : datapath_(dp), factory_(factory) {}

  /// Runs before any port is removed (the daemon ends its captures).
  void on_remove(std::function<void(l2::port_id)> f) { before_remove_ = std::move(f); }

  /// Opens a local port as `spec` says, with its port options. Throws
  /// startup_error "OPTION SPEC: reason; fix".
  void open(const port_spec& spec, const std::string& option = "--port");
  /// open(), then: no longer waited for, and its held static entries back.
  void reopen(const port_spec& spec, const std::string& option);
  /// Adds a port made elsewhere (a stream guest, an uplink) with `options`.
  void add(std::unique_ptr<ports::port> port, const port_options& options,
           std::optional<l2::port_role> role = std::nullopt);
  /// Removes any port; a local port's spec is forgotten.
  void remove(l2::port_id id);
  /// Removes a port that is to be opened again under the same name: its
  /// static MAC entries are held for it.
  void remove_to_reopen(l2::port_id id);
  /// Forgets `name` altogether: not waited for, no held entries, no spec.
  void forget(const std::string& name);
  /// A port the user removed (vswitchctl port del) that is only waited for:
  /// stops waiting; whether it was waited for.
  bool stop_waiting(const std::string& name);
  /// Drops a held static entry (the user's newer fdb add or del wins); whether there was one.
  bool forget_held_static(l2::vlan_id vlan, const l2::mac_address& mac);
  /// Attaches again ports whose interface was deleted and is back, and
  /// tries again those waited for. Called each second.
  void reattach_gone();
  /// Applies the port part of a reload plan.
  port_changes apply(const reload_plan& plan);

  /// The port called `name`, if any (local, uplink or stream).
  std::optional<l2::port_id> named(const std::string& name) const;
  /// Local ports as opened, by name (also those waited for).
  const std::map<std::string, port_spec>& opened() const { return opened_; }
  /// Names waited for.
  const std::set<std::string>& waited_for() const { return waited_for_; }

 private:
  struct static_mac {
    l2::vlan_id vlan;
    l2::mac_address mac;
  };
  /// Gives the port just opened as `name` the static entries held for it.
  void restore_static_entries(const std::string& name);

  datapath& datapath_;
  port_factory& factory_;
  std::function<void(l2::port_id)> before_remove_;
  std::map<std::string, port_spec> opened_;
  std::set<std::string> waited_for_;
  std::map<std::string, std::vector<static_mac>> held_statics_;
};

}  // namespace switchd
