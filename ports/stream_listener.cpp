#include "ports/stream_listener.hpp"

#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <exception>
#include <vector>

namespace ports {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

constexpr std::string_view forms = "use unix:PATH, tcp:ADDR:PORT or tcp:[IPV6]:PORT";
constexpr int backlog = 64;
/// Connections taken per wake-up before letting other handlers run.
constexpr std::size_t accept_budget = 32;
/// How long to wait when the process is out of descriptors.
constexpr auto descriptor_pause = std::chrono::milliseconds(100);

std::string mode_text(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

/// "pid 4242 uid 1000 gid 1000" for a unix peer, "ADDR:PORT" for TCP.
std::string peer_of(int fd, bool is_unix) {
  if (is_unix) {
    ucred cred{};
    socklen_t size = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &size) == 0) {
      return "pid " + std::to_string(cred.pid) + " uid " + std::to_string(cred.uid) + " gid " +
             std::to_string(cred.gid);
    }
    return "unix peer";
  }
  sockaddr_storage ss{};
  socklen_t size = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &size) == 0) {
    if (ss.ss_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
      boost::asio::ip::address_v4::bytes_type b;
      std::memcpy(b.data(), &in->sin_addr, 4);
      return to_string(boost::asio::ip::address_v4(b), ntohs(in->sin_port));
    }
    if (ss.ss_family == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
      boost::asio::ip::address_v6::bytes_type b;
      std::memcpy(b.data(), &in6->sin6_addr, 16);
      const boost::asio::ip::address_v6 a(b, in6->sin6_scope_id);
      if (a.is_v4_mapped()) {
        return to_string(boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a),
                         ntohs(in6->sin6_port));
      }
      return to_string(a, ntohs(in6->sin6_port));
    }
  }
  return "tcp peer";
}

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

// ---- addresses ----

std::string to_string(const boost::asio::ip::address& address, std::uint16_t port) {
  if (address.is_v6()) return "[" + address.to_string() + "]:" + std::to_string(port);
  return address.to_string() + ":" + std::to_string(port);
}

std::optional<ip_port> parse_ip_port(std::string_view text, std::string* problem) {
  const auto fail = [&](std::string what) -> std::optional<ip_port> {
    if (problem != nullptr) *problem = std::move(what);
    return std::nullopt;
  };
  std::string_view host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return fail("an IPv6 address goes in brackets before the port, e.g. [::1]:5000");
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos)
      return fail("no port; write ADDR:PORT, e.g. 127.0.0.1:5000");
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return fail("put an IPv6 address in brackets, e.g. [::1]:5000");
    }
  }
  if (host.empty()) return fail("no address; write 0.0.0.0 or [::] for every address");
  unsigned port = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc{} || end != port_text.data() + port_text.size() ||
      port == 0 || port > 65535) {
    return fail("the port must be a number from 1 to 65535");
  }
  boost::system::error_code bad;
  const auto address = boost::asio::ip::make_address(std::string(host), bad);
  if (bad || (text.front() == '[') != address.is_v6()) {
    return fail("'" + std::string(host) +
                "' is not an IP address (names are not resolved here); e.g. 127.0.0.1:5000 or "
                "[::1]:5000");
  }
  return ip_port{address, static_cast<std::uint16_t>(port)};
}

stream_address parse_stream_address(std::string_view text, std::string_view option) {
  const std::string where = std::string(option) + " " + std::string(text) + ": ";
  stream_address out;
  if (text.starts_with("unix:")) {
    out.path = std::string(text.substr(5));
    if (out.path.empty() || out.path.front() != '/') {
      throw port_error(where + "the socket path must be absolute, e.g. unix:/run/vswitchd/vm.sock");
    }
    if (out.path.size() >= sizeof(sockaddr_un{}.sun_path)) {
      throw port_error(where + "a unix socket path must be at most " +
                       std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) +
                       " bytes long; choose a shorter one");
    }
    return out;
  }
  if (text.starts_with("tcp:")) {
    std::string problem;
    const auto parsed = parse_ip_port(text.substr(4), &problem);
    if (!parsed) throw port_error(where + problem);
    out.endpoint = boost::asio::ip::tcp::endpoint(parsed->address, parsed->port);
    return out;
  }
  throw port_error(where + "not a stream address; " + std::string(forms));
}

std::string to_string(const stream_address& address) {
  if (address.is_unix()) return "unix:" + address.path;
  return "tcp:" + to_string(address.endpoint.address(), address.endpoint.port());
}

// ---- unix socket files ----

namespace unix_socket {

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

// ---- stream_listener ----

std::unique_ptr<stream_listener> stream_listener::open(boost::asio::io_context& io,
                                                       const stream_listen_settings& settings,
                                                       accept_handler on_accept) {
  const stream_address& address = settings.address;
  const std::string where = settings.option + " " + to_string(address) + ": ";
  if ((settings.access.mode & ~mode_t{07777}) != 0) {
    throw port_error(where + "mode " + std::to_string(settings.access.mode) +
                     " is not a permission mode; give octal bits such as 0660");
  }
  if (settings.max_connections == 0) {
    throw port_error(where + "the connection limit must be at least 1");
  }
  if (address.is_unix()) {
    unix_socket::clear_path(address.path, SOCK_STREAM, where);
    unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) throw port_error(where + "cannot make a socket (" + errno_text(errno) + ")");
    const sockaddr_un sun = unix_address(address.path);
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&sun), sizeof sun) != 0) {
      const int err = errno;
      throw port_error(where + "cannot listen (" + errno_text(err) + "); " + bind_fix_path(err));
    }
    const auto identity = unix_socket::identity_of(address.path);
    // Permissions first, then listen: nobody connects before they are right.
    try {
      unix_socket::apply_access(address.path, settings.access, where);
    } catch (...) {
      unix_socket::remove_if_ours(address.path, identity);
      throw;
    }
    if (::listen(fd.get(), backlog) != 0) {
      const int err = errno;
      unix_socket::remove_if_ours(address.path, identity);
      throw port_error(where + "cannot listen (" + errno_text(err) + ")");
    }
    auto listener = std::unique_ptr<stream_listener>(
        new stream_listener(io, std::move(fd), settings, std::move(on_accept)));
    listener->file_ = identity;
    return listener;
  }

  const auto& ep = address.endpoint;
  const int family = ep.address().is_v6() ? AF_INET6 : AF_INET;
  unique_fd fd(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    throw port_error(where + "cannot make a socket (" + errno_text(errno) + ")" +
                     (family == AF_INET6 ? "; is IPv6 disabled on this host?" : ""));
  }
  const int one = 1;
  (void)::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd.get(), ep.data(), static_cast<socklen_t>(ep.size())) != 0) {
    const int err = errno;
    throw port_error(where + "cannot listen (" + errno_text(err) + "); " +
                     bind_fix(err, "another process (another vswitchd?) listens there; stop it or choose "
                                   "another port"));
  }
  if (::listen(fd.get(), backlog) != 0) {
    throw port_error(where + "cannot listen (" + errno_text(errno) + ")");
  }
  auto listener = std::unique_ptr<stream_listener>(
      new stream_listener(io, std::move(fd), settings, std::move(on_accept)));
  // Port 0: record the port the kernel chose.
  sockaddr_storage ss{};
  socklen_t size = sizeof ss;
  if (::getsockname(listener->socket_.native_handle(), reinterpret_cast<sockaddr*>(&ss), &size) ==
      0) {
    const std::uint16_t port = family == AF_INET
                                   ? ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port)
                                   : ntohs(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port);
    listener->address_.endpoint.port(port);
  }
  return listener;
}

stream_listener::stream_listener(boost::asio::io_context& io, unique_fd fd,
                                 const stream_listen_settings& settings, accept_handler on_accept)
    : io_(io),
      socket_(io, fd.release()),
      pause_(io),
      address_(settings.address),
      access_(settings.access),
      max_connections_(settings.max_connections),
      option_(settings.option),
      on_accept_(std::move(on_accept)) {}

stream_listener::~stream_listener() {
  stop();
  if (address_.is_unix()) unix_socket::remove_if_ours(address_.path, file_);
}

void stream_listener::start() {
  if (started_ || !open_) return;
  started_ = true;
  wait();
}

void stream_listener::stop() {
  if (!open_) return;
  open_ = false;
  boost::system::error_code ignored;
  pause_.cancel();
  socket_.close(ignored);
}

void stream_listener::wait() {
  socket_.async_wait(
      boost::asio::posix::stream_descriptor::wait_read,
      [this, alive = std::weak_ptr<char>(alive_)](const boost::system::error_code& ec) {
        if (alive.expired() || ec || !open_) return;
        accept_ready();
      });
}

void stream_listener::accept_ready() {
  const std::weak_ptr<char> alive = alive_;
  for (std::size_t n = 0; n < accept_budget; ++n) {
    if (alive.expired() || !open_) return;  // the handler may have destroyed or stopped us
    const int fd =
        ::accept4(socket_.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      switch (err) {
        case EAGAIN:
#if EWOULDBLOCK != EAGAIN
        case EWOULDBLOCK:
#endif
          wait();
          return;
        case EINTR:
        case ECONNABORTED:  // the client gave up while queued
          continue;
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM:
          // Out of descriptors or memory: the socket stays readable, so pause
          // instead of spinning on it.
          ++errors_;
          log_limited(true, to_string(address_) + ": cannot accept a connection (" +
                                errno_text(err) + "); retrying shortly");
          pause_.expires_after(descriptor_pause);
          pause_.async_wait([this, alive](const boost::system::error_code& ec) {
            if (alive.expired() || ec || !open_) return;
            wait();
          });
          return;
        default:
          ++errors_;
          log_limited(true, to_string(address_) + ": accept failed (" + errno_text(err) + ")");
          continue;
      }
    }
    unique_fd connection(fd);
    if (*live_ >= max_connections_) {
      ++refused_;
      log_limited(false, to_string(address_) + ": " + std::to_string(*live_) +
                             " connections live, the most allowed; closed a new one from " +
                             peer_of(fd, address_.is_unix()));
      continue;  // closed by unique_fd
    }
    if (!address_.is_unix()) {
      const int one = 1;  // frames are records: no Nagle delay
      (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    stream_connection c;
    c.peer = peer_of(fd, address_.is_unix());
    c.fd = std::move(connection);
    c.via = "accepted on " + to_string(address_);
    c.serial = ++serial_;
    c.slot = connection_slot(live_);
    const std::string peer = c.peer;
    try {
      on_accept_(std::move(c));
    } catch (const std::exception& e) {
      // The owner could not take it (e.g. no free port id): that connection
      // is closed, the listener and the other ports go on.
      if (alive.expired()) return;
      ++errors_;
      log_limited(true,
                  to_string(address_) + ": connection from " + peer + " not taken: " + e.what());
    }
  }
  // Budget spent: accept more after the other ready handlers.
  if (alive.expired() || !open_) return;
  boost::asio::post(io_, [this, alive] {
    if (!alive.expired() && open_) accept_ready();
  });
}

void stream_listener::log_limited(bool warn, const std::string& text) {
  const auto now = std::chrono::steady_clock::now();
  if (now - last_log_ < std::chrono::seconds(1)) {
    ++suppressed_;
    return;
  }
  last_log_ = now;
  const std::string more =
      suppressed_ > 0 ? " (" + std::to_string(suppressed_) + " more like it not logged)" : "";
  suppressed_ = 0;
  if (warn) {
    spdlog::warn("{} {}{}", option_, text, more);
  } else {
    spdlog::debug("{} {}{}", option_, text, more);
  }
}

std::string stream_listener::describe() const {
  std::string text = to_string(address_);
  if (address_.is_unix()) {
    text += " (mode " + mode_text(access_.mode);
    if (!access_.group.empty()) text += ", group " + access_.group;
    text += ")";
  }
  return text + ", " + std::to_string(*live_) + " of " + std::to_string(max_connections_) +
         " connections";
}

}  // namespace ports
