#include "switchd/service.hpp"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>

namespace switchd {
namespace {

/// The pid written in `path`, if it holds one.
std::optional<pid_t> read_pid(const std::string& path) {
  std::ifstream in(path);
  long pid = 0;
  if (!(in >> pid) || pid <= 0) return std::nullopt;
  return static_cast<pid_t>(pid);
}

}  // namespace

pid_file::pid_file(std::string path) : path_(std::move(path)) {
  // 1. A file whose process still runs belongs to another daemon.
  if (const std::optional<pid_t> other = read_pid(path_);
      other && *other != ::getpid() && (::kill(*other, 0) == 0 || errno == EPERM)) {
    throw service_error("--pid-file " + path_ + ": process " + std::to_string(*other) +
                        " (another vswitchd?) still runs with this pid file; stop it, or give "
                        "each vswitchd its own --pid-file");
  }
  // 2. Write ours (replacing a stale one).
  const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) {
    throw service_error("--pid-file " + path_ + ": cannot write it (" + std::strerror(errno) +
                        "); check that the directory exists and is writable (e.g. /run/vswitchd)");
  }
  const std::string text = std::to_string(::getpid()) + "\n";
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!written) {
    ::unlink(path_.c_str());
    throw service_error("--pid-file " + path_ + ": cannot write it; is the disk full?");
  }
}

pid_file::~pid_file() {
  // Only our own: another daemon may have replaced it meanwhile.
  if (read_pid(path_) == ::getpid()) ::unlink(path_.c_str());
}

std::pair<uid_t, gid_t> user_ids(const std::string& user) {
  const passwd* pw = ::getpwnam(user.c_str());
  if (pw == nullptr) {
    throw service_error("--user " + user + ": no such user; create one (e.g. `adduser --system " +
                        user + "`) or name another");
  }
  return {pw->pw_uid, pw->pw_gid};
}

void drop_privileges(const std::string& user) {
  const auto [uid, gid] = user_ids(user);
  // 1. Keep the permitted capabilities across setuid, then change identity.
  if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0 || ::initgroups(user.c_str(), gid) != 0 ||
      ::setgid(gid) != 0 || ::setuid(uid) != 0) {
    throw service_error("--user " + user + ": cannot switch to it (" + std::strerror(errno) +
                        "); run vswitchd as root to use --user");
  }
  // 2. Only CAP_NET_ADMIN and CAP_NET_RAW remain, effective and permitted.
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  const std::uint32_t keep = (1u << CAP_NET_ADMIN) | (1u << CAP_NET_RAW);
  data[0].effective = keep;
  data[0].permitted = keep;
  if (::syscall(SYS_capset, &header, data) != 0) {
    throw service_error("--user " + user + ": cannot keep CAP_NET_ADMIN and CAP_NET_RAW (" +
                        std::strerror(errno) + ")");
  }
  (void)::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
  if (::setuid(0) == 0) {  // must be impossible now
    throw service_error("--user " + user + ": root could be regained; refusing to run");
  }
}

bool notify_systemd(const std::string& state) {
  const char* name = std::getenv("NOTIFY_SOCKET");
  if (name == nullptr || name[0] == '\0') return true;  // not started by systemd with Type=notify
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::size_t length = std::strlen(name);
  if ((name[0] != '/' && name[0] != '@') || length >= sizeof address.sun_path) return false;
  std::memcpy(address.sun_path, name, length);
  if (name[0] == '@') address.sun_path[0] = '\0';  // abstract namespace
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const auto size = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + length);
  const bool sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                             reinterpret_cast<const sockaddr*>(&address), size) >= 0;
  ::close(fd);
  return sent;
}

}  // namespace switchd
