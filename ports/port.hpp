// ports: the I/O side of the switch. A port moves Ethernet frames between the
// switch core and one outside thing: a TAP device's file side (tap_port), an
// interface's kernel side through AF_PACKET (device_port), or one VXLAN peer
// across the underlay (uplink_port, sharing a udp_endpoint with the others).
//
// Every kind has the same shape: an id and a name, start(listener) to begin
// reading, send() that never blocks (a full queue drops and counts), stop(),
// counters, and a link state. Received frames and link changes go to the
// port_listener, which is the daemon's datapath. Ports run on the one
// io_context thread, except that with --workers above 1 a worker thread reads
// each tap and dev: port (worker_read; the uplinks' endpoint is read
// the same way, a worker_source) and any worker may send out of one: a tap's,
// a dev: port's and an uplink's send() is safe from any thread (unless relayed or VNI-mapped)
// (thread_safe_send), counters and the link state are atomics. Nothing here locks.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "l2/drop_reason.hpp"
#include "l2/frame.hpp"
#include "l2/offload.hpp"
#include "l2/types.hpp"

namespace ports {

/// One traffic counter. Worker threads count while the control side reads
/// (vswitchctl, metrics), and several workers may send out of one port: each
/// counter is a relaxed atomic (no ordering is promised between counters).
class counter {
 public:
  counter() = default;
  counter(std::uint64_t v) : value_(v) {}  // NOLINT: reads like the integer it replaces
  counter(const counter& other) : value_(other.load()) {}
  counter& operator=(const counter& other) {
    value_.store(other.load(), std::memory_order_relaxed);
    return *this;
  }
  counter& operator++() {
    value_.fetch_add(1, std::memory_order_relaxed);
    return *this;
  }
  counter& operator+=(std::uint64_t n) {
    value_.fetch_add(n, std::memory_order_relaxed);
    return *this;
  }
  std::uint64_t load() const { return value_.load(std::memory_order_relaxed); }
  operator std::uint64_t() const { return load(); }  // NOLINT: reads like the integer

 private:
  std::atomic<std::uint64_t> value_{0};
};

/// A counter only one thread ever adds to (a worker's own figures), read by
/// others: an increment is a relaxed load and store, no locked instruction.
class single_writer_counter {
 public:
  /// (The writing thread only.)
  void bump(std::uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t load() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

/// Drops charged to one port, by reason, as counters (see l2::drop_counters).
struct port_drop_counters {
  std::array<counter, l2::drop_reason_count> by_reason{};

  void count(l2::drop_reason reason) { ++by_reason[static_cast<std::size_t>(reason)]; }
  std::uint64_t operator[](l2::drop_reason reason) const {
    return by_reason[static_cast<std::size_t>(reason)].load();
  }
  /// The counts as they are now.
  operator l2::drop_counters() const {  // NOLINT: a snapshot reads like the plain counters
    l2::drop_counters d;
    for (std::size_t i = 0; i < d.by_reason.size(); ++i) d.by_reason[i] = by_reason[i].load();
    return d;
  }
  std::uint64_t total() const { return static_cast<l2::drop_counters>(*this).total(); }
};

/// Traffic counters of one port.
struct port_counters {
  counter rx_frames;         ///< frames received from the outside
  counter rx_bytes;          ///< their bytes
  counter tx_frames;         ///< frames handed to the outside
  counter tx_bytes;          ///< their bytes
  port_drop_counters drops;  ///< drops charged to this port, by reason
};

/// What kind of thing a port talks to.
enum class port_kind : std::uint8_t {
  tap,     ///< file side of a TAP device (/dev/net/tun)
  device,  ///< kernel side of an interface (AF_PACKET)
  uplink,  ///< a VXLAN peer over UDP
  stream,  ///< a QEMU guest over a stream socket (unix or TCP; -netdev stream)
  dgram,   ///< a QEMU guest over datagram sockets (unix or UDP; -netdev dgram)
  other,   ///< anything else (test doubles)
};

/// Writes the virtio-net header to send `packet` with, through a TAP or a
/// PACKET_VNET_HDR socket. For a plain frame it sets hdr_len to the frame's
/// size: the kernel then builds a linear skb, as for a socket without the
/// header, instead of one with the frame in page fragments (several times
/// slower for small frames downstream).
void emit_vnet_header_for(const l2::packet& packet,
                          std::span<std::byte, l2::vnet_header_size> out);

/// Short name of a kind: "tap", "dev", "uplink", "stream", "dgram", "other".
std::string_view to_string(port_kind kind);

/// The drop reason for a failed send with errno `err`: tx_queue_full when the
/// output would block (EAGAIN, ENOBUFS), port_down when the interface is not
/// up (EIO from a TAP, ENETDOWN, ENXIO), too_big when it exceeds the path
/// MTU (EMSGSIZE), tx_error otherwise.
l2::drop_reason send_drop_reason(int err);

/// The fix a start-up error names when bind(2) of an IP address and port
/// failed with errno `err`; `in_use` is the one for EADDRINUSE (who may
/// hold the port, what to do).
std::string bind_fix(int err, std::string_view in_use);
/// The same for a unix socket path.
std::string bind_fix_path(int err);

/// A start-up error: the message names the thing, the reason and the fix.
class port_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class port;

/// The index of the worker thread running the caller, -1 on any other thread.
/// A dev: port sends on the socket of this worker (this_worker % its
/// sockets); a multi-queue TAP on a queue by flow (tap_port::send).
inline thread_local int this_worker = -1;

/// (io_context thread) Whether a read loop is draining a port now. What the
/// frames it reads queue for a batch (tx_batch, tx_ring) then leaves when
/// the drain stops (read_loop), not in a handler of its own: one system
/// call fewer per wake-up, and no wait behind the other ready handlers.
inline thread_local bool draining = false;

/// A batch of sends (tx_batch, tx_ring) that, given its first frame while
/// `draining`, registers in drain_flushes; the read loop calls
/// flush_drained() when the drain stops. It leaves the list when destroyed.
/// A worker's batch registers in round_batches the same way.
class drain_flush {
 public:
  virtual void flush_drained() = 0;

 protected:
  ~drain_flush() = default;
};
inline thread_local std::vector<drain_flush*> drain_flushes;

/// (Worker threads) The batches that got frames in the current round; the
/// worker calls flush_drained() on each when the round ends and clears it,
/// so it is empty between rounds (when ports may be removed).
inline thread_local std::vector<drain_flush*> round_batches;

/// Receives what ports read. Implemented by the daemon's datapath.
class port_listener {
 public:
  /// A frame arrived on `from`, with its offload header (all zero for a
  /// plain frame; already validated). Valid only during the call.
  virtual void on_frame(port& from, const l2::packet& packet) = 0;
  /// `p` went up or down; `why` says why, for the log.
  virtual void on_link_change(port& p, bool up, std::string_view why) = 0;

 protected:
  ~port_listener() = default;
};

/// What a worker thread polls and reads (--workers above 1): the queues of
/// a port, or a socket several ports share (the uplinks' UDP endpoint, one
/// socket per worker). Each queue has a descriptor the worker polls
/// (level-triggered) and is read by one worker at a time.
class worker_source {
 public:
  /// What one worker_read() found.
  enum class worker_step : std::uint8_t {
    again,        ///< read a frame (or skipped one); there may be more
    would_block,  ///< nothing more now
    stop,         ///< the descriptor is done for (the device is gone): stop polling it
  };
  virtual int worker_fd(std::size_t /*queue*/) const { return -1; }
  virtual worker_step worker_read(std::size_t /*queue*/) { return worker_step::stop; }
  /// What it is called in vswitchctl show's list of what each worker reads.
  virtual std::string worker_name() const = 0;

 protected:
  ~worker_source() = default;
};

class port : public worker_source {
 public:
  port(l2::port_id id, std::string name, port_kind kind)
      : id_(id), name_(std::move(name)), kind_(kind) {}
  virtual ~port() = default;
  port(const port&) = delete;
  port& operator=(const port&) = delete;

  l2::port_id id() const { return id_; }
  const std::string& name() const { return name_; }
  port_kind kind() const { return kind_; }
  /// Whether the port can carry frames now.
  bool is_up() const { return up_.load(std::memory_order_relaxed); }

  /// Starts reading; frames and link changes go to `listener` from now on.
  virtual void start(port_listener& listener) = 0;
  /// Sends one frame. Never blocks: when the output is full the frame is
  /// dropped and counted (tx_queue_full), on other errors counted (tx_error).
  /// A packet that is not plain (GSO, partial checksum) is only handed to a
  /// port whose carries_offload() is true; the datapath segments for the others.
  virtual void send(const l2::packet& packet) = 0;

  /// Whether a worker thread may read this port (--workers above 1): it has
  /// one descriptor to poll (worker_fd) and its read side (worker_read)
  /// touches only the port, its atomics and the listener.
  virtual bool worker_readable() const { return false; }
  /// Whether send() and send_segments() may run on several threads at once.
  /// The datapath hands frames for other ports to the main thread.
  virtual bool thread_safe_send() const { return false; }
  /// (worker_readable ports) Starts without reading on the io_context: a
  /// worker polls each queue's worker_fd(queue) (level-triggered) and calls
  /// worker_read(queue); each queue is read by one worker at a time.
  virtual void start_on_worker(port_listener& listener) { start(listener); }
  /// Queues a worker may read apart (a multi-queue TAP: one per worker).
  virtual std::size_t worker_queues() const { return 1; }
  std::string worker_name() const override { return name_; }

  /// Sends at once what send() queued for a batch (which would otherwise go
  /// when the io_context runs the batch's flush).
  virtual void flush_sends() {}
  /// Whether send() takes packets with GSO or partial checksums as they are.
  virtual bool carries_offload() const { return false; }
  /// Bytes to leave free in front of every segment for send_segments().
  virtual std::size_t segment_headroom() const { return 0; }
  /// Sends the plain segments l2::segment() wrote into `buffer` (each behind
  /// segment_headroom() free bytes). The default sends them one by one.
  virtual void send_segments(std::span<std::byte> buffer, const l2::segment_result& segments);
  /// The largest frame this port can send (an uplink: its inner MTU).
  virtual std::size_t max_frame_size() const { return l2::max_frame_size; }
  /// Stops reading. Idempotent. The destructor releases the device.
  virtual void stop() = 0;
  /// One line for the log: kind, name and how it is attached.
  virtual std::string describe() const = 0;
  /// Whether the device under the port is gone (a deleted TAP or interface):
  /// the port can do nothing more; the daemon attaches it again when an
  /// interface of that name comes back.
  virtual bool detached() const { return false; }
  /// The MTU of the interface under the port, if it has one that can be read
  /// (by name in the daemon's namespace, unless the port knows better).
  virtual std::optional<unsigned> interface_mtu() const;

  port_counters& counters() { return counters_; }
  const port_counters& counters() const { return counters_; }
  /// A send that completed later (ports::tx_ring): counts the frame as sent,
  /// or, with `err` (an errno), as a drop by send_drop_reason(err).
  void count_send(std::size_t frame_size, int err) {
    if (err == 0) {
      count_tx(frame_size);
    } else {
      counters_.drops.count(send_drop_reason(err));
    }
  }

 protected:
  /// Records a link change and tells the listener (once per change).
  void set_up(bool up, std::string_view why) {
    if (up_.exchange(up, std::memory_order_relaxed) == up) return;
    if (listener_ != nullptr) listener_->on_link_change(*this, up, why);
  }
  /// Counts one frame that was received.
  void count_rx(std::size_t size) {
    ++counters_.rx_frames;
    counters_.rx_bytes += size;
  }
  /// Counts one frame that was sent out.
  void count_tx(std::size_t size) {
    ++counters_.tx_frames;
    counters_.tx_bytes += size;
  }
  /// Counts one received packet (unless `count` is false: the port counted
  /// it itself) and hands it to the listener, or drops it (bad_vnet_header)
  /// if its offload header does not fit the frame.
  void deliver(const l2::packet& packet, bool count = true) {
    if (count) count_rx(packet.frame.size());
    if (!packet.offload.is_plain() && !l2::validate(packet.offload, packet.frame)) {
      counters_.drops.count(l2::drop_reason::bad_vnet_header);
      return;
    }
    listener_->on_frame(*this, packet);
  }

  port_listener* listener_ = nullptr;  ///< set by start()
  port_counters counters_;

 private:
  l2::port_id id_;
  std::string name_;
  port_kind kind_;
  std::atomic<bool> up_{true};  ///< set by the thread that notices; read by all
};

}  // namespace ports
