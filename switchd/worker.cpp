#include "switchd/worker.hpp"

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace switchd {

worker::worker(unsigned index, std::function<void()> on_thread_start,
               std::function<void()> round_end, std::chrono::microseconds busy_poll,
               const std::atomic<bool>* pause_request)
    : index_(index),
      on_thread_start_(std::move(on_thread_start)),
      round_end_(std::move(round_end)),
      busy_poll_(busy_poll),
      pause_request_(pause_request),
      epoll_(::epoll_create1(EPOLL_CLOEXEC)),
      wake_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (!epoll_ || !wake_) {
    throw std::runtime_error(std::string("worker: cannot create its epoll or eventfd: ") +
                             std::strerror(errno));
  }
  epoll_event e{};
  e.events = EPOLLIN;
  e.data.ptr = nullptr;  // the wake-up
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &e) < 0) {
    throw std::runtime_error(std::string("worker: epoll_ctl: ") + std::strerror(errno));
  }
}

worker::~worker() { stop(); }

void worker::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
  const std::string name = "vswitchd-w" + std::to_string(index_);
  (void)::pthread_setname_np(thread_.native_handle(), name.c_str());
}

void worker::stop() {
  if (!thread_.joinable()) return;
  {
    const std::lock_guard<std::mutex> lock(gate_);
    stopping_ = true;
  }
  const std::uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
  thread_.join();
}

void worker::add(ports::worker_source& p, std::size_t queue) {
  auto entry = std::make_unique<polled>();
  entry->port = &p;
  entry->queue = queue;
  epoll_event e{};
  e.events = EPOLLIN;  // level-triggered: what a round leaves unread is reported again
  e.data.ptr = entry.get();
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, p.worker_fd(queue), &e) < 0) {
    throw std::runtime_error("worker " + std::to_string(index_) + ": cannot poll " +
                             p.worker_name() + ": " + std::strerror(errno));
  }
  ports_.push_back(std::move(entry));
  changed_ = true;
}

void worker::remove(ports::worker_source& p) {
  std::erase_if(ports_, [&](const auto& e) {
    if (e->port != &p) return false;
    if (const int fd = p.worker_fd(e->queue); fd >= 0) {
      (void)::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
    }
    changed_ = true;
    return true;
  });
}

bool worker::read_port(polled& p) {
  // Left with frames by the last round: busy, read on. A quiet port is read
  // once; if it has more, epoll reports it again at once.
  const bool busy = p.undrained != 0 && p.undrained + 1 == round_;
  p.undrained = round_;
  const std::size_t most = busy ? budget : 1;
  for (std::size_t n = 0; n < most; ++n) {
    switch (p.port->worker_read(p.queue)) {
      case ports::worker_source::worker_step::again:
        continue;
      case ports::worker_source::worker_step::would_block:
        p.undrained = 0;  // drained
        return true;
      case ports::worker_source::worker_step::stop:
        return false;
    }
  }
  return true;  // budget spent: the next round reads on (level-triggered)
}

void worker::run() {
  if (on_thread_start_) on_thread_start_();
  std::array<epoll_event, 64> events;
  auto last_frame = std::chrono::steady_clock::now() - busy_poll_;
  for (;;) {
    const bool polling = busy_poll_.count() > 0 &&
                         std::chrono::steady_clock::now() - last_frame < busy_poll_;
    const int n = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()),
                               polling ? 0 : -1);
    if (pause_request_ != nullptr) {
      while (pause_request_->load(std::memory_order_acquire)) pause_request_->wait(true);
    }
    const std::lock_guard<std::mutex> lock(gate_);
    if (stopping_) return;
    if (changed_) {  // a port may have gone while we waited for the gate
      changed_ = false;
      continue;
    }
    ++round_;
    bool readable = false;
    for (int i = 0; i < n; ++i) {
      auto* p = static_cast<polled*>(events[static_cast<std::size_t>(i)].data.ptr);
      if (p == nullptr) {
        std::uint64_t count;
        (void)!::read(wake_.get(), &count, sizeof count);
        continue;
      }
      readable = true;
      if (!read_port(*p)) {
        (void)::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, p->port->worker_fd(p->queue), nullptr);
      }
    }
    if (readable) {
      last_frame = std::chrono::steady_clock::now();
      if (round_end_) round_end_();
    }
  }
}

}  // namespace switchd
