// worker: one data-path thread with a loop of its own (--workers above 1).
//
// It polls the descriptors of the ports it was given with a level-triggered
// epoll and reads each ready port (the port's worker_read: read a frame, hand
// it to the datapath). Reads adapt to the load: a port that was ready in two
// rounds running is busy and is read up to a budget per round, until it has
// nothing (one EAGAIN per burst); a quiet port is read once per round and
// epoll says whether there is more. So at low load a frame costs epoll_wait,
// read and write: no re-arming and no EAGAIN read, as under Asio. After each round it calls the datapath's end-of-round hook
// (which wakes the main thread when frames were handed to it).
//
// The control side (the daemon's main thread) changes what the workers see
// (ports added or removed, MAC table edits, captures) only while they are
// paused: each worker holds its gate while it works on a round and releases
// it while it waits in epoll_wait; pausing is taking every gate. A round that
// had begun finishes first (at most budget frames per port).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <memory>
#include <thread>
#include <vector>

#include "ports/netdev.hpp"
#include "ports/port.hpp"

namespace switchd {

class worker {
 public:
  /// Frames read from one port per round before the next ready port's turn.
  static constexpr std::size_t budget = 64;

  /// `index` names the thread (vswitchd-w<index>). `round_end` runs on the
  /// worker after every round in which a port was readable (a read that
  /// returns frames may also say there are no more: a recvmmsg's short batch). With `busy_poll`
  /// above zero the worker polls without sleeping that long after a frame.
  /// While `*pause_request` is true the worker does not take its gate
  /// again (the control side is taking every gate, one after the other).
  worker(unsigned index, std::function<void()> on_thread_start, std::function<void()> round_end,
         std::chrono::microseconds busy_poll, const std::atomic<bool>* pause_request = nullptr);
  ~worker();
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  /// Starts the thread.
  void start();
  /// Stops the thread and waits for it. Idempotent. Not while paused by this thread.
  void stop();

  /// (Paused, or before start) Polls queue `queue` of `p` (p.worker_fd(queue)) from now on.
  void add(ports::worker_source& p, std::size_t queue = 0);
  /// (Paused, or before start) Stops polling every queue of `p` it polls.
  void remove(ports::worker_source& p);
  /// Queues (of ports, or of the uplinks' endpoint) this worker polls.
  std::size_t queue_count() const { return ports_.size(); }
  /// (Paused, or before start) Calls fn(port, queue) for every queue it polls.
  template <typename Fn>
  void for_each_queue(Fn&& fn) const {
    for (const auto& p : ports_) fn(*p->port, p->queue);
  }

  /// Held by the worker while it works; the control side takes it to pause it.
  std::mutex& gate() { return gate_; }

  unsigned index() const { return index_; }

 private:
  void run();
  /// A polled queue; epoll's data points at it.
  struct polled {
    ports::worker_source* port;
    std::size_t queue = 0;
    std::uint64_t undrained = 0;  ///< the round that left it with frames unread (0: none)
  };
  /// Reads one port (once, or up to the budget when busy); false once it asked to stop.
  bool read_port(polled& p);

  unsigned index_;
  std::function<void()> on_thread_start_;
  std::function<void()> round_end_;
  std::chrono::microseconds busy_poll_;
  const std::atomic<bool>* pause_request_;
  ports::unique_fd epoll_;
  ports::unique_fd wake_;  ///< eventfd: stop() rings it
  std::mutex gate_;
  bool changed_ = false;   ///< (under gate_) the port set changed: events in hand are stale
  bool stopping_ = false;  ///< (under gate_)
  std::vector<std::unique_ptr<polled>> ports_;
  std::uint64_t round_ = 0;  ///< rounds so far
  std::thread thread_;
};

}  // namespace switchd
