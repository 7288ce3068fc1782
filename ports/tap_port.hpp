// tap_port: the file side of a TAP device. vswitchd opens /dev/net/tun and
// attaches to the TAP by name (TUNSETIFF, IFF_TAP | IFF_NO_PI): it creates the
// TAP when no interface of that name exists, or attaches a persistent TAP that
// no process holds (as made by `ip tuntap add NAME mode tap`). The interface
// side is then typically moved into a network namespace. A TAP the daemon
// created disappears when the daemon closes it; an attached persistent TAP is
// left as it was found (if the daemon brought its link up, it takes it down).
// If the interface is deleted under the daemon, reads fail with EBADFD: the
// port goes down and stays down; the other ports carry on.
//
// Offloads: the TAP is opened with IFF_VNET_HDR and TUNSETOFFLOAD (checksum,
// TSO4/6 with ECN, and USO4/6 where the kernel has them), so the kernel hands
// over TCP super-frames of up to 64 KB with a partial checksum instead of
// 1500-byte segments, and takes them back the same way: TAP to TAP, a
// super-frame crosses the switch in one read and one write.
#pragma once

#include <boost/asio/io_context.hpp>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "ports/netdev.hpp"
#include "ports/port.hpp"
#include "ports/read_loop.hpp"

namespace ports {

class tap_port final : public port {
 public:
  /// Why open() could not take the file side, when the caller may try the kernel side instead.
  enum class open_failure { none, busy };

  /// Opens (creating if needed) the TAP `name`. Throws port_error naming the
  /// problem and the fix: no /dev/net/tun, no permission, a TUN device, an
  /// interface that is not a TAP. If `busy` is not null and the TAP is held by
  /// another process, sets *busy = open_failure::busy and returns nullptr
  /// instead of throwing.
  /// With `queues` above 1, a TAP it creates is a multi-queue TAP
  /// (IFF_MULTI_QUEUE) with that many queues, one per worker thread; a TAP
  /// it attaches is single-queue (a persistent multi-queue TAP is refused,
  /// as before: another process may hold some of its queues).
  static std::unique_ptr<tap_port> open(boost::asio::io_context& io, l2::port_id id,
                                        const std::string& name, open_failure* busy = nullptr,
                                        std::size_t queues = 1);
  ~tap_port() override;

  void start(port_listener& listener) override;
  void send(const l2::packet& packet) override;
  /// A worker may read it: one descriptor, one frame per read, nothing else touched.
  bool worker_readable() const override { return true; }
  /// One writev per frame on the file: any thread may send.
  bool thread_safe_send() const override { return true; }
  void start_on_worker(port_listener& listener) override;
  /// Queues (1 unless it is a multi-queue TAP).
  std::size_t worker_queues() const override { return queues_.size(); }
  int worker_fd(std::size_t queue) const override;
  worker_step worker_read(std::size_t queue) override;
  bool carries_offload() const override { return true; }
  void stop() override;
  bool detached() const override { return gone_; }
  std::string describe() const override;
  /// Also once its interface was moved into another namespace (see netdev::tap_mtu).
  std::optional<unsigned> interface_mtu() const override;

  /// True when the daemon created the TAP (it vanishes when the daemon exits).
  bool created() const { return created_; }

 private:
  tap_port(boost::asio::io_context& io, l2::port_id id, const std::string& name, unique_fd fd,
           bool created);
  /// Reads one frame from `fd` into `buffer`.
  read_loop::step read_one(int fd, std::vector<std::byte>& buffer);

  /// One queue of the TAP: its file and its read buffer (virtio-net header +
  /// one frame, preallocated). Queue 0's file is held by reader_ (the Asio
  /// read loop of the single-thread path), so its `fd` stays empty.
  struct queue {
    unique_fd fd;
    std::vector<std::byte> buffer;
  };

  read_loop reader_;
  std::vector<queue> queues_;      ///< one per queue; a single-queue TAP has one
  unsigned offloads_ = 0;          ///< TUN_F_* flags the kernel accepted
  bool created_ = false;           ///< the daemon made this TAP
  bool brought_up_ = false;        ///< the daemon set IFF_UP on an attached TAP
  std::atomic<bool> gone_{false};  ///< the TAP was deleted (or its file failed for good)
};

}  // namespace ports
