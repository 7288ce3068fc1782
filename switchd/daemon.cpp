#include "switchd/daemon.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/ip/udp.hpp>
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "ports/device_port.hpp"
#include "ports/dgram_port.hpp"
#include "ports/netdev.hpp"
#include "ports/tap_port.hpp"
#include "switchd/metrics.hpp"
#include "switchd/service.hpp"
#include "switchd/capture.hpp"
#include "switchd/status.hpp"

namespace switchd {
namespace {

namespace ip = boost::asio::ip;

/// Resolves `hp` (a name or a literal) to UDP endpoints; throws startup_error naming `option`.
std::vector<ip::udp::endpoint> resolve(boost::asio::io_context& io, const host_port& hp,
                                       const std::string& option, bool passive) {
  ip::udp::resolver resolver(io);
  boost::system::error_code ec;
  const auto flags = passive ? ip::resolver_base::passive | ip::resolver_base::numeric_service
                             : ip::resolver_base::numeric_service;
  auto results = resolver.resolve(hp.host, std::to_string(hp.port), flags, ec);
  if (ec || results.empty()) {
    throw startup_error(option + " " + hp.text + ": cannot resolve " + hp.host + " (" +
                        (ec ? ec.message() : std::string("no address")) +
                        "); check the name or give an IP address");
  }
  return ports::addresses_of(results);
}

/// The whole of a small text file, or an error message.
std::optional<std::string> read_text(const std::string& path, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = std::string("cannot read it (") + std::strerror(errno) + "); check the path";
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > (1u << 20)) {
    error = "larger than 1 MiB; is it the right file?";
    return std::nullopt;
  }
  return text.str();
}

/// add_uplink_async's reason for a peer that is this daemon.
const std::string this_host = "is this host's own address and port; name another host's";

/// Whether `host` is written as an address (nothing to re-resolve).
bool is_literal(const std::string& host) {
  boost::system::error_code ec;
  (void)ip::make_address(host, ec);
  return !ec;
}

}  // namespace

std::vector<ports::sealed::key> load_key_file(const std::string& path) {
  // Checked on the open file (no window between the check and the read).
  const ports::unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  struct stat st {};
  if (!fd || ::fstat(fd.get(), &st) != 0) {
    throw std::runtime_error("--key-file " + path + ": cannot read it (" + std::strerror(errno) +
                             "); create one with `vswitchd --generate-key > " + path +
                             " && chmod 600 " + path + "`");
  }
  if (!S_ISREG(st.st_mode)) {
    throw std::runtime_error("--key-file " + path + ": is not a regular file; give the key file");
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    throw std::runtime_error("--key-file " + path + ": is readable or writable by group or others (mode " +
                             mode + "); a key must stay secret: run chmod 600 " + path);
  }
  if (st.st_uid != ::geteuid() && st.st_uid != 0) {
    throw std::runtime_error("--key-file " + path + ": belongs to uid " + std::to_string(st.st_uid) +
                             ", not to root or the user vswitchd runs as (uid " +
                             std::to_string(::geteuid()) + "); run chown root " + path);
  }
  if (st.st_size > 65536) {
    throw std::runtime_error("--key-file " + path + ": larger than 64 KiB; is it the right file?");
  }
  std::string text(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t have = 0;
  while (have < text.size()) {
    const ssize_t n = ::read(fd.get(), text.data() + have, text.size() - have);
    if (n <= 0) break;
    have += static_cast<std::size_t>(n);
  }
  text.resize(have);
  ports::sealed::key_file parsed = ports::sealed::parse_key_file(text);
  sodium_memzero(text.data(), text.size());  // the key's only other copy is the result
  if (!parsed.error.empty()) throw std::runtime_error("--key-file " + path + ": " + parsed.error);
  return parsed.keys;
}

daemon::daemon(const options& opts, std::vector<std::string> args)
    : opts_(opts),
      args_(std::move(args)),
      datapath_(io_, opts.mac_table_size, std::chrono::seconds(opts.mac_aging)),
      signals_(io_),
      watch_timer_(io_),
      stop_timer_(io_) {
  // The control socket first: a second daemon on the same socket stops here,
  // before it touches any device.
  if (opts.control != "none") {
    try {
      std::optional<std::pair<uid_t, gid_t>> owner;
      if (opts.user) owner = user_ids(*opts.user);
      control_ = std::make_unique<control_server>(
          io_, opts.control, owner,
          [this](const std::string& cmd, const nlohmann::json& a,
                 const std::shared_ptr<control_client>& client) { handle_request(cmd, a, client); });
    } catch (const std::runtime_error& e) {
      throw startup_error(e.what());
    }
  }
  if (opts.metrics) {
    const ip::tcp::endpoint where(resolve(io_, *opts.metrics, "--metrics", true).front().address(),
                                  opts.metrics->port);
    try {
      metrics_ = std::make_unique<metrics_server>(io_, where, "--metrics " + opts.metrics->text,
                                                  [this] { return render_prometheus(status()); });
    } catch (const std::runtime_error& e) {
      throw startup_error(e.what());
    }
  }
  std::vector<host_port> file_peers;
  if (opts.peers_file) {
    std::string error;
    const std::optional<std::string> text = read_text(*opts.peers_file, error);
    if (!text) throw startup_error("--peers-file " + *opts.peers_file + ": " + error);
    peers_stamp_ = stamp_of(*opts.peers_file);
    try {
      file_peers = parse_peers_file(*text, *opts.peers_file);
    } catch (const options_error& e) {
      throw startup_error(e.what());
    }
  }
  if (opts.ports.size() + opts.uplinks.size() + file_peers.size() > l2::max_ports) {
    throw startup_error("too many ports: at most " + std::to_string(l2::max_ports) +
                        " ports and uplinks together");
  }
  datapath_.set_clamp_mss(opts.clamp_mss);
  apply_mac_table_settings(opts);
  try {
    for (const port_spec& spec : opts.ports) open_port(spec);
    open_uplinks(opts, file_peers);
    for (const stream_listen_spec& spec : opts.stream_listens) open_stream_listener(spec);
  } catch (const ports::port_error& e) {
    throw startup_error(e.what());
  }
}

void daemon::open_stream_listener(const stream_listen_spec& spec) {
  ports::stream_listen_settings settings;
  settings.address = ports::parse_stream_address(spec.address, "--stream-listen");
  settings.access.mode = opts_.stream_mode;
  if (opts_.stream_group) settings.access.group = *opts_.stream_group;
  settings.option = "--stream-listen " + spec.text;
  listeners_.push_back(ports::stream_listener::open(
      io_, settings, [this, spec](ports::stream_connection connection) {
        // Each guest that connects is a port, until it disconnects.
        if (datapath_.next_id() >= l2::max_ports) {
          spdlog::warn("--stream-listen {}: a guest connected but there are {} ports already; closed",
                       spec.address, l2::max_ports);
          return;
        }
        const l2::port_id id = datapath_.next_id();
        const std::string name = "stream:" + spec.address + "#" + std::to_string(connection.serial);
        auto port = std::make_unique<ports::stream_port>(
            io_, id, name, std::move(connection), [this](ports::stream_port& p, const std::string& why) {
              // Posted by the port after it closed: it can go now.
              spdlog::info("port {}: the guest went away ({}); removed", p.name(), why);
              const l2::port_id pid = p.id();
              if (pid < datapath_.ports().size() && datapath_.ports()[pid].get() == &p) remove_port(pid);
            });
        datapath_.add_port(std::move(port), std::nullopt, spec.options.vlans);
        if (spec.options.max_macs != 0) {
          datapath_.forwarder().table().set_port_limit(id, spec.options.max_macs);
        }
        datapath_.forwarder().set_storm_limits(id, spec.options.storm);
      }));
}

daemon::~daemon() {
  // As on SIGTERM, in case run() did not get there: captures refer to the
  // datapath and to control clients.
  while (!captures_.empty()) end_capture(captures_.back().get(), "stopping");
  if (control_) control_->stop();
  if (metrics_) metrics_->stop();
  datapath_.stop();
}

void daemon::apply_mac_table_settings(const options& o) {
  l2::mac_table& table = datapath_.forwarder().table();
  table.set_full_policy(o.mac_table_evict ? l2::full_policy::evict : l2::full_policy::refuse);
  table.set_move_damping(o.mac_move_limit, std::chrono::seconds(o.mac_move_window),
                         std::chrono::seconds(o.mac_hold_down));
  datapath_.set_move_damping_text(o.mac_move_limit, o.mac_move_window, o.mac_hold_down);
}

void daemon::open_port(const port_spec& spec, const std::string& option) {
  const l2::port_id id = datapath_.next_id();
  try {
    datapath_.add_port(attach(spec, id), std::nullopt, spec.vlans);
  } catch (const ports::port_error& e) {
    // Port errors start with the interface name, which the option already gives.
    std::string_view message = e.what();
    if (message.starts_with(spec.name + ": ")) message.remove_prefix(spec.name.size() + 2);
    throw startup_error(option + " " + spec.text + ": " + std::string(message));
  }
  // Per-port options.
  if (spec.max_macs != 0) datapath_.forwarder().table().set_port_limit(id, spec.max_macs);
  datapath_.forwarder().set_storm_limits(id, spec.storm);
  running_specs_[spec.name] = spec;
}

std::unique_ptr<ports::port> daemon::attach(const port_spec& spec, l2::port_id id) {
  switch (spec.mode) {
    case port_mode::tap:
      return ports::tap_port::open(io_, id, spec.name);
    case port_mode::device:
      return ports::device_port::open(io_, id, spec.name);
    case port_mode::dgram:
      return ports::dgram_port::open(io_, id, spec.name, ports::parse_dgram_spec(spec.name, "--port"),
                                     ports::unix_socket_access{}, "--port " + spec.text);
    case port_mode::automatic:
      break;
  }
  // A bare name: the file side when it is missing or a free TAP, else the kernel side.
  const auto type = ports::netdev::type_of(spec.name);
  if (type == ports::netdev::interface_type::other) {
    spdlog::info("{}: is not a TAP; attaching its kernel side (as dev:{})", spec.name, spec.name);
    return ports::device_port::open(io_, id, spec.name);
  }
  ports::tap_port::open_failure failure = ports::tap_port::open_failure::none;
  auto tap = ports::tap_port::open(io_, id, spec.name, &failure);
  if (tap) {
    spdlog::info("{}: {} its file side (as tap:{})", spec.name,
                 tap->created() ? "created a TAP and opened" : "attached a persistent TAP by",
                 spec.name);
    return tap;
  }
  spdlog::info("{}: the TAP is held by another process (a QEMU guest?); attaching its kernel "
               "side (as dev:{})",
               spec.name, spec.name);
  return ports::device_port::open(io_, id, spec.name);
}

void daemon::open_uplinks(const options& opts, const std::vector<host_port>& file_peers) {
  if (opts.uplinks.empty() && !opts.peers_file && !opts.group && !opts.listen) return;

  ports::uplink_settings settings;
  settings.vni = opts.vni;
  settings.keepalive = std::chrono::seconds(opts.keepalive);
  settings.peer_timeout = std::chrono::seconds(opts.peer_timeout);
  settings.resolve_interval = std::chrono::seconds(opts.resolve_interval);
  settings.underlay_mtu = opts.underlay_mtu;
  if (opts.key_file) {
    try {
      settings.keys = load_key_file(*opts.key_file);
    } catch (const std::runtime_error& e) {
      throw startup_error(e.what());
    }
    key_stamp_ = stamp_of(*opts.key_file);
  }
  if (opts.group) {
    settings.group = ip::make_address_v4(*opts.group);
    if (opts.group_dev) {
      settings.group_ifindex = ports::netdev::index_of(*opts.group_dev);
      if (settings.group_ifindex == 0) {
        throw startup_error("--group-dev " + *opts.group_dev +
                            ": no such interface; see `ip link`");
      }
    }
  }

  // Resolve the peers, then pick the local endpoint's family.
  std::vector<std::pair<host_port, std::string>> peers;  // with the option that named it
  for (const host_port& hp : opts.uplinks) peers.emplace_back(hp, "--uplink");
  std::set<std::string> on_command_line;
  for (const host_port& hp : opts.uplinks) on_command_line.insert(peer_key(hp));
  for (const host_port& hp : file_peers) {
    if (on_command_line.count(peer_key(hp)) != 0) continue;  // --uplink has it already
    peers.emplace_back(hp, "--peers-file " + *opts.peers_file + ":");
  }
  std::vector<std::vector<ip::udp::endpoint>> candidates;
  bool want_v6 = false;
  for (const auto& [hp, option] : peers) {
    candidates.push_back(resolve(io_, hp, option, false));
    if (!ports::pick_peer_address(candidates.back(), false)) want_v6 = true;  // IPv6 only
  }
  ip::udp::endpoint local(want_v6 ? ip::udp::v6() : ip::udp::v4(), l2::vxlan_default_port);
  std::string listen_option = std::string("--listen ") + (want_v6 ? "[::]:4789" : "0.0.0.0:4789") +
                              " (the default)";
  if (opts.listen) {
    listen_option = "--listen " + opts.listen->text;
    local = resolve(io_, *opts.listen, "--listen", true).front();
    if (local.address().is_v4() && want_v6) {
      throw startup_error(listen_option +
                          ": is IPv4 but an --uplink peer is IPv6 only; listen on [::]:PORT "
                          "(which serves both) or on an IPv6 address");
    }
  }
  if (opts.group && (want_v6 || !local.address().is_unspecified() || !local.address().is_v4())) {
    throw startup_error("--group " + *opts.group + ": needs an IPv4 wildcard socket to hear the "
                        "group; use --listen 0.0.0.0:PORT and IPv4 peers");
  }
  endpoint_ = ports::udp_endpoint::open(io_, local, settings, listen_option);
  resolver_ = std::make_unique<ports::resolver>(io_);
  if (opts.group) {
    // The group is one uplink that floods reach; peers behind it are learned.
    const ip::udp::endpoint group(settings.group.value(), endpoint_->local().port());
    const l2::port_id id = datapath_.next_id();
    auto port = std::make_unique<ports::uplink_port>(id, "group " + ports::to_string(group),
                                                     *endpoint_, group);
    group_port_ = port.get();
    datapath_.add_port(std::move(port));
    endpoint_->on_stranger([this](const ip::udp::endpoint& from) { return learn_peer(from); });
  }

  const bool v6 = endpoint_->is_v6();
  for (std::size_t i = 0; i < peers.size(); ++i) {
    const auto& [hp, option] = peers[i];
    // On a dual-stack socket any family works; prefer IPv4 when both resolve.
    const std::optional<ip::udp::endpoint> remote = ports::pick_peer_address(candidates[i], v6);
    if (!remote) {
      throw startup_error(option + " " + hp.text + ": has no IPv4 address but " + listen_option +
                          " is IPv4; listen on [::]:PORT instead");
    }
    const bool from_file = i >= opts.uplinks.size();
    if (from_file && is_this_host(*remote)) {
      spdlog::info("--peers-file: {} is this host; skipped (one file can serve every host)", hp.text);
      continue;
    }
    std::string why_not;
    const std::optional<l2::port_id> id = add_uplink(hp, *remote, why_not);
    if (!id && from_file) {
      // As on reload: a file entry that duplicates a peer is skipped, not fatal.
      spdlog::warn("{} {}: {}; skipped", option, hp.text, why_not);
      continue;
    }
    if (!id) throw startup_error(option + " " + hp.text + ": " + why_not);
    (from_file ? file_peers_ : option_peers_)[peer_key(hp)] = *id;
  }
}

std::optional<l2::port_id> daemon::add_uplink(const host_port& hp, const ip::udp::endpoint& remote,
                                              std::string& why_not) {
  for (const auto& other : datapath_.ports()) {
    const auto* up = dynamic_cast<const ports::uplink_port*>(other.get());
    if (up != nullptr && up->remote() == remote) {
      why_not = "is the same peer as " + up->name() + "; give each peer once";
      return std::nullopt;
    }
  }
  if (remote == ports::canonical(endpoint_->local()) || is_this_host(remote)) {
    why_not = "is this daemon's own address and port; name another host's";
    return std::nullopt;
  }
  if (remote.address().is_v6() && !endpoint_->is_v6()) {
    why_not = "is IPv6 but the uplink socket is IPv4; listen on [::]:PORT";
    return std::nullopt;
  }
  if (datapath_.next_id() >= l2::max_ports) {
    why_not = "too many ports (at most " + std::to_string(l2::max_ports) + ")";
    return std::nullopt;
  }
  const l2::port_id id = datapath_.next_id();
  auto port = std::make_unique<ports::uplink_port>(
      id, hp.text, *endpoint_, remote, is_literal(hp.host) ? std::string() : hp.host,
      std::to_string(hp.port));
  if (hp.vni_map.empty()) {
    datapath_.add_port(std::move(port));
    return id;
  }
  // Each mapped VLAN in its own VNI: to the switch, a trunk of those VLANs.
  if (endpoint_->is_sealed()) {
    why_not = "vni-map is for plain VXLAN peers; sealed uplinks carry the tags themselves";
    return std::nullopt;
  }
  l2::vlan_set vlans;
  for (const auto& [vlan, vni] : hp.vni_map) vlans.set(vlan);
  port->set_vni_map(hp.vni_map);
  datapath_.add_port(std::move(port), std::nullopt, l2::vlan_mode::trunk(vlans));
  return id;
}

ports::uplink_port* daemon::learn_peer(const ip::udp::endpoint& from) {
  if (learned_peers_.size() >= max_learned_peers || datapath_.next_id() >= l2::max_ports) {
    // Full: its frames still come in, charged to the group port (and
    // answered through the group), just without a unicast shortcut.
    return group_port_;
  }
  // Send to the peer's VXLAN port (ours), not the source port it picked for the flow.
  const ip::udp::endpoint remote(from.address(), endpoint_->local().port());
  const l2::port_id id = datapath_.next_id();
  auto peer = std::make_unique<ports::uplink_port>(id, ports::to_string(remote), *endpoint_, remote);
  ports::uplink_port* raw = peer.get();
  datapath_.add_port(std::move(peer), l2::port_role::learned_uplink);
  learned_peers_.push_back(id);
  spdlog::info("peer {}: learned from --group traffic", raw->name());
  return raw;
}

void daemon::forget_idle_peers() {
  const auto now = std::chrono::steady_clock::now();
  const auto idle = std::chrono::seconds(opts_.mac_aging);
  std::erase_if(learned_peers_, [&](l2::port_id id) {
    const auto* peer = dynamic_cast<const ports::uplink_port*>(datapath_.ports()[id].get());
    if (peer == nullptr || now - peer->state().last_rx < idle) return false;
    spdlog::info("peer {}: silent for {} s (--mac-aging); forgotten", peer->name(), opts_.mac_aging);
    remove_port(id);
    return true;
  });
}

bool daemon::is_this_host(const ip::udp::endpoint& remote) const {
  // Our own port on one of our own addresses (a peers file shared by all
  // hosts lists this one too): a wildcard socket would hear its own floods.
  return endpoint_->is_self(remote);
}

daemon::file_stamp daemon::stamp_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return {static_cast<std::uint64_t>(st.st_ino), static_cast<std::uint64_t>(st.st_size),
          static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
          static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec, true};
}

void daemon::schedule_watch() {
  watch_timer_.expires_after(std::chrono::seconds(1));
  watch_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    if (opts_.key_file && endpoint_ && stamp_of(*opts_.key_file) != key_stamp_) {
      spdlog::info("--key-file {}: changed; reloading", *opts_.key_file);
      reload_keys();
    }
    if (opts_.peers_file && endpoint_ && stamp_of(*opts_.peers_file) != peers_stamp_) {
      spdlog::info("--peers-file {}: changed; reloading", *opts_.peers_file);
      reload_peers();
    }
    if (!learned_peers_.empty()) forget_idle_peers();
    reattach_gone_ports();
    schedule_watch();
  });
}

void daemon::reattach_gone_ports() {
  // A TAP or interface deleted under a port, then made again with the same
  // name (a guest restarted, `ip tuntap add` again): the port comes back.
  for (std::size_t id = 0; id < datapath_.ports().size(); ++id) {
    const auto& p = datapath_.ports()[id];
    if (!p || !p->detached()) continue;
    const std::string name = p->name();
    const auto spec = running_specs_.find(name);
    if (spec == running_specs_.end() || ports::netdev::index_of(name) == 0) continue;
    const port_spec again = spec->second;
    remove_port_to_reopen(static_cast<l2::port_id>(id));
    try {
      reopen_port(again, "--port");
      spdlog::info("port {}: the interface is back; attached again", name);
    } catch (const std::exception& e) {
      // Its spec is kept: tried again each second, logged once.
      running_specs_[name] = again;
      if (reattach_failures_.insert(name).second) {
        spdlog::warn("port {}: cannot attach it again ({}); trying every second", name, e.what());
      }
    }
  }
  // Ones that failed (their port is gone): try again.
  const std::vector<std::string> waiting(reattach_failures_.begin(), reattach_failures_.end());
  for (const std::string& name : waiting) {
    if (port_named(name) || ports::netdev::index_of(name) == 0) continue;
    try {
      reopen_port(running_specs_.at(name), "--port");
      spdlog::info("port {}: the interface is back; attached again", name);
    } catch (const std::exception&) {
      // (still waited for; logged when it first failed)
    }
  }
}

void daemon::reload_keys() {
  if (!opts_.key_file || !endpoint_) return;
  key_stamp_ = stamp_of(*opts_.key_file);
  try {
    const std::vector<ports::sealed::key> keys = load_key_file(*opts_.key_file);
    endpoint_->set_keys(keys);
    spdlog::info("--key-file {}: {} key(s) loaded; sealing with key id {:08x}", *opts_.key_file,
                 keys.size(), ports::sealed::key_id_of(keys.front()));
  } catch (const std::runtime_error& e) {
    spdlog::error("{}; keeping the keys in use", e.what());
  }
}

void daemon::reload_peers() {
  if (!opts_.peers_file || !endpoint_) return;
  const std::string& file = *opts_.peers_file;
  peers_stamp_ = stamp_of(file);
  std::string error;
  const std::optional<std::string> text = read_text(file, error);
  std::vector<host_port> wanted;
  try {
    if (!text) throw options_error("--peers-file " + file + ": " + error);
    wanted = parse_peers_file(*text, file);
  } catch (const options_error& e) {
    spdlog::error("{}; keeping the current peers", e.what());
    return;
  }
  const std::uint64_t generation = ++peers_generation_;
  std::set<std::string> keys;
  for (const host_port& hp : wanted) keys.insert(peer_key(hp));
  std::size_t removed = 0;
  for (auto it = file_peers_.begin(); it != file_peers_.end();) {
    if (keys.count(it->first) != 0) {
      ++it;
      continue;
    }
    const auto& p = datapath_.ports()[it->second];
    spdlog::info("peer {}: removed (no longer in --peers-file)", p ? p->name() : it->first);
    remove_port(it->second);
    it = file_peers_.erase(it);
    ++removed;
  }
  std::size_t added = 0;
  for (const host_port& hp : wanted) {
    if (file_peers_.count(peer_key(hp)) != 0) continue;
    bool on_command_line = false;
    for (const host_port& u : opts_.uplinks) on_command_line |= peer_key(u) == peer_key(hp);
    if (on_command_line) continue;
    ++added;
    add_uplink_async(
        hp, [this, generation] { return generation == peers_generation_; },
        [this, hp](std::optional<l2::port_id> id, const std::string& why_not) {
          if (!id) {
            if (why_not == this_host) {
              spdlog::info("--peers-file: {} is this host; skipped", hp.text);
            } else {
              spdlog::error("--peers-file: {}: {}; not added (tried again at the next reload)",
                            hp.text, why_not);
            }
            return;
          }
          file_peers_[peer_key(hp)] = *id;
          spdlog::info("peer {}: added from --peers-file", hp.text);
        });
  }
  spdlog::info("--peers-file {}: {} peer(s) listed, {} to add, {} removed", file, wanted.size(),
               added, removed);
}

void daemon::add_uplink_async(const host_port& hp, std::function<bool()> still_wanted,
                              std::function<void(std::optional<l2::port_id>, const std::string&)> done) {
  // Resolved asynchronously: a slow name server never stalls forwarding.
  resolver_->async_resolve(
      hp.host, std::to_string(hp.port),
      [this, hp, still_wanted = std::move(still_wanted), done = std::move(done)](
          const boost::system::error_code& ec, std::vector<ip::udp::endpoint> results) {
        if (!still_wanted()) return;
        if (ec || results.empty()) {
          done(std::nullopt, "cannot resolve " + hp.host + " (" +
                                 (ec ? ec.message() : std::string("no address")) +
                                 "); check the name or give an IP address");
          return;
        }
        const std::vector<ip::udp::endpoint> addresses = ports::canonical(std::move(results));
        // With no usable address, the first one: add_uplink says why it cannot be used.
        const ip::udp::endpoint remote =
            ports::pick_peer_address(addresses, endpoint_->is_v6()).value_or(addresses.front());
        if (is_this_host(remote)) {
          done(std::nullopt, this_host);
          return;
        }
        std::string why_not;
        const std::optional<l2::port_id> id = add_uplink(hp, remote, why_not);
        done(id, why_not);
      });
}

running_view daemon::running_now() const {
  running_view v;
  v.opened = running_specs_;
  for (const auto& p : datapath_.ports()) {
    if (!p) continue;
    v.running.insert(p->name());
    if (dynamic_cast<const ports::uplink_port*>(p.get()) != nullptr) v.uplinks.insert(p->name());
  }
  v.waited_for = reattach_failures_;
  for (const auto& [key, id] : option_peers_) v.option_peers.insert(key);
  v.has_uplink_socket = endpoint_ != nullptr;
  v.interface_exists = [](const std::string& name) { return ports::netdev::index_of(name) != 0; };
  return v;
}

nlohmann::json daemon::reload_config() {
  options next;
  try {
    std::vector<const char*> argv{"vswitchd"};
    for (const std::string& a : args_) argv.push_back(a.c_str());
    next = parse_options(static_cast<int>(argv.size()), argv.data()).opts;
  } catch (const options_error& e) {
    spdlog::error("reload: {}; the running configuration stays", e.what());
    return {{"error", std::string(e.what()) + "; the running configuration stays"}};
  }
  // What can be checked is checked before anything changes.
  reload_plan plan = plan_reload(opts_, next, running_now());
  if (plan.refusal) {
    spdlog::error("reload: {}; the running configuration stays", *plan.refusal);
    return {{"error", *plan.refusal + "; the running configuration stays"}};
  }
  const auto array = nlohmann::json::array();
  nlohmann::json result = {{"ports_added", array},   {"ports_removed", array},
                           {"ports_changed", array}, {"peers_added", array},
                           {"peers_removed", array}, {"unchanged", plan.unchanged},
                           {"failed", array},        {"restart_needed", plan.restart_needed}};
  apply_port_changes(plan, result);
  apply_peer_changes(plan, result);
  apply_settings(plan);
  for (const std::string& name : plan.restart_needed) {
    spdlog::warn("reload: --{} changed; it takes effect at the next start (kept as it runs)", name);
  }
  opts_ = std::move(plan.next);
  spdlog::info("reload: ports {} added, {} removed, {} changed; peers {} added, {} removed; {} "
               "unchanged{}",
               result["ports_added"].size(), result["ports_removed"].size(),
               result["ports_changed"].size(), result["peers_added"].size(),
               result["peers_removed"].size(), plan.unchanged,
               result["failed"].empty() ? "" : "; some failed (see above)");
  return result;
}

void daemon::apply_port_changes(const reload_plan& plan, nlohmann::json& result) {
  for (const std::string& name : plan.ports_to_remove) {
    reattach_failures_.erase(name);  // no longer wanted back
    held_statics_.erase(name);
    running_specs_.erase(name);
    if (const auto id = port_named(name)) {
      remove_port(*id);
      spdlog::info("port {}: removed (reload)", name);
      result["ports_removed"].push_back(name);
    }
  }
  for (const port_to_open& p : plan.ports_to_open) {
    const port_spec& spec = p.spec;
    if (p.running) {
      if (const auto id = port_named(spec.name)) remove_port_to_reopen(*id);  // opened again as written
    }
    try {
      reopen_port(spec, "--port");
      spdlog::info("port {}: {} (reload)", spec.name, p.running ? "changed, reopened" : "added");
      result[p.running ? "ports_changed" : "ports_added"].push_back(spec.name);
    } catch (const startup_error& e) {
      // One waited for stays waited for, now as the file says; a running
      // one that could not be reopened is gone, its entries with it.
      if (p.waited_for) {
        running_specs_[spec.name] = spec;
      } else {
        held_statics_.erase(spec.name);
      }
      spdlog::error("reload: {}", e.what());
      result["failed"].push_back(e.what());
    }
  }
}

void daemon::apply_peer_changes(const reload_plan& plan, nlohmann::json& result) {
  for (const host_port& old : plan.peers_to_remove) {
    const auto it = option_peers_.find(peer_key(old));
    if (it == option_peers_.end()) continue;
    remove_port(it->second);
    option_peers_.erase(it);
    spdlog::info("peer {}: removed (reload)", old.text);
    result["peers_removed"].push_back(old.text);
  }
  for (const host_port& hp : plan.peers_to_adopt) {
    if (const auto id = port_named(hp.text)) option_peers_[peer_key(hp)] = *id;
  }
  for (const host_port& hp : plan.peers_to_add) {
    result["peers_added"].push_back(hp.text);
    // Still wanted when resolved: listed, and not added meanwhile.
    const std::string key = peer_key(hp);
    add_uplink_async(
        hp,
        [this, key] {
          return std::any_of(opts_.uplinks.begin(), opts_.uplinks.end(),
                             [&](const host_port& u) { return peer_key(u) == key; }) &&
                 option_peers_.count(key) == 0;
        },
        [this, hp](std::optional<l2::port_id> id, const std::string& why_not) {
          if (!id) {
            spdlog::error("reload: --uplink {}: {}; not added", hp.text, why_not);
            return;
          }
          option_peers_[peer_key(hp)] = *id;
          spdlog::info("peer {}: added (reload)", hp.text);
        });
  }
}

void daemon::apply_settings(const reload_plan& plan) {
  const options& next = plan.next;
  for (const std::string& name : plan.at_once) {
    if (name == "log-level") spdlog::set_level(spdlog::level::from_str(next.log_level));
    if (name == "mac-aging") {
      datapath_.forwarder().table().set_aging(std::chrono::seconds(next.mac_aging));
    }
    if (name == "clamp-mss") datapath_.set_clamp_mss(next.clamp_mss);
  }
  apply_mac_table_settings(next);  // --mac-table-full and move damping
}

void daemon::wait_for_signals() {
  signals_.async_wait([this](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    if (signo == SIGUSR1) {
      log_counters();
      wait_for_signals();
      return;
    }
    if (signo == SIGHUP) {
      spdlog::info("SIGHUP: reloading the options{}{}{}",
                   opts_.config_file ? " and --config " + *opts_.config_file : std::string(),
                   opts_.key_file ? ", --key-file" : "", opts_.peers_file ? ", --peers-file" : "");
      reload_config();
      reload_keys();
      reload_peers();
      wait_for_signals();
      return;
    }
    spdlog::info("{}: stopping", signo == SIGINT ? "SIGINT" : "SIGTERM");
    watch_timer_.cancel();
    if (resolver_) resolver_->cancel();
    for (const auto& l : listeners_) l->stop();
    datapath_.stop();
    if (endpoint_) endpoint_->stop();
    if (metrics_) metrics_->stop();
    while (!captures_.empty()) end_capture(captures_.back().get(), "stopping");
    if (!control_) {
      io_.stop();
      return;
    }
    // Captures' ends (and answers) get up to 300 ms to reach their clients.
    control_->drain([this] { io_.stop(); });
    stop_timer_.expires_after(std::chrono::milliseconds(300));
    stop_timer_.async_wait([this](const boost::system::error_code& e) {
      if (!e) io_.stop();
    });
  });
}

int daemon::run(const std::function<void()>& ready) {
  signals_.add(SIGINT);
  signals_.add(SIGTERM);
  signals_.add(SIGUSR1);
  signals_.add(SIGHUP);
  wait_for_signals();
  datapath_.start();
  if (endpoint_) endpoint_->start();  // (also with no peer yet: --listen alone)
  schedule_watch();
  if (control_) {
    control_->start();
    spdlog::info("control socket {} (vswitchctl --control {})", control_->path(), control_->path());
  }
  if (metrics_) {
    metrics_->start();
    spdlog::info("metrics on http://{}/metrics", opts_.metrics->text);
  }
  for (const auto& l : listeners_) {
    l->start();
    spdlog::info("{}", l->describe());
  }
  spdlog::info("vswitchd ready: {} ports, MAC table {} entries, aging {} s",
               datapath_.port_count(), datapath_.forwarder().table().capacity(),
               std::chrono::duration_cast<std::chrono::seconds>(
                   datapath_.forwarder().table().aging()).count());
  if (endpoint_ && endpoint_->is_sealed()) {
    spdlog::info("uplinks: sealed (XChaCha20-Poly1305, key id {:08x}) on UDP {}; instance {:016x}",
                 ports::sealed::key_id_of(endpoint_->settings().keys.front()),
                 ports::to_string(endpoint_->local()), endpoint_->instance());
  } else if (endpoint_) {
    spdlog::info("uplinks: VXLAN VNI {} on UDP {}", endpoint_->vni(),
                 ports::to_string(endpoint_->local()));
    spdlog::warn("uplinks are plain VXLAN: unauthenticated and unencrypted; anyone who can send "
                 "UDP to {} with a peer's address can inject frames. On an untrusted network "
                 "use --key-file",
                 ports::to_string(endpoint_->local()));
  }
  if (ready) ready();
  io_.run();
  log_counters();
  return 0;
}

void daemon::log_counters() const {
  if (endpoint_) {
    const auto& c = endpoint_->counters();
    spdlog::info("counters: udp endpoint: rx {} datagrams, dropped from non-peers {}",
                 c.rx_datagrams, c.drops[l2::drop_reason::not_peer]);
    const auto now = std::chrono::steady_clock::now();
    for (const auto& p : datapath_.ports()) {
      const auto* up = dynamic_cast<const ports::uplink_port*>(p.get());
      if (up == nullptr) continue;
      const auto& st = up->state();
      std::string line = "counters: peer " + up->name() + ": " + (up->is_up() ? "up" : "down") +
                         ", address " + ports::to_string(up->remote()) + ", inner MTU " +
                         std::to_string(up->max_frame_size()) + " bytes";
      if (endpoint_->is_sealed()) {
        char rtt[32];
        std::snprintf(rtt, sizeof rtt, "%.3f", std::chrono::duration<double, std::milli>(st.rtt).count());
        line += ", rtt " + std::string(st.rtt.count() > 0 ? rtt : "?") + " ms";
        if (st.last_rx.time_since_epoch().count() != 0) {
          char seen[32];
          std::snprintf(seen, sizeof seen, "%.1f",
                        std::chrono::duration<double>(now - st.last_rx).count());
          line += ", last heard " + std::string(seen) + " s ago";
        } else {
          line += ", never heard";
        }
        line += ", probes " + std::to_string(st.probes_sent) + " sent " +
                std::to_string(st.replies_received) + " answered";
      }
      spdlog::info("{}", line);
    }
  }
  datapath_.log_counters();
}

}  // namespace switchd
