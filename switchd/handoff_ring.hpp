// handoff_ring: frames one thread hands to another, in order, without locks
// or allocation: a single-producer single-consumer ring of bytes. A worker
// thread pushes a frame (a copy, behind a small fixed-size `Meta` record that
// says what to do with it) for a port only the daemon's main thread may send
// on; the main thread drains the ring. When the ring is full the push fails
// and the caller drops the frame and counts it (the switch never blocks).
//
// The producer owns `head_`, the consumer `tail_`; each publishes its side
// with release and reads the other's with acquire, so a record's bytes are
// complete before the consumer sees it. A record that would run past the end
// of the buffer is placed at its start, behind a padding record.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <span>
#include <type_traits>
#include <vector>

namespace switchd {

template <typename Meta>
class handoff_ring {
  static_assert(std::is_trivially_copyable_v<Meta>);

 public:
  /// A ring of at least `bytes` bytes (rounded up to a power of two, at least 4 KiB).
  explicit handoff_ring(std::size_t bytes) {
    std::size_t size = 4096;
    while (size < bytes) size *= 2;
    buffer_.resize(size);
    mask_ = size - 1;
  }

  /// The largest frame one push can take.
  std::size_t max_frame() const { return buffer_.size() / 2 - sizeof(header); }

  /// (Producer) Appends `meta` and a copy of `frame`. False when it does not
  /// fit now (the ring is full) or ever (larger than max_frame()).
  bool push(const Meta& meta, std::span<const std::byte> frame) {
    if (frame.size() > max_frame()) return false;
    const std::size_t need = record_size(frame.size());
    const std::uint64_t head = head_.load(std::memory_order_relaxed);
    const std::uint64_t tail = tail_.load(std::memory_order_acquire);
    std::size_t at = static_cast<std::size_t>(head) & mask_;
    std::size_t pad = 0;
    if (at + need > buffer_.size()) pad = buffer_.size() - at;  // wrap: pad to the end
    if (head + pad + need - tail > buffer_.size()) return false;
    if (pad != 0) {
      write_header(at, header{pad_marker, Meta{}});
      at = 0;
    }
    write_header(at, header{frame.size(), meta});
    if (!frame.empty()) std::memcpy(&buffer_[at + sizeof(header)], frame.data(), frame.size());
    head_.store(head + pad + need, std::memory_order_release);
    return true;
  }

  /// (Consumer) Calls f(const Meta&, std::span<const std::byte>) for each
  /// record pushed so far, oldest first; the span is valid during the call.
  /// Returns how many.
  template <typename F>
  std::size_t drain(F&& f) {
    const std::uint64_t head = head_.load(std::memory_order_acquire);
    std::uint64_t tail = tail_.load(std::memory_order_relaxed);
    std::size_t n = 0;
    while (tail != head) {
      const std::size_t at = static_cast<std::size_t>(tail) & mask_;
      header h;
      std::memcpy(&h, &buffer_[at], sizeof h);
      if (h.size == pad_marker) {
        tail += buffer_.size() - at;
        continue;
      }
      f(h.meta, std::span<const std::byte>(&buffer_[at + sizeof(header)], h.size));
      ++n;
      tail += record_size(h.size);
      tail_.store(tail, std::memory_order_release);  // the space is free again at once
    }
    tail_.store(tail, std::memory_order_release);
    return n;
  }

  /// (Producer) Bytes in use now (records and padding); the consumer may free more meanwhile.
  std::size_t used() const {
    return static_cast<std::size_t>(head_.load(std::memory_order_relaxed) -
                                    tail_.load(std::memory_order_acquire));
  }
  std::size_t capacity() const { return buffer_.size(); }

  /// (Consumer) Whether nothing is waiting.
  bool empty() const {
    return head_.load(std::memory_order_acquire) == tail_.load(std::memory_order_relaxed);
  }

 private:
  struct header {
    std::size_t size;  ///< frame bytes, or pad_marker
    Meta meta;
  };
  static constexpr std::size_t pad_marker = ~std::size_t{0};
  /// Every record starts at a multiple of this: a padding header always fits before the end.
  static constexpr std::size_t align = 64;
  static_assert(sizeof(header) <= align, "a Meta this large needs a larger alignment");

  static std::size_t record_size(std::size_t frame) {
    return (sizeof(header) + frame + align - 1) & ~(align - 1);
  }
  void write_header(std::size_t at, const header& h) { std::memcpy(&buffer_[at], &h, sizeof h); }

  std::vector<std::byte> buffer_;
  std::size_t mask_ = 0;
  alignas(64) std::atomic<std::uint64_t> head_{0};  ///< written by the producer
  alignas(64) std::atomic<std::uint64_t> tail_{0};  ///< written by the consumer
};

}  // namespace switchd
