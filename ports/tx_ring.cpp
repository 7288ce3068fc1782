#include "ports/tx_ring.hpp"

#include <liburing.h>

#include <cerrno>
#include <utility>
#include <cstring>

#include <sys/uio.h>
#include <unistd.h>

#include "ports/port.hpp"

namespace ports {

struct tx_ring::impl {
  io_uring ring{};
};

std::unique_ptr<tx_ring> tx_ring::open(std::size_t slots, std::string& why) {
  auto r = std::make_unique<impl>();
  const int err = ::io_uring_queue_init(static_cast<unsigned>(slots), &r->ring, 0);
  if (err < 0) {
    why = std::strerror(-err);
    return nullptr;
  }
  // Kernels before 5.6 have io_uring without its write operation.
  io_uring_probe* probe = ::io_uring_get_probe_ring(&r->ring);
  const bool writes = probe != nullptr && ::io_uring_opcode_supported(probe, IORING_OP_WRITE) != 0;
  if (probe != nullptr) ::io_uring_free_probe(probe);
  if (!writes) {
    ::io_uring_queue_exit(&r->ring);
    why = "the kernel's io_uring has no write operation";
    return nullptr;
  }
  return std::unique_ptr<tx_ring>(new tx_ring(std::move(r), slots));
}

tx_ring::tx_ring(std::unique_ptr<impl> ring, std::size_t slots)
    : ring_(std::move(ring)), buffers_(slots * slot_size), slots_(slots) {}

void tx_ring::flush_drained() {
  in_drain_ = false;
  submit();
}

tx_ring::~tx_ring() {
  if (in_drain_) std::erase(drain_flushes, static_cast<drain_flush*>(this));
  submit();
  ::io_uring_queue_exit(&ring_->ring);
}

bool tx_ring::queue(int fd, port& owner, std::span<const iovec> parts, std::size_t frame_size) {
  std::size_t total = 0;
  for (const iovec& part : parts) total += part.iov_len;
  if (total > slot_size || broken_) return false;
  if (queued_ == slots_.size()) submit();
  if (queued_ == 0) {
    if (draining) {
      if (!std::exchange(in_drain_, true)) drain_flushes.push_back(this);
    } else if (first_) {
      first_();
    }
  }
  const std::size_t index = queued_++;
  std::byte* const at = buffers_.data() + index * slot_size;
  std::size_t offset = 0;
  for (const iovec& part : parts) {
    std::memcpy(at + offset, part.iov_base, part.iov_len);
    offset += part.iov_len;
  }
  slots_[index] = {&owner, frame_size, fd, total};
  return true;
}

void tx_ring::settle(std::size_t i, int err, std::size_t frame_size) {
  slots_[i].owner->count_send(frame_size, err);
  slots_[i].owner = nullptr;
}

void tx_ring::write_now(std::size_t i) {
  const ssize_t n = ::write(slots_[i].fd, buffers_.data() + i * slot_size, slots_[i].bytes);
  settle(i, n < 0 ? errno : 0, slots_[i].frame_size);
}

void tx_ring::submit() {
  if (queued_ == 0) return;
  const std::size_t expected = queued_;
  if (expected == 1) {
    write_now(0);  // a quiet round: one write costs less as write(2) than through the ring
    queued_ = 0;
    return;
  }
  for (std::size_t i = 0; i < expected; ++i) {
    io_uring_sqe* sqe = ::io_uring_get_sqe(&ring_->ring);
    if (sqe == nullptr) {  // (the ring has an entry per slot: not expected)
      settle(i, ENOBUFS);
      continue;
    }
    ::io_uring_prep_write(sqe, slots_[i].fd, buffers_.data() + i * slot_size,
                          static_cast<unsigned>(slots_[i].bytes), 0);
    // A write that would block fails (counted as tx_queue_full, as writev's
    // EAGAIN was) instead of waiting in the kernel and holding the round up.
    if (nowait_) sqe->rw_flags = RWF_NOWAIT;
    ::io_uring_sqe_set_data64(sqe, i);
  }
  std::size_t completed = 0;
  for (std::size_t i = 0; i < expected; ++i) completed += slots_[i].owner == nullptr ? 1 : 0;
  unsigned failures = 0;
  bool retry = false;
  while (completed < expected) {
    // Submits what is queued (the first time) and waits for the rest to complete.
    const int n = ::io_uring_submit_and_wait(&ring_->ring, static_cast<unsigned>(expected - completed));
    ++submits_;
    if (n < 0 && ++failures > 100) {
      // The ring itself fails (not expected): what did not complete is lost,
      // and from now on the ports write themselves.
      for (std::size_t i = 0; i < expected; ++i) {
        if (slots_[i].owner != nullptr) settle(i, -n);
      }
      broken_ = true;
      break;
    }
    unsigned head = 0, seen = 0;
    io_uring_cqe* cqe = nullptr;
    io_uring_for_each_cqe(&ring_->ring, head, cqe) {
      ++seen;
      const auto index = static_cast<std::size_t>(::io_uring_cqe_get_data64(cqe));
      if (index < expected && slots_[index].owner != nullptr) {
        if (cqe->res == -EOPNOTSUPP && nowait_) {
          retry = true;  // (left to the owner: written below, in order)
        } else {
          settle(index, cqe->res < 0 ? -cqe->res : 0, slots_[index].frame_size);
        }
        ++completed;
      }
    }
    ::io_uring_cq_advance(&ring_->ring, seen);
  }
  if (retry) {
    // A descriptor that refuses non-blocking writes (an older kernel's TAP):
    // its frames were not written; they go now, in order, one write each,
    // and the ring no longer asks for RWF_NOWAIT.
    nowait_ = false;
    for (std::size_t i = 0; i < expected; ++i) {
      if (slots_[i].owner != nullptr) write_now(i);
    }
  }
  queued_ = 0;
}

}  // namespace ports
