#include "ports/udp_endpoint.hpp"

#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>
#include <array>
#include <cerrno>
#include <cstring>

#include "l2/byte_order.hpp"
#include "ports/identity.hpp"
#include "ports/uplink_port.hpp"

namespace ports {
namespace {

namespace ip = boost::asio::ip;

constexpr int socket_buffer_size = 4 << 20;

/// UDP_SEGMENT limits: segments per call, and bytes per call (a UDP payload).
constexpr std::size_t max_gso_segments = 64;
constexpr std::size_t max_gso_bytes = 65000;

using sealed::fragment_prefix;
using sealed::max_message_size;


/// The control message that has the kernel cut one send into datagrams of
/// `size` bytes (UDP_SEGMENT; the last may be shorter).
struct udp_segment_control {
  alignas(cmsghdr) unsigned char bytes[CMSG_SPACE(sizeof(std::uint16_t))] = {};

  void attach(msghdr& msg, std::size_t size) {
    msg.msg_control = bytes;
    msg.msg_controllen = sizeof bytes;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
    const auto segment = static_cast<std::uint16_t>(size);
    std::memcpy(CMSG_DATA(c), &segment, sizeof segment);
  }
};

void enlarge_buffer(int fd, int force_option, int option) {
  if (::setsockopt(fd, SOL_SOCKET, force_option, &socket_buffer_size, sizeof socket_buffer_size) <
      0) {
    (void)::setsockopt(fd, SOL_SOCKET, option, &socket_buffer_size, sizeof socket_buffer_size);
  }
}

}  // namespace

namespace {

/// The port a bound socket got.
unsigned short bound_port(int fd) {
  ip::udp::endpoint bound;
  socklen_t size = static_cast<socklen_t>(bound.capacity());
  if (::getsockname(fd, bound.data(), &size) < 0) return 0;
  bound.resize(size);
  return bound.port();
}

/// A UDP socket with the endpoint's options, bound to `local`; with
/// `shared`, one of a SO_REUSEPORT group (the workers' sockets).
unique_fd bound_socket(const ip::udp::endpoint& local, bool shared, const std::string& option) {
  const bool v6 = local.address().is_v6();
  unique_fd fd(::socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    throw port_error(option + ": cannot open a UDP socket (" + std::strerror(errno) + ")");
  }
  if (v6) {
    const int off = 0;  // dual-stack: IPv4 peers too, as IPv4-mapped addresses
    (void)::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    const int dont = IPV6_PMTUDISC_DO;
    (void)::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_MTU_DISCOVER, &dont, sizeof dont);
  }
  // Never fragment: a frame that does not fit is dropped and counted (too_big).
  const int dont = IP_PMTUDISC_DO;
  (void)::setsockopt(fd.get(), IPPROTO_IP, IP_MTU_DISCOVER, &dont, sizeof dont);
  enlarge_buffer(fd.get(), SO_RCVBUFFORCE, SO_RCVBUF);
  enlarge_buffer(fd.get(), SO_SNDBUFFORCE, SO_SNDBUF);
  // Receive runs of one flow's datagrams as one buffer (Linux 5.0+); optional.
  const int one = 1;
  (void)::setsockopt(fd.get(), IPPROTO_UDP, UDP_GRO, &one, sizeof one);
  if (shared && ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
    throw port_error(option + ": cannot share the port between the workers (SO_REUSEPORT: " +
                     std::strerror(errno) + "); run with --workers 1");
  }
  if (::bind(fd.get(), local.data(), static_cast<socklen_t>(local.size())) < 0) {
    const int err = errno;
    throw port_error(option + ": cannot bind (" + std::strerror(err) + "); " +
                     bind_fix(err, "another vswitchd or a kernel vxlan device may use this port; pick "
                                   "another with --listen ADDR:PORT"));
  }
  return fd;
}

}  // namespace

std::unique_ptr<udp_endpoint> udp_endpoint::open(boost::asio::io_context& io,
                                                 const ip::udp::endpoint& local,
                                                 const uplink_settings& settings,
                                                 const std::string& option) {
  // With workers and no group: one socket per worker (see the header).
  const std::size_t sockets = settings.workers > 1 && !settings.group ? settings.workers : 1;
  std::vector<unique_fd> fds;
  ip::udp::endpoint at = local;  // (with port 0: the port the kernel gave)
  const auto given_port = [&](int fd) {
    at.port(bound_port(fd));
    if (at.port() == 0) {
      throw port_error(option + ": cannot read the port the socket was given (" + std::strerror(errno) + ")");
    }
  };
  if (sockets == 1) {
    fds.push_back(bound_socket(local, false, option));
    if (local.port() == 0) given_port(fds.front().get());
  } else {
    // The port must be free: a plain bind fails where anyone holds it, also
    // a group of SO_REUSEPORT sockets of the same user (another vswitchd)
    // that ours would silently join. Then the group, on the port it got.
    // (Two daemons of the same user starting at the same moment could both
    // pass the probe; a port another process binds between the probe and
    // the group fails the group's bind.)
    {
      const unique_fd probe = bound_socket(local, false, option);
      if (local.port() == 0) given_port(probe.get());
    }
    for (std::size_t i = 0; i < sockets; ++i) fds.push_back(bound_socket(at, true, option));
  }
  const int fd = fds.front().get();
  if (settings.group) {
    // Join the group; send to it out of the same interface, one hop (as the
    // kernel's vxlan does by default), and do not hear our own floods back.
    ip_mreqn join{};
    join.imr_multiaddr.s_addr = htonl(settings.group->to_uint());
    join.imr_ifindex = static_cast<int>(settings.group_ifindex);
    if (::setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &join, sizeof join) < 0) {
      throw port_error("--group " + settings.group->to_string() + ": cannot join the group (" +
                       std::strerror(errno) +
                       "); the host needs a route for it (e.g. `ip route add 224.0.0.0/4 dev "
                       "IFNAME`) or name the interface with --group-dev");
    }
    (void)::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &join, sizeof join);
    const int ttl = 1;
    (void)::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl);
    const int no = 0;
    (void)::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &no, sizeof no);
  }
  return std::unique_ptr<udp_endpoint>(new udp_endpoint(io, std::move(fds), at, settings));
}

udp_endpoint::udp_endpoint(boost::asio::io_context& io, std::vector<unique_fd> fds,
                           const ip::udp::endpoint& local, const uplink_settings& settings)
    : io_(io),
      reader_(io, std::move(fds.front())),
      local_(local),
      settings_(settings),
      sealed_(!settings.keys.empty() || settings.identity),
      v6_(local.address().is_v6()),
      header_(l2::vxlan_encode(settings.vni)),
      tx_(io, [this] { flush(); }),
      timer_(io),
      resolver_(io) {
  if (settings.workers > 1) {
    for (std::size_t w = 0; w < settings.workers; ++w) {
      round_tx_.push_back(std::make_unique<tx_batch>([this, w] { flush_round(w); }));
      if (!sealed_) continue;
      worker_seal_.push_back(std::make_unique<seal_buffers>());
      worker_seal_.back()->allocate();
    }
  }
  if (fds.size() > 1) {
    for (std::size_t w = 0; w < fds.size(); ++w) {
      worker_rx_.push_back(std::make_unique<receiver>());
      worker_rx_.back()->allocate(sealed_);
      worker_rx_.back()->passed.endpoint = this;
    }
    for (std::size_t w = 1; w < fds.size(); ++w) rx_fds_.push_back(std::move(fds[w]));
    if (sealed_) {
      passed_.reserve(passed_capacity);  // (swapped with draining_: both keep it)
      draining_.reserve(passed_capacity);
    }
  }
  if (sealed_) {
    me_.emplace(settings.identity, settings.keys);
    me_->set_certificate(settings.certificate);
    main_seal_.allocate();
    main_rx_.plain.resize(sealed::max_message_size);  // (also when the workers receive: they pass it datagrams)
    relay_buffer_.resize(message_buffer_size + reach::relay_overhead);
  }
}

udp_endpoint::~udp_endpoint() = default;

void udp_endpoint::seal_buffers::allocate() {
  scratch.resize(max_message_size + sealed::header_size + reach::relay_overhead);
  fragment_headers.resize(max_fragments * (sealed::header_size + sealed::fragment_header_size));
}

bool udp_endpoint::set_keys(const std::vector<sealed::key>& keys) {
  if (!me_ || !me_->set_psks(keys)) return false;
  // Sessions made under a key that is gone end within a second; new
  // handshakes (under the new first key) start now.
  const auto now = std::chrono::steady_clock::now();
  for (uplink_port* peer : peers_) send_handshake(*peer, peer->session().keys_changed(*me_, now));
  settings_.keys = keys;
  return true;
}

void udp_endpoint::add_peer(uplink_port& peer) {
  const auto hold = hold_senders();  // workers may be looking a datagram's peer up
  peers_.push_back(&peer);
}

bool udp_endpoint::is_self(const ip::udp::endpoint& remote) const {
  if (remote.port() != local_.port()) return false;
  const ip::udp::endpoint local = canonical(local_);
  if (!local.address().is_unspecified()) return local.address() == remote.address();
  return is_local_address(remote.address());
}

void udp_endpoint::remove_peer(uplink_port& peer) {
  // (Held, the workers are between rounds: nothing of theirs names the peer.)
  const auto hold = hold_senders();
  if (tx_.holds(&peer)) flush();  // queued datagrams name the peer: send them now
  if (main_rx_.run_peer == &peer) flush_run(main_rx_);
  if (me_) peer.session().clear(*me_);  // its sessions end, their indexes are freed
  {
    const std::lock_guard lock(passed_mutex_);  // (its datagrams passed by the workers wait as anyone's)
    for (std::vector<passed>* queue : {&passed_, &draining_})
      for (passed& d : *queue)
        if (d.peer == &peer) d.peer = nullptr;
  }
  std::erase(peers_, &peer);
  // Peers it relayed for have no path through it any more.
  for (uplink_port* other : peers_) {
    if (other->reach().introducer == &peer) other->reach().introducer = nullptr;
    if (other->relay() == &peer) {
      spdlog::info("peer {}: its relay {} is gone", other->name(), peer.name());
      other->clear_relay();
    }
  }
}

void udp_endpoint::start() {
  if (started_) return;
  started_ = true;
  if (worker_receives()) {
    reader_.hand_over();  // worker 0 reads it (the daemon calls datapath::add_source)
  } else {
    main_rx_.allocate(sealed_);
    reader_.start([this] { return read_batch(reader_.fd(), main_rx_); });
  }
  if (sealed_) addresses_.emplace(io_, [this] { announce(); });
  tick();  // the first handshakes go out at once
}

void udp_endpoint::greet(uplink_port& peer) {
  // A peer added while running gets its handshake at once, as all do at start.
  if (!sealed_ || !started_ || peer.path() == uplink_port::path_kind::none) return;
  // A revoked peer gets nothing from us, however it was found.
  const auto& key = peer.session().remote_static();
  if (key && refused_ && refused_(*key, peer.session().peer_certificate())) return;
  send_handshake(peer, peer.session().greet(*me_, std::chrono::steady_clock::now()));
}

void udp_endpoint::end_sessions(uplink_port& peer) {
  if (!me_) return;
  peer.session().clear(*me_);
  if (peer.is_up()) peer.set_alive(false, "revoked: its sessions ended");
}

void udp_endpoint::announce() {
  const auto now = std::chrono::steady_clock::now();
  for (uplink_port* peer : peers_) {
    peer->reach().last_announce = {};  // our local endpoints changed: tell at the next tick
    // A peer found across NATs: our NAT may map us anew, which its NAT
    // would not let in. Through the relay until a probe finds the way again.
    uplink_port* via = peer->reach().introducer;
    if (peer->path() == uplink_port::path_kind::direct && via != nullptr &&
        via->path() == uplink_port::path_kind::direct && via->session().has_session(now)) {
      spdlog::info("peer {}: this host's addresses changed; through relay {} until a direct path is found again",
                   peer->name(), via->name());
      peer->set_relay(*via);
    }
    if (peer->session().has_session(now)) send_keepalive(*peer);
  }
}

void udp_endpoint::stop() {
  if (addresses_) addresses_->stop();
  timer_.cancel();
  resolver_.cancel();
  reader_.close();
  rx_fds_.clear();
}

void udp_endpoint::send_handshake(uplink_port& peer, std::span<const std::byte> message) {
  if (message.empty()) return;
  transmit(peer, message);
}

void udp_endpoint::send_keepalive(uplink_port& peer) {
  const std::optional<sealed::sending> s = peer.session().next_send(std::chrono::steady_clock::now());
  if (!s || reader_.fd() < 0) return;
  std::array<std::byte, sealed::overhead> datagram{};
  sealed::seal_in_place(s->k, sealed::message::data, s->receiver, s->counter, datagram, 0);
  transmit(peer, datagram);
}

void udp_endpoint::send_segments(uplink_port& peer, std::span<std::byte> buffer,
                                 const l2::segment_result& segments, std::optional<l2::vni> untag_to) {
  flush_thread();  // keep the order
  const std::size_t room = headroom();
  // Taking the tag off shortens each segment at its front by the tag: its
  // datagram starts `shift` bytes into its stride.
  const std::size_t shift = untag_to ? l2::vlan_tag_size : 0;
  const std::size_t first_size = std::min(segments.stride, segments.total_size) - room - shift;
  if (first_size > peer.max_frame_size()) {
    for (std::size_t i = 0; i < segments.count; ++i) peer.drop(l2::drop_reason::too_big);
    return;
  }
  // Plain VXLAN only: a sealed uplink carries offloads (carries_offload()),
  // so the datapath never segments for it. The VXLAN header fills each
  // segment's headroom (behind the tag's four bytes when it is taken off:
  // the MAC addresses move over it).
  const std::array<std::byte, l2::vxlan_header_size> mapped =
      untag_to ? l2::vxlan_encode(*untag_to) : std::array<std::byte, l2::vxlan_header_size>{};
  const std::span<const std::byte> header = untag_to ? std::span<const std::byte>(mapped)
                                                     : std::span<const std::byte>(header_);
  const auto datagram = [&](std::size_t i) {
    const std::size_t start = i * segments.stride + shift;
    const std::size_t end = i + 1 == segments.count ? segments.total_size : (i + 1) * segments.stride;
    return buffer.subspan(start, end - start);
  };
  for (std::size_t i = 0; i < segments.count; ++i) {
    const std::span<std::byte> d = datagram(i);
    if (shift != 0) std::memmove(d.data() + room, d.data() + room - shift, l2::ethernet_type_offset);
    std::copy(header.begin(), header.end(), d.begin());
  }
  const std::size_t overhead = encapsulation_size();
  const std::size_t stride = segments.stride - shift;  // of the datagrams
  // Blocks of whole segments within UDP_SEGMENT's limits, one sendmsg each:
  // one iovec for the block when the datagrams lie end to end, else one each.
  const std::size_t per_block =
      std::max<std::size_t>(1, std::min(max_gso_segments, max_gso_bytes / segments.stride));
  std::array<iovec, max_gso_segments> iov{};
  for (std::size_t first = 0; first < segments.count; first += per_block) {
    const std::size_t count = std::min(per_block, segments.count - first);
    if (count > 1 && udp_segment_.load(std::memory_order_relaxed)) {
      std::size_t n = 0;
      if (shift == 0) {
        const std::byte* begin = datagram(first).data();
        const std::span<std::byte> last = datagram(first + count - 1);
        iov[n++] = {const_cast<std::byte*>(begin), static_cast<std::size_t>(last.data() + last.size() - begin)};
      } else {
        for (std::size_t i = first; i < first + count; ++i) {
          const std::span<std::byte> d = datagram(i);
          iov[n++] = {d.data(), d.size()};
        }
      }
      if (send_block(peer, std::span<const iovec>(iov.data(), n), stride, count, overhead)) continue;
    }
    // One datagram per segment: UDP_SEGMENT is off, refused, or there is one segment.
    for (std::size_t i = first; i < first + count; ++i) {
      const std::span<std::byte> d = datagram(i);
      const iovec one{d.data(), d.size()};
      send_block(peer, std::span<const iovec>(&one, 1), d.size(), 1, overhead);
    }
  }
}

bool udp_endpoint::send_block(uplink_port& peer, std::span<const iovec> iov, std::size_t stride,
                              std::size_t count, std::size_t per_segment_overhead) {
  msghdr msg{};
  msg.msg_name = const_cast<sockaddr*>(peer.destination().data());
  msg.msg_namelen = static_cast<socklen_t>(peer.destination().size());
  msg.msg_iov = const_cast<iovec*>(iov.data());
  msg.msg_iovlen = iov.size();
  udp_segment_control control;
  if (count > 1) control.attach(msg, stride);
  if (::sendmsg(reader_.fd(), &msg, MSG_DONTWAIT) >= 0) {
    // Count inner frames: each segment minus its encapsulation.
    std::size_t bytes = 0;
    for (const iovec& v : iov) bytes += v.iov_len;
    for (std::size_t i = 0; i < count; ++i) {
      peer.sent(std::min(stride, bytes - i * stride) - per_segment_overhead);
    }
    return true;
  }
  const int err = errno;
  if (count > 1 && (err == EIO || err == EINVAL || err == ENOPROTOOPT || err == EOPNOTSUPP)) {
    // EIO: no GSO on this path at all; EINVAL: a segment exceeds the path
    // MTU. The caller sends the segments one by one.
    if (err != EINVAL) udp_segment_.store(false, std::memory_order_relaxed);
    return false;
  }
  const l2::drop_reason reason = send_drop_reason(err);
  for (std::size_t i = 0; i < count; ++i) peer.drop(reason);
  return true;
}

void udp_endpoint::send(uplink_port& peer, std::span<const std::byte> frame, std::optional<l2::vni> vni) {
  if (frame.size() > peer.max_frame_size()) {
    peer.drop(l2::drop_reason::too_big);
    return;
  }
  if (peer.path() == uplink_port::path_kind::none) {
    peer.drop(l2::drop_reason::sealed_no_session);  // (named by key, not found yet)
    return;
  }
  const sockaddr* to = peer.destination().data();
  auto to_size = static_cast<socklen_t>(peer.destination().size());
  if (sealed_) {
    const std::optional<sealed::sending> s = peer.session().next_send(std::chrono::steady_clock::now());
    if (!s) {
      peer.drop(l2::drop_reason::sealed_no_session);
      return;
    }
    // Through a relay: the sealed datagram goes inside a relay message,
    // sealed again under the session with the relay, and to the relay.
    uplink_port* via = peer.relay();
    std::optional<sealed::sending> outer;
    if (via != nullptr && !(outer = relay_sending(peer))) return;
    const std::size_t inner_size = frame.size() + sealed::overhead;
    const std::size_t at = via != nullptr ? relay_inner_offset : 0;
    const std::size_t size = inner_size + (via != nullptr ? reach::relay_overhead : 0);
    if (via != nullptr) {
      to = via->destination().data();
      to_size = static_cast<socklen_t>(via->destination().size());
    }
    const auto seal = [&](std::span<std::byte> out) {
      const std::span<std::byte> inner = out.subspan(at, inner_size);
      if (!frame.empty()) std::memcpy(inner.data() + sealed::header_size, frame.data(), frame.size());
      sealed::seal_in_place(s->k, sealed::message::data, s->receiver, s->counter, inner, frame.size());
      if (via != nullptr) wrap_for_relay(peer, *outer, out);
    };
    if (size <= tx_batch::slot_size) {
      thread_batch().push_filled(size, seal, to, to_size, &peer, frame.size());
      return;
    }
    flush_thread();  // keep the order
    std::vector<std::byte>& scratch = thread_seal().scratch;
    seal(std::span<std::byte>(scratch.data(), size));
    if (::sendto(reader_.fd(), scratch.data(), size, MSG_DONTWAIT, to, to_size) >= 0) {
      peer.sent(frame.size());
    } else {
      peer.drop(send_drop_reason(errno));
    }
    return;
  }
  // Small frames wait for the end of this input batch and leave together.
  std::array<std::byte, l2::vxlan_header_size> other_vni{};
  if (vni) other_vni = l2::vxlan_encode(*vni);
  const std::span<const std::byte> header = vni ? std::span<const std::byte>(other_vni)
                                                : std::span<const std::byte>(header_);
  if (tx_batch::fits(header.size(), frame.size())) {
    thread_batch().push(header, frame, to, to_size, &peer);
    return;
  }
  flush_thread();  // keep the order
  iovec iov[2] = {{const_cast<std::byte*>(header.data()), header.size()},
                  {const_cast<std::byte*>(frame.data()), frame.size()}};
  msghdr msg{};
  msg.msg_name = const_cast<sockaddr*>(to);
  msg.msg_namelen = to_size;
  msg.msg_iov = iov;
  msg.msg_iovlen = 2;
  if (::sendmsg(reader_.fd(), &msg, MSG_DONTWAIT) >= 0) {
    peer.sent(frame.size());
  } else {
    peer.drop(send_drop_reason(errno));
  }
}

void udp_endpoint::send_offload(uplink_port& peer, const l2::packet& packet) {
  flush_thread();  // keep the order
  seal_buffers& buffers = thread_seal();
  const std::span<const std::byte> frame = packet.frame;
  // Every frame, and every segment the receiving vswitchd will cut a
  // super-frame into, must fit the inner MTU, as on a plain uplink.
  if (l2::largest_segment_size(frame, packet.offload) > peer.max_frame_size() ||
      frame.size() > l2::max_frame_size) {
    peer.drop(l2::drop_reason::too_big);
    return;
  }
  // 1. Seal the whole message once: header, virtio-net header + frame, tag.
  const std::optional<sealed::sending> s = peer.session().next_send(std::chrono::steady_clock::now());
  if (!s || peer.path() == uplink_port::path_kind::none) {
    peer.drop(l2::drop_reason::sealed_no_session);
    return;
  }
  const std::size_t plain_size = l2::vnet_header_size + frame.size();
  const std::span<std::byte> message(buffers.scratch.data(), sealed::header_size + plain_size + sealed::tag_size);
  l2::emit_vnet_header(packet.offload, message.subspan(sealed::header_size).first<l2::vnet_header_size>());
  std::copy(frame.begin(), frame.end(), message.begin() + sealed::header_size + l2::vnet_header_size);
  sealed::seal_in_place(s->k, sealed::message::offload, s->receiver, s->counter, message, plain_size);

  // 2. Cut the sealed bytes into fragments that fit a datagram towards the
  // peer, each behind a copy of the header and its fragment header.
  const std::span<const std::byte> body = message.subspan(sealed::header_size);
  const std::size_t datagram_limit = peer.max_frame_size() + sealed::overhead;
  const std::size_t piece = datagram_limit - fragment_prefix;
  const std::size_t count = (body.size() + piece - 1) / piece;
  if (piece < 64 || count > max_fragments) {
    peer.drop(l2::drop_reason::too_big);
    return;
  }
  for (std::size_t i = 0; i < count; ++i) {
    const std::span<std::byte> prefix(buffers.fragment_headers.data() + i * fragment_prefix, fragment_prefix);
    std::copy_n(message.begin(), sealed::header_size, prefix.begin());
    l2::byte_order::store32(prefix, sealed::header_size, static_cast<std::uint32_t>(i * piece));
    l2::byte_order::store32(prefix, sealed::header_size + 4, static_cast<std::uint32_t>(body.size()));
  }

  // 3. Send: through a relay one fragment at a time, each wrapped; else in
  // blocks of fragments with UDP_SEGMENT (all but the last of equal size),
  // or one datagram per fragment where the kernel refuses.
  if (peer.relay() != nullptr) {
    // (Each fragment is put together where transmit() wraps it: no copy.)
    std::byte* one = relay_buffer_.data() + relay_inner_offset;
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t at = i * piece;
      const std::size_t size = std::min(piece, body.size() - at);
      std::copy_n(buffers.fragment_headers.data() + i * fragment_prefix, fragment_prefix, one);
      std::copy_n(body.data() + at, size, one + fragment_prefix);
      transmit(peer, std::span<const std::byte>(one, fragment_prefix + size));
    }
    peer.sent(frame.size());
    return;
  }
  const std::size_t stride = fragment_prefix + piece;
  const std::size_t per_block = std::max<std::size_t>(1, std::min(max_gso_segments, max_gso_bytes / stride));
  std::array<iovec, 2 * max_gso_segments> iov{};
  bool failed = false;
  int error = 0;
  for (std::size_t first = 0; first < count && !failed; first += per_block) {
    const std::size_t n = std::min(per_block, count - first);
    const auto fill = [&](std::size_t from, std::size_t k) {
      for (std::size_t j = 0; j < k; ++j) {
        const std::size_t i = from + j;
        const std::size_t at = i * piece;
        iov[2 * j] = {buffers.fragment_headers.data() + i * fragment_prefix, fragment_prefix};
        iov[2 * j + 1] = {const_cast<std::byte*>(body.data()) + at, std::min(piece, body.size() - at)};
      }
    };
    msghdr msg{};
    msg.msg_name = const_cast<sockaddr*>(peer.destination().data());
    msg.msg_namelen = static_cast<socklen_t>(peer.destination().size());
    msg.msg_iov = iov.data();
    udp_segment_control control;
    if (n > 1 && udp_segment_.load(std::memory_order_relaxed)) {
      fill(first, n);
      msg.msg_iovlen = 2 * n;
      control.attach(msg, stride);
      if (::sendmsg(reader_.fd(), &msg, MSG_DONTWAIT) >= 0) continue;
      error = errno;
      if (error == EIO || error == ENOPROTOOPT || error == EOPNOTSUPP) {
        udp_segment_.store(false, std::memory_order_relaxed);
      }
      if (error != EIO && error != EINVAL && error != ENOPROTOOPT && error != EOPNOTSUPP) {
        failed = true;
        break;
      }
      msg.msg_control = nullptr;
      msg.msg_controllen = 0;
    }
    for (std::size_t j = 0; j < n; ++j) {
      fill(first + j, 1);
      msg.msg_iovlen = 2;
      if (::sendmsg(reader_.fd(), &msg, MSG_DONTWAIT) < 0) {
        error = errno;
        failed = true;
        break;
      }
    }
  }
  if (failed) {
    peer.drop(send_drop_reason(error));
  } else {
    peer.sent(frame.size());
  }
}

void udp_endpoint::flush() { send_batch(tx_); }

// (A worker's index is below round_tx_'s size: the daemon gives the endpoint
// the datapath's worker count, uplink_settings::workers. Only workers send
// on a thread other than the io_context's.)
tx_batch& udp_endpoint::thread_batch() {
  if (this_worker < 0) return tx_;
  assert(static_cast<std::size_t>(this_worker) < round_tx_.size());
  return *round_tx_[static_cast<std::size_t>(this_worker)];
}

udp_endpoint::seal_buffers& udp_endpoint::thread_seal() {
  if (this_worker < 0) return main_seal_;
  assert(static_cast<std::size_t>(this_worker) < worker_seal_.size());
  return *worker_seal_[static_cast<std::size_t>(this_worker)];
}

void udp_endpoint::flush_thread() {
  if (this_worker < 0) {
    flush();
  } else {
    flush_round(static_cast<std::size_t>(this_worker));
  }
}

void udp_endpoint::flush_round(std::size_t w) {
  // (Still registered in round_batches until the round ends, when the
  // worker's flush_drained() sends what came after this.)
  send_batch(*round_tx_[w]);
}

void udp_endpoint::send_batch(tx_batch& batch) {
  if (batch.empty()) return;
  if (reader_.fd() < 0) {
    batch.clear();  // the socket is closed: nothing can go out
    return;
  }
  batch.send_all(
      reader_.fd(),
      // (No peer: a datagram we relay for two others, counted on the endpoint.)
      [](void* peer, std::size_t size) {
        if (peer != nullptr) static_cast<uplink_port*>(peer)->sent(size);
      },
      [](void* peer, int err) {
        if (peer != nullptr) static_cast<uplink_port*>(peer)->drop(send_drop_reason(err));
      });
}

}  // namespace ports
