#include "ports/tap_port.hpp"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>

#include <cerrno>
#include <cstring>

#include "l2/frame.hpp"
#include "ports/tx_ring.hpp"

// Debian 12's headers predate UDP segmentation offload for TAPs (Linux 6.2).
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

namespace ports {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

/// A read buffer: virtio-net header + the largest frame + 1 (to see an oversized one).
std::vector<std::byte> frame_buffer() {
  return std::vector<std::byte>(l2::vnet_header_size + l2::max_frame_size + 1);
}

/// Queue length for TAPs the daemon creates: room for bursts toward the switch.
constexpr int created_tap_queue_length = 10000;

/// Enables the offloads the kernel supports; returns the TUN_F_* flags set.
unsigned enable_offloads(int fd) {
  const unsigned base = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
  // Unknown bits fail with EINVAL: try with UDP segmentation, then without.
  for (unsigned flags : {base | TUN_F_USO4 | TUN_F_USO6, base}) {
    if (::ioctl(fd, TUNSETOFFLOAD, static_cast<unsigned long>(flags)) == 0) return flags;
  }
  return 0;
}

}  // namespace

std::unique_ptr<tap_port> tap_port::open(boost::asio::io_context& io, l2::port_id id,
                                         const std::string& name, open_failure* busy,
                                         std::size_t queues) {
  if (auto problem = netdev::name_problem(name)) throw port_error(name + ": " + *problem);

  const netdev::interface_type before = netdev::type_of(name);
  if (before == netdev::interface_type::tun) {
    throw port_error(netdev::tun_refusal(name));
  }
  if (before == netdev::interface_type::other) {
    throw port_error(name + ": exists and is not a TAP device; attach its kernel side with "
                     "--port dev:" + name);
  }

  unique_fd fd(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd) {
    const int err = errno;
    if (err == ENOENT || err == ENODEV || err == ENXIO) {
      throw port_error(name + ": /dev/net/tun is missing (" + errno_text(err) +
                       "); load the tun module (modprobe tun)");
    }
    if (::getuid() != 0 && (err == EACCES || err == EPERM)) {
      // Running as --user: the device's mode decides (0666 on Debian, CAP_NET_ADMIN does the rest).
      throw port_error(name + ": cannot open /dev/net/tun (" + errno_text(err) + ") as uid " +
                       std::to_string(::getuid()) +
                       "; let the user open it (chmod 0666 /dev/net/tun, Debian's default), "
                       "or run vswitchd as root");
    }
    throw port_error(name + ": cannot open /dev/net/tun (" + errno_text(err) +
                     "); run vswitchd as root");
  }

  // A TAP it creates has a queue per worker; one it attaches is single-queue.
  short flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  if (queues > 1 && before == netdev::interface_type::missing) flags |= IFF_MULTI_QUEUE;
  const auto attach = [&](int f, short with) {
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
    ifr.ifr_flags = with;
    return ::ioctl(f, TUNSETIFF, &ifr) < 0 ? errno : 0;
  };
  // An existing multi-queue TAP is taken as held: the kernel lets anyone add
  // queues to one that another process holds (QEMU with queues=N, another
  // vswitchd with --workers), without EBUSY, and would then spread its flows.
  const bool multi_queue = before == netdev::interface_type::tap && netdev::is_multi_queue_tap(name);
  const int err = multi_queue ? EBUSY : attach(fd.get(), flags);
  if ((flags & IFF_MULTI_QUEUE) == 0) queues = 1;
  if (err != 0) {
    if (err == EBUSY) {
      if (busy != nullptr) {
        *busy = open_failure::busy;
        return nullptr;
      }
      throw port_error(name + ": the TAP is held by another process (a QEMU guest?" +
                       std::string(multi_queue ? " it is a multi-queue TAP, which vswitchd attaches "
                                                 "by its kernel side only"
                                               : "") +
                       "); attach its kernel side instead with --port dev:" + name);
    }
    if (err == EPERM || err == EACCES) {
      throw port_error(name + ": no permission to attach (" + errno_text(err) +
                       "); run vswitchd as root, or for QEMU-style use create it with "
                       "`ip tuntap add " + name + " mode tap user $USER`");
    }
    if (err == EINVAL) {
      throw port_error(name + ": cannot attach as a TAP (" + errno_text(err) +
                       "; a multi-queue TAP or not a TAP); recreate it with `ip tuntap add " + name +
                       " mode tap` or use --port dev:" + name);
    }
    throw port_error(name + ": TUNSETIFF failed (" + errno_text(err) + ")");
  }

  const int vnet_size = l2::vnet_header_size;
  if (::ioctl(fd.get(), TUNSETVNETHDRSZ, &vnet_size) < 0) {
    throw port_error(name + ": TUNSETVNETHDRSZ failed (" + errno_text(errno) + ")");
  }
  std::vector<unique_fd> more;
  for (std::size_t q = 1; q < queues; ++q) {
    unique_fd queue(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
    if (!queue) throw port_error(name + ": cannot open /dev/net/tun for queue " + std::to_string(q) +
                                 " (" + errno_text(errno) + ")");
    if (const int e = attach(queue.get(), flags); e != 0) {
      throw port_error(name + ": cannot attach queue " + std::to_string(q) + " of the multi-queue "
                       "TAP (" + errno_text(e) + "); run with fewer --workers");
    }
    (void)::ioctl(queue.get(), TUNSETVNETHDRSZ, &vnet_size);
    more.push_back(std::move(queue));
  }
  const unsigned offloads = enable_offloads(fd.get());
  const bool created = before == netdev::interface_type::missing;
  if (created) {
    ifreq qlen{};
    std::strncpy(qlen.ifr_name, name.c_str(), IFNAMSIZ - 1);
    qlen.ifr_qlen = created_tap_queue_length;
    unique_fd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (sock) (void)::ioctl(sock.get(), SIOCSIFTXQLEN, &qlen);
  }
  auto tap = std::unique_ptr<tap_port>(new tap_port(io, id, name, std::move(fd), created));
  tap->offloads_ = offloads;
  for (unique_fd& queue : more) tap->queues_.push_back({std::move(queue), frame_buffer()});
  tap->brought_up_ = netdev::bring_up(name) && !created;
  return tap;
}

tap_port::tap_port(boost::asio::io_context& io, l2::port_id id, const std::string& name,
                   unique_fd fd, bool created)
    : port(id, name, port_kind::tap),
      reader_(io, std::move(fd)),
      created_(created) {
  queues_.push_back({unique_fd(), frame_buffer()});
}

tap_port::~tap_port() {
  stop();
  // Leave an attached persistent TAP as it was found.
  if (brought_up_ && netdev::type_of(name()) == netdev::interface_type::tap) {
    (void)netdev::set_up(name(), false);
  }
}

void tap_port::start(port_listener& listener) {
  listener_ = &listener;
  reader_.start([this] { return read_one(reader_.fd(), queues_[0].buffer); });
}

void tap_port::start_on_worker(port_listener& listener) {
  listener_ = &listener;
  reader_.hand_over();
}

port::worker_step tap_port::worker_read(std::size_t queue) {
  return as_worker_step(read_one(worker_fd(queue), queues_[queue].buffer));
}

int tap_port::worker_fd(std::size_t queue) const {
  if (queue == 0) return reader_.fd();
  return queue < queues_.size() ? queues_[queue].fd.get() : -1;
}

read_loop::step tap_port::read_one(int fd, std::vector<std::byte>& buffer) {
  const ssize_t n = ::read(fd, buffer.data(), buffer.size());
  if (n >= static_cast<ssize_t>(l2::vnet_header_size)) {
    const std::span<const std::byte> bytes(buffer.data(), static_cast<std::size_t>(n));
    deliver(l2::packet{bytes.subspan(l2::vnet_header_size),
                       l2::parse_vnet_header(bytes.first<l2::vnet_header_size>())});
    return read_loop::step::again;
  }
  if (n > 0) return read_loop::step::again;  // shorter than the header: cannot happen
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return read_loop::step::would_block;
  if (n < 0 && errno == EINTR) return read_loop::step::again;
  // EBADFD: the interface was deleted under us. Anything else is as fatal.
  const std::string why = n == 0 ? std::string("end of file")
                                 : (errno == EBADFD ? std::string("the TAP was deleted")
                                                    : "read failed: " + errno_text(errno));
  gone_ = true;
  set_up(false, why);
  return read_loop::step::stop;
}

void tap_port::send(const l2::packet& packet) {
  if (!is_up()) {
    counters_.drops.count(l2::drop_reason::port_down);
    return;
  }
  std::array<std::byte, l2::vnet_header_size> header;
  emit_vnet_header_for(packet, header);
  const iovec iov[2] = {{header.data(), header.size()},
                        {const_cast<std::byte*>(packet.frame.data()), packet.frame.size()}};
  // On a queue by flow (l2::flow_hash: both directions of a flow alike). The
  // kernel steers a flow's answers to the queue it was last written from, so
  // they are read by that queue's worker whichever thread sent the flow here
  // (one worker receives all of a vswitchd peer's datagrams: they share one
  // UDP source port; their answers still spread over the workers).
  int fd = reader_.fd();
  if (queues_.size() > 1) {
    std::size_t q = 0;
    if (const auto frame = l2::frame_view::parse(packet.frame)) q = l2::flow_hash(*frame.frame);
    fd = worker_fd(q % queues_.size());
  }
  // On a worker, a small frame waits for the end of the round and leaves with
  // the round's others in one system call (tx_ring); a larger one goes now,
  // behind what the round queued.
  if (tx_ring* ring = round_ring; ring != nullptr) {
    if (ring->queue(fd, *this, iov, packet.frame.size())) return;
    ring->submit();
  }
  if (::writev(fd, iov, 2) >= 0) {
    count_tx(packet.frame.size());
  } else {
    counters_.drops.count(send_drop_reason(errno));  // EIO: the interface is not up
  }
}

void tap_port::stop() {
  reader_.close();
  for (queue& q : queues_) q.fd = unique_fd();  // (closes them)
}

std::optional<unsigned> tap_port::interface_mtu() const {
  if (const int fd = reader_.fd(); fd >= 0) {
    if (const auto mtu = netdev::tap_mtu(fd)) return mtu;
  }
  return port::interface_mtu();
}

std::string tap_port::describe() const {
  std::string text = "tap " + name() + (created_ ? " (file side, created" : " (file side, attached");
  if (queues_.size() > 1) text += ", " + std::to_string(queues_.size()) + " queues";
  if ((offloads_ & TUN_F_TSO4) != 0) {
    text += (offloads_ & TUN_F_USO4) != 0 ? ", offloads: csum tso uso" : ", offloads: csum tso";
  } else {
    text += ", no offloads";
  }
  return text + ")";
}

}  // namespace ports
