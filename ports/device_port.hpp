// device_port: the kernel side of an existing interface, through an AF_PACKET
// socket bound to it in promiscuous mode, as the Linux bridge takes its ports.
// This is how vswitchd switches a QEMU guest: QEMU holds the file side of its
// TAP (`-netdev tap,ifname=qtap0,script=no,downscript=no`) and the switch
// takes the other side. It also attaches veths and NICs.
//
// Frames the socket sees leaving the interface (PACKET_OUTGOING, including the
// ones vswitchd itself sends) are ignored. A VLAN tag the kernel took off into
// packet metadata is put back, so the switch sees the frame as it was on the
// wire. The socket stays bound while the interface exists, so a TAP that QEMU
// opens later, closes or reopens keeps working. When the interface goes
// administratively down the port goes down (its MACs are flushed) and comes
// back up when the interface does; when the interface is deleted the port
// goes down for good.
//
// With worker threads (--workers N), the port has N sockets joined in one
// PACKET_FANOUT group (FANOUT_HASH): the kernel hands each flow to one socket,
// each socket is read by one worker, so a flow stays in order on one thread.
// A worker sends on its own socket, one sendmsg per frame; the main thread
// batches small frames (sendmmsg). Link changes seen on a worker are carried
// out on the main thread.
//
// Offloads: the socket uses PACKET_VNET_HDR, so super-frames and partial
// checksums cross it with their virtio-net header, both ways (a veth whose
// peer does TSO hands over 64 KB TCP frames). GRO on the interface is turned
// off while attached: merging there only adds latency, and the daemon
// restores it on exit.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <linux/if_packet.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "ports/netdev.hpp"
#include "ports/port.hpp"
#include "ports/read_loop.hpp"
#include "ports/tx_batch.hpp"

namespace ports {

class device_port final : public port {
 public:
  /// Attaches to the existing interface `name`. Throws port_error naming the
  /// problem and the fix (no such interface, a TUN device, no permission).
  /// With `queues` above 1: that many sockets in a PACKET_FANOUT group, one per worker.
  static std::unique_ptr<device_port> open(boost::asio::io_context& io, l2::port_id id,
                                           const std::string& name, std::size_t queues = 1);
  ~device_port() override;

  void start(port_listener& listener) override;
  void send(const l2::packet& packet) override;
  /// A worker may read it: each socket is read by one thread, link changes go to the main thread.
  bool worker_readable() const override { return true; }
  /// A worker sends with one sendmsg on its socket; the main thread's batch is its own.
  bool thread_safe_send() const override { return true; }
  void start_on_worker(port_listener& listener) override;
  /// Sockets (1 unless it is read by several workers).
  std::size_t worker_queues() const override { return queues_.size(); }
  int worker_fd(std::size_t queue) const override;
  worker_step worker_read(std::size_t queue) override;
  void flush_sends() override { flush(); }
  bool carries_offload() const override { return true; }
  void stop() override;
  bool detached() const override { return gone_; }
  std::string describe() const override;

 private:
  device_port(boost::asio::io_context& io, l2::port_id id, const std::string& name, unique_fd fd,
              unsigned ifindex);
  /// Frames read per system call (recvmmsg).
  static constexpr std::size_t batch = 8;

  /// Per-message receive state for recvmmsg.
  struct rx_slot {
    std::array<std::byte, l2::vnet_header_size> header;  ///< the virtio-net header
    std::array<iovec, 2> iov;                           ///< header, then frame
    sockaddr_ll from;                                   ///< packet type (outgoing?)
    alignas(cmsghdr) std::array<unsigned char, CMSG_SPACE(sizeof(tpacket_auxdata))> control;
  };
  /// One socket's receive side. Queue 0's socket is held by reader_ (the
  /// Asio read loop of the single-thread path), so its `fd` stays empty.
  struct rx_queue {
    unique_fd fd;
    std::vector<std::byte> buffer;  ///< `batch` frame slots, each with room to re-insert a VLAN tag
    std::array<rx_slot, batch> slots{};
    std::array<mmsghdr, batch> messages{};
  };

  /// Reads up to `batch` frames from queue `q` (one recvmmsg).
  read_loop::step read_one(rx_queue& q, int fd);
  /// Handles message i of the last recvmmsg on `q`.
  void receive(rx_queue& q, std::size_t i);
  /// Sends the queued small frames (one sendmmsg).
  void flush();
  /// (Worker thread) Sends what send() batched on this thread in this round.
  void flush_round();
  /// The socket reported ENETDOWN: tell link down from deletion.
  read_loop::step link_lost();
  /// (Main thread) The link went down, or the interface was deleted.
  void on_link_lost(bool deleted);
  /// (Main thread) A frame came in while the port was down: the link is back.
  void on_link_back();
  /// While the link is down, checks once a second whether it is back.
  void watch_link();

  boost::asio::io_context& io_;
  read_loop reader_;
  boost::asio::steady_timer link_timer_;
  std::vector<std::unique_ptr<rx_queue>> queues_;  ///< one per socket (stable addresses: recvmmsg points into them)
  tx_batch tx_;                  ///< (main thread) small frames waiting for the end of the input batch
  /// (Workers) the same per worker (by this_worker), sent at the end of the worker's round.
  std::vector<std::unique_ptr<tx_batch>> round_tx_;
  bool on_workers_ = false;  ///< started on workers (start_on_worker)
  std::atomic<bool> link_news_posted_{false};  ///< a worker posted on_link_back to the main thread
  std::atomic<bool> link_lost_posted_{false};  ///< a worker posted a link loss to the main thread
  unsigned ifindex_ = 0;
  bool brought_up_ = false;        ///< the daemon set IFF_UP on the interface
  /// Generic receive offload on the interface: it merges TCP segments into
  /// frames over the MTU that other ports cannot send, so it is turned off
  /// while attached (and back on at exit).
  enum class gro_state { off, turned_off, stuck_on } gro_ = gro_state::off;
  std::atomic<bool> gone_{false};  ///< the interface was deleted
  std::shared_ptr<char> alive_ = std::make_shared<char>();  ///< expires with the port
};

}  // namespace ports
