// atomic_time: a steady_clock time stamp that one thread writes and others
// read (a worker hears a peer, the io_context thread checks its liveness).
// Relaxed: it orders nothing else. Copyable, so the structs that hold one
// stay copyable.
#pragma once

#include <atomic>
#include <chrono>

namespace ports {

class atomic_time {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  atomic_time() = default;
  atomic_time(time_point t) : rep_(t.time_since_epoch().count()) {}  // NOLINT: reads like a time_point
  atomic_time(const atomic_time& other) : rep_(other.rep_.load(std::memory_order_relaxed)) {}
  atomic_time& operator=(const atomic_time& other) {
    store(other.load());
    return *this;
  }
  atomic_time& operator=(time_point t) {
    store(t);
    return *this;
  }

  time_point load() const { return time_point(time_point::duration(rep_.load(std::memory_order_relaxed))); }
  void store(time_point t) { rep_.store(t.time_since_epoch().count(), std::memory_order_relaxed); }
  operator time_point() const { return load(); }  // NOLINT: reads like a time_point

 private:
  std::atomic<time_point::rep> rep_{0};
};

}  // namespace ports
