#include "ports/socket_file.hpp"

#include <grp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include <boost/asio/ip/udp.hpp>

#include "ports/port.hpp"

namespace ports {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

sockaddr_un unix_address(const std::string& path) {
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path, path.data(), std::min(path.size(), sizeof sun.sun_path - 1));
  return sun;
}

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

bound_socket bind_unix(const std::string& path, int type, const unix_socket_access& access,
                       const std::string& where, int backlog) {
  if ((access.mode & ~mode_t{07777}) != 0) {
    throw port_error(where + "mode " + std::to_string(access.mode) +
                     " is not a permission mode; give octal bits such as 0660");
  }
  const char* verb = backlog > 0 ? "cannot listen" : "cannot bind";
  unix_socket::clear_path(path, type, where);
  bound_socket out;
  out.fd = unique_fd(::socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!out.fd) throw port_error(where + "cannot make a socket (" + errno_text(errno) + ")");
  const sockaddr_un sun = unix_address(path);
  if (::bind(out.fd.get(), reinterpret_cast<const sockaddr*>(&sun), sizeof sun) != 0) {
    const int err = errno;
    throw port_error(where + verb + " (" + errno_text(err) + "); " + bind_fix_path(err));
  }
  out.file = unix_socket::identity_of(path);
  try {
    // Permissions first, then listen: nobody connects before they are right.
    unix_socket::apply_access(path, access, where);
    if (backlog > 0 && ::listen(out.fd.get(), backlog) != 0) {
      throw port_error(where + "cannot listen (" + errno_text(errno) + ")");
    }
  } catch (...) {
    unix_socket::remove_if_ours(path, out.file);
    throw;
  }
  return out;
}

bound_socket bind_inet(const boost::asio::ip::address& address, std::uint16_t port, int type,
                       const std::string& where, std::string_view in_use, int backlog) {
  const char* verb = backlog > 0 ? "cannot listen" : "cannot bind";
  const int family = address.is_v6() ? AF_INET6 : AF_INET;
  bound_socket out;
  out.fd = unique_fd(::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!out.fd) {
    throw port_error(where + "cannot make a socket (" + errno_text(errno) + ")" +
                     (family == AF_INET6 ? "; is IPv6 disabled on this host?" : ""));
  }
  if (type == SOCK_STREAM) {
    const int one = 1;
    (void)::setsockopt(out.fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  }
  const boost::asio::ip::udp::endpoint ep(address, port);  // (only its socket address is used)
  if (::bind(out.fd.get(), ep.data(), static_cast<socklen_t>(ep.size())) != 0) {
    const int err = errno;
    throw port_error(where + verb + " (" + errno_text(err) + "); " + bind_fix(err, in_use));
  }
  if (backlog > 0 && ::listen(out.fd.get(), backlog) != 0) {
    throw port_error(where + "cannot listen (" + errno_text(errno) + ")");
  }
  boost::asio::ip::udp::endpoint bound;
  socklen_t bound_size = static_cast<socklen_t>(bound.capacity());
  out.port = port;
  if (::getsockname(out.fd.get(), bound.data(), &bound_size) == 0) {
    bound.resize(bound_size);
    out.port = bound.port();
  }
  return out;
}

namespace unix_socket {

std::string mode_text(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

void clear_path(const std::string& path, int type, const std::string& where) {
  if (path.empty() || path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    throw port_error(where + "a unix socket path must be 1 to " +
                     std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) +
                     " bytes long; choose a shorter one");
  }
  const std::string dir = directory_of(path);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    // One missing level (e.g. /run/vswitchd) is created; deeper ones are more likely a typo.
    if (errno != ENOENT || ::mkdir(dir.c_str(), 0755) != 0) {
      throw port_error(where + "cannot create the directory " + dir + " (" + errno_text(errno) +
                       "); create it or choose another path");
    }
  } else if (!S_ISDIR(st.st_mode)) {
    throw port_error(where + dir + " is not a directory; choose another path");
  }
  if (::lstat(path.c_str(), &st) != 0) return;  // nothing there
  if (!S_ISSOCK(st.st_mode)) {
    throw port_error(where + "exists and is not a socket; remove it or choose another path");
  }
  // Is anyone serving it? A connect to a socket nobody holds is refused.
  unique_fd probe(::socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
  if (!probe) throw port_error(where + "cannot make a socket (" + errno_text(errno) + ")");
  const sockaddr_un sun = unix_address(path);
  if (::connect(probe.get(), reinterpret_cast<const sockaddr*>(&sun), sizeof sun) == 0 ||
      errno == EAGAIN || errno == EPROTOTYPE) {
    throw port_error(where +
                     "a running process serves this socket (another vswitchd?); stop it "
                     "or choose another path");
  }
  const int err = errno;
  if (err == ENOENT) return;  // gone meanwhile
  if (err != ECONNREFUSED) {
    throw port_error(where + "cannot tell whether a process serves the socket there (" +
                     errno_text(err) + "); remove it or choose another path");
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    throw port_error(where + "cannot remove the stale socket there (" + errno_text(errno) +
                     "); remove it or choose another path");
  }
}

void apply_access(const std::string& path, const unix_socket_access& access,
                  const std::string& where) {
  if (!access.group.empty()) {
    long size = ::sysconf(_SC_GETGR_R_SIZE_MAX);
    std::vector<char> buffer(size > 0 ? static_cast<std::size_t>(size) : 16384);
    group entry{};
    group* found = nullptr;
    int err = 0;
    while ((err = ::getgrnam_r(access.group.c_str(), &entry, buffer.data(), buffer.size(),
                               &found)) == ERANGE) {
      buffer.resize(buffer.size() * 2);
    }
    if (found == nullptr) {
      throw port_error(where + "no group '" + access.group + "' on this host" +
                       (err != 0 ? " (" + errno_text(err) + ")" : std::string()) +
                       "; create it (groupadd " + access.group +
                       ") or name an existing group, e.g. kvm");
    }
    if (::chown(path.c_str(), static_cast<uid_t>(-1), found->gr_gid) != 0) {
      const int e = errno;
      throw port_error(where + "cannot give the socket to group '" + access.group + "' (" +
                       errno_text(e) + "); run vswitchd as root or as a member of " + access.group);
    }
  }
  if (::chmod(path.c_str(), access.mode & 07777) != 0) {
    throw port_error(where + "cannot set mode " + mode_text(access.mode) + " (" +
                     errno_text(errno) + ")");
  }
}

std::optional<std::pair<dev_t, ino_t>> identity_of(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return std::nullopt;
  return std::pair{st.st_dev, st.st_ino};
}

void remove_if_ours(const std::string& path,
                    const std::optional<std::pair<dev_t, ino_t>>& identity) {
  if (!identity || path.empty()) return;
  if (identity_of(path) == identity) ::unlink(path.c_str());
}

}  // namespace unix_socket


}  // namespace ports
