// The option table's rows (the parsing that reads them: option_parse.cpp).
#include "switchd/option_table.hpp"

#include <boost/asio/ip/address.hpp>
#include <charconv>
#include <set>

#include "l2/vxlan.hpp"
#include "ports/netdev.hpp"

namespace switchd {

std::string_view to_string(reload_effect effect) {
  switch (effect) {
    case reload_effect::at_once:
      return "at once";
    case reload_effect::diff:
      return "diff";
    case reload_effect::restart:
      return "restart";
    case reload_effect::none:
      break;
  }
  return "";
}

namespace {

// ---- how a field is compared and kept on reload ----

template <class T>
bool equal_value(const T& a, const T& b) {
  return a == b;
}
bool equal_value(const std::optional<host_port>& a, const std::optional<host_port>& b) {
  if (!a || !b) return a.has_value() == b.has_value();
  return a->host == b->host && a->port == b->port;
}
bool equal_value(const std::vector<stream_listen_spec>& a, const std::vector<stream_listen_spec>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](const auto& x, const auto& y) { return x.text == y.text; });
}
bool equal_value(const std::vector<port_spec>& a, const std::vector<port_spec>& b) {
  return a == b;
}
bool equal_value(const std::vector<host_port>& a, const std::vector<host_port>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const auto& x, const auto& y) {
    return x.host == y.host && x.port == y.port && x.vni_map == y.vni_map && x.key == y.key;
  });
}

/// A row for the option stored in `field`.
template <class T>
option_row row(std::string name, std::string value_name, std::string default_text,
               reload_effect reload, std::string help, T options::*field,
               std::function<void(options&, const std::string&)> set) {
  option_row r;
  r.name = std::move(name);
  r.value_name = std::move(value_name);
  r.default_text = std::move(default_text);
  r.reload = reload;
  r.help = std::move(help);
  r.set = std::move(set);
  r.same = [field](const options& a, const options& b) { return equal_value(a.*field, b.*field); };
  r.keep = [field](options& to, const options& from) { to.*field = from.*field; };
  return r;
}

/// A row that is an action, not a setting (--help, --version, ...).
option_row action(std::string name, std::string help) {
  option_row r;
  r.name = std::move(name);
  r.help = std::move(help);
  r.reload = reload_effect::none;
  r.set = [](options&, const std::string&) {};
  r.same = [](const options&, const options&) { return true; };
  r.keep = [](options&, const options&) {};
  return r;
}

/// An action with a value (--generate-identity FILE).
option_row action(std::string name, std::string value_name, std::string help) {
  option_row r = action(std::move(name), std::move(help));
  r.value_name = std::move(value_name);
  return r;
}

/// A whole number in [min, max] stored in `field`; `what` is the fix ("seconds from 1 to 3600").
option_row number(std::string name, std::string value_name, reload_effect reload,
                  std::uint32_t options::*field, std::uint64_t min, std::uint64_t max,
                  std::string what, std::string help) {
  const std::string option = "--" + name;
  return row(std::move(name), std::move(value_name), std::to_string(options{}.*field), reload,
             std::move(help), field, [=](options& o, const std::string& value) {
               o.*field = static_cast<std::uint32_t>(parse_number(value, option, min, max, what));
             });
}

/// A text stored as it is in an optional `field`.
option_row text(std::string name, std::string value_name, reload_effect reload,
                std::optional<std::string> options::*field, std::string default_text,
                std::string help) {
  const std::string option = "--" + name;
  const std::string example = value_name;
  return row(std::move(name), std::move(value_name), std::move(default_text), reload,
             std::move(help), field, [=](options& o, const std::string& value) {
               if (value.empty()) throw options_error(option + ": empty; give a " + example);
               o.*field = value;
             });
}

const char* const port_help =
    "a port, repeatable. NAME or tap:NAME opens the TAP's file side, creating it if "
    "missing (a bare NAME that is a TAP held by another process or another kind of "
    "interface is attached by its kernel side instead); dev:NAME attaches an existing "
    "interface's kernel side (QEMU TAPs, veths, NICs); dgram:LOCAL=REMOTE is a QEMU "
    "-netdev dgram guest. Port options follow the name: ,max-macs=N caps the MAC addresses "
    "learned on the port (default: no cap); ,vlan=V makes it an access port of VLAN V "
    "(untagged); ,trunk=LIST[,native=V] a trunk carrying the listed VLANs tagged (e.g. "
    "trunk=10,20-29), untagged frames in VLAN V if given; ,bcast-limit=PPS, "
    ",mcast-limit=PPS, ,unknown-limit=PPS limit floods (frames/s). Without VLAN options a "
    "port carries every VLAN as it comes";

/// The actions, --config, and the local ports: interfaces and QEMU guests.
void add_port_rows(std::vector<option_row>& t) {
  using enum reload_effect;
  t.push_back(action("help", "show this help and exit"));
  t.push_back(action("version", "show the version and exit"));
  t.push_back(action("generate-key", "print a new random key for --key-file and exit"));
  t.push_back(action("generate-identity", "FILE",
                     "make a new host identity (an X25519 private key) in FILE, created with mode 0600 "
                     "(never over an existing file), print its public key (44 characters of base64, as "
                     "WireGuard writes keys) and exit"));
  t.push_back(action("public-key", "FILE",
                     "print the public key of the identity in FILE and exit (with --ca-sign: the host's "
                     "public key, KEY)"));
  t.push_back(action("ca-init", "DIR",
                     "make an overlay certificate authority in DIR (created, mode 0700): an Ed25519 key "
                     "in DIR/ca.key (mode 0600, never overwritten) and its public key in DIR/ca.pub, "
                     "printed too; then exit"));
  t.push_back(action("ca-sign", "DIR",
                     "print a host certificate signed by the CA in DIR, for --name NAME and --public-key "
                     "KEY, valid --valid DAYS (default 365), optionally only for --vlans LIST; then exit"));
  t.push_back(action("name", "NAME", "with --ca-sign: the host's name in the certificate (letters, digits, . _ -)"));
  t.push_back(action("valid", "DAYS", "with --ca-sign: days the certificate is valid from now (default 365)"));
  t.push_back(action("vlans", "LIST", "with --ca-sign: the VLANs the host may use, e.g. 10,20-29 (default: any)"));
  t.push_back(text("config", "FILE", none, &options::config_file, "",
                   "read options from FILE: one `key = value` per line, keys as the long options "
                   "without dashes (port options too: `port = tap0,max-macs=64`); `#` starts a "
                   "comment. Re-read on SIGHUP and `vswitchctl reload`, which apply the "
                   "difference"));
  {
    option_row r = row("port", "[tap:|dev:]NAME[,OPT=V...]", "", diff, port_help, &options::ports,
                       [](options& o, const std::string& value) {
                         port_spec spec = parse_port_spec(value);
                         for (const port_spec& other : o.ports) {
                           if (other.name == spec.name) {
                             throw options_error("--port " + value + ": interface " + spec.name +
                                                 " is named twice; give each port once");
                           }
                         }
                         o.ports.push_back(std::move(spec));
                       });
    r.repeatable = true;
    t.push_back(std::move(r));
  }
  {
    option_row r = row(
        "stream-listen", "unix:PATH|tcp:ADDR:PORT[,OPT=V]", "", restart,
        "accept QEMU -netdev stream guests there, repeatable; every connection is a port "
        "(gone when it closes), with the port options given, e.g. "
        "unix:/run/vswitchd/vm.sock,vlan=10",
        &options::stream_listens, [](options& o, const std::string& value) {
          stream_listen_spec spec = parse_stream_listen(value);
          for (const stream_listen_spec& other : o.stream_listens) {
            if (other.address == spec.address) {
              throw options_error("--stream-listen " + value + ": " + spec.address +
                                  " is given twice; give each once");
            }
          }
          o.stream_listens.push_back(std::move(spec));
        });
    r.repeatable = true;
    t.push_back(std::move(r));
  }
  t.push_back(row("stream-mode", "MODE", "0660", restart,
                  "permissions of the --stream-listen unix sockets, octal (0660: the owner and "
                  "--stream-group may connect)",
                  &options::stream_mode, [](options& o, const std::string& value) {
                    std::uint32_t mode = 0;
                    const auto [ptr, ec] =
                        std::from_chars(value.data(), value.data() + value.size(), mode, 8);
                    if (value.empty() || ec != std::errc() || ptr != value.data() + value.size() ||
                        mode > 0777) {
                      throw options_error("--stream-mode " + value +
                                          ": not a file mode; give octal digits, e.g. 0660 or 0666");
                    }
                    o.stream_mode = mode;
                  }));
  t.push_back(text("stream-group", "GROUP", restart, &options::stream_group, "vswitchd's group",
                   "group of the --stream-listen unix sockets, so its members can connect VMs "
                   "without root"));
}

/// The uplink peers and the socket they share.
void add_peer_rows(std::vector<option_row>& t) {
  using enum reload_effect;
  {
    option_row r = row(
        "uplink", "HOST:PORT[,key=KEY][,name=NAME][,vni-map=V:N,...] | key=KEY[,name=NAME]", "", diff,
        "a VXLAN peer, repeatable: a name, an IPv4 address or [IPv6]:PORT. With --identity, "
        "key=KEY names the peer's public key (required), and key=KEY alone names a peer whose "
        "address is not known (behind NAT, moving): the peers that have sessions with both "
        "introduce the two, which then punch through their NATs or talk through a relay. "
        "name=NAME names the port. With vni-map=10:1010,20:1020 (plain "
        "VXLAN) each VLAN crosses untagged in its own VNI, as the kernel's vxlan devices (one "
        "per VNI) expect; without it, frames cross in --vni with their tags",
        &options::uplinks, [](options& o, const std::string& value) {
          host_port hp = parse_uplink(value, "--uplink");
          for (const host_port& other : o.uplinks) {
            if (other.host == hp.host && other.port == hp.port && (!hp.key_only() || other.key == hp.key)) {
              throw options_error("--uplink " + value +
                                  ": this peer is given twice; give each peer once");
            }
          }
          o.uplinks.push_back(std::move(hp));
        });
    r.repeatable = true;
    t.push_back(std::move(r));
  }
  t.push_back(row("listen", "ADDR:PORT", "0.0.0.0:4789, or [::]:4789 when a peer is IPv6", restart,
                  "local UDP endpoint for uplinks; alone, it opens the uplink socket for "
                  "uplinks added at runtime",
                  &options::listen, [](options& o, const std::string& value) {
                    o.listen = parse_host_port(value, "--listen");
                  }));
  t.push_back(number("vni", "N", restart, &options::vni, 0, l2::max_vni,
                     "a VNI from 0 to 16777215 (24 bits)", "VXLAN network identifier, 0-16777215"));
}

/// The MAC table: aging, size, what happens when full, move damping.
void add_mac_table_rows(std::vector<option_row>& t) {
  using enum reload_effect;
  t.push_back(number("mac-aging", "SECONDS", at_once, &options::mac_aging, 1, 1'000'000,
                     "seconds from 1 to 1000000", "forget a MAC address not seen for this long"));
  t.push_back(number("mac-table-size", "N", restart, &options::mac_table_size, 1, 1u << 24,
                     "a number of entries from 1 to 16777216",
                     "most MAC addresses learned; see --mac-table-full for when it is full"));
  t.push_back(row("mac-table-full", "evict|refuse", "evict", at_once,
                  "when the MAC table is full: evict (the port holding the most entries loses "
                  "one of its oldest) or refuse (the new address is not learned; its frames are "
                  "flooded)",
                  &options::mac_table_evict, [](options& o, const std::string& value) {
                    if (value != "evict" && value != "refuse") {
                      throw options_error("--mac-table-full " + value + ": give evict or refuse");
                    }
                    o.mac_table_evict = value == "evict";
                  }));
  t.push_back(number("mac-move-limit", "N", at_once, &options::mac_move_limit, 0, 1000,
                     "a number of moves from 0 (off) to 1000",
                     "a MAC moving between ports more than N times in --mac-move-window is "
                     "logged and pinned to its first port for --mac-hold-down; 0 turns this off"));
  t.push_back(number("mac-move-window", "SECONDS", at_once, &options::mac_move_window, 1, 3600,
                     "seconds from 1 to 3600", "see --mac-move-limit"));
  t.push_back(number("mac-hold-down", "SECONDS", at_once, &options::mac_hold_down, 1, 86400,
                     "seconds from 1 to 86400", "see --mac-move-limit"));
  t.push_back(number("busy-poll", "MICROSECONDS", restart, &options::busy_poll, 0, 1'000'000,
                     "microseconds from 0 (off) to 1000000",
                     "after a frame, keep polling the ports this long before sleeping: a frame "
                     "arriving meanwhile is switched without waking a thread (on a 2-core VM "
                     "about 65 us less RTT through the switch), at the price of a busy core (per worker) "
                     "while traffic flows; 0 sleeps at once"));
  t.push_back(number("workers", "N", restart, &options::workers, 0, max_workers,
                     "a number of threads from 0 (automatic) to " + std::to_string(max_workers),
                     "data-path threads: with N above 1, N worker threads read the tap: and "
                     "dev: ports and the uplinks (without --group) and forward what they read, so the "
                     "switch uses several cores; a TAP vswitchd creates gets a queue per "
                     "worker (a multi-queue TAP), a dev: port a socket per worker (a "
                     "PACKET_FANOUT group), the uplinks a UDP socket per worker "
                     "(SO_REUSEPORT), and the kernel spreads flows over them. On sealed "
                     "uplinks the workers seal what they send and open what they receive; "
                     "handshakes, relayed traffic, --group and QEMU sockets stay on the main "
                     "thread. 1 switches everything on one thread. 0 (the default) picks one "
                     "per core, at most 4"));
}

/// Running as a service: logging, pid file, user, control socket, metrics.
void add_service_rows(std::vector<option_row>& t) {
  using enum reload_effect;
  t.push_back(row("log-level", "LEVEL", "info", at_once, "trace, debug, info, warn or error",
                  &options::log_level, [](options& o, const std::string& value) {
                    static const std::set<std::string> levels = {"trace", "debug", "info", "warn",
                                                                 "error"};
                    if (levels.count(value) == 0) {
                      throw options_error("--log-level " + value +
                                          ": unknown level; use trace, debug, info, warn or error");
                    }
                    o.log_level = value;
                  }));
  t.push_back(text("log-file", "PATH", restart, &options::log_file, "stderr",
                   "append the log to PATH instead of writing it to stderr (which the journal "
                   "takes under systemd)"));
  t.push_back(text("pid-file", "PATH", restart, &options::pid_file, "",
                   "write the daemon's pid to PATH once it has started; removed when it exits "
                   "(refused while a live process holds it)"));
  t.push_back(text("user", "USER", restart, &options::user, "",
                   "once every port and uplink is open, run as USER, keeping only CAP_NET_ADMIN "
                   "and CAP_NET_RAW; key and peers files must then be readable by USER"));
  t.push_back(row("control", "PATH", options::default_control, restart,
                  "the control socket vswitchctl talks to (mode 0600, owned by root or --user), "
                  "or `none` for no control socket. One per daemon: a second daemon on the same "
                  "path is refused",
                  &options::control,
                  // (Checked for length and the directory when the daemon binds it.)
                  [](options& o, const std::string& value) {
                    if (value.empty()) {
                      throw options_error("--control: empty; give a PATH, or none for no control socket");
                    }
                    o.control = value;
                  }));
  t.push_back(row("metrics", "ADDR:PORT", "off", restart,
                  "serve Prometheus metrics over HTTP at http://ADDR:PORT/metrics, e.g. "
                  "127.0.0.1:9310",
                  &options::metrics, [](options& o, const std::string& value) {
                    if (value.find(':') == std::string::npos) {
                      const bool digits = value.find_first_not_of("0123456789") == std::string::npos;
                      throw options_error("--metrics " + value + ": write ADDR:PORT, e.g. 127.0.0.1:" +
                                          (digits ? value : std::string("9310")) +
                                          " (0.0.0.0:PORT to serve every address)");
                    }
                    o.metrics = parse_host_port(value, "--metrics");
                  }));
}

/// How uplinks behave: sealing, liveness, names, MTU, peers file, multicast group.
void add_uplink_rows(std::vector<option_row>& t) {
  using enum reload_effect;
  t.push_back(text("identity", "FILE", restart, &options::identity, "",
                   "seal every uplink per peer: this host's identity (vswitchd --generate-identity "
                   "FILE; mode 0600). Each peer is then named by its public key (--uplink "
                   "HOST:PORT,key=KEY, or key=KEY in the peers file) and every pair of hosts has "
                   "its own sessions (Noise IKpsk2, forward secrecy, rekeyed every "
                   "--rekey-interval)"));
  t.push_back(text("allowed-keys", "FILE", restart, &options::allowed_keys, "",
                   "with --identity: hosts that may connect to us first, whose address we do not "
                   "know (a laptop, a host behind NAT): one public key per line, optionally a name. "
                   "Such a peer is added when its handshake arrives and removed when its key leaves "
                   "the file (its sessions end within a second, its MACs are flushed). Reloaded "
                   "when it changes and on SIGHUP"));
  t.push_back(text("ca", "KEY|FILE", restart, &options::ca, "",
                   "with --identity: admit any host whose handshake carries a valid, unexpired "
                   "certificate of this overlay CA (its public key, or a file holding it: DIR/ca.pub of "
                   "vswitchd --ca-init DIR) for the key it handshakes with"));
  t.push_back(text("certificate", "FILE", restart, &options::certificate, "",
                   "this host's certificate (vswitchd --ca-sign), sent in every handshake so that "
                   "hosts with --ca admit it"));
  t.push_back(text("revoked", "FILE", restart, &options::revoked, "",
                   "public keys and certificate fingerprints (32 hex digits) that are refused, one per "
                   "line, whatever admits them; a revoked peer's sessions end within a second and its "
                   "MACs are flushed. Reloaded when it changes and on SIGHUP"));
  t.push_back(text("key-file", "PATH", restart, &options::key_file, "",
                   "the overlay key in PATH: one key per line as 64 hex digits (vswitchd "
                   "--generate-key), at most two while changing it; the first goes into new "
                   "handshakes, each is accepted; mode 0600. With --identity it is an extra "
                   "pre-shared key; alone it seals every uplink (Noise NNpsk0: anyone holding it "
                   "is a member). Reloaded on SIGHUP and when it changes. Without --identity or "
                   "--key-file, uplinks are plain, unauthenticated VXLAN"));
  t.push_back(number("rekey-interval", "SECONDS", restart, &options::rekey_interval, 10, 86400,
                     "seconds from 10 to 86400",
                     "sealed uplinks: a new handshake (fresh keys) with each peer this often; a "
                     "session older than 1.5 times this is not used"));
  t.push_back(number("keepalive", "SECONDS", restart, &options::keepalive, 1, 3600,
                     "seconds from 1 to 3600",
                     "sealed uplinks: send a keepalive to a peer when nothing went to it for this long"));
  t.push_back(number("peer-timeout", "SECONDS", restart, &options::peer_timeout, 2, 86400,
                     "seconds from 2 to 86400",
                     "sealed uplinks: a peer silent this long is down and its MACs are flushed"));
  t.push_back(number("resolve-interval", "SECONDS", restart, &options::resolve_interval, 1, 86400,
                     "seconds from 1 to 86400",
                     "look peer names up again this often; every 5 s while a peer is down"));
  t.push_back(row("underlay-mtu", "N", "the route's MTU to each peer", restart,
                  "MTU of the underlay towards the peers; frames larger than it minus the "
                  "encapsulation are dropped (too_big)",
                  &options::underlay_mtu, [](options& o, const std::string& value) {
                    o.underlay_mtu = static_cast<std::uint32_t>(parse_number(
                        value, "--underlay-mtu", 576, 65535, "an MTU from 576 to 65535"));
                  }));
  t.push_back(row("relay", "yes|no", "yes", restart,
                  "with --identity: pass datagrams on between two peers that have no direct path "
                  "to each other (sealed end to end: this host cannot read them); no: introduce "
                  "them only, they must find a direct path or another relay",
                  &options::relay, [](options& o, const std::string& value) {
                    if (value != "yes" && value != "no") throw options_error("--relay " + value + ": give yes or no");
                    o.relay = value == "yes";
                  }));
  t.push_back(row("clamp-mss", "", "", at_once,
                  "lower the MSS of TCP SYNs crossing an uplink to fit its MTU", &options::clamp_mss,
                  [](options& o, const std::string&) { o.clamp_mss = true; }));
  t.push_back(text("peers-file", "PATH", restart, &options::peers_file, "",
                   "more uplink peers, one HOST:PORT (or HOST) per line, then key=KEY with "
                   "--identity and optionally name=NAME; or key=KEY [name=NAME] alone for a peer "
                   "whose address is learned (see --uplink); its contents are "
                   "reloaded on SIGHUP and when it changes: peers added and removed without "
                   "disturbing the others"));
  t.push_back(row("group", "ADDR", "", restart,
                  "VXLAN multicast group (IPv4, e.g. 239.1.1.1), as the kernel's `vxlan group`: "
                  "broadcast and unknown frames go to the group once; peers are learned from "
                  "their traffic and get known unicast directly. Plain VXLAN only",
                  &options::group, [](options& o, const std::string& value) {
                    boost::system::error_code ec;
                    const auto address = boost::asio::ip::make_address(value, ec);
                    if (ec || !address.is_v4() || !address.is_multicast()) {
                      throw options_error("--group " + value +
                                          ": not an IPv4 multicast address; give one in "
                                          "224.0.0.0/4, e.g. 239.1.1.1");
                    }
                    o.group = value;
                  }));
  t.push_back(row("group-dev", "NAME", "the route's", restart,
                  "interface to join --group on and send to it from", &options::group_dev,
                  [](options& o, const std::string& value) {
                    if (auto problem = ports::netdev::name_problem(value)) {
                      throw options_error("--group-dev " + value + ": " + *problem);
                    }
                    o.group_dev = value;
                  }));
}

std::vector<option_row> make_table() {
  std::vector<option_row> t;
  add_port_rows(t);
  add_peer_rows(t);
  add_mac_table_rows(t);
  add_service_rows(t);
  add_uplink_rows(t);
  return t;
}

}  // namespace

const std::vector<option_row>& option_table() {
  static const std::vector<option_row> table = make_table();
  return table;
}

}  // namespace switchd
