// The udp_endpoint's upkeep of its peers: the keepalive tick (sessions'
// timers, handshakes and keepalives, the paths across NATs), names looked up
// again, and the MTU towards each peer.
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "ports/udp_endpoint.hpp"
#include "ports/uplink_port.hpp"

namespace ports {
namespace {

namespace ip = boost::asio::ip;

/// A peer that is down has its name re-resolved at most this often.
constexpr auto down_resolve_interval = std::chrono::seconds(5);

/// Assumed when the route's MTU cannot be read.
constexpr std::size_t fallback_mtu = 1500;

}  // namespace

std::size_t udp_endpoint::max_frame_size_to(const ip::udp::endpoint& remote) const {
  const bool v4 = remote.address().is_v4();
  std::size_t mtu = settings_.underlay_mtu;
  if (mtu == 0 && remote.address().is_multicast() && settings_.group_ifindex != 0) {
    // The group: the MTU of the interface it is joined on (--group-dev), as the kernel's vxlan.
    char name[IF_NAMESIZE] = {};
    unique_fd probe(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ifreq request{};
    if (probe && ::if_indextoname(settings_.group_ifindex, name) != nullptr) {
      std::memcpy(request.ifr_name, name, sizeof request.ifr_name);
      if (::ioctl(probe.get(), SIOCGIFMTU, &request) == 0 && request.ifr_mtu > 0) {
        mtu = static_cast<std::size_t>(request.ifr_mtu);
      }
    }
  }
  if (mtu == 0) {
    // The route's MTU towards the peer: a connected socket knows it.
    mtu = fallback_mtu;
    unique_fd probe(::socket(v4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (probe && ::connect(probe.get(), remote.data(), static_cast<socklen_t>(remote.size())) == 0) {
      int value = 0;
      socklen_t size = sizeof value;
      if (::getsockopt(probe.get(), v4 ? IPPROTO_IP : IPPROTO_IPV6, v4 ? IP_MTU : IPV6_MTU,
                       &value, &size) == 0 &&
          value > 0) {
        mtu = static_cast<std::size_t>(value);
      }
    }
  }
  const std::size_t outer = (v4 ? 20 : 40) + 8 + encapsulation_size();
  if (mtu <= outer + l2::ethernet_header_size) return l2::ethernet_header_size;
  return std::min(mtu - outer, l2::max_frame_size);
}

void udp_endpoint::schedule_tick() {
  timer_.expires_after(sealed_ ? settings_.keepalive : std::chrono::milliseconds(1000));
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) tick();
  });
}

void udp_endpoint::tick() {
  const auto now = std::chrono::steady_clock::now();
  for (uplink_port* peer : peers_) {
    if (sealed_) {
      // A revoked peer gets nothing from us: no handshake, no keepalive.
      const auto& key = peer->session().remote_static();
      if (key && refused_ && refused_(*key, peer->session().peer_certificate())) continue;
      // (A peer with no path yet starts its handshake once it has one.)
      const sealed::tick_result r =
          peer->session().tick(*me_, now, peer->path() != uplink_port::path_kind::none);
      if (r.went_down) {
        peer->set_alive(false, fmt::format("nothing authentic received for {} s (--peer-timeout)",
                                           std::chrono::duration_cast<std::chrono::seconds>(
                                               settings_.peer_timeout).count()));
      }
      send_handshake(*peer, r.initiation);
      if (r.keepalive) send_keepalive(*peer);
      if (me_->has_identity()) reach_tick(*peer, now);
    }
    // Names are looked up again now and then, and often while the peer is down.
    if (!peer->host().empty() &&
        (now - peer->last_resolve() >= settings_.resolve_interval ||
         (sealed_ && !peer->is_up() && now - peer->last_resolve() >= down_resolve_interval))) {
      peer->set_last_resolve(now);
      resolve(*peer);
    }
  }
  schedule_tick();
}

void udp_endpoint::resolve(uplink_port& peer) {
  const std::uint64_t serial = peer.serial();
  resolver_.async_resolve(
      peer.host(), peer.service(),
      [this, serial](const boost::system::error_code& ec, std::vector<ip::udp::endpoint> results) {
        const auto it = std::find_if(peers_.begin(), peers_.end(),
                                     [&](const uplink_port* p) { return p->serial() == serial; });
        if (it == peers_.end()) return;  // removed meanwhile
        uplink_port& peer = **it;
        if (ec || results.empty()) {
          spdlog::warn("peer {}: cannot resolve {} ({}); keeping {}", peer.name(), peer.host(),
                       ec ? ec.message() : std::string("no address"), to_string(peer.remote()));
          return;
        }
        const std::vector<ip::udp::endpoint> addresses = canonical(results);
        if (std::find(addresses.begin(), addresses.end(), peer.remote()) != addresses.end()) {
          return;  // still one of its addresses
        }
        const std::optional<ip::udp::endpoint> next = pick_peer_address(addresses, v6_);
        if (!next) return;
        if (is_self(*next)) {
          spdlog::warn("peer {}: {} now resolves to {}, which is this host; keeping {}",
                       peer.name(), peer.host(), to_string(*next), to_string(peer.remote()));
          return;
        }
        for (const uplink_port* other : peers_) {
          if (other != &peer && other->remote() == *next) {
            spdlog::warn("peer {}: {} now resolves to {}, which is peer {}; keeping {}", peer.name(),
                         peer.host(), to_string(*next), other->name(), to_string(peer.remote()));
            return;
          }
        }
        spdlog::info("peer {}: {} now resolves to {} (was {})", peer.name(), peer.host(),
                     to_string(*next), to_string(peer.remote()));
        peer.set_remote(*next);
      });
}

}  // namespace ports
