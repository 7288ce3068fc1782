#include "ports/udp_uplink.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ports {
namespace {

namespace ip = boost::asio::ip;

constexpr int socket_buffer_size = 4 << 20;

/// Largest UDP payload: a maximal inner frame behind the VXLAN header.
constexpr std::size_t max_datagram_size = 65536;

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
      buffer_(max_datagram_size) {}

void udp_endpoint::add_peer(uplink_port& peer) { peers_.push_back(&peer); }

void udp_endpoint::start() {
  if (started_) return;
  started_ = true;
  reader_.start([this] { return read_one(); });
}

void udp_endpoint::stop() { reader_.close(); }

read_loop::step udp_endpoint::read_one() {
  ip::udp::endpoint from;
  iovec iov{buffer_.data(), buffer_.size()};
  msghdr msg{};
  msg.msg_name = from.data();
  msg.msg_namelen = static_cast<socklen_t>(from.capacity());
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  const ssize_t n = ::recvmsg(reader_.fd(), &msg, 0);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return read_loop::step::would_block;
    return read_loop::step::again;  // EINTR, or an ICMP error queued on the socket
  }
  from.resize(msg.msg_namelen);
  ++counters_.rx_datagrams;
  uplink_port* peer = find_peer(canonical(from));
  if (peer == nullptr) {
    counters_.drops.count(l2::drop_reason::not_peer);
    return read_loop::step::again;
  }
  std::size_t size = static_cast<std::size_t>(n);
  if ((msg.msg_flags & MSG_TRUNC) != 0) size = 0;  // cannot happen at 64 KiB; treat as short
  peer->receive(std::span<const std::byte>(buffer_.data(), size));
  return read_loop::step::again;
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

void udp_endpoint::send(uplink_port& peer, std::span<const std::byte> frame) {
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

void uplink_port::send(std::span<const std::byte> frame) { endpoint_.send(*this, frame); }

void uplink_port::receive(std::span<const std::byte> datagram) {
  const l2::vxlan_decode_result r = l2::vxlan_decode(datagram, endpoint_.vni());
  if (!r) {
    counters_.drops.count(r.reason);
    return;
  }
  deliver(r.inner);
}

std::string uplink_port::describe() const {
  std::string text = "uplink " + name() + " (VXLAN to ";
  const auto& a = remote_.address();
  text += a.is_v6() ? "[" + a.to_string() + "]" : a.to_string();
  text += ":" + std::to_string(remote_.port()) + ", VNI " + std::to_string(endpoint_.vni()) + ")";
  return text;
}

}  // namespace ports
