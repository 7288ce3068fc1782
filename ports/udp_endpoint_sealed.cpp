// The sealed receive path of the udp_endpoint: an initiation passes load
// control and admission before the session answers it; anything else goes to
// the session its receiver index names. What a session opened is applied to
// its peer: the reply sent, the peer moved (roaming), the frame passed on.
// With workers receiving, each opens what it may itself and passes the rest
// to the io_context thread (see udp_endpoint.hpp).
#include "ports/udp_endpoint.hpp"

#include <sys/socket.h>

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include <array>
#include <cstring>
#include <utility>

#include "l2/byte_order.hpp"
#include "ports/identity.hpp"
#include "ports/uplink_port.hpp"

namespace ports {

namespace ip = boost::asio::ip;

udp_endpoint::source_bytes::source_bytes(const ip::udp::endpoint& from) {
  // The address (4 or 16 bytes) and the port: what a cookie is bound to.
  if (from.address().is_v4()) {
    const auto a = from.address().to_v4().to_bytes();
    std::memcpy(bytes_.data(), a.data(), a.size());
    size_ = a.size();
  } else {
    const auto a = from.address().to_v6().to_bytes();
    std::memcpy(bytes_.data(), a.data(), a.size());
    size_ = a.size();
  }
  l2::byte_order::store16(bytes_, size_, from.port());
  size_ += 2;
}

void udp_endpoint::drop_from(const ip::udp::endpoint& from, l2::drop_reason reason) {
  if (uplink_port* peer = find_peer(from)) {
    peer->drop(reason);
  } else {
    counters_.drops.count(l2::drop_reason::not_peer);
  }
}

void udp_endpoint::receive_sealed(const ip::udp::endpoint& from, std::span<std::byte> datagram,
                                  uplink_port* via) {
  const sealed::parsed p = sealed::parse(datagram);
  if (!p.ok) {
    drop_from(from, p.reason);
    return;
  }
  if (p.type == sealed::message::initiation) {
    // 1. An initiation: load control (mac1, rates, cookies) before any
    // Diffie-Hellman; then Noise message 1, which names its sender.
    l2::drop_reason why{};
    const source_bytes source(from);
    switch (me_->admit(datagram, source.bytes(), main_rx_.batch_time, why)) {
      case sealed::admission::drop:
        ++counters_.handshakes_refused;
        ++(why == l2::drop_reason::handshake_limited ? counters_.refused_rate : counters_.refused_invalid);
        drop_from(from, why);
        return;
      case sealed::admission::cookie: {
        // Return routability: the cookie goes to the source the initiation
        // came from; a spoofed source never sees it. (A relayed one is
        // refused: its source is the relay, whose sender is authenticated.)
        ++counters_.handshakes_refused;
        ++counters_.refused_under_load;
        if (via != nullptr) return;
        std::array<std::byte, sealed::cookie_size> reply{};
        me_->cookie_reply(datagram, source.bytes(), main_rx_.batch_time, reply);
        const ip::udp::endpoint to = socket_endpoint(from, v6_);
        (void)::sendto(reader_.fd(), reply.data(), reply.size(), MSG_DONTWAIT, to.data(),
                       static_cast<socklen_t>(to.size()));
        return;
      }
      case sealed::admission::read:
        break;
    }
    std::optional<sealed::initiation> in = me_->read_initiation(datagram, why);
    if (!in) {
      ++counters_.handshakes_refused;
      ++counters_.refused_invalid;
      drop_from(from, why);
      return;
    }
    uplink_port* peer = nullptr;
    if (in->remote_static) {
      peer = peer_by_key(*in->remote_static);
    } else if (via == nullptr) {
      peer = find_peer(from);
    }
    std::string why_not = "not a peer (add it with --uplink HOST:PORT,key=KEY or --peers-file)";
    if (in->remote_static && refused_ && refused_(*in->remote_static, in->certificate)) {
      peer = nullptr;
      why_not = "revoked (--revoked)";
    } else if (peer == nullptr && in->remote_static && unknown_key_) {
      // (Relayed: its address is not known yet; it is reached through the relay.)
      peer = unknown_key_(*in->remote_static, via != nullptr ? ip::udp::endpoint() : from, in->certificate,
                          why_not);
    }
    if (peer == nullptr) {
      ++counters_.handshakes_refused;
      ++counters_.refused_not_peer;
      counters_.drops.count(l2::drop_reason::not_peer);
      refused_log_.log(spdlog::level::warn,
                       "handshake from " + to_string(from) + (via != nullptr ? " (relayed by " + via->name() + ")" : "") +
                           (in->remote_static ? " with key " + identity::to_base64(*in->remote_static) : "") +
                           " refused: " + why_not,
                       main_rx_.batch_time);
      return;
    }
    const sealed::opened r = peer->session().respond(*me_, *in, main_rx_.batch_time);
    if (r.drop) {
      ++counters_.handshakes_refused;
      ++(*r.drop == l2::drop_reason::handshake_limited ? counters_.refused_rate : counters_.refused_invalid);
    }
    apply(*peer, r, from, via);
    return;
  }
  // 2. Anything else belongs to the session its receiver index names.
  sealed::session* s = me_->find(p.receiver);
  if (s == nullptr) {
    drop_from(from, l2::drop_reason::sealed_unknown_key);
    return;
  }
  uplink_port& peer = *static_cast<uplink_port*>(s->owner());
  apply(peer, s->open(*me_, datagram, p, main_rx_.batch_time, main_rx_.plain), from, via);
}

void udp_endpoint::receive_sealed_on_worker(receiver& rx, const ip::udp::endpoint& from,
                                            std::span<std::byte> datagram) {
  const sealed::parsed p = sealed::parse(datagram);
  if (!p.ok) {
    drop_on_worker(rx, from, p.reason);
    return;
  }
  if (p.type == sealed::message::initiation) {
    pass_to_main(rx, from, datagram, nullptr);  // (load control, then a session)
    return;
  }
  sealed::session* s = me_->find(p.receiver);
  if (s == nullptr) {
    drop_on_worker(rx, from, l2::drop_reason::sealed_unknown_key);
    return;
  }
  uplink_port& peer = *static_cast<uplink_port*>(s->owner());
  // Straight from where the peer is (nothing about its path changes; the
  // path changes only while the workers are held), and nothing of its waits
  // for the io_context thread (its frames keep their order).
  if ((p.type == sealed::message::data || p.type == sealed::message::offload) && peer.started() &&
      peer.path() == uplink_port::path_kind::direct && peer.remote() == from &&
      peer.waiting_on_main().load(std::memory_order_acquire) == 0) {
    const sealed::opened r = s->open_on_worker(*me_, datagram, p, rx.batch_time, rx.plain);
    if (!r.not_here) {
      if (r.abandoned) peer.drop(l2::drop_reason::sealed_incomplete);
      if (r.drop) peer.drop(*r.drop);
      if (r.authentic) peer.reach().last_direct_rx = rx.batch_time;
      if (r.packet) deliver_opened(rx, peer, *r.packet);
      return;
    }
  }
  flush_run(rx);  // (what it merged of the peer's goes first)
  pass_to_main(rx, from, datagram, &peer);
}

void udp_endpoint::drop_on_worker(receiver& rx, const ip::udp::endpoint& from, l2::drop_reason reason) {
  if (uplink_port* peer = find_peer(from)) {  // (the peers change only while the workers are held)
    peer->drop(reason);
  } else {
    rx.not_peer.bump();
  }
}

void udp_endpoint::pass_to_main(receiver& rx, const ip::udp::endpoint& from, std::span<const std::byte> datagram,
                                uplink_port* peer) {
  {
    const std::lock_guard lock(passed_mutex_);
    if (passed_.size() >= passed_capacity || passed_bytes_ + datagram.size() > passed_bytes_capacity) {
      if (peer != nullptr) {
        peer->drop(l2::drop_reason::rx_queue_full);
      } else {
        rx.main_queue_full.bump();
      }
      return;
    }
    std::vector<std::byte> bytes;
    if (!passed_spare_.empty()) {
      bytes = std::move(passed_spare_.back());
      passed_spare_.pop_back();
    }
    bytes.assign(datagram.begin(), datagram.end());  // (allocates only while the spares are smaller)
    passed_.push_back(passed{from, std::move(bytes), peer});
    passed_bytes_ += datagram.size();
    if (peer != nullptr) peer->waiting_on_main().fetch_add(1, std::memory_order_relaxed);
  }
  rx.handed_to_main.bump();
  // The io_context thread hears of it when this round ends, after what the
  // round sent and handed over: those frames came first.
  if (!rx.passed.registered) {
    rx.passed.registered = true;
    round_batches.push_back(&rx.passed);
  }
}

void udp_endpoint::post_drain() {
  {
    const std::lock_guard lock(passed_mutex_);
    if (passed_.empty() || std::exchange(drain_posted_, true)) return;
  }
  boost::asio::post(io_, [this, alive = std::weak_ptr<char>(alive_)] {
    if (!alive.expired()) drain_from_workers();
  });
}

void udp_endpoint::drain_from_workers() {
  {
    const std::lock_guard lock(passed_mutex_);
    std::swap(draining_, passed_);
    passed_bytes_ = 0;
    drain_posted_ = false;
  }
  if (reader_.fd() >= 0) {  // (not after stop())
    if (before_passed_) before_passed_();  // what the workers handed over before goes first
    main_rx_.batch_time = std::chrono::steady_clock::now();
    for (passed& d : draining_) receive_sealed(d.from, d.bytes);
    flush_run(main_rx_);
    flush();
    if (after_passed_) after_passed_();  // and what it queued leaves before the workers' next frames
  }
  // Received and sent on: the workers may open the peers' next datagrams
  // themselves again.
  for (passed& d : draining_)
    if (d.peer != nullptr) d.peer->waiting_on_main().fetch_sub(1, std::memory_order_release);
  const std::lock_guard lock(passed_mutex_);
  for (passed& d : draining_) {
    if (passed_spare_.size() < passed_spares) passed_spare_.push_back(std::move(d.bytes));
  }
  draining_.clear();
}

void udp_endpoint::apply(uplink_port& peer, const sealed::opened& r, const ip::udp::endpoint& from,
                         uplink_port* via) {
  if (r.abandoned) peer.drop(l2::drop_reason::sealed_incomplete);
  if (r.drop) peer.drop(*r.drop);
  // Only an authenticated datagram (or initiation) moves the peer's path;
  // probes and pongs go out whatever path the peer uses, so they are weighed
  // on their own (on_control).
  const bool probing = !r.control.empty() && (r.control[0] == static_cast<std::byte>(reach::kind::probe) ||
                                              r.control[0] == static_cast<std::byte>(reach::kind::pong));
  if ((r.authentic || !r.reply.empty()) && !probing) on_authentic(peer, from, via);
  send_handshake(peer, r.reply);
  if (r.keepalive) send_keepalive(peer);
  if (r.came_up) peer.set_alive(true, "handshake done (sealed session up)");
  if (r.new_session) peer.reach().last_announce = {};  // (a restarted peer learns our endpoints at once)
  if (!r.control.empty()) on_control(peer, r.control, from, via);
  if (r.packet) deliver_opened(main_rx_, peer, *r.packet);
}

void udp_endpoint::deliver_opened(receiver& rx, uplink_port& peer, const l2::packet& packet) {
  peer.received(packet.frame.size());
  if (packet.offload.is_plain()) {
    pass_on(rx, peer, packet.frame);
  } else {
    flush_run(rx);  // keep the order
    peer.hand_over(packet);
  }
}

}  // namespace ports
