#include "switchd/peer_set.hpp"

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "ports/identity.hpp"
#include "ports/netdev.hpp"
#include "switchd/secret_file.hpp"

namespace switchd {
namespace {

namespace ip = boost::asio::ip;

/// add_uplink_async's reason for a peer that is this daemon.
const std::string this_host = "is this host's own address and port; name another host's";

/// Whether `host` is written as an address (nothing to re-resolve).
bool is_literal(const std::string& host) {
  boost::system::error_code ec;
  (void)ip::make_address(host, ec);
  return !ec;
}

}  // namespace

/// Resolves `hp` (a name or a literal) to UDP endpoints; throws startup_error naming `option`.
std::vector<ip::udp::endpoint> resolve_now(boost::asio::io_context& io, const host_port& hp,
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

std::vector<ports::sealed::key> load_key_file(const std::string& path) {
  std::string text = read_secret_file("--key-file", path,
                                      "create one with `vswitchd --generate-key > " + path + " && chmod 600 " +
                                          path + "`");
  ports::sealed::key_file parsed = ports::sealed::parse_key_file(text);
  sodium_memzero(text.data(), text.size());  // the key's only other copy is the result
  if (!parsed.error.empty()) throw std::runtime_error("--key-file " + path + ": " + parsed.error);
  return parsed.keys;
}

ports::noise::key_pair load_identity_file(const std::string& path) {
  std::string text = read_secret_file("--identity", path,
                                      "make one with `vswitchd --generate-identity " + path + "`");
  const ports::identity::identity_file parsed = ports::identity::parse_identity_file(text);
  sodium_memzero(text.data(), text.size());
  if (!parsed.keys) throw std::runtime_error("--identity " + path + ": " + parsed.error);
  return *parsed.keys;
}

peer_set::peer_set(boost::asio::io_context& io, datapath& dp, port_registry& registry,
                   const options& opts)
    : io_(io), datapath_(dp), registry_(registry), opts_(opts) {}

peer_set::~peer_set() { stop(); }

void peer_set::load() {
  std::vector<host_port>& file_peers = listed_;
  if (opts_.peers_file) {
    std::string error;
    const std::optional<std::string> text = read_text(*opts_.peers_file, error);
    if (!text) throw startup_error("--peers-file " + *opts_.peers_file + ": " + error);
    peers_stamp_ = stamp_of(*opts_.peers_file);
    try {
      file_peers = parse_peers_file(*text, *opts_.peers_file);
    } catch (const options_error& e) {
      throw startup_error(e.what());
    }
  }
  admission_.load();
  if (opts_.ports.size() + opts_.uplinks.size() + file_peers.size() > l2::max_ports) {
    throw startup_error("too many ports: at most " + std::to_string(l2::max_ports) +
                        " ports and uplinks together");
  }
}

void peer_set::open() {
  try {
    open_uplinks(listed_);
  } catch (const ports::port_error& e) {
    throw startup_error(e.what());
  }
}

void peer_set::start() {
  if (!endpoint_) return;
  endpoint_->start();
  // With workers: they read the endpoint's sockets, one each (and pass
  // what they do not open themselves on, in order: see order_passed_with).
  if (!endpoint_->worker_receives()) return;
  endpoint_->order_passed_with([this] { datapath_.drain_handoffs(); }, [this] { datapath_.send_queued(); });
  datapath_.add_source(*endpoint_, endpoint_->receive_queues());
}

void peer_set::stop() {
  if (resolver_) resolver_->cancel();
  if (!endpoint_) return;
  datapath_.remove_source(*endpoint_);
  endpoint_->stop();
}

std::optional<std::pair<std::string, l2::port_id>> peer_set::remove(const std::string& text,
                                                                   std::string& error) {
  std::optional<l2::port_id> found;
  for (const auto& p : datapath_.ports()) {
    const auto* up = dynamic_cast<const ports::uplink_port*>(p.get());
    if (up == nullptr) continue;
    if (up->name() == text || ports::to_string(up->remote()) == text) found = up->id();
  }
  if (!found) {
    error = "no uplink " + text + "; see the peers in vswitchctl show";
    return std::nullopt;
  }
  if (datapath_.ports()[*found].get() == group_port_) {
    error = text + " is the --group itself; it can only go with a restart";
    return std::nullopt;
  }
  const std::string name = datapath_.ports()[*found]->name();
  std::erase_if(file_peers_, [&](const auto& kv) { return kv.second == *found; });
  std::erase_if(option_peers_, [&](const auto& kv) { return kv.second == *found; });
  std::erase(learned_, *found);
  std::erase_if(admitted_, [&](const auto& kv) { return kv.second.id == *found; });
  registry_.remove(*found);
  return std::pair{name, *found};
}

std::set<std::string> peer_set::option_peer_keys() const {
  std::set<std::string> keys;
  for (const auto& [key, id] : option_peers_) keys.insert(key);
  return keys;
}

void peer_set::tick() {
  if (!endpoint_) return;
  if (opts_.key_file && stamp_of(*opts_.key_file) != key_stamp_) {
    spdlog::info("--key-file {}: changed; reloading", *opts_.key_file);
    reload_keys();
  }
  if (opts_.peers_file && stamp_of(*opts_.peers_file) != peers_stamp_) {
    spdlog::info("--peers-file {}: changed; reloading", *opts_.peers_file);
    reload_peers();
  }
  apply(admission_.tick());
  check_certificates();
  if (!learned_.empty()) forget_idle();
}

void peer_set::log_ready() const {
  if (endpoint_ && endpoint_->is_sealed()) {
    const auto key = endpoint_->public_key();
    spdlog::info("uplinks: sealed (Noise_{}_25519_ChaChaPoly_SHA256) on UDP {}; {}",
                 key ? "IKpsk2" : "NNpsk0", ports::to_string(endpoint_->local()),
                 (key ? "public key " + ports::identity::to_base64(*key) : std::string("no host identities")) +
                     (endpoint_->settings().keys.empty()
                          ? std::string()
                          : "; overlay key id " + ports::sealed::fingerprint(endpoint_->settings().keys.front())));
  } else if (endpoint_) {
    spdlog::info("uplinks: VXLAN VNI {} on UDP {}", endpoint_->vni(),
                 ports::to_string(endpoint_->local()));
    spdlog::warn("uplinks are plain VXLAN: unauthenticated and unencrypted; anyone who can send "
                 "UDP to {} with a peer's address can inject frames. On an untrusted network "
                 "use --key-file",
                 ports::to_string(endpoint_->local()));
  }
}

ports::uplink_settings peer_set::endpoint_settings() {
  const options& opts = opts_;
  ports::uplink_settings settings;
  settings.vni = opts.vni;
  settings.keepalive = std::chrono::seconds(opts.keepalive);
  settings.peer_timeout = std::chrono::seconds(opts.peer_timeout);
  settings.resolve_interval = std::chrono::seconds(opts.resolve_interval);
  settings.underlay_mtu = opts.underlay_mtu;
  settings.rekey_interval = std::chrono::seconds(opts.rekey_interval);
  settings.relay = opts.relay;
  settings.workers = datapath_.planned_workers();
  if (opts.key_file) {
    try {
      settings.keys = load_key_file(*opts.key_file);
    } catch (const std::runtime_error& e) {
      throw startup_error(e.what());
    }
    key_stamp_ = stamp_of(*opts.key_file);
  }
  if (opts.identity) {
    try {
      settings.identity = load_identity_file(*opts.identity);
    } catch (const std::runtime_error& e) {
      throw startup_error(e.what());
    }
  }
  if (opts.certificate) settings.certificate = admission_.load_certificate(settings.identity->public_key);
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

  return settings;
}

void peer_set::open_uplinks(const std::vector<host_port>& file_peers) {
  const options& opts = opts_;
  if (opts.uplinks.empty() && !opts.peers_file && !opts.group && !opts.listen && !opts.allowed_keys && !opts.ca)
    return;
  const ports::uplink_settings settings = endpoint_settings();

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
    if (hp.key_only()) {
      candidates.emplace_back();  // its address is learned
      continue;
    }
    candidates.push_back(resolve_now(io_, hp, option, false));
    if (!ports::pick_peer_address(candidates.back(), false)) want_v6 = true;  // IPv6 only
  }
  ip::udp::endpoint local(want_v6 ? ip::udp::v6() : ip::udp::v4(), l2::vxlan_default_port);
  std::string listen_option = std::string("--listen ") + (want_v6 ? "[::]:4789" : "0.0.0.0:4789") +
                              " (the default)";
  if (opts.listen) {
    listen_option = "--listen " + opts.listen->text;
    local = resolve_now(io_, *opts.listen, "--listen", true).front();
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
  // Workers send on uplinks: a peer's path changes while they are still.
  endpoint_->hold_senders_with(
      [this] { return std::shared_ptr<void>(std::make_shared<datapath::pause_guard>(datapath_.pause())); });
  resolver_ = std::make_unique<ports::resolver>(io_);
  if (opts.group) {
    // The group is one uplink that floods reach; peers behind it are learned.
    const ip::udp::endpoint group(settings.group.value(), endpoint_->local().port());
    const l2::port_id id = datapath_.next_id();
    auto port = std::make_unique<ports::uplink_port>(id, "group " + ports::to_string(group),
                                                     *endpoint_, group);
    group_port_ = port.get();
    datapath_.add_port(std::move(port));
    endpoint_->on_stranger([this](const ip::udp::endpoint& from) { return learn(from); });
  }
  if (admission_.admits_callers()) {
    endpoint_->on_unknown_key([this](const ports::noise::public_key& key, const ip::udp::endpoint& from,
                                     std::span<const std::byte> certificate, std::string& why_not) {
      return admit(key, from, certificate, why_not);
    });
  }
  if (admission_.refuses()) {
    endpoint_->on_refusal([this](const ports::noise::public_key& key, std::span<const std::byte> certificate) {
      return is_refused(key, certificate);
    });
  }

  const bool v6 = endpoint_->is_v6();
  for (std::size_t i = 0; i < peers.size(); ++i) {
    const auto& [hp, option] = peers[i];
    // On a dual-stack socket any family works; prefer IPv4 when both resolve.
    const std::optional<ip::udp::endpoint> remote =
        hp.key_only() ? std::optional(ip::udp::endpoint()) : ports::pick_peer_address(candidates[i], v6);
    if (!remote) {
      throw startup_error(option + " " + hp.text + ": has no IPv4 address but " + listen_option +
                          " is IPv4; listen on [::]:PORT instead");
    }
    const bool from_file = i >= opts.uplinks.size();
    if (from_file && !hp.key_only() && is_this_host(*remote)) {
      spdlog::info("--peers-file: {} is this host; skipped (one file can serve every host)", hp.text);
      continue;
    }
    std::string why_not;
    const std::optional<l2::port_id> id = add(hp, *remote, why_not);
    if (!id && from_file) {
      // As on reload: a file entry that duplicates a peer is skipped, not fatal.
      spdlog::warn("{} {}: {}; skipped", option, hp.text, why_not);
      continue;
    }
    if (!id) throw startup_error(option + " " + hp.text + ": " + why_not);
    (from_file ? file_peers_ : option_peers_)[peer_key(hp)] = *id;
  }
}

std::optional<l2::port_id> peer_set::add(const host_port& hp, const ip::udp::endpoint& remote,
                                              std::string& why_not) {
  const std::optional<ports::noise::public_key> own = endpoint_->public_key();
  if (own && !hp.key) {
    why_not = "with --identity each peer is named by its public key: add key=KEY (`vswitchd --public-key "
              "FILE` on that host prints it)";
    return std::nullopt;
  }
  if (!own && hp.key) {
    why_not = "key= needs --identity (this host's own key pair); add --identity FILE or drop key=";
    return std::nullopt;
  }
  if (own && hp.key == own) {
    why_not = "has this host's own public key; give the other host's";
    return std::nullopt;
  }
  const bool by_key = hp.key_only();
  for (const auto& other : datapath_.ports()) {
    const auto* up = dynamic_cast<const ports::uplink_port*>(other.get());
    if (up != nullptr && !by_key && up->remote() == remote) {
      why_not = "is the same peer as " + up->name() + "; give each peer once";
      return std::nullopt;
    }
    if (up != nullptr && hp.key && up->session().remote_static() == hp.key) {
      why_not = "has the same public key as peer " + up->name() + "; each host has its own identity";
      return std::nullopt;
    }
  }
  if (!by_key && (remote == ports::canonical(endpoint_->local()) || is_this_host(remote))) {
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
      std::to_string(hp.port), hp.key);
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

ports::uplink_port* peer_set::learn(const ip::udp::endpoint& from) {
  if (learned_.size() >= max_learned_peers || datapath_.next_id() >= l2::max_ports) {
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
  learned_.push_back(id);
  spdlog::info("peer {}: learned from --group traffic", raw->name());
  return raw;
}

void peer_set::check_certificates() {
  std::vector<l2::port_id> expired;
  for (const auto& [text, a] : admitted_) {
    if (!a.by_ca) continue;
    const auto* up = dynamic_cast<const ports::uplink_port*>(datapath_.ports()[a.id].get());
    if (up == nullptr || !up->session().remote_static()) continue;
    const auto why = admission_.certificate_problem(*up->session().remote_static(), up->session().peer_certificate());
    if (!why) continue;
    spdlog::info("peer {}: removed (its certificate: {}): sessions ended", up->name(), *why);
    expired.push_back(a.id);
  }
  for (const l2::port_id id : expired) remove_admitted(id);
}

void peer_set::remove_admitted(l2::port_id id) {
  std::erase_if(admitted_, [&](const auto& kv) { return kv.second.id == id; });
  registry_.remove(id);
}

bool peer_set::is_refused(const ports::noise::public_key& key, std::span<const std::byte> certificate) const {
  const auto it = admitted_.find(ports::identity::to_base64(key));
  return admission_.is_refused(key, certificate, it != admitted_.end() && it->second.by_ca);
}

ports::uplink_port* peer_set::admit(const ports::noise::public_key& key, const ip::udp::endpoint& from,
                                    std::span<const std::byte> certificate, std::string& why_not) {
  const std::string text = ports::identity::to_base64(key);
  if (admitted_.count(text) != 0 || datapath_.next_id() >= l2::max_ports) return nullptr;
  std::optional<admission::verdict> v = admission_.admit(key, certificate, why_not);
  if (!v) return nullptr;
  // Its name: the one in the file or certificate, else the start of its key; unique among the ports.
  std::string name = v->name.empty() ? "key:" + text.substr(0, 8) : v->name;
  for (const auto& p : datapath_.ports()) {
    if (p && p->name() == name) name += "-" + text.substr(0, 8);
  }
  const l2::port_id id = datapath_.next_id();
  auto peer = std::make_unique<ports::uplink_port>(id, name, *endpoint_, from, "", "", key);
  ports::uplink_port* raw = peer.get();
  // A peer like any other: floods reach it too (learned_uplink is for group
  // mode, whose floods go to the group instead).
  datapath_.add_port(std::move(peer), l2::port_role::uplink,
                     v->vlans.any() ? l2::vlan_mode::trunk(v->vlans) : l2::vlan_mode::transparent());
  admitted_[text] = admitted_peer{id, v->by_ca};
  spdlog::info("peer {}: admitted {} ({}, key {})", name,
               from.port() != 0 ? "from " + ports::to_string(from) : std::string("through a relay"), v->how, text);
  return raw;
}

void peer_set::apply_revoked() {
  // Revoked peers: admitted ones are removed, configured ones lose their sessions.
  std::size_t cut = 0;
  std::vector<l2::port_id> removed;
  for (const auto& p : datapath_.ports()) {
    auto* up = dynamic_cast<ports::uplink_port*>(p.get());
    if (up == nullptr || !up->session().remote_static() ||
        !admission_.is_revoked(*up->session().remote_static(), up->session().peer_certificate()))
      continue;
    ++cut;
    if (admitted_.count(ports::identity::to_base64(*up->session().remote_static())) != 0) {
      spdlog::info("peer {}: removed (revoked): sessions ended", up->name());
      removed.push_back(up->id());
    } else {
      spdlog::info("peer {}: revoked: sessions ended, handshakes refused", up->name());
      endpoint_->end_sessions(*up);
    }
  }
  for (const l2::port_id id : removed) remove_admitted(id);
  spdlog::info("--revoked {}: {} entries, {} peer(s) cut off", *opts_.revoked, admission_.revoked_count(), cut);
}

void peer_set::apply_allowed_keys() {
  std::vector<l2::port_id> gone;
  for (const auto& [text, a] : admitted_) {
    if (a.by_ca) continue;  // (--ca's, not this file's)
    std::string error;
    const auto key = ports::identity::parse_public_key(text, error);
    if (key && admission_.allows(*key)) continue;
    const auto& p = datapath_.ports()[a.id];
    spdlog::info("peer {}: removed (its key left --allowed-keys): sessions ended", p ? p->name() : text);
    gone.push_back(a.id);
  }
  for (const l2::port_id id : gone) remove_admitted(id);
  spdlog::info("--allowed-keys {}: {} key(s) allowed, {} admitted peer(s) removed", *opts_.allowed_keys,
               admission_.allowed_count(), gone.size());
}

void peer_set::apply(admission::changed c) {
  if (!endpoint_) return;
  if (c.allowed) apply_allowed_keys();
  if (c.revoked) apply_revoked();
}

void peer_set::forget_idle() {
  const auto now = std::chrono::steady_clock::now();
  const auto idle = std::chrono::seconds(opts_.mac_aging);
  std::erase_if(learned_, [&](l2::port_id id) {
    const auto* peer = dynamic_cast<const ports::uplink_port*>(datapath_.ports()[id].get());
    if (peer == nullptr || now - peer->last_heard() < idle) return false;
    spdlog::info("peer {}: silent for {} s (--mac-aging); forgotten", peer->name(), opts_.mac_aging);
    registry_.remove(id);
    return true;
  });
}

bool peer_set::is_this_host(const ip::udp::endpoint& remote) const {
  // Our own port on one of our own addresses (a peers file shared by all
  // hosts lists this one too): a wildcard socket would hear its own floods.
  return endpoint_->is_self(remote);
}

void peer_set::reload_keys() {
  apply(admission_.reload());
  if (!opts_.key_file || !endpoint_) return;
  key_stamp_ = stamp_of(*opts_.key_file);
  try {
    const std::vector<ports::sealed::key> keys = load_key_file(*opts_.key_file);
    endpoint_->set_keys(keys);
    spdlog::info("--key-file {}: {} key(s) loaded; handshakes use key id {}", *opts_.key_file, keys.size(),
                 ports::sealed::fingerprint(keys.front()));
  } catch (const std::runtime_error& e) {
    spdlog::error("{}; keeping the keys in use", e.what());
  }
}

void peer_set::reload_peers() {
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
    registry_.remove(it->second);
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
    add_async(
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

void peer_set::add_async(const host_port& hp, std::function<bool()> still_wanted,
                              std::function<void(std::optional<l2::port_id>, const std::string&)> done) {
  if (hp.key_only()) {
    // Nothing to resolve: its address is learned.
    std::string why_not;
    const std::optional<l2::port_id> id = add(hp, ip::udp::endpoint(), why_not);
    done(id, why_not);
    return;
  }
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
        const std::optional<l2::port_id> id = add(hp, remote, why_not);
        done(id, why_not);
      });
}

peer_changes peer_set::apply(const reload_plan& plan) {
  peer_changes done;
  for (const host_port& old : plan.peers_to_remove) {
    const auto it = option_peers_.find(peer_key(old));
    if (it == option_peers_.end()) continue;
    registry_.remove(it->second);
    option_peers_.erase(it);
    spdlog::info("peer {}: removed (reload)", old.text);
    done.removed.push_back(old.text);
  }
  for (const host_port& hp : plan.peers_to_adopt) {
    if (const auto id = registry_.named(hp.text)) option_peers_[peer_key(hp)] = *id;
  }
  for (const host_port& hp : plan.peers_to_add) {
    done.added.push_back(hp.text);
    // Still wanted when resolved: listed, and not added meanwhile.
    const std::string key = peer_key(hp);
    add_async(
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
  return done;
}

void peer_set::log_counters() const {
  if (endpoint_) {
    const auto c = endpoint_->counters();
    spdlog::info("counters: udp endpoint: rx {} datagrams, dropped from non-peers {}",
                 c.rx_datagrams, c.drops[l2::drop_reason::not_peer]);
    const auto now = std::chrono::steady_clock::now();
    for (const auto& p : datapath_.ports()) {
      const auto* up = dynamic_cast<const ports::uplink_port*>(p.get());
      if (up == nullptr) continue;
      const auto& st = up->state();
      std::string line = "counters: peer " + up->name() + ": " + (up->is_up() ? "up" : "down") +
                         ", " +
                         (up->path() == ports::uplink_port::path_kind::direct ? "address " + ports::to_string(up->remote())
                                                                               : up->path_text()) +
                         ", inner MTU " +
                         std::to_string(up->max_frame_size()) + " bytes";
      if (endpoint_->is_sealed()) {
        char rtt[32];
        std::snprintf(rtt, sizeof rtt, "%.3f", std::chrono::duration<double, std::milli>(st.rtt).count());
        line += ", rtt " + std::string(st.rtt.count() > 0 ? rtt : "?") + " ms";
        const auto last_rx = st.last_rx.load();
        if (last_rx.time_since_epoch().count() != 0) {
          char seen[32];
          std::snprintf(seen, sizeof seen, "%.1f", std::chrono::duration<double>(now - last_rx).count());
          line += ", last heard " + std::string(seen) + " s ago";
        } else {
          line += ", never heard";
        }
        line += ", handshakes " + std::to_string(st.handshakes_done) + " (" +
                std::to_string(st.handshakes_sent) + " initiated), rekeys " + std::to_string(st.rekeys);
      }
      spdlog::info("{}", line);
    }
  }
}

}  // namespace switchd
