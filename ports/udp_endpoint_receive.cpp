// The udp_endpoint's receive side for plain VXLAN: batches of datagrams
// (recvmmsg with UDP_GRO) read by the io_context thread or, with workers,
// by each worker from its own socket; each datagram's peer by its source,
// decapsulation, and runs of one TCP flow merged back into super-frames.
// (Sealed datagrams go on to udp_endpoint_sealed.cpp.)
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "ports/udp_endpoint.hpp"
#include "ports/uplink_port.hpp"

namespace ports {

namespace ip = boost::asio::ip;

void udp_endpoint::receiver::allocate(bool sealed) {
  buffers.resize(batch * message_buffer_size);
  if (sealed) plain.resize(sealed::max_message_size);
}

int udp_endpoint::worker_fd(std::size_t queue) const {
  if (queue == 0) return worker_rx_.empty() ? -1 : reader_.fd();
  return queue - 1 < rx_fds_.size() ? rx_fds_[queue - 1].get() : -1;  // (none after stop())
}

worker_source::worker_step udp_endpoint::worker_read(std::size_t queue) {
  const int fd = worker_fd(queue);
  if (fd < 0) return worker_step::stop;
  return as_worker_step(read_batch(fd, *worker_rx_[queue]));
}

std::string udp_endpoint::worker_name() const { return "udp:" + to_string(local_); }

udp_endpoint::endpoint_counters udp_endpoint::counters() const {
  endpoint_counters c = counters_;
  const auto add = [&](const receiver& rx) {
    c.rx_datagrams += rx.datagrams.load();
    c.drops.by_reason[static_cast<std::size_t>(l2::drop_reason::not_peer)] += rx.not_peer.load();
    c.drops.by_reason[static_cast<std::size_t>(l2::drop_reason::rx_queue_full)] += rx.main_queue_full.load();
    c.handed_to_main += rx.handed_to_main.load();
  };
  add(main_rx_);
  for (const auto& rx : worker_rx_) add(*rx);
  return c;
}

read_loop::step udp_endpoint::read_batch(int fd, receiver& rx) {
  std::array<mmsghdr, batch> messages{};
  std::array<iovec, batch> iov{};
  std::array<sockaddr_in6, batch> from{};
  constexpr std::size_t control_size = CMSG_SPACE(sizeof(int));
  alignas(cmsghdr) std::array<std::array<unsigned char, control_size>, batch> control{};
  for (std::size_t i = 0; i < batch; ++i) {
    iov[i] = {rx.buffers.data() + i * message_buffer_size, message_buffer_size};
    msghdr& h = messages[i].msg_hdr;
    h.msg_name = &from[i];
    h.msg_namelen = sizeof from[i];
    h.msg_iov = &iov[i];
    h.msg_iovlen = 1;
    h.msg_control = control[i].data();
    h.msg_controllen = control_size;
  }
  const int n = ::recvmmsg(fd, messages.data(), batch, MSG_DONTWAIT, nullptr);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return read_loop::step::would_block;
    return read_loop::step::again;  // EINTR, or an ICMP error queued on the socket
  }
  rx.batch_time = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    const msghdr& h = messages[i].msg_hdr;
    ip::udp::endpoint source;
    std::memcpy(source.data(), h.msg_name, std::min<std::size_t>(h.msg_namelen, source.capacity()));
    source.resize(std::min<std::size_t>(h.msg_namelen, source.capacity()));
    const std::span<std::byte> payload(static_cast<std::byte*>(iov[i].iov_base),
                                       messages[i].msg_len);
    // UDP_GRO: the payload is a run of datagrams of gso_size bytes (the last may be shorter).
    std::size_t gso_size = payload.size();
    for (const cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(const_cast<msghdr*>(&h), const_cast<cmsghdr*>(c))) {
      if (c->cmsg_level == IPPROTO_UDP && c->cmsg_type == UDP_GRO) {
        int size = 0;
        std::memcpy(&size, CMSG_DATA(c), sizeof size);
        if (size > 0) gso_size = static_cast<std::size_t>(size);
      }
    }
    if (sealed_) {
      const ip::udp::endpoint from = canonical(source);
      for (std::size_t at = 0; at < payload.size() || at == 0; at += gso_size) {
        rx.datagrams.bump();
        const std::span<std::byte> datagram = payload.subspan(at, std::min(gso_size, payload.size() - at));
        if (&rx == &main_rx_) {
          receive_sealed(from, datagram);
        } else {
          receive_sealed_on_worker(rx, from, datagram);
        }
        if (payload.empty()) break;
      }
      continue;
    }
    uplink_port* peer = find_peer(canonical(source));
    // A peer being added (constructed, not yet started by the datapath) has
    // nowhere to hand frames: a worker may see it that early.
    if (peer != nullptr && !peer->started()) peer = nullptr;
    // (Group mode, where strangers become peers, is never read on a worker.)
    if (peer == nullptr && stranger_ && l2::vxlan_decode(payload.first(std::min(gso_size, payload.size())), settings_.vni)) {
      peer = stranger_(canonical(source));  // group mode: a peer learned from its traffic
    }
    for (std::size_t at = 0; at < payload.size() || at == 0; at += gso_size) {
      rx.datagrams.bump();
      if (peer == nullptr) {
        rx.not_peer.bump();
      } else {
        receive(rx, *peer, payload.subspan(at, std::min(gso_size, payload.size() - at)));
      }
      if (payload.empty()) break;
    }
  }
  flush_run(rx);
  return n < static_cast<int>(batch) ? read_loop::step::would_block : read_loop::step::again;
}

void udp_endpoint::receive(receiver& rx, uplink_port& peer, std::span<std::byte> datagram) {
  const std::optional<std::span<const std::byte>> inner = peer.decapsulate(datagram);
  if (!inner) return;
  peer.heard(rx.batch_time);
  peer.received(inner->size());
  pass_on(rx, peer, *inner);
}

void udp_endpoint::pass_on(receiver& rx, uplink_port& peer, std::span<const std::byte> inner) {
  if (rx.run_peer != &peer) flush_run(rx);
  if (rx.coalescer.add(inner)) {
    rx.run_peer = &peer;
    return;
  }
  // It does not join the current run: deliver that, then start a new one
  // with this frame or, if it can never be merged, deliver it as it is.
  flush_run(rx);
  if (rx.coalescer.add(inner)) {
    rx.run_peer = &peer;
  } else {
    peer.hand_over(l2::packet{inner, {}});
  }
}

void udp_endpoint::flush_run(receiver& rx) {
  if (rx.coalescer.pending() && rx.run_peer != nullptr) rx.run_peer->hand_over(rx.coalescer.flush());
  rx.run_peer = nullptr;
}

uplink_port* udp_endpoint::find_peer(const ip::udp::endpoint& from) const {
  uplink_port* same_host = nullptr;
  std::size_t hosts = 0;
  for (uplink_port* peer : peers_) {
    if (peer->remote().address() != from.address()) continue;
    if (peer->remote().port() == from.port()) return peer;
    same_host = peer;
    ++hosts;
  }
  return hosts == 1 ? same_host : nullptr;
}

}  // namespace ports
