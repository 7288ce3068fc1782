// port_spec: how a port is written — `NAME`, `tap:NAME`, `dev:NAME`,
// `dgram:LOCAL=REMOTE`, then `,OPTION=VALUE` port options (max-macs, vlan,
// trunk, native, storm limits) — parsed and checked without touching the
// system. With port_factory (which opens what a spec names), the one place
// that knows the spellings of ports.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "l2/forwarder.hpp"
#include "l2/vlan.hpp"

namespace switchd {

/// A bad option: the message names it and says how to fix it.
class options_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// How a --port is attached.
enum class port_mode {
  automatic,  ///< NAME: file side if it is a free TAP or missing, else kernel side
  tap,        ///< tap:NAME — file side, created if missing
  device,     ///< dev:NAME — kernel side of an existing interface (AF_PACKET)
  dgram,      ///< dgram:LOCAL=REMOTE — a QEMU -netdev dgram peer (one frame per datagram)
};

/// Options that follow a port's name (and a --stream-listen address).
struct port_options {
  std::uint32_t max_macs = 0;  ///< max-macs=N: most MAC entries it may hold; 0 no limit
  l2::vlan_mode vlans;         ///< vlan=V (access) or trunk=LIST[,native=V]; default transparent
  l2::storm_limits storm;      ///< bcast-limit, mcast-limit, unknown-limit (frames/s); 0 none
  friend bool operator==(const port_options&, const port_options&) = default;
};

/// A --port: how and what to attach, and its per-port options.
struct port_spec {
  port_mode mode = port_mode::automatic;
  std::string name;  ///< interface name
  std::string text;  ///< as the user wrote it
  port_options options;  ///< what follows the name
  /// Same attachment and options (the text may differ in spelling).
  friend bool operator==(const port_spec& a, const port_spec& b) {
    return a.mode == b.mode && a.name == b.name && a.options == b.options;
  }
};

/// Parses "[tap:|dev:|dgram:]NAME[,OPTION=VALUE...]". Throws options_error
/// "--port TEXT: what is wrong; the fix".
port_spec parse_port_spec(const std::string& text);

/// Parses the port options after a name (",KEY=VALUE" each, without the
/// first comma). `where` starts error messages; `example` names the port in them.
port_options parse_port_options(std::string_view options, const std::string& where,
                                const std::string& example);

/// Parses a VLAN list: "10,20,30-39" (ids 1 to 4094). `what` names it in errors.
l2::vlan_set parse_vlan_list(std::string_view text, const std::string& what);

}  // namespace switchd
