// service: what running as a system service needs besides the switch
// itself. A pid file that is written once the daemon has opened everything
// and removed when it exits (refusing a file a live vswitchd still holds),
// and systemd's readiness protocol (sd_notify: READY=1 / STOPPING=1 on the
// datagram socket named by $NOTIFY_SOCKET), spoken directly, without
// libsystemd.
#pragma once

#include <sys/types.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace switchd {

/// A pid file or notification problem; the message names the fix.
class service_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Writes this process's pid to `path` now and removes the file on destruction.
class pid_file {
 public:
  /// Throws service_error when `path` names a live process's pid file (another
  /// vswitchd) or cannot be written. A stale file is replaced.
  explicit pid_file(std::string path);
  ~pid_file();
  pid_file(const pid_file&) = delete;
  pid_file& operator=(const pid_file&) = delete;

 private:
  std::string path_;
};

/// The uid and gid of `user`. Throws service_error when there is no such user.
std::pair<uid_t, gid_t> user_ids(const std::string& user);

/// Becomes `user` (its uid, gid and groups) for good, keeping only
/// CAP_NET_ADMIN and CAP_NET_RAW (interface changes, AF_PACKET). Call after
/// every device and socket is open. Throws service_error (no such user, or
/// the change fails).
void drop_privileges(const std::string& user);

/// Sends `state` (e.g. "READY=1") to systemd when $NOTIFY_SOCKET is set.
/// Returns false only if it is set and the message could not be sent.
bool notify_systemd(const std::string& state);

}  // namespace switchd
