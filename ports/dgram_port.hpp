// dgram_port: one QEMU guest connected with `-netdev dgram`: one raw
// Ethernet frame per datagram, no header, no length. The port is written
// `dgram:LOCAL=REMOTE`, where each side is `unix:PATH` (a unix datagram
// socket) or `ADDR:PORT` (UDP; IPv4, or IPv6 in brackets). The switch binds
// LOCAL and sends to REMOTE; QEMU is given the mirror image, e.g. for
// `--port dgram:unix:/run/vsw-vm1.sock=unix:/run/vm1.sock`:
//
//   -netdev dgram,id=n1,local.type=unix,local.path=/run/vm1.sock,
//           remote.type=unix,remote.path=/run/vsw-vm1.sock
//
// Datagrams from anyone but REMOTE are dropped and counted (not_peer); for
// unix sockets that means the sender must have bound exactly the REMOTE path
// as written (so give both sides absolute paths). A datagram longer than the
// largest frame is dropped as giant; a frame too long to send as one datagram
// (UDP: 65,507 bytes over IPv4, 65,527 over IPv6) as too_big.
//
// Reading: recvmmsg, `batch` datagrams per system call, through read_loop.
// Writing: small frames are queued (copied) in a tx_batch and leave together
// in one sendmmsg after the current input batch, as uplinks' do; larger
// frames go alone. The socket is never connected, so a peer that is not there
// yet (QEMU not started) costs drops (port_down), not an error state: the port
// stays up, and frames flow as soon as QEMU binds its side. A unix receiver
// queues few datagrams (net.unix.max_dgram_qlen, 10 by default, per socket):
// beyond that sends fail with EAGAIN and count as tx_queue_full.
//
// A LOCAL unix socket file is created with the given mode and group (as a
// stream_listener's) after a stale one is removed, and removed at the end.
// The stream carries no virtio-net header: carries_offload() is false.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ports/netdev.hpp"
#include "ports/port.hpp"
#include "ports/read_loop.hpp"
#include "ports/stream_listener.hpp"
#include "ports/tx_batch.hpp"

namespace ports {

/// One side of a dgram port.
struct dgram_address {
  std::string path;                         ///< unix datagram socket path; empty for UDP
  boost::asio::ip::udp::endpoint endpoint;  ///< UDP address and port, when path is empty
  bool is_unix() const { return !path.empty(); }
};

/// Both sides: the switch binds `local` and sends to `remote`.
struct dgram_spec {
  dgram_address local;
  dgram_address remote;
};

/// Parses "dgram:LOCAL=REMOTE" (the "dgram:" prefix may be left out), each
/// side "unix:PATH" (absolute) or "ADDR:PORT" / "[ADDR]:PORT" (UDP, literal
/// address; "udp:" in front is allowed). Both sides must be unix, or both
/// UDP of one IP family. Throws port_error "OPTION dgram:TEXT: what is wrong;
/// the form".
dgram_spec parse_dgram_spec(std::string_view text, std::string_view option = "--port");

/// "unix:/run/vm1.sock" or "127.0.0.1:5000" / "[::1]:5000".
std::string to_string(const dgram_address& address);
/// "dgram:LOCAL=REMOTE".
std::string to_string(const dgram_spec& spec);

class dgram_port final : public port {
 public:
  static constexpr std::size_t batch = 16;  ///< datagrams per recvmmsg

  /// Binds `spec.local` (a unix path gets `access`); sends go to
  /// `spec.remote`. `option` starts error messages (default "--port
  /// dgram:LOCAL=REMOTE"). Throws port_error with the reason and the fix (a
  /// live socket at the path, no such directory or group, address in use, not
  /// an address of this host, ...). A UDP port 0 in `spec.local` binds any
  /// free port (see local()).
  static std::unique_ptr<dgram_port> open(boost::asio::io_context& io, l2::port_id id,
                                          std::string name, const dgram_spec& spec,
                                          const unix_socket_access& access = {},
                                          std::string option = {});
  ~dgram_port() override;

  void start(port_listener& listener) override;
  void send(const l2::packet& packet) override;
  std::size_t max_frame_size() const override { return max_frame_; }
  void stop() override;
  /// "dgram NAME (local L, remote R)".
  std::string describe() const override;

  /// The address bound (with the port the kernel chose for UDP port 0).
  const dgram_address& local() const { return spec_.local; }
  const dgram_address& remote() const { return spec_.remote; }

 private:
  dgram_port(boost::asio::io_context& io, l2::port_id id, std::string name, unique_fd fd,
             const dgram_spec& spec);
  read_loop::step read_one();
  /// Whether the sender `from` (`size` bytes) is REMOTE.
  bool from_peer(const sockaddr_storage& from, socklen_t size) const;
  /// Sends the queued small frames (one sendmmsg).
  void flush();
  /// Counts a failed send with errno `err`.
  void count_send_error(int err);

  read_loop reader_;
  dgram_spec spec_;
  std::size_t max_frame_;              ///< largest frame sent as one datagram
  sockaddr_storage remote_address_{};  ///< spec_.remote as a socket address
  socklen_t remote_size_ = 0;
  std::optional<std::pair<dev_t, ino_t>> file_;  ///< our LOCAL socket file

  // Receiving: `batch` buffers of slot_size (a frame + 1 byte, to see giants).
  std::size_t rx_slot_size_;
  std::unique_ptr<std::byte[]> rx_buffers_;
  std::array<mmsghdr, batch> rx_messages_{};
  std::array<iovec, batch> rx_iov_{};
  std::array<sockaddr_storage, batch> rx_from_{};

  tx_batch tx_;  ///< small frames waiting for the end of the input batch
};

}  // namespace ports
