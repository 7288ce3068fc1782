// stream_port: one QEMU guest connected over a stream socket (unix or TCP):
// QEMU's `-netdev stream` or the legacy `-netdev socket,connect=`. Frames go
// both ways as records of l2/stream_framing.hpp (4-byte big-endian length,
// then the frame). The port is made from a connected socket that the owner
// got somewhere (a stream_listener accepted it, or the daemon connected it);
// it owns the descriptor from then on.
//
// Reading: readiness through Asio (async_wait), then reads of up to 256 KiB
// until EAGAIN, at most read_budget reads per wake-up so that one busy guest
// cannot starve the other ports. Each read goes through the reassembler; a
// frame that lies wholly in the read is delivered in place, without a copy.
//
// Writing: send() never blocks and never writes by itself. It appends the
// record to a bounded per-connection output queue (a byte ring of
// queue_capacity = 1 MiB) and, for the first record of a batch, posts a
// flush: a burst that the datapath forwards in one input batch leaves in one
// system call. A flush writes as much as the socket takes (partial writes
// keep their place in the ring); what is left waits for the socket to become
// writable (async_wait). A full queue drops the frame (tx_queue_full): a
// guest that does not read stalls only itself. 1 MiB is about 700 full-size
// 1500-byte frames or 15 of the largest, i.e. a few milliseconds of traffic
// at gigabit speeds on top of the kernel's own socket buffer; it bounds the
// memory a stalled guest pins (pages are touched only when used) and the
// latency it builds up. Frames are counted as sent (tx_frames, tx_bytes) when
// they enter the queue. The stream carries no virtio-net header, so
// carries_offload() is false: the datapath segments super-frames for it.
//
// Closing: end of file (the guest went away, possibly mid-frame), a read or
// write error, or a protocol error (a record longer than 69,632 bytes) closes
// the socket, sets the port down (the listener hears why) and then, posted to
// the io_context — never from inside the port's own handlers — calls the
// owner's closed_handler once. The owner removes the port in that call: it
// may destroy the port there and then (the port touches nothing of itself
// after the call). stop() and the destructor close without calling it.
// Handlers still queued when the port is destroyed find it gone and do nothing.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "l2/stream_framing.hpp"
#include "ports/netdev.hpp"
#include "ports/port.hpp"

namespace ports {

/// One of a listener's connection slots (its bound on live connections);
/// freed when the holder is destroyed. Empty when default-constructed.
class connection_slot {
 public:
  connection_slot() = default;
  /// Takes a slot: *live is incremented now and decremented on destruction.
  explicit connection_slot(std::shared_ptr<std::size_t> live) : live_(std::move(live)) {
    if (live_) ++*live_;
  }
  connection_slot(connection_slot&& other) noexcept = default;
  connection_slot& operator=(connection_slot&& other) noexcept {
    if (this != &other) {
      release();
      live_ = std::move(other.live_);
    }
    return *this;
  }
  ~connection_slot() { release(); }

 private:
  void release() {
    if (live_) --*live_;
    live_.reset();
  }
  std::shared_ptr<std::size_t> live_;  ///< the listener's count of live connections
};

/// A connected stream socket and where it came from.
struct stream_connection {
  unique_fd fd;      ///< connected stream socket (made non-blocking by the port)
  std::string peer;  ///< who is at the other end, e.g. "pid 4242 uid 1000" or "192.0.2.7:51234"
  std::string via;   ///< how it was made, e.g. "accepted on unix:/run/vm.sock"
  std::uint64_t serial = 0;  ///< 1, 2, ... per listener (for names like "stream:/run/vm.sock#3")
  connection_slot slot;      ///< the listener's slot, freed with the port
};

class stream_port final : public port {
 public:
  /// Called (posted) once when the port closed itself; `why` as given to set_up.
  using closed_handler = std::function<void(stream_port& port, const std::string& why)>;

  static constexpr std::size_t read_buffer_size = 64 * 1024;   ///< bytes per read (a few dozen full frames)
  static constexpr std::size_t read_budget = 2;                ///< reads per wake-up: a guest cannot hog the loop
  static constexpr std::size_t queue_capacity = 1024 * 1024;   ///< output queue, bytes

  /// A port named `name` (e.g. "stream:/run/vm.sock#3") over `connection`.
  /// Nothing is read before start().
  stream_port(boost::asio::io_context& io, l2::port_id id, std::string name,
              stream_connection connection, closed_handler on_closed);
  ~stream_port() override;

  void start(port_listener& listener) override;
  /// Queues `packet` (plain frames only; others are dropped as tx_error).
  /// Drops: port_down once closed, tx_queue_full when the queue has no room.
  void send(const l2::packet& packet) override;
  /// Closes the socket without calling the closed_handler. Idempotent.
  void stop() override;
  /// "stream NAME (peer P, VIA, queue N bytes)", plus why it closed.
  std::string describe() const override;

  /// Whether the socket is closed (by the peer, an error or stop()).
  bool closed() const { return closed_; }
  /// Why it closed ("" while open).
  const std::string& close_reason() const { return why_; }
  /// Bytes waiting in the output queue.
  std::size_t queued_size() const { return queued_; }
  const std::string& peer() const { return connection_.peer; }
  const std::string& via() const { return connection_.via; }

 private:
  void wait_readable();
  void drain();
  /// Writes what is queued; waits for writability if the socket is full.
  void flush();
  void wait_writable();
  /// Appends `bytes` to the ring (the caller checked the room).
  void append(std::span<const std::byte> bytes);
  /// Closes the socket, sets the port down and posts the closed_handler.
  void close_with(std::string why);
  /// Closes the descriptor and forgets the queue.
  void shut();

  boost::asio::io_context& io_;
  boost::asio::posix::stream_descriptor socket_;
  stream_connection connection_;  ///< fd released to socket_; the rest kept
  closed_handler on_closed_;
  l2::stream_reassembler reassembler_;
  std::unique_ptr<std::byte[]> read_buffer_;  ///< read_buffer_size bytes
  std::unique_ptr<std::byte[]> queue_;        ///< ring of queue_capacity bytes
  std::size_t head_ = 0;                      ///< ring offset of the first queued byte
  std::size_t queued_ = 0;                    ///< bytes queued
  bool flush_posted_ = false;                 ///< a flush is queued on io_
  bool write_waiting_ = false;                ///< waiting for writability
  bool started_ = false;
  bool closed_ = false;
  std::string why_;                                         ///< why it closed
  std::shared_ptr<char> alive_ = std::make_shared<char>();  ///< expires with the port
};

}  // namespace ports
