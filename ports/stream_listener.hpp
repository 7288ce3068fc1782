// stream_listener: where QEMU guests connect to the switch with
// `-netdev stream,addr.type=unix,addr.path=PATH` (or addr.type=inet, or the
// legacy `-netdev socket,connect=HOST:PORT`). It listens on `unix:PATH` or
// `tcp:ADDR:PORT` (`tcp:[ADDR]:PORT` for IPv6), accepts every connection and
// hands each connected socket to the owner's callback as a stream_connection
// (descriptor, a description of the peer, a serial number and a slot); the
// owner makes a stream_port of it.
//
// Unix sockets: a socket file left by a process that is gone (a connect is
// refused) is replaced; one that a live process serves is refused, as is a
// path that is not a socket. The socket is bound, then given its mode
// (default 0660) and group, and only then listens: nobody can connect before
// the permissions are right. Mode and group are what let QEMU run by a user
// who is not root (a member of the group) connect guests to a daemon run by
// root. The file is removed when the listener is destroyed, unless another
// process has put its own socket there meanwhile.
//
// Bounded: at most max_connections live connections (a connection is live
// until the port holding its slot is destroyed); beyond that, connections are
// accepted and closed at once (debug log, rate-limited, counted). Accepting is
// the accept_loop's, with its policy for errors and for running out of
// descriptors (pause and back off, never spin). If the accept handler throws
// (std::exception), that connection is closed and logged; the listener goes
// on.
//
// Telling a stale socket file from a live one takes a connect(): a live
// server (say another vswitchd) sees that probe as a connection that closes
// at once, which it handles like any guest that went away.
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "ports/accept_loop.hpp"
#include "ports/address.hpp"
#include "ports/netdev.hpp"
#include "ports/socket_file.hpp"
#include "ports/port.hpp"
#include "ports/stream_port.hpp"

namespace ports {

/// Where a stream_listener listens.
struct stream_address {
  std::string path;                         ///< unix socket path (absolute); empty for TCP
  boost::asio::ip::tcp::endpoint endpoint;  ///< TCP address and port, when path is empty
  bool is_unix() const { return !path.empty(); }
};

/// Parses "unix:PATH" (PATH absolute, at most 107 bytes), "tcp:ADDR:PORT" or
/// "tcp:[ADDR]:PORT". Throws port_error "OPTION TEXT: what is wrong; the forms".
stream_address parse_stream_address(std::string_view text,
                                    std::string_view option = "--stream-listen");

/// "unix:/run/vm.sock", "tcp:0.0.0.0:5000" or "tcp:[::1]:5000".
std::string to_string(const stream_address& address);

/// How a stream_listener listens.
struct stream_listen_settings {
  stream_address address;
  unix_socket_access access;               ///< unix sockets only
  std::size_t max_connections = 64;        ///< live connections at most (each is a port and ~1.2 MiB)
  std::string option = "--stream-listen";  ///< how error messages name the setting
};

class stream_listener {
 public:
  /// Receives each accepted connection (the owner makes a stream_port of it).
  using accept_handler = std::function<void(stream_connection connection)>;

  /// Listens as `settings` say; does not accept before start(). Throws
  /// port_error naming the option, the address, the reason and the fix (a live
  /// socket there, not a socket, no such directory, no permission, no such
  /// group, address in use, not an address of this host, ...).
  static std::unique_ptr<stream_listener> open(boost::asio::io_context& io,
                                               const stream_listen_settings& settings,
                                               accept_handler on_accept);
  /// Stops; removes the unix socket file if it is still ours.
  ~stream_listener();
  stream_listener(const stream_listener&) = delete;
  stream_listener& operator=(const stream_listener&) = delete;

  /// Starts accepting (idempotent).
  void start();
  /// Stops accepting and closes the listening socket (idempotent). Connections
  /// already handed over are not affected.
  void stop();

  /// The address listened on (for tcp with port 0: the port the kernel chose).
  const stream_address& address() const { return address_; }
  /// Connections handed over and not yet closed (their slots still held).
  std::size_t live_connections() const { return *live_; }
  /// Connections handed over in total.
  std::uint64_t accepted() const { return serial_; }
  /// Connections closed at once because max_connections were live.
  std::uint64_t refused() const { return refused_; }
  /// Accept errors seen (other than "nothing to accept").
  std::uint64_t errors() const { return loop_.errors(); }
  /// "unix:/run/vm.sock (mode 0660, group kvm), 2 of 256 connections".
  std::string describe() const;

 private:
  stream_listener(boost::asio::io_context& io, unique_fd fd, const stream_listen_settings& settings,
                  accept_handler on_accept);
  /// The accept loop's handler: a connection becomes a stream_connection.
  void take(unique_fd connection);

  accept_loop loop_;
  stream_address address_;
  unix_socket_access access_;
  std::size_t max_connections_;
  std::string option_;
  accept_handler on_accept_;
  std::shared_ptr<std::size_t> live_ = std::make_shared<std::size_t>(0);
  std::uint64_t serial_ = 0;
  std::uint64_t refused_ = 0;
  std::optional<std::pair<dev_t, ino_t>> file_;  ///< our socket file, to remove at the end
  log_limiter refused_log_;
};


}  // namespace ports
