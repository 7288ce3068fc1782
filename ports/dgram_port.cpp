#include "ports/dgram_port.hpp"

#include <netinet/in.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/post.hpp>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>

#include "l2/frame.hpp"

namespace ports {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

constexpr std::string_view dgram_form =
    "the form is dgram:LOCAL=REMOTE, each side unix:PATH or ADDR:PORT, e.g. "
    "dgram:unix:/run/vsw-vm1.sock=unix:/run/vm1.sock or dgram:127.0.0.1:5001=127.0.0.1:5000";

/// Largest UDP payload: 65,535 minus the IP (IPv4 only) and UDP headers.
constexpr std::size_t max_udp_payload_v4 = 65535 - 20 - 8;
constexpr std::size_t max_udp_payload_v6 = 65535 - 8;

/// Socket buffers asked for (the kernel caps them at its maximum).
constexpr int socket_buffer_size = 4 * 1024 * 1024;

dgram_address parse_side(std::string_view text, const std::string& where, const char* which) {
  dgram_address out;
  if (text.starts_with("unix:")) {
    out.path = std::string(text.substr(5));
    if (out.path.empty() || out.path.front() != '/') {
      throw port_error(where + which +
                       " unix:PATH needs an absolute path (QEMU must name the same "
                       "file); " +
                       std::string(dgram_form));
    }
    if (out.path.size() >= sizeof(sockaddr_un{}.sun_path)) {
      throw port_error(where + which + " socket path is longer than " +
                       std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) +
                       " bytes; choose a shorter one");
    }
    return out;
  }
  if (text.starts_with("udp:")) text.remove_prefix(4);
  std::string problem;
  const auto parsed = parse_ip_port(text, &problem);
  if (!parsed) {
    throw port_error(where + which + " '" + std::string(text) + "': " + problem + "; " +
                     std::string(dgram_form));
  }
  out.endpoint = boost::asio::ip::udp::endpoint(parsed->address, parsed->port);
  return out;
}

/// `address` as a socket address; returns its size.
socklen_t socket_address(const dgram_address& address, sockaddr_storage& out) {
  out = sockaddr_storage{};
  if (address.is_unix()) {
    auto* sun = reinterpret_cast<sockaddr_un*>(&out);
    sun->sun_family = AF_UNIX;
    std::memcpy(sun->sun_path, address.path.data(),
                std::min(address.path.size(), sizeof sun->sun_path - 1));
    return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.path.size() + 1);
  }
  std::memcpy(&out, address.endpoint.data(), address.endpoint.size());
  return static_cast<socklen_t>(address.endpoint.size());
}

}  // namespace

dgram_spec parse_dgram_spec(std::string_view text, std::string_view option) {
  std::string_view body = text;
  if (body.starts_with("dgram:")) body.remove_prefix(6);
  const std::string where = std::string(option) + " dgram:" + std::string(body) + ": ";
  const auto equals = body.find('=');
  if (equals == std::string_view::npos) {
    throw port_error(where + "no '=' between LOCAL and REMOTE; " + std::string(dgram_form));
  }
  if (body.find('=', equals + 1) != std::string_view::npos) {
    throw port_error(where + "more than one '=' (paths with '=' are not supported); " +
                     std::string(dgram_form));
  }
  dgram_spec spec;
  spec.local = parse_side(body.substr(0, equals), where, "LOCAL");
  spec.remote = parse_side(body.substr(equals + 1), where, "REMOTE");
  if (spec.local.is_unix() != spec.remote.is_unix()) {
    throw port_error(where + "LOCAL and REMOTE must both be unix:PATH or both ADDR:PORT");
  }
  if (!spec.local.is_unix() &&
      spec.local.endpoint.address().is_v6() != spec.remote.endpoint.address().is_v6()) {
    throw port_error(where + "LOCAL and REMOTE must both be IPv4 or both IPv6 addresses");
  }
  if (spec.local.is_unix() ? spec.local.path == spec.remote.path
                           : spec.local.endpoint == spec.remote.endpoint) {
    throw port_error(where + "LOCAL and REMOTE are the same; QEMU's side needs its own address");
  }
  return spec;
}

std::string to_string(const dgram_address& address) {
  if (address.is_unix()) return "unix:" + address.path;
  return to_string(address.endpoint.address(), address.endpoint.port());
}

std::string to_string(const dgram_spec& spec) {
  return "dgram:" + to_string(spec.local) + "=" + to_string(spec.remote);
}

std::unique_ptr<dgram_port> dgram_port::open(boost::asio::io_context& io, l2::port_id id,
                                             std::string name, const dgram_spec& spec,
                                             const unix_socket_access& access, std::string option) {
  if (option.empty()) option = "--port " + to_string(spec);
  const std::string where = option + ": ";
  if (spec.local.is_unix() != spec.remote.is_unix()) {
    throw port_error(where + "LOCAL and REMOTE must both be unix:PATH or both ADDR:PORT");
  }
  // (A stranger that sends before a unix socket's mode is set is dropped
  // anyway, not_peer: only REMOTE's datagrams are taken.)
  dgram_spec bound = spec;
  bound_socket socket =
      spec.local.is_unix()
          ? bind_unix(spec.local.path, SOCK_DGRAM, access, where)
          : bind_inet(spec.local.endpoint.address(), spec.local.endpoint.port(), SOCK_DGRAM, where,
                      "another process (QEMU, another vswitchd?) uses it; choose another port");
  if (!spec.local.is_unix()) bound.local.endpoint.port(socket.port);
  const std::optional<std::pair<dev_t, ino_t>> identity = socket.file;
  unique_fd fd = std::move(socket.fd);
  for (int opt : {SO_RCVBUF, SO_SNDBUF}) {
    (void)::setsockopt(fd.get(), SOL_SOCKET, opt, &socket_buffer_size, sizeof socket_buffer_size);
  }
  auto p =
      std::unique_ptr<dgram_port>(new dgram_port(io, id, std::move(name), std::move(fd), bound));
  p->file_ = identity;
  return p;
}

dgram_port::dgram_port(boost::asio::io_context& io, l2::port_id id, std::string name, unique_fd fd,
                       const dgram_spec& spec)
    : port(id, std::move(name), port_kind::dgram),
      reader_(io, std::move(fd)),
      spec_(spec),
      max_frame_(spec.remote.is_unix()
                     ? l2::max_frame_size
                     : std::min(l2::max_frame_size, spec.remote.endpoint.address().is_v6()
                                                        ? max_udp_payload_v6
                                                        : max_udp_payload_v4)),
      rx_slot_size_(l2::max_frame_size + 1),
      rx_buffers_(std::make_unique_for_overwrite<std::byte[]>(batch * (l2::max_frame_size + 1))),
      tx_(io, [this] { flush(); }) {
  remote_size_ = socket_address(spec_.remote, remote_address_);
  for (std::size_t i = 0; i < batch; ++i) {
    rx_iov_[i] = {rx_buffers_.get() + i * rx_slot_size_, rx_slot_size_};
  }
}

dgram_port::~dgram_port() {
  stop();
  if (spec_.local.is_unix()) unix_socket::remove_if_ours(spec_.local.path, file_);
}

void dgram_port::start(port_listener& listener) {
  listener_ = &listener;
  reader_.start([this] { return read_one(); });
}

bool dgram_port::from_peer(const sockaddr_storage& from, socklen_t size) const {
  if (from.ss_family != remote_address_.ss_family) return false;
  switch (from.ss_family) {
    case AF_UNIX: {
      // The sender's bound path; an unbound sender has none.
      const auto* sun = reinterpret_cast<const sockaddr_un*>(&from);
      const std::size_t offset = offsetof(sockaddr_un, sun_path);
      if (size <= offset) return false;
      std::size_t length = std::min<std::size_t>(size - offset, sizeof sun->sun_path);
      length = ::strnlen(sun->sun_path, length);
      return std::string_view(sun->sun_path, length) == spec_.remote.path;
    }
    case AF_INET: {
      const auto* a = reinterpret_cast<const sockaddr_in*>(&from);
      const auto* b = reinterpret_cast<const sockaddr_in*>(&remote_address_);
      return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
    }
    case AF_INET6: {
      const auto* a = reinterpret_cast<const sockaddr_in6*>(&from);
      const auto* b = reinterpret_cast<const sockaddr_in6*>(&remote_address_);
      return a->sin6_port == b->sin6_port &&
             std::memcmp(&a->sin6_addr, &b->sin6_addr, sizeof a->sin6_addr) == 0;
    }
    default:
      return false;
  }
}

read_loop::step dgram_port::read_one() {
  for (std::size_t i = 0; i < batch; ++i) {
    msghdr& h = rx_messages_[i].msg_hdr;
    h = msghdr{};
    h.msg_iov = &rx_iov_[i];
    h.msg_iovlen = 1;
    h.msg_name = &rx_from_[i];
    h.msg_namelen = sizeof rx_from_[i];
  }
  const int n = ::recvmmsg(reader_.fd(), rx_messages_.data(), batch, MSG_DONTWAIT, nullptr);
  if (n < 0) {
    const int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK) return read_loop::step::would_block;
    if (err == EINTR) return read_loop::step::again;
    // A datagram socket has no end of stream; transient errors (e.g. a
    // pending ICMP error on UDP) are skipped, anything else is fatal.
    if (err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH || err == ENOBUFS ||
        err == ENOMEM) {
      return read_loop::step::again;
    }
    set_up(false, "read failed: " + errno_text(err));
    return read_loop::step::stop;
  }
  for (int i = 0; i < n; ++i) {
    const mmsghdr& m = rx_messages_[static_cast<std::size_t>(i)];
    if (!from_peer(rx_from_[static_cast<std::size_t>(i)], m.msg_hdr.msg_namelen)) {
      counters_.drops.count(l2::drop_reason::not_peer);
      continue;
    }
    if ((m.msg_hdr.msg_flags & MSG_TRUNC) != 0 || m.msg_len > l2::max_frame_size) {
      counters_.drops.count(l2::drop_reason::giant);
      continue;
    }
    deliver(
        l2::packet{std::span<const std::byte>(
                       rx_buffers_.get() + static_cast<std::size_t>(i) * rx_slot_size_, m.msg_len),
                   {}});
    if (reader_.fd() < 0) return read_loop::step::stop;  // stopped by the listener
  }
  return read_loop::step::again;
}

void dgram_port::count_send_error(int err) {
  // Nobody at REMOTE (QEMU not started, or gone): the peer is down, not us.
  if (err == ENOENT || err == ECONNREFUSED) {
    counters_.drops.count(l2::drop_reason::port_down);
    return;
  }
  counters_.drops.count(send_drop_reason(err));
}

void dgram_port::send(const l2::packet& packet) {
  const int fd = reader_.fd();
  if (fd < 0) {
    counters_.drops.count(l2::drop_reason::port_down);
    return;
  }
  if (!packet.offload.is_plain()) {
    counters_.drops.count(l2::drop_reason::tx_error);  // the datapath segments for us
    return;
  }
  const std::size_t size = packet.frame.size();
  if (size > max_frame_) {
    counters_.drops.count(l2::drop_reason::too_big);
    return;
  }
  if (!tx_batch::fits(0, size)) {
    // Alone, after what is queued (order kept).
    if (!tx_.empty()) flush();
    if (::sendto(fd, packet.frame.data(), size, MSG_DONTWAIT | MSG_NOSIGNAL,
                 reinterpret_cast<const sockaddr*>(&remote_address_), remote_size_) >= 0) {
      count_tx(size);
    } else {
      count_send_error(errno);
    }
    return;
  }
  tx_.push({}, packet.frame, reinterpret_cast<const sockaddr*>(&remote_address_), remote_size_, this);
}

void dgram_port::flush() {
  const int fd = reader_.fd();
  if (fd < 0) {
    for (std::size_t i = 0; i < tx_.count(); ++i) counters_.drops.count(l2::drop_reason::port_down);
    tx_.clear();
    return;
  }
  tx_.send_all(
      fd, [this](void*, std::size_t size) { count_tx(size); },
      [this](void*, int err) { count_send_error(err); });
}

void dgram_port::stop() {
  if (reader_.fd() >= 0 && !tx_.empty()) flush();  // what was queued before the stop
  reader_.close();
}

std::string dgram_port::describe() const {
  return "dgram " + name() + " (local " + to_string(spec_.local) + ", remote " +
         to_string(spec_.remote) + ")";
}

}  // namespace ports
