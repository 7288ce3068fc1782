#include "ports/stream_listener.hpp"

#include <netinet/tcp.h>
#include <sys/socket.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <stdexcept>

namespace ports {
namespace {

constexpr std::string_view forms = "use unix:PATH, tcp:ADDR:PORT or tcp:[IPV6]:PORT";
constexpr int backlog = 64;

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
  // (The socket address as an endpoint, IPv4-mapped IPv6 turned back into IPv4.)
  boost::asio::ip::udp::endpoint ep;
  socklen_t size = static_cast<socklen_t>(ep.capacity());
  if (::getpeername(fd, ep.data(), &size) == 0) {
    ep.resize(size);
    return to_string(canonical(ep));
  }
  return "tcp peer";
}


}  // namespace

// ---- addresses ----

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

// ---- stream_listener ----

std::unique_ptr<stream_listener> stream_listener::open(boost::asio::io_context& io,
                                                       const stream_listen_settings& settings,
                                                       accept_handler on_accept) {
  const stream_address& address = settings.address;
  const std::string where = settings.option + " " + to_string(address) + ": ";
  if (settings.max_connections == 0) {
    throw port_error(where + "the connection limit must be at least 1");
  }
  bound_socket bound =
      address.is_unix()
          ? bind_unix(address.path, SOCK_STREAM, settings.access, where, backlog)
          : bind_inet(address.endpoint.address(), address.endpoint.port(), SOCK_STREAM, where,
                      "another process (another vswitchd?) listens there; stop it or choose "
                      "another port",
                      backlog);
  stream_listen_settings as_bound = settings;
  if (!address.is_unix()) as_bound.address.endpoint.port(bound.port);  // port 0: the kernel's pick
  auto listener = std::unique_ptr<stream_listener>(
      new stream_listener(io, std::move(bound.fd), as_bound, std::move(on_accept)));
  listener->file_ = bound.file;
  return listener;
}

stream_listener::stream_listener(boost::asio::io_context& io, unique_fd fd,
                                 const stream_listen_settings& settings, accept_handler on_accept)
    : loop_(io, std::move(fd), settings.option + " " + to_string(settings.address),
            [this](unique_fd connection) { take(std::move(connection)); }),
      address_(settings.address),
      access_(settings.access),
      max_connections_(settings.max_connections),
      option_(settings.option),
      on_accept_(std::move(on_accept)) {}

stream_listener::~stream_listener() {
  stop();
  if (address_.is_unix()) unix_socket::remove_if_ours(address_.path, file_);
}

void stream_listener::start() { loop_.start(); }

void stream_listener::stop() { loop_.stop(); }

void stream_listener::take(unique_fd connection) {
  const int fd = connection.get();
  if (*live_ >= max_connections_) {
    ++refused_;
    refused_log_.log(spdlog::level::debug,
                     option_ + " " + to_string(address_) + ": " + std::to_string(*live_) +
                         " connections live, the most allowed; closed a new one from " +
                         peer_of(fd, address_.is_unix()));
    return;  // closed by unique_fd
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
  // An exception leaves the connection closed; the accept loop counts and logs it.
  const std::string peer = c.peer;
  try {
    on_accept_(std::move(c));
  } catch (const std::exception& e) {
    throw std::runtime_error("connection from " + peer + ": " + e.what());
  }
}

std::string stream_listener::describe() const {
  std::string text = to_string(address_);
  if (address_.is_unix()) {
    text += " (mode " + unix_socket::mode_text(access_.mode);
    if (!access_.group.empty()) text += ", group " + access_.group;
    text += ")";
  }
  return text + ", " + std::to_string(*live_) + " of " + std::to_string(max_connections_) +
         " connections";
}

}  // namespace ports
