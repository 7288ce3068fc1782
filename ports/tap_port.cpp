#include "ports/tap_port.hpp"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "l2/frame.hpp"

namespace ports {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

}  // namespace

std::unique_ptr<tap_port> tap_port::open(boost::asio::io_context& io, l2::port_id id,
                                         const std::string& name, open_failure* busy) {
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
    throw port_error(name + ": cannot open /dev/net/tun (" + errno_text(err) +
                     "); run vswitchd as root");
  }

  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  if (::ioctl(fd.get(), TUNSETIFF, &ifr) < 0) {
    const int err = errno;
    if (err == EBUSY) {
      if (busy != nullptr) {
        *busy = open_failure::busy;
        return nullptr;
      }
      throw port_error(name + ": the TAP is held by another process (a QEMU guest?); attach its "
                       "kernel side instead with --port dev:" + name);
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

  const bool created = before == netdev::interface_type::missing;
  auto tap = std::unique_ptr<tap_port>(new tap_port(io, id, name, std::move(fd), created));
  tap->brought_up_ = netdev::bring_up(name) && !created;
  return tap;
}

tap_port::tap_port(boost::asio::io_context& io, l2::port_id id, const std::string& name,
                   unique_fd fd, bool created)
    : port(id, name, port_kind::tap),
      reader_(io, std::move(fd)),
      buffer_(l2::max_frame_size + 1),
      created_(created) {}

tap_port::~tap_port() {
  stop();
  // Leave an attached persistent TAP as it was found.
  if (brought_up_ && netdev::type_of(name()) == netdev::interface_type::tap) {
    (void)netdev::set_up(name(), false);
  }
}

void tap_port::start(port_listener& listener) {
  listener_ = &listener;
  reader_.start([this] { return read_one(); });
}

read_loop::step tap_port::read_one() {
  const ssize_t n = ::read(reader_.fd(), buffer_.data(), buffer_.size());
  if (n > 0) {
    deliver(std::span<const std::byte>(buffer_.data(), static_cast<std::size_t>(n)));
    return read_loop::step::again;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return read_loop::step::would_block;
  if (n < 0 && errno == EINTR) return read_loop::step::again;
  // EBADFD: the interface was deleted under us. Anything else is as fatal.
  const std::string why = n == 0 ? std::string("end of file")
                                 : (errno == EBADFD ? std::string("the TAP was deleted")
                                                    : "read failed: " + errno_text(errno));
  set_up(false, why);
  return read_loop::step::stop;
}

void tap_port::send(std::span<const std::byte> frame) {
  if (!is_up()) {
    counters_.drops.count(l2::drop_reason::port_down);
    return;
  }
  if (::write(reader_.fd(), frame.data(), frame.size()) >= 0) {
    count_tx(frame.size());
  } else {
    counters_.drops.count(send_drop_reason(errno));  // EIO: the interface is not up
  }
}

void tap_port::stop() { reader_.close(); }

std::string tap_port::describe() const {
  return "tap " + name() + (created_ ? " (file side, created)" : " (file side, attached)");
}

}  // namespace ports
