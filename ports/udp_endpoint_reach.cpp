// Reaching peers across NATs (ports/reach.hpp is the wire format; docs/uplinks.md,
// "Hosts behind NAT", the behaviour):
//
// - Every host tells the peers it reaches directly its local endpoints
//   (announce): it asks to be found.
// - A host that wants a peer it has no direct path to (one named by key
//   alone) asks every peer it reaches directly where it is (find). A peer
//   that has a session with both answers both (introduce): each learns the
//   other's public endpoint (as the introducer sees it) and local endpoints.
// - Each introduced pair first talks through the introducer (relay: the
//   datagrams stay sealed end to end, the relay cannot read them), and
//   meanwhile probes the candidate endpoints straight, both sides at once
//   (UDP hole punching). A pong that answers a probe proves the endpoint
//   works both ways: the pair moves there (direct).
// - A direct path that stays silent for three keepalive intervals falls back
//   to the relay; probing and finds go on in the background.
#include <sodium.h>

#include <spdlog/spdlog.h>

#include <algorithm>

#include "ports/identity.hpp"
#include "ports/udp_endpoint.hpp"
#include "ports/uplink_port.hpp"

namespace ports {
namespace {

namespace ip = boost::asio::ip;
using clock = std::chrono::steady_clock;

constexpr auto probe_interval = std::chrono::milliseconds(1000);
/// Candidates are probed this long after they were last named.
constexpr auto candidate_fresh = std::chrono::seconds(15);
/// A pong counts if it answers a probe this recent.
constexpr auto pong_window = std::chrono::seconds(5);
/// Finds for a peer with no direct path, at most this often.
constexpr auto find_interval = std::chrono::seconds(5);
/// Announcements are renewed this often.
constexpr auto announce_interval = std::chrono::seconds(25);
/// A requester gets at most one answer this often.
constexpr auto answer_gap = std::chrono::milliseconds(500);
/// Pongs to one peer per second, at most.
constexpr unsigned max_pongs_per_second = 16;

/// Whether `via` can relay now: a session, reached directly.
bool can_relay(const ports::uplink_port& via, clock::time_point now) {
  return via.path() == ports::uplink_port::path_kind::direct && via.session().has_session(now);
}

std::uint64_t random_nonce() {
  std::uint64_t n = 0;
  randombytes_buf(&n, sizeof n);
  return n;
}

}  // namespace

uplink_port* udp_endpoint::peer_by_key(const noise::public_key& key) const {
  for (uplink_port* peer : peers_) {
    if (peer->session().remote_static() == key) return peer;
  }
  return nullptr;
}

std::vector<ip::udp::endpoint> udp_endpoint::local_endpoints() const {
  std::vector<ip::udp::endpoint> out;
  // (Loopback is left out: a host on the same machine finds us at the
  // address the introducer sees.)
  const ip::udp::endpoint local = canonical(local_);
  if (local.address().is_loopback()) return out;
  if (!local.address().is_unspecified()) {
    out.push_back(local);
    return out;
  }
  for (const ip::address& a : local_addresses()) {
    if (a.is_loopback() || (a.is_v6() && (!v6_ || a.to_v6().is_link_local() || a.to_v6().is_v4_mapped()))) continue;
    if (out.size() == reach::max_locals) break;
    out.emplace_back(a, local_.port());
  }
  return out;
}

std::optional<sealed::sending> udp_endpoint::relay_sending(uplink_port& peer) {
  std::optional<sealed::sending> s = peer.relay()->session().next_send(clock::now());
  if (!s || !peer.session().remote_static()) {
    peer.drop(l2::drop_reason::sealed_no_session);
    return std::nullopt;
  }
  return s;
}

void udp_endpoint::wrap_for_relay(const uplink_port& peer, const sealed::sending& outer, std::span<std::byte> out) {
  // A control message to the relay, sealed under our session with it,
  // holding "to this key" and the datagram as it is.
  reach::write_relay_header(reach::kind::relay_to, *peer.session().remote_static(),
                            out.subspan(sealed::header_size).first<reach::relay_header_size>());
  sealed::seal_in_place(outer.k, sealed::message::control, outer.receiver, outer.counter, out,
                        out.size() - sealed::overhead);
}

void udp_endpoint::transmit(uplink_port& peer, std::span<const std::byte> datagram) {
  if (reader_.fd() < 0) return;
  flush();  // keep the order
  if (uplink_port* via = peer.relay()) {
    const std::optional<sealed::sending> s = relay_sending(peer);
    if (!s) return;
    if (datagram.size() + reach::relay_overhead > relay_buffer_.size()) {
      peer.drop(l2::drop_reason::too_big);
      return;
    }
    std::memmove(relay_buffer_.data() + relay_inner_offset, datagram.data(), datagram.size());
    const std::span<std::byte> out(relay_buffer_.data(), datagram.size() + reach::relay_overhead);
    wrap_for_relay(peer, *s, out);
    if (::sendto(reader_.fd(), out.data(), out.size(), MSG_DONTWAIT, via->destination().data(),
                 static_cast<socklen_t>(via->destination().size())) < 0)
      peer.drop(send_drop_reason(errno));
    return;
  }
  if (peer.path() == uplink_port::path_kind::none) return;  // nowhere to send it yet
  (void)::sendto(reader_.fd(), datagram.data(), datagram.size(), MSG_DONTWAIT, peer.destination().data(),
                 static_cast<socklen_t>(peer.destination().size()));
}

void udp_endpoint::send_control(uplink_port& peer, std::span<const std::byte> body, const ip::udp::endpoint* to) {
  const std::optional<sealed::sending> s = peer.session().next_send(clock::now());
  if (!s || reader_.fd() < 0) return;
  std::array<std::byte, reach::max_control_size + sealed::overhead> datagram{};
  if (body.size() > reach::max_control_size) return;
  std::copy(body.begin(), body.end(), datagram.begin() + sealed::header_size);
  const std::size_t size = sealed::seal_in_place(s->k, sealed::message::control, s->receiver, s->counter,
                                                 std::span(datagram).first(body.size() + sealed::overhead),
                                                 body.size());
  if (to == nullptr) {
    transmit(peer, std::span(datagram).first(size));
    return;
  }
  flush();  // keep the order
  const ip::udp::endpoint destination = socket_endpoint(*to, v6_);
  (void)::sendto(reader_.fd(), datagram.data(), size, MSG_DONTWAIT, destination.data(),
                 static_cast<socklen_t>(destination.size()));
}

void udp_endpoint::on_authentic(uplink_port& peer, const ip::udp::endpoint& from, uplink_port* via) {
  auto& r = peer.reach();
  if (via == nullptr) {
    r.last_direct_rx = main_rx_.batch_time;
    switch (peer.path()) {
      case uplink_port::path_kind::direct:
        // From a new address: the peer moved there (a new DHCP lease, Wi-Fi
        // to LTE, a migrated VM, a new NAT mapping).
        if (from != peer.remote()) {
          spdlog::info("peer {}: moved to {} (was {})", peer.name(), to_string(from), to_string(peer.remote()));
          peer.set_remote(from);
        }
        break;
      case uplink_port::path_kind::none:
        spdlog::info("peer {}: direct at {} (it reached us)", peer.name(), to_string(from));
        peer.set_remote(from);
        break;
      case uplink_port::path_kind::relay:
        // It reaches us straight: worth a probe (a pong makes the path direct).
        r.candidates.add(from, main_rx_.batch_time);
        break;
    }
    return;
  }
  if (!can_relay(*via, main_rx_.batch_time)) return;  // (never a relay that is itself relayed)
  switch (peer.path()) {
    case uplink_port::path_kind::none:
      spdlog::info("peer {}: through relay {} (no direct path yet)", peer.name(), via->name());
      peer.set_relay(*via);
      break;
    case uplink_port::path_kind::direct:
      // Relayed while nothing came straight for a probe round: it lost the
      // direct path (its direct traffic, or a pong, would have kept it
      // fresh). Not just after we went direct: it follows within a round.
      if (main_rx_.batch_time - r.last_direct_rx.load() > relayed_silence() / 2 &&
          main_rx_.batch_time - peer.path_since() > relayed_silence()) {
        spdlog::info("peer {}: direct path to {} silent; through relay {}", peer.name(), to_string(peer.remote()),
                     via->name());
        peer.set_relay(*via);
      }
      break;
    case uplink_port::path_kind::relay:
      break;
  }
}

void udp_endpoint::on_control(uplink_port& peer, std::span<std::byte> body, const ip::udp::endpoint& from,
                              uplink_port* via) {
  const std::optional<reach::message> m = reach::decode(body);
  if (!m) {
    peer.drop(l2::drop_reason::sealed_forged);
    return;
  }
  // Relayed, only what the end hosts say to each other counts: a relay is
  // not asked to relay again, and paths are probed straight.
  if (via != nullptr) return;
  const auto now = main_rx_.batch_time;
  auto& r = peer.reach();
  switch (m->k) {
    case reach::kind::announce: {
      r.findable = true;
      r.local_count = m->local_count;
      std::copy_n(m->locals.begin(), m->local_count, r.locals.begin());
      break;
    }
    case reach::kind::find: {
      uplink_port* wanted = peer_by_key(m->key);
      const bool known = wanted != nullptr && wanted != &peer && wanted->reach().findable &&
                         wanted->path() == uplink_port::path_kind::direct && wanted->session().has_session(now);
      if (!known) {
        // (Hosts ask every peer they reach directly: most cannot answer. Debug only.)
        ++counters_.introductions_refused;
        reach_log_.log(spdlog::level::debug,
                       "peer " + peer.name() + " asked for key " + identity::to_base64(m->key) +
                           ": not a peer here with a session that asked to be found; not introduced",
                       now);
        break;
      }
      if (r.last_answer != clock::time_point{} && now - r.last_answer < answer_gap) break;
      r.last_answer = now;
      ++counters_.introductions;
      std::array<std::byte, reach::max_control_size> out{};
      // To the asker: where the wanted host is. To the wanted host: where the
      // asker is, so that both probe at once.
      std::size_t n = reach::encode_introduce(m->key, wanted->remote(),
                                              std::span(wanted->reach().locals).first(wanted->reach().local_count), out);
      send_control(peer, std::span(out).first(n));
      n = reach::encode_introduce(*peer.session().remote_static(), from,
                                  std::span(r.locals).first(r.findable ? r.local_count : 0), out);
      send_control(*wanted, std::span(out).first(n));
      spdlog::debug("introduced {} ({}) and {} ({})", peer.name(), to_string(from), wanted->name(),
                    to_string(wanted->remote()));
      break;
    }
    case reach::kind::introduce: {
      uplink_port* target = peer_by_key(m->key);
      if (target == nullptr || target == &peer) {
        ++counters_.introductions_refused;
        reach_log_.log(spdlog::level::info,
                       "peer " + peer.name() + " introduced key " + identity::to_base64(m->key) +
                           ", which is not a peer here; ignored",
                       now);
        break;
      }
      // Only for a peer without a working direct path, not revoked, and only
      // from the peer relaying for it, one we asked, or when it has none
      // that works: an admitted peer cannot pull a working pair onto itself.
      auto& t = target->reach();
      const bool direct_works = target->path() == uplink_port::path_kind::direct &&
                                now - t.last_direct_rx.load() <= 3 * settings_.keepalive;
      const bool asked = t.last_find != clock::time_point{} && now - t.last_find <= 2 * find_interval;
      const bool relay_works = target->relay() != nullptr && can_relay(*target->relay(), now);
      if (direct_works || (refused_ && refused_(m->key, target->session().peer_certificate())) ||
          (relay_works && target->relay() != &peer && !asked) ||
          (t.introducer == &peer && now - t.introduced < answer_gap)) {
        break;
      }
      const auto consider = [&](const ip::udp::endpoint& e) {
        // (Only what this socket can send to: an IPv4 socket cannot reach IPv6.)
        if (e.port() == 0 || e.address().is_unspecified() || e.address().is_multicast() ||
            (e.address().is_v6() && !v6_) || is_self(e))
          return;
        t.candidates.add(canonical(e), now);
      };
      consider(*m->observed);
      for (const ip::udp::endpoint& e : m->local_endpoints()) consider(e);
      t.introducer = &peer;
      t.introduced = now;
      if (target->path() != uplink_port::path_kind::direct && !relay_works) {
        spdlog::info("peer {}: introduced by {} (at {}); through it until a direct path opens", target->name(),
                     peer.name(), to_string(*m->observed));
        target->set_relay(peer);
        greet(*target);
      }
      break;
    }
    case reach::kind::probe: {
      // Answered straight to where it came from, a few per second at most.
      if (now - r.pong_window >= std::chrono::seconds(1)) {
        r.pong_window = now;
        r.pongs = 0;
      }
      if (++r.pongs > max_pongs_per_second) break;
      std::array<std::byte, reach::max_control_size> out{};
      const std::size_t n = reach::encode_pong(m->nonce, from, out);
      send_control(peer, std::span(out).first(n), &from);
      // Probing back opens our side of the NAT towards it.
      if (peer.path() != uplink_port::path_kind::direct) r.candidates.add(from, now);
      break;
    }
    case reach::kind::pong: {
      if (!r.candidates.answers(from, m->nonce, now, pong_window)) break;
      r.last_direct_rx = now;  // (a round trip on it: the direct path works both ways)
      if (peer.path() == uplink_port::path_kind::direct && from == peer.remote()) break;
      spdlog::info("peer {}: direct path to {} ({})", peer.name(), to_string(from),
                   peer.relay() != nullptr ? "was through relay " + peer.relay()->name() : std::string("was none"));
      peer.set_remote(from);
      r.last_direct_rx = now;
      break;
    }
    case reach::kind::relay_to: {
      // Pass it on to the host with that key, as it is: we cannot read it.
      uplink_port* to = peer_by_key(m->key);
      if (!settings_.relay || to == nullptr || to == &peer || to->path() != uplink_port::path_kind::direct ||
          !peer.session().remote_static()) {
        ++counters_.relay_refused;
        break;
      }
      const std::optional<sealed::sending> s = to->session().next_send(now);
      if (!s) {
        ++counters_.relay_refused;
        break;
      }
      // The relay header and datagram sit in the datagram we opened, behind
      // its header: rewrite the header to "from" and seal again. Small ones
      // leave with this input batch's other datagrams (one sendmmsg).
      const std::span<std::byte> whole(body.data() - sealed::header_size, body.size() + sealed::overhead);
      reach::write_relay_header(reach::kind::relayed_from, *peer.session().remote_static(),
                                whole.subspan(sealed::header_size).first<reach::relay_header_size>());
      const auto seal = [&](std::span<std::byte> out) {
        if (out.data() != whole.data()) std::memcpy(out.data(), whole.data(), whole.size());
        sealed::seal_in_place(s->k, sealed::message::control, s->receiver, s->counter, out, body.size());
      };
      const sockaddr* dest = to->destination().data();
      const auto dest_size = static_cast<socklen_t>(to->destination().size());
      if (whole.size() <= tx_batch::slot_size) {
        tx_.push_filled(whole.size(), seal, dest, dest_size, nullptr, 0);
      } else {
        flush();
        seal(whole);
        (void)::sendto(reader_.fd(), whole.data(), whole.size(), MSG_DONTWAIT, dest, dest_size);
      }
      ++counters_.relayed;
      counters_.relayed_bytes += m->inner.size();
      break;
    }
    case reach::kind::relayed_from: {
      // A sealed datagram from the host with that key, through `peer`.
      const auto inner = std::span<std::byte>(body.data() + reach::relay_header_size, m->inner.size());
      receive_sealed(from, inner, &peer);
      break;
    }
  }
}

void udp_endpoint::reach_tick(uplink_port& peer, clock::time_point now) {
  auto& r = peer.reach();
  const bool has_session = peer.session().has_session(now);
  // 1. A relay that lost its session (or its own direct path) is left; a
  // direct path gone silent falls back to the peer that introduced it.
  if (peer.path() == uplink_port::path_kind::relay && !can_relay(*peer.relay(), now)) {
    spdlog::info("peer {}: relay {} has no session; looking for another path", peer.name(), peer.relay()->name());
    peer.clear_relay();
  }
  const bool direct_silent = peer.path() == uplink_port::path_kind::direct &&
                             now - r.last_direct_rx.load() > 3 * settings_.keepalive &&
                             now - peer.path_since() > 3 * settings_.keepalive;
  if (direct_silent && r.introducer != nullptr && can_relay(*r.introducer, now)) {
    spdlog::info("peer {}: direct path to {} silent for {} ms; through relay {}", peer.name(),
                 to_string(peer.remote()),
                 std::chrono::duration_cast<std::chrono::milliseconds>(now - r.last_direct_rx.load()).count(),
                 r.introducer->name());
    peer.set_relay(*r.introducer);
  }
  const auto path = peer.path();
  // 2. No working direct path: probe the candidates (both sides do: hole punching).
  if ((peer.path() != uplink_port::path_kind::direct || direct_silent) && has_session) {
    std::array<std::byte, reach::max_control_size> out{};
    r.candidates.probe(now, probe_interval, candidate_fresh, random_nonce,
                       [&](const ip::udp::endpoint& where, std::uint64_t nonce) {
                         const std::size_t n = reach::encode_probe(nonce, out);
                         send_control(peer, std::span(out).first(n), &where);
                       });
  }
  // 3. Named by key alone, or introduced, and not direct (or direct but
  // silent): ask the peers we reach directly where it is (which also renews
  // the candidates).
  if ((peer.key_only() || r.introducer != nullptr) && (peer.path() != uplink_port::path_kind::direct || direct_silent) &&
      now - r.last_find >= find_interval && peer.session().remote_static()) {
    std::array<std::byte, reach::max_control_size> out{};
    const std::size_t n = reach::encode_find(*peer.session().remote_static(), out);
    for (uplink_port* other : peers_) {
      if (other != &peer && other->path() == uplink_port::path_kind::direct && other->session().has_session(now)) {
        send_control(*other, std::span(out).first(n));
        r.last_find = now;  // (asked someone: the next in find_interval)
      }
    }
  }
  // 4. Ask to be found: our local endpoints to every peer we reach directly.
  if (path == uplink_port::path_kind::direct && has_session &&
      (r.last_announce == clock::time_point{} || now - r.last_announce >= announce_interval)) {
    r.last_announce = now;
    std::array<std::byte, reach::max_control_size> out{};
    const std::vector<ip::udp::endpoint> locals = local_endpoints();
    const std::size_t n = reach::encode_announce(locals, out);
    send_control(peer, std::span(out).first(n));
  }
}

}  // namespace ports
