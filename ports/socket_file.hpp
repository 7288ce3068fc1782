// socket_file: making the sockets vswitchd binds and listens on, in one place:
// the control socket, the metrics endpoint, QEMU stream listeners and dgram
// ports. A unix socket path is checked and a stale socket there replaced
// (unix_socket::clear_path); the file gets its mode and group right after
// bind and before listen, so nobody connects before the permissions are
// right. Failures throw port_error beginning with the caller's `where` and
// naming the fix.
#pragma once

#include <sys/types.h>

#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "ports/netdev.hpp"

namespace ports {

/// Who may use a unix socket file the daemon creates.
struct unix_socket_access {
  mode_t mode = 0660;  ///< permission bits of the socket file (connecting needs write)
  std::string group;   ///< group that owns the file; empty: the daemon's own group
};

/// A socket made by bind_unix or bind_inet: bound, listening if asked, non-blocking.
struct bound_socket {
  unique_fd fd;
  std::optional<std::pair<dev_t, ino_t>> file;  ///< the unix socket file made (to remove at the end)
  std::uint16_t port = 0;                       ///< inet: the port bound (the kernel's pick for 0)
};

/// A unix socket of `type` (SOCK_STREAM, SOCK_DGRAM) at `path`, with `access`;
/// listening with `backlog` when it is above 0. The file is removed again if
/// a later step fails.
bound_socket bind_unix(const std::string& path, int type, const unix_socket_access& access,
                       const std::string& where, int backlog = 0);

/// An IP socket of `type` bound to `address`:`port` (SO_REUSEADDR for
/// stream sockets), listening with `backlog` when it is above 0. `in_use` is
/// the fix named when the address is in use.
bound_socket bind_inet(const boost::asio::ip::address& address, std::uint16_t port, int type,
                       const std::string& where, std::string_view in_use, int backlog = 0);

namespace unix_socket {

/// Makes `path` ready for a new socket of `type` (SOCK_STREAM, SOCK_DGRAM):
/// checks its length and directory (creating one missing level, 0755) and
/// removes a stale socket there. Throws port_error beginning with `where`
/// (e.g. "--stream-listen unix:/run/vm.sock: ") if a live process serves it,
/// it is not a socket, or it cannot be cleared.
void clear_path(const std::string& path, int type, const std::string& where);

/// Gives the socket file at `path` its mode and group. Throws port_error
/// beginning with `where` (no such group, not permitted).
void apply_access(const std::string& path, const unix_socket_access& access,
                  const std::string& where);

/// The device and inode of `path`, or nullopt.
std::optional<std::pair<dev_t, ino_t>> identity_of(const std::string& path);

/// Removes `path` if it is still the file `identity` recorded.
void remove_if_ours(const std::string& path,
                    const std::optional<std::pair<dev_t, ino_t>>& identity);

/// "0660".
std::string mode_text(mode_t mode);

}  // namespace unix_socket

}  // namespace ports
