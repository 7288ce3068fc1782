#include "ports/udp_uplink.hpp"

#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include <array>
#include <cerrno>
#include <cstring>

namespace ports {
namespace {

namespace ip = boost::asio::ip;

constexpr int socket_buffer_size = 4 << 20;

/// Receive buffer per message: a whole UDP_GRO batch or one maximal datagram.
constexpr std::size_t message_buffer_size = 65536;

/// UDP_SEGMENT limits: segments per call, and bytes per call (a UDP payload).
constexpr std::size_t max_gso_segments = 64;
constexpr std::size_t max_gso_bytes = 65000;

void enlarge_buffer(int fd, int force_option, int option) {
  if (::setsockopt(fd, SOL_SOCKET, force_option, &socket_buffer_size, sizeof socket_buffer_size) <
      0) {
    (void)::setsockopt(fd, SOL_SOCKET, option, &socket_buffer_size, sizeof socket_buffer_size);
  }
}

}  // namespace

ip::udp::endpoint canonical(const ip::udp::endpoint& ep) {
  const ip::address a = ep.address();
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return {ip::make_address_v4(ip::v4_mapped, a.to_v6()), ep.port()};
  }
  return ep;
}

std::string to_string(const ip::udp::endpoint& ep) {
  // Appends only: GCC 12 at -O3 warns falsely (-Wrestrict) on "[" + string.
  std::string text;
  if (ep.address().is_v6()) {
    text += '[';
    text += ep.address().to_string();
    text += ']';
  } else {
    text += ep.address().to_string();
  }
  text += ':';
  text += std::to_string(ep.port());
  return text;
}

std::unique_ptr<udp_endpoint> udp_endpoint::open(boost::asio::io_context& io,
                                                 const ip::udp::endpoint& local, l2::vni vni,
                                                 const std::string& option) {
  const bool v6 = local.address().is_v6();
  unique_fd fd(::socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    throw port_error(option + ": cannot open a UDP socket (" + std::strerror(errno) + ")");
  }
  if (v6) {
    const int off = 0;  // dual-stack: IPv4 peers too, as IPv4-mapped addresses
    (void)::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
  }
  enlarge_buffer(fd.get(), SO_RCVBUFFORCE, SO_RCVBUF);
  enlarge_buffer(fd.get(), SO_SNDBUFFORCE, SO_SNDBUF);
  // Receive runs of one flow's datagrams as one buffer (Linux 5.0+); optional.
  const int one = 1;
  (void)::setsockopt(fd.get(), IPPROTO_UDP, UDP_GRO, &one, sizeof one);
  if (::bind(fd.get(), local.data(), static_cast<socklen_t>(local.size())) < 0) {
    const int err = errno;
    std::string fix;
    if (err == EADDRINUSE) {
      fix = "; another vswitchd or a kernel vxlan device may use this port: pick another with "
            "--listen ADDR:PORT";
    } else if (err == EADDRNOTAVAIL) {
      fix = "; it is not an address of this host: use one of `ip -br addr` or 0.0.0.0";
    } else if (err == EACCES) {
      fix = "; ports below 1024 need root";
    }
    throw port_error(option + ": cannot bind (" + std::strerror(err) + ")" + fix);
  }
  return std::unique_ptr<udp_endpoint>(new udp_endpoint(io, std::move(fd), local, vni));
}

udp_endpoint::udp_endpoint(boost::asio::io_context& io, unique_fd fd,
                           const ip::udp::endpoint& local, l2::vni vni)
    : reader_(io, std::move(fd)),
      local_(local),
      vni_(vni),
      v6_(local.address().is_v6()),
      header_(l2::vxlan_encode(vni)),
      buffers_(batch * message_buffer_size),
      tx_(io, [this] { flush(); }) {}

void udp_endpoint::add_peer(uplink_port& peer) { peers_.push_back(&peer); }

void udp_endpoint::start() {
  if (started_) return;
  started_ = true;
  reader_.start([this] { return read_one(); });
}

void udp_endpoint::stop() { reader_.close(); }

read_loop::step udp_endpoint::read_one() {
  std::array<mmsghdr, batch> messages{};
  std::array<iovec, batch> iov{};
  std::array<sockaddr_in6, batch> from{};
  constexpr std::size_t control_size = CMSG_SPACE(sizeof(int));
  alignas(cmsghdr) std::array<std::array<unsigned char, control_size>, batch> control{};
  for (std::size_t i = 0; i < batch; ++i) {
    iov[i] = {buffers_.data() + i * message_buffer_size, message_buffer_size};
    msghdr& h = messages[i].msg_hdr;
    h.msg_name = &from[i];
    h.msg_namelen = sizeof from[i];
    h.msg_iov = &iov[i];
    h.msg_iovlen = 1;
    h.msg_control = control[i].data();
    h.msg_controllen = control_size;
  }
  const int n = ::recvmmsg(reader_.fd(), messages.data(), batch, MSG_DONTWAIT, nullptr);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return read_loop::step::would_block;
    return read_loop::step::again;  // EINTR, or an ICMP error queued on the socket
  }
  for (int i = 0; i < n; ++i) {
    const msghdr& h = messages[i].msg_hdr;
    ip::udp::endpoint source;
    std::memcpy(source.data(), h.msg_name, std::min<std::size_t>(h.msg_namelen, source.capacity()));
    source.resize(std::min<std::size_t>(h.msg_namelen, source.capacity()));
    const std::span<const std::byte> payload(static_cast<const std::byte*>(iov[i].iov_base),
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
    uplink_port* peer = find_peer(canonical(source));
    for (std::size_t at = 0; at < payload.size() || at == 0; at += gso_size) {
      ++counters_.rx_datagrams;
      if (peer == nullptr) {
        counters_.drops.count(l2::drop_reason::not_peer);
      } else {
        receive(*peer, payload.subspan(at, std::min(gso_size, payload.size() - at)));
      }
      if (payload.empty()) break;
    }
  }
  flush_run();
  return n < static_cast<int>(batch) ? read_loop::step::would_block : read_loop::step::again;
}

void udp_endpoint::receive(uplink_port& peer, std::span<const std::byte> datagram) {
  const std::optional<std::span<const std::byte>> inner = peer.decapsulate(datagram);
  if (!inner) return;
  if (run_peer_ != &peer) flush_run();
  if (coalescer_.add(*inner)) {
    run_peer_ = &peer;
    return;
  }
  // It does not join the current run: deliver that, then start a new one
  // with this frame or, if it can never be merged, deliver it as it is.
  flush_run();
  if (coalescer_.add(*inner)) {
    run_peer_ = &peer;
  } else {
    peer.hand_over(l2::packet{*inner, {}});
  }
}

void udp_endpoint::flush_run() {
  if (coalescer_.pending() && run_peer_ != nullptr) run_peer_->hand_over(coalescer_.flush());
  run_peer_ = nullptr;
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

void udp_endpoint::send_segments(uplink_port& peer, std::span<std::byte> buffer,
                                 const l2::segment_result& segments) {
  flush();  // keep the order
  // Every segment gets its VXLAN header in the headroom in front of it.
  for (std::size_t i = 0; i < segments.count; ++i) {
    std::copy(header_.begin(), header_.end(), buffer.begin() + static_cast<std::ptrdiff_t>(i * segments.stride));
  }
  // Blocks of whole segments within UDP_SEGMENT's limits, one sendmsg each.
  const std::size_t per_block =
      std::max<std::size_t>(1, std::min(max_gso_segments, max_gso_bytes / segments.stride));
  for (std::size_t first = 0; first < segments.count; first += per_block) {
    const std::size_t count = std::min(per_block, segments.count - first);
    const std::size_t begin = first * segments.stride;
    const std::size_t end =
        first + count == segments.count ? segments.total_size : (first + count) * segments.stride;
    const std::span<const std::byte> block(buffer.data() + begin, end - begin);
    if (count > 1 && udp_segment_ && send_block(peer, block, segments.stride, count)) continue;
    // One datagram per segment: UDP_SEGMENT is off, refused, or there is one segment.
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t at = i * segments.stride;
      const std::size_t size = std::min(segments.stride, block.size() - at);
      send_block(peer, block.subspan(at, size), size, 1);
    }
  }
}

bool udp_endpoint::send_block(uplink_port& peer, std::span<const std::byte> block,
                              std::size_t stride, std::size_t count) {
  iovec iov{const_cast<std::byte*>(block.data()), block.size()};
  msghdr msg{};
  msg.msg_name = const_cast<sockaddr*>(peer.destination().data());
  msg.msg_namelen = static_cast<socklen_t>(peer.destination().size());
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) unsigned char control[CMSG_SPACE(sizeof(std::uint16_t))] = {};
  if (count > 1) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
    const auto size = static_cast<std::uint16_t>(stride);
    std::memcpy(CMSG_DATA(c), &size, sizeof size);
  }
  if (::sendmsg(reader_.fd(), &msg, MSG_DONTWAIT) >= 0) {
    // Count inner frames: each segment minus its VXLAN header.
    for (std::size_t i = 0; i < count; ++i) {
      peer.sent(std::min(stride, block.size() - i * stride) - l2::vxlan_header_size);
    }
    return true;
  }
  const int err = errno;
  if (count > 1 && (err == EIO || err == EINVAL || err == ENOPROTOOPT || err == EOPNOTSUPP)) {
    // EIO: no GSO on this path at all; EINVAL: a segment exceeds the path
    // MTU. The caller sends the segments one by one.
    if (err != EINVAL) udp_segment_ = false;
    return false;
  }
  for (std::size_t i = 0; i < count; ++i) peer.send_failed(send_drop_reason(err));
  return true;
}

void udp_endpoint::send(uplink_port& peer, std::span<const std::byte> frame) {
  // Small frames wait for the end of this input batch and leave together.
  if (tx_batch::fits(header_.size(), frame.size())) {
    tx_.push(header_, frame, peer.destination().data(),
             static_cast<socklen_t>(peer.destination().size()), &peer);
    return;
  }
  flush();  // keep the order
  iovec iov[2] = {{header_.data(), header_.size()},
                  {const_cast<std::byte*>(frame.data()), frame.size()}};
  msghdr msg{};
  msg.msg_name = const_cast<sockaddr*>(peer.destination().data());
  msg.msg_namelen = static_cast<socklen_t>(peer.destination().size());
  msg.msg_iov = iov;
  msg.msg_iovlen = 2;
  if (::sendmsg(reader_.fd(), &msg, MSG_DONTWAIT) >= 0) {
    peer.sent(frame.size());
  } else {
    peer.send_failed(send_drop_reason(errno));
  }
}

void udp_endpoint::flush() {
  if (tx_.empty()) return;
  if (reader_.fd() < 0) {
    tx_.clear();  // the socket is closed: nothing can go out
    return;
  }
  tx_.send_all(
      reader_.fd(),
      [](void* peer, std::size_t size) { static_cast<uplink_port*>(peer)->sent(size); },
      [](void* peer, int err) { static_cast<uplink_port*>(peer)->send_failed(send_drop_reason(err)); });
}

uplink_port::uplink_port(l2::port_id id, std::string name, udp_endpoint& endpoint,
                         const ip::udp::endpoint& remote)
    : port(id, std::move(name), port_kind::uplink),
      endpoint_(endpoint),
      remote_(canonical(remote)),
      destination_(remote_) {
  if (endpoint_.is_v6() && remote_.address().is_v4()) {
    destination_ = ip::udp::endpoint(
        ip::make_address_v6(ip::v4_mapped, remote_.address().to_v4()), remote_.port());
  }
  endpoint_.add_peer(*this);
}

void uplink_port::start(port_listener& listener) {
  listener_ = &listener;
  endpoint_.start();
}

void uplink_port::send(const l2::packet& packet) { endpoint_.send(*this, packet.frame); }

std::optional<std::span<const std::byte>> uplink_port::decapsulate(
    std::span<const std::byte> datagram) {
  const l2::vxlan_decode_result r = l2::vxlan_decode(datagram, endpoint_.vni());
  if (!r) {
    counters_.drops.count(r.reason);
    return std::nullopt;
  }
  count_rx(r.inner.size());
  return r.inner;
}

std::string uplink_port::describe() const {
  return "uplink " + name() + " (VXLAN to " + to_string(remote_) + ", VNI " +
         std::to_string(endpoint_.vni()) + ")";
}

}  // namespace ports
