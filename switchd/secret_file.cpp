#include "switchd/secret_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "ports/netdev.hpp"

namespace switchd {

std::string read_secret_file(const std::string& option, const std::string& path,
                             const std::string& create_hint) {
  const std::string where = option + " " + path + ": ";
  const ports::unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  struct stat st {};
  if (!fd || ::fstat(fd.get(), &st) != 0)
    throw std::runtime_error(where + "cannot read it (" + std::strerror(errno) + "); " + create_hint);
  if (!S_ISREG(st.st_mode)) throw std::runtime_error(where + "is not a regular file; give the file itself");
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    throw std::runtime_error(where + "is readable or writable by group or others (mode " + mode +
                             "); a key must stay secret: run chmod 600 " + path);
  }
  if (st.st_uid != ::geteuid() && st.st_uid != 0) {
    throw std::runtime_error(where + "belongs to uid " + std::to_string(st.st_uid) +
                             ", not to root or the user vswitchd runs as (uid " +
                             std::to_string(::geteuid()) + "); run chown root " + path);
  }
  if (st.st_size > 65536) throw std::runtime_error(where + "larger than 64 KiB; is it the right file?");
  std::string text(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t have = 0;
  while (have < text.size()) {
    const ssize_t n = ::read(fd.get(), text.data() + have, text.size() - have);
    if (n <= 0) break;
    have += static_cast<std::size_t>(n);
  }
  text.resize(have);
  return text;
}

void write_new_secret_file(const std::string& option, const std::string& path, const std::string& text) {
  const std::string where = option + " " + path + ": ";
  const ports::unique_fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) {
    if (errno == EEXIST)
      throw std::runtime_error(where + "exists; an identity is never overwritten: remove the file first "
                               "(and with it that host's identity) or give a new name");
    throw std::runtime_error(where + "cannot create it (" + std::strerror(errno) +
                             "); check that the directory exists and is writable");
  }
  // The mode is 0600 whatever the umask (which can only take bits away).
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n <= 0) {
      const int error = errno;
      ::unlink(path.c_str());
      throw std::runtime_error(where + "cannot write it (" + std::strerror(error) + ")");
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0) {
    const int error = errno;
    ::unlink(path.c_str());
    throw std::runtime_error(where + "cannot write it (" + std::strerror(error) + ")");
  }
}

}  // namespace switchd
