#include "ports/netdev.hpp"

#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sched.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "ports/port.hpp"

namespace ports {

unique_fd& unique_fd::operator=(unique_fd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

unique_fd::~unique_fd() {
  if (fd_ >= 0) ::close(fd_);
}

namespace netdev {
namespace {

/// ifreq with the name filled in (the caller checked its length).
ifreq make_ifreq(const std::string& name) {
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  return ifr;
}

/// A datagram socket for interface ioctls.
unique_fd control_socket() { return unique_fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)); }

}  // namespace

std::optional<std::string> name_problem(std::string_view name) {
  if (name.empty()) return "the interface name is empty";
  if (name.size() >= IFNAMSIZ) {
    return "interface names are at most " + std::to_string(IFNAMSIZ - 1) + " characters";
  }
  if (name == "." || name == "..") return "'.' and '..' are not interface names";
  for (char c : name) {
    if (c == '/' || c == ':' || c == ',' || c == '=' || c <= ' ' || c == 0x7f) {
      return std::string("interface names cannot contain '") + c + "'";
    }
  }
  return std::nullopt;
}

unsigned index_of(const std::string& name) { return ::if_nametoindex(name.c_str()); }

interface_type type_of(const std::string& name) {
  if (index_of(name) == 0) return interface_type::missing;
  // TUN/TAP devices (and only they) have a tun_flags attribute in sysfs.
  std::ifstream in("/sys/class/net/" + name + "/tun_flags");
  unsigned long flags = 0;
  if (!(in >> std::hex >> flags)) return interface_type::other;
  return (flags & IFF_TAP) != 0 ? interface_type::tap : interface_type::tun;
}

bool is_multi_queue_tap(const std::string& name) {
  std::ifstream in("/sys/class/net/" + name + "/tun_flags");
  unsigned long flags = 0;
  return (in >> std::hex >> flags) && (flags & IFF_MULTI_QUEUE) != 0;
}

std::optional<bool> is_up(const std::string& name) {
  unique_fd sock = control_socket();
  if (!sock) return std::nullopt;
  ifreq ifr = make_ifreq(name);
  if (::ioctl(sock.get(), SIOCGIFFLAGS, &ifr) < 0) return std::nullopt;
  return (ifr.ifr_flags & IFF_UP) != 0;
}

std::optional<unsigned> mtu_of(const std::string& name) {
  unique_fd sock = control_socket();
  if (!sock) return std::nullopt;
  ifreq ifr = make_ifreq(name);
  if (::ioctl(sock.get(), SIOCGIFMTU, &ifr) < 0) return std::nullopt;
  return static_cast<unsigned>(ifr.ifr_mtu);
}

std::optional<unsigned> tap_mtu(int tun_fd) {
  // The interface's name now, and its namespace (TUNGETDEVNETNS, Linux 5.2).
  ifreq ifr{};
  if (::ioctl(tun_fd, TUNGETIFF, &ifr) < 0) return std::nullopt;
  const unique_fd there(::ioctl(tun_fd, TUNGETDEVNETNS));
  if (!there) return std::nullopt;
  const unique_fd here(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!here) return std::nullopt;
  // A socket made while this thread is in that namespace stays in it.
  if (::setns(there.get(), CLONE_NEWNET) != 0) return std::nullopt;  // (EPERM without CAP_SYS_ADMIN)
  const unique_fd sock = control_socket();
  if (::setns(here.get(), CLONE_NEWNET) != 0) {
    // Cannot happen (the same rights took the thread there): staying would
    // make every later TAP and socket in the guest's namespace.
    std::perror("vswitchd: cannot return to its own network namespace");
    std::abort();
  }
  if (!sock || ::ioctl(sock.get(), SIOCGIFMTU, &ifr) < 0) return std::nullopt;
  return static_cast<unsigned>(ifr.ifr_mtu);
}

std::error_code set_up(const std::string& name, bool up) {
  unique_fd sock = control_socket();
  if (!sock) return {errno, std::system_category()};
  ifreq ifr = make_ifreq(name);
  if (::ioctl(sock.get(), SIOCGIFFLAGS, &ifr) < 0) return {errno, std::system_category()};
  if (up) {
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  } else {
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags & ~IFF_UP);
  }
  if (::ioctl(sock.get(), SIOCSIFFLAGS, &ifr) < 0) return {errno, std::system_category()};
  return {};
}

std::optional<bool> gro(const std::string& name) {
  unique_fd sock = control_socket();
  if (!sock) return std::nullopt;
  ethtool_value value{};
  value.cmd = ETHTOOL_GGRO;
  ifreq ifr = make_ifreq(name);
  ifr.ifr_data = reinterpret_cast<char*>(&value);
  if (::ioctl(sock.get(), SIOCETHTOOL, &ifr) < 0) return std::nullopt;
  return value.data != 0;
}

std::error_code set_gro(const std::string& name, bool on) {
  unique_fd sock = control_socket();
  if (!sock) return {errno, std::system_category()};
  ethtool_value value{};
  value.cmd = ETHTOOL_SGRO;
  value.data = on ? 1 : 0;
  ifreq ifr = make_ifreq(name);
  ifr.ifr_data = reinterpret_cast<char*>(&value);
  if (::ioctl(sock.get(), SIOCETHTOOL, &ifr) < 0) return {errno, std::system_category()};
  return {};
}

std::string tun_refusal(const std::string& name) {
  return name + ": is a TUN (layer 3) device; vswitchd switches Ethernet frames. Recreate it as "
                "a TAP: ip tuntap del " + name + " mode tun && ip tuntap add " + name + " mode tap";
}

bool bring_up(const std::string& name) {
  if (is_up(name).value_or(false)) return false;
  if (std::error_code ec = set_up(name, true)) {
    throw port_error(name + ": cannot bring the link up (" + ec.message() +
                     "); run vswitchd as root (it needs CAP_NET_ADMIN)");
  }
  return true;
}

}  // namespace netdev
}  // namespace ports
