// datapath: wires ports to the switch core. Every port's frames come here
// (port_listener); each is handed to l2::forwarder::decide and the decision
// is carried out: drop (counted on the ingress port by reason), send to one
// port, or send to every port of the flood set. Link changes mark ports up or
// down in the forwarder (down flushes their MAC entries). A timer ages the MAC
// table once a second.
//
// With one thread (--workers 1) everything runs on the io_context thread.
// With N above 1, N worker threads (switchd/worker.hpp) read the tap: and
// dev: ports (a queue or socket of each per worker, or a port on one
// worker) and the uplinks' sockets (add_source), and forward what they read: the forwarder's decision under
// one lock (decide_mutex_), or without it where the worker remembers the
// decision for the flow (switchd/decision_cache.hpp), the sending on the
// worker itself for ports whose send() is thread-safe (tap:, dev:,
// uplinks, sealed ones included), and through a handoff ring to the
// io_context thread for the others (QEMU sockets, relayed or VNI-mapped
// uplinks), in order. While a capture runs, workers hand every frame
// they read to the io_context thread, where the observers live. The control
// side changes ports, the MAC table and captures only under pause().
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <array>
#include <atomic>
#include <bitset>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "l2/forwarder.hpp"
#include "ports/log_limiter.hpp"
#include "ports/netdev.hpp"
#include "ports/port.hpp"
#include "ports/tx_ring.hpp"
#include "switchd/decision_cache.hpp"
#include "switchd/handoff_ring.hpp"
#include "switchd/worker.hpp"

namespace switchd {

/// Sees every frame entering or leaving a port it watches (vswitchctl capture).
class frame_observer {
 public:
  /// `packet` entered (rx) or is leaving `port` (a super-frame is seen whole,
  /// before any software segmentation). Valid only during the call.
  virtual void observe(l2::port_id port, const l2::packet& packet) = 0;

 protected:
  ~frame_observer() = default;
};

class datapath final : public ports::port_listener {
 public:
  /// Reads the time; tests pass a fake.
  using clock_fn = l2::time_point (*)();

  datapath(boost::asio::io_context& io, std::size_t table_capacity,
           std::chrono::seconds mac_aging, clock_fn clock = &real_clock);
  ~datapath();

  /// The id the next added port must have: the lowest free one.
  l2::port_id next_id() const;
  /// Adds a port (its id must be next_id()) in VLAN mode `vlans`; uplinks get
  /// the uplink role. A port added after start() is started at once.
  void add_port(std::unique_ptr<ports::port> p,
                std::optional<l2::port_role> role = std::nullopt,
                const l2::vlan_mode& vlans = l2::vlan_mode::transparent());
  /// Stops and removes port `id`, flushing its MAC entries; its id becomes free.
  void remove_port(l2::port_id id);
  /// (After start, with workers) Has the workers read `source`, which is no
  /// port but feeds ports (the uplinks' UDP endpoint): queue q on worker q.
  void add_source(ports::worker_source& source, std::size_t queues);
  /// Stops the workers reading `source` (before it closes). Idempotent.
  void remove_source(ports::worker_source& source);
  /// Shows `o` the frames entering and leaving `port` until unwatch(o).
  void watch(l2::port_id port, frame_observer& o);
  void unwatch(frame_observer& o);

  /// The move damping settings, for the log line when a MAC flaps.
  void set_move_damping_text(unsigned limit, unsigned window_s, unsigned hold_down_s) {
    flap_limit_ = limit;
    flap_window_ = window_s;
    flap_hold_ = hold_down_s;
  }

  /// Rewrite the MSS of TCP SYNs that cross an uplink to fit its inner MTU.
  void set_clamp_mss(bool on) { clamp_mss_ = on; }
  /// With `count` above 1, start() runs `count` worker threads that read the
  /// tap: and dev: ports (each new one on the worker with the fewest) and
  /// what add_source() gives them; `busy_poll` as
  /// --busy-poll, for the workers. Before start().
  void set_workers(unsigned count, std::chrono::microseconds busy_poll = {});
  /// Worker threads running (0: everything runs on the io_context thread).
  std::size_t workers() const { return workers_.size(); }
  /// Worker threads start() runs, as set_workers() said (1: none, the io_context thread alone).
  unsigned planned_workers() const { return worker_count_; }

  /// Holds every worker still (between two rounds) while it lives: the
  /// control side's changes to the ports, the forwarder and captures happen
  /// under it. Nests; free without workers. io_context thread only.
  class pause_guard {
   public:
    explicit pause_guard(const datapath* dp = nullptr) : dp_(dp) {}
    pause_guard(pause_guard&& other) noexcept : dp_(std::exchange(other.dp_, nullptr)) {}
    pause_guard& operator=(pause_guard&&) = delete;
    ~pause_guard() {
      if (dp_ != nullptr) dp_->resume();
    }

   private:
    const datapath* dp_;
  };
  [[nodiscard]] pause_guard pause() const;

  /// Starts every port and the aging timer (and the workers).
  void start();
  /// Stops every port and the timer.
  void stop();

  void on_frame(ports::port& from, const l2::packet& packet) override;
  void on_link_change(ports::port& p, bool up, std::string_view why) override;

  /// Logs per-port counters, drops by reason, the MAC table size and its first
  /// 100 entries (info level).
  void log_counters() const;

  /// Indexed by port id; removed ports leave a null slot.
  const std::vector<std::unique_ptr<ports::port>>& ports() const { return ports_; }
  /// Ports in use.
  std::size_t port_count() const;
  const l2::forwarder& forwarder() const { return forwarder_; }
  l2::forwarder& forwarder() { return forwarder_; }

  /// What one worker thread reads and has done (vswitchctl show, metrics).
  struct worker_stats {
    unsigned index = 0;
    std::vector<std::pair<std::string, std::size_t>> queues;  ///< (port name, queue) it reads
    std::uint64_t frames = 0;        ///< frames it read
    std::uint64_t busy_rounds = 0;   ///< rounds (epoll wake-ups) in which it read frames
    std::uint64_t handed_over = 0;   ///< frames it passed to the io_context thread
    std::uint64_t handoff_full = 0;  ///< frames dropped because that ring was full
    std::uint64_t cached = 0;        ///< frames forwarded by a remembered decision, without the lock
  };
  /// One entry per worker thread (none with one thread). io_context thread
  /// only; pauses the workers for the list of queues.
  std::vector<worker_stats> worker_statistics() const;

  /// Frames the main thread's ports have handed over since start (dropped or
  /// not; not the workers': --busy-poll's main loop goes by it).
  std::uint64_t frames_seen() const { return frames_seen_.load(std::memory_order_relaxed); }

  /// The time as the MAC table sees it.
  l2::time_point now() const { return clock_(); }

  /// (io_context thread) Carries out what the workers handed over so far.
  void drain_handoffs();
  /// (io_context thread) Sends now what the io_context thread queued for a
  /// later batch (before the workers send the same flows' next frames).
  void send_queued();

  static l2::time_point real_clock() { return std::chrono::steady_clock::now(); }

 private:
  void schedule_aging();
  /// Per-thread buffers of transmit(): the io_context thread's and each worker's.
  struct scratch {
    scratch();
    std::vector<std::byte> segments;         ///< software GSO output
    std::vector<std::byte> retagged;         ///< a frame with its tag pushed, popped or changed
    std::array<std::byte, 512> syn_copy{};   ///< a SYN being clamped
  };
  /// What a worker hands to the io_context thread with a frame.
  struct handoff_meta {
    enum class what : std::uint8_t { ingress, egress } kind = what::ingress;
    l2::port_id port = l2::no_port;  ///< ingress: where it came in; egress: where it goes
    l2::vlan_id vlan = 0;            ///< egress: the decision's VLAN and tag
    bool tagged = false;
    l2::vlan_tag tag{};
    l2::vnet_header offload{};
  };
  struct worker_slot {
    explicit worker_slot(std::size_t ring_bytes) : handoff(ring_bytes) {}
    std::unique_ptr<worker> thread;
    handoff_ring<handoff_meta> handoff;
    scratch buffers;
    bool pushed = false;  ///< (worker) handed frames over in this round
    /// Frames handed to the io_context thread, and dropped because the ring
    /// was full (written by the worker only, read by status()).
    ports::single_writer_counter handed_over;
    ports::single_writer_counter handoff_full;
    ports::single_writer_counter frames;       ///< frames read (as handed to on_frame)
    ports::single_writer_counter busy_rounds;  ///< rounds in which it read frames
    ports::single_writer_counter cached;       ///< frames forwarded by a remembered decision
    decision_cache decisions;                  ///< (worker) its known-unicast decisions
    std::unique_ptr<ports::tx_ring> tx;        ///< its small frames to TAPs, one system call per round (or none)
    std::uint64_t frames_before_round = 0;      ///< (worker) `frames` when the round began
  };
  /// The worker slot of the calling thread, or null on the io_context thread.
  static thread_local worker_slot* current_;

  /// The forwarder's decision for `packet` from `from`: on a worker, a
  /// remembered one when it holds (decision_cache), else under the lock.
  l2::forward_decision decide(worker_slot* here, ports::port& from, const l2::packet& packet);
  /// The forwarder's state changed (under the lock, or paused): the
  /// workers' remembered decisions no longer hold.
  void table_changed() const { table_generation_.fetch_add(1, std::memory_order_acq_rel); }

  /// Sends `packet` (decided as `d`) out of `out`: with its tag as `out`
  /// wants it; as it is if it is plain or `out` carries offloads, else
  /// segmented (or its checksum completed) in software.
  void transmit(ports::port& out, const l2::packet& packet, const l2::forward_decision& d);
  /// (worker) Queues `packet` for the io_context thread; false when the ring is full.
  bool hand_off(worker_slot& w, handoff_meta meta, const l2::packet& packet);
  /// (worker) The end of a round: sends what it batched for dev: ports,
  /// counts a busy round, and calls round_end().
  void end_round(worker_slot& w);
  /// (worker) Wakes the io_context thread if frames were handed over.
  void round_end(worker_slot& w);
  void wait_for_handoffs();
  void resume() const;
  /// Starts `p`: on a worker when there are workers and it can be read there.
  void start_port(ports::port& p);
  /// Queue q of `source` on worker q (modulo the workers). Paused, or before they start.
  void spread(ports::worker_source& source, std::size_t queues);

  l2::forwarder forwarder_;
  clock_fn clock_;
  std::vector<std::unique_ptr<ports::port>> ports_;  ///< indexed by port id
  boost::asio::steady_timer aging_timer_;
  /// A copy of `frame` with its TCP MSS clamped to `max_frame`, or `frame`
  /// itself when it is not a SYN that needs it.
  l2::packet clamped(const l2::packet& packet, std::size_t max_frame, scratch& s);

  /// Calls the observers of `port`.
  void observe(l2::port_id port, const l2::packet& packet);

  std::vector<std::pair<l2::port_id, frame_observer*>> observers_;
  std::bitset<l2::max_ports> observed_;  ///< ports with an observer: one test per frame
  scratch main_scratch_;  ///< the io_context thread's
  bool clamp_mss_ = false;
  /// Logs that a MAC flapped (rate-limited: a flood of flapping MACs is not a flood of lines).
  void log_flap(ports::port& from, const l2::packet& packet, const l2::forward_decision& d);
  unsigned flap_limit_ = 0, flap_window_ = 0, flap_hold_ = 0;
  ports::log_limiter flap_log_{5};
  bool started_ = false;
  std::atomic<std::uint64_t> frames_seen_{0};

  boost::asio::io_context& io_;
  /// The io_context thread's small frames to TAPs, submitted after the handler that queued them.
  std::unique_ptr<ports::tx_ring> main_tx_;
  /// Sends what main_tx_ holds now (before a port goes, or others may overtake it).
  void submit_main() {
    if (main_tx_) main_tx_->submit();
  }
  std::shared_ptr<char> alive_ = std::make_shared<char>();  ///< expires with the datapath (posted submits)
  unsigned worker_count_ = 1;
  std::chrono::microseconds busy_poll_{};
  std::vector<std::unique_ptr<worker_slot>> workers_;
  /// The forwarder's lock while workers run: every decision not remembered,
  /// aging and link changes take it.
  std::mutex decide_mutex_;
  /// Moves on with every change of the forwarder's state (decision_cache).
  mutable std::atomic<std::uint64_t> table_generation_{0};
  ports::unique_fd handoff_fd_;  ///< eventfd: a worker handed frames over
  std::optional<boost::asio::posix::stream_descriptor> handoff_wait_;
  std::atomic<bool> handoff_pending_{false};
  mutable unsigned pause_depth_ = 0;
  mutable std::atomic<bool> pause_request_{false};  ///< the control side wants the workers still
  bool draining_ = false;  ///< drain_handoffs() is running
};

/// "rx 3 frames 294 bytes, tx 2 frames 196 bytes, drops: reflection=1" for one port.
std::string format_counters(const ports::port_counters& c);

}  // namespace switchd
