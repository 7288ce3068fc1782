// tx_ring: one worker thread's small frames to TAPs, written in one system
// call per round (io_uring) instead of one writev each.
//
// A worker's TAP sends queue their bytes here (copied into one of `slots`
// fixed slots, with the vnet header in front); at the end of its round the
// worker calls submit(), which hands every queued write to the kernel in one
// io_uring_enter and waits until all have completed. A round that queued a
// single frame (a quiet port) writes it with write(2): one system call
// either way, and the plain one costs less, so a frame at low load is not
// delayed by the batching meant for busy ports. So between two rounds
// nothing is in flight: a port may be removed, a buffer reused. Writes to one
// descriptor are issued in the order they were queued: the kernel performs a
// write to a non-blocking descriptor at once, inside io_uring_enter, in the
// ring's order (a TAP's never blocks: its send buffer is unlimited), and a
// frame too large for a slot is written directly by the port after the ring
// was submitted, so it cannot overtake the frames queued before it.
//
// The main thread has a ring too: its first queued write posts a submit()
// to the io_context, which runs once the handler that is reading is done, so
// the frames of one wake-up leave together there as well.
//
// Writes are made with RWF_NOWAIT: one that would block fails and is
// counted (tx_queue_full), as writev's EAGAIN was, and never holds the round
// up. (A descriptor that refuses RWF_NOWAIT gets its frames written one by
// one, in order, and the ring stops asking for it.)
//
// Where io_uring is not available (a kernel before 5.6, a seccomp filter,
// kernel.io_uring_disabled), open() returns nothing and the ports write each
// frame themselves, as before.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ports/port.hpp"

namespace ports {

class tx_ring final : public drain_flush {
 public:
  /// Bytes a slot holds: a vnet header and a full-size frame (with tags).
  static constexpr std::size_t slot_size = 2048;

  /// A ring of `slots` writes, or nullptr with the reason in `why` when the
  /// kernel refuses io_uring.
  static std::unique_ptr<tx_ring> open(std::size_t slots, std::string& why);
  ~tx_ring();
  tx_ring(const tx_ring&) = delete;
  tx_ring& operator=(const tx_ring&) = delete;

  /// Queues the bytes `parts` gather as one write to `fd`, counted on `owner`
  /// (port::count_send, as `frame_size` bytes) when it completes. False, and
  /// nothing queued, when they do not fit a slot. Submits first when every
  /// slot is taken.
  bool queue(int fd, port& owner, std::span<const iovec> parts, std::size_t frame_size);
  /// Hands every queued write to the kernel and waits until all completed;
  /// counts each on its port. Nothing to do when none is queued.
  void submit();
  /// Calls `first` whenever a write is queued into an empty ring (the main
  /// thread posts its submit() to the io_context with it), except while a
  /// read loop drains a port: the ring then registers in drain_flushes and
  /// is submitted when the drain stops.
  void on_first(std::function<void()> first) { first_ = std::move(first); }
  /// Writes queued and not yet submitted.
  std::size_t queued() const { return queued_; }
  /// (read_loop) The drain it registered for stopped: submit().
  void flush_drained() override;
  /// io_uring_enter calls submit() made (a single write is not one).
  std::size_t submits() const { return submits_; }

 private:
  struct impl;
  explicit tx_ring(std::unique_ptr<impl> ring, std::size_t slots);

  struct slot {
    port* owner = nullptr;
    std::size_t frame_size = 0;
    int fd = -1;
    std::size_t bytes = 0;  ///< header and frame, at the slot's place in buffers_
  };
  /// Counts slot `i`'s write on its owner (failed with `err`, or sent as
  /// `frame_size` bytes) and frees the slot.
  void settle(std::size_t i, int err, std::size_t frame_size = 0);
  /// Writes slot `i` with write(2) now and settles it.
  void write_now(std::size_t i);
  std::unique_ptr<impl> ring_;
  std::vector<std::byte> buffers_;  ///< slots × slot_size
  std::vector<slot> slots_;
  std::size_t queued_ = 0;
  std::size_t submits_ = 0;
  std::function<void()> first_;
  bool in_drain_ = false;  ///< registered in drain_flushes
  bool broken_ = false;  ///< io_uring_enter kept failing: queue() refuses, ports write themselves
  bool nowait_ = true;   ///< writes ask for RWF_NOWAIT (until a descriptor refuses it)
};

/// The ring of the thread sending now, or nullptr (then a TAP writes each
/// frame itself): each worker's, and the main thread's while the datapath
/// sends.
inline thread_local tx_ring* round_ring = nullptr;


}  // namespace ports
