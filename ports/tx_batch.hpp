// tx_batch: frames waiting to go out of one socket in a single sendmmsg: the
// one send path of every datagram port (uplinks and QEMU dgram guests).
//
// A port queues small frames here (a copy: the frame's buffer belongs to the
// port it came from and is reused by its next read) and sends them all at the
// end of the current batch of input: the first queued frame posts a flush to
// the io_context, which runs after the handler that is reading, so a burst of
// frames read in one wake-up leaves in one system call. Frames too large for
// a slot (TCP super-frames) are not queued; the port flushes what is queued
// first, to keep the order, and sends them on their own. All preallocated.
// A port may be destroyed (removed at runtime) while its flush is queued: the
// flush then finds the batch gone and does nothing. On a worker thread there
// is no io_context: a worker's batch registers in ports::round_batches at its
// first frame instead, and the worker flushes it when the round ends. While a read loop
// drains a port (ports::draining), the first frame registers the batch in
// drain_flushes instead of posting: the read loop flushes it when it stops.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <functional>
#include <memory>
#include <netinet/in.h>
#include <span>
#include <vector>

#include "ports/port.hpp"

namespace ports {

class tx_batch final : public drain_flush {
 public:
  static constexpr std::size_t capacity = 32;     ///< frames per sendmmsg
  static constexpr std::size_t slot_size = 2048;  ///< prefix + frame bytes per slot

  /// `flush` sends what is queued (the port calls send_all() in it); it is
  /// posted to `io` when the first frame of a batch is queued.
  tx_batch(boost::asio::io_context& io, std::function<void()> flush)
      : flush_(std::move(flush)), buffer_(capacity * slot_size) {
    schedule_ = [this, &io] {
      if (draining) {
        drain_flushes.push_back(this);
        return;
      }
      boost::asio::post(io, [this, alive = std::weak_ptr<char>(alive_)] {
        if (alive.expired()) return;  // the port was removed meanwhile
        flush_posted_ = false;
        flush_();
      });
    };
  }
  /// A worker's batch: at its first frame it registers in round_batches,
  /// and `flush` (which calls send_all()) runs when the worker's round ends
  /// or the batch is full; it stays registered until the round ends.
  explicit tx_batch(std::function<void()> flush)
      : schedule_([this] { round_batches.push_back(this); }),
        flush_(std::move(flush)),
        buffer_(capacity * slot_size) {}
  ~tx_batch() { std::erase(drain_flushes, static_cast<drain_flush*>(this)); }
  tx_batch(const tx_batch&) = delete;
  tx_batch& operator=(const tx_batch&) = delete;

  /// (read_loop, or the worker) The drain or round it registered for ended: flush it now.
  void flush_drained() override {
    flush_posted_ = false;
    flush_();
  }

  /// Whether a frame of `size` bytes behind a `prefix_size`-byte header fits a slot.
  static bool fits(std::size_t prefix_size, std::size_t size) {
    return prefix_size + size <= slot_size;
  }
  bool empty() const { return count_ == 0; }
  /// Datagrams queued.
  std::size_t count() const { return count_; }
  /// Drops everything queued (the socket is gone).
  void clear() { count_ = 0; }
  /// Whether a queued datagram carries `tag`.
  bool holds(const void* tag) const {
    for (std::size_t i = 0; i < count_; ++i) {
      if (tags_[i] == tag) return true;
    }
    return false;
  }
  bool full() const { return count_ == capacity; }

  /// Queues `prefix` + `frame` (fits() must hold; either may be empty) for
  /// destination `to` (null for a connected socket; any address family, unix
  /// paths too); `tag` comes back to the callbacks of send_all. A full queue
  /// is flushed first; the first frame of a batch posts the flush.
  void push(std::span<const std::byte> prefix, std::span<const std::byte> frame,
            const sockaddr* to, socklen_t to_size, void* tag) {
    push_filled(
        prefix.size() + frame.size(),
        [&](std::span<std::byte> slot) {
          // (memcpy from an empty span's null pointer is undefined, even for 0 bytes.)
          if (!prefix.empty()) std::memcpy(slot.data(), prefix.data(), prefix.size());
          if (!frame.empty()) std::memcpy(slot.data() + prefix.size(), frame.data(), frame.size());
        },
        to, to_size, tag, frame.size());
  }

  /// Queues a datagram of `size` bytes (<= slot_size) that `fill(slot)` writes
  /// into its slot (e.g. sealing a frame in place); `frame_size` is what
  /// send_all reports for it. Otherwise as push().
  template <typename Fill>
  void push_filled(std::size_t size, Fill&& fill, const sockaddr* to, socklen_t to_size,
                   void* tag, std::size_t frame_size) {
    if (full()) flush_();
    if (!flush_posted_) {
      flush_posted_ = true;
      schedule_();
    }
    std::byte* slot = buffer_.data() + count_ * slot_size;
    fill(std::span<std::byte>(slot, size));
    iov_[count_] = {slot, size};
    msghdr& h = messages_[count_].msg_hdr;
    h = msghdr{};
    h.msg_iov = &iov_[count_];
    h.msg_iovlen = 1;
    if (to != nullptr) {
      std::memcpy(&addresses_[count_], to, std::min<std::size_t>(to_size, sizeof addresses_[0]));
      h.msg_name = &addresses_[count_];
      h.msg_namelen = to_size;
    }
    tags_[count_] = tag;
    frame_sizes_[count_] = frame_size;
    ++count_;
  }

  /// Sends everything queued with sendmmsg. Calls sent(tag, frame_size) for
  /// each frame that went out and failed(tag, errno) for each that did not.
  template <typename Sent, typename Failed>
  void send_all(int fd, Sent&& sent, Failed&& failed) {
    std::size_t i = 0;
    while (i < count_) {
      const int n = ::sendmmsg(fd, messages_.data() + i, static_cast<unsigned>(count_ - i),
                               MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n <= 0) {
        failed(tags_[i], n < 0 ? errno : EIO);  // the first one failed: drop it, go on
        ++i;
        continue;
      }
      for (int k = 0; k < n; ++k, ++i) sent(tags_[i], frame_sizes_[i]);
    }
    count_ = 0;
  }

 private:
  std::function<void()> schedule_;                  ///< arranges for a flush: posts one, or registers the port
  std::function<void()> flush_;
  bool flush_posted_ = false;                       ///< a flush is arranged
  std::vector<std::byte> buffer_;                  ///< capacity slots of slot_size bytes
  std::array<mmsghdr, capacity> messages_{};
  std::array<iovec, capacity> iov_{};
  std::array<sockaddr_storage, capacity> addresses_{};  ///< IPv4, IPv6 and unix alike
  std::array<void*, capacity> tags_{};
  std::array<std::size_t, capacity> frame_sizes_{};
  std::size_t count_ = 0;
  std::shared_ptr<char> alive_ = std::make_shared<char>();  ///< expires with the batch
};

}  // namespace ports
