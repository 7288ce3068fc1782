// netdev: small helpers about network interfaces in the daemon's namespace —
// does a name exist, is it a TAP, a TUN or something else, is it up — and an
// owning file descriptor. Used by the port kinds while they open devices.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace ports {

/// Owns one file descriptor; closes it on destruction.
class unique_fd {
 public:
  unique_fd() = default;
  explicit unique_fd(int fd) : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& other) noexcept;
  ~unique_fd();

  int get() const { return fd_; }
  /// Gives up ownership and returns the descriptor.
  int release() { return std::exchange(fd_, -1); }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

namespace netdev {

/// What an existing interface name refers to.
enum class interface_type { missing, tap, tun, other };

/// Why `name` cannot be an interface name (empty, longer than 15, '/', blank), or nullopt if fine.
std::optional<std::string> name_problem(std::string_view name);

/// The interface index of `name`, or 0 when there is no such interface here.
unsigned index_of(const std::string& name);

/// Whether `name` is missing, a TAP, a TUN or another kind of interface.
interface_type type_of(const std::string& name);
/// Whether `name` is a multi-queue TAP or TUN (IFF_MULTI_QUEUE in its tun_flags).
bool is_multi_queue_tap(const std::string& name);

/// Whether `name` is administratively up, or nullopt if it cannot be read.
std::optional<bool> is_up(const std::string& name);

/// The MTU of `name`, or nullopt if it cannot be read (e.g. the interface
/// was moved to another network namespace).
std::optional<unsigned> mtu_of(const std::string& name);

/// The MTU of the TAP whose file `tun_fd` is, wherever its interface lives
/// now (moved into a guest's namespace, renamed): asked in that namespace,
/// which needs CAP_SYS_ADMIN; nullopt without it or on any other failure.
std::optional<unsigned> tap_mtu(int tun_fd);

/// Sets or clears IFF_UP on `name`.
std::error_code set_up(const std::string& name, bool up);

/// Whether generic receive offload is on for `name`, or nullopt if it cannot be read.
std::optional<bool> gro(const std::string& name);

/// Turns generic receive offload on or off for `name`.
std::error_code set_gro(const std::string& name, bool on);

/// The message refusing the TUN (layer 3) device `name`, with the fix.
std::string tun_refusal(const std::string& name);

/// Brings `name` up if it is down. Returns true if it changed the state.
/// Throws port_error if the interface cannot be brought up.
bool bring_up(const std::string& name);

}  // namespace netdev
}  // namespace ports
