#include "switchd/datapath.hpp"

#include <boost/asio/post.hpp>

#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>

#include "l2/tcp_mss.hpp"

namespace switchd {
namespace {

/// The most headroom any port asks for in front of a segment (VXLAN: 8 bytes).
constexpr std::size_t max_segment_headroom = 64;

/// Bytes each worker's handoff ring holds: about 60 super-frames, or 2 ms
/// of a 10 Gbit/s flow toward an uplink.
constexpr std::size_t handoff_ring_bytes = std::size_t{4} << 20;
/// Small frames a worker queues for TAPs in one round before it submits them (ports::tx_ring).
constexpr std::size_t tx_ring_slots = 256;

/// Makes `ring` the sending thread's tx_ring for a scope.
class ring_scope {
 public:
  explicit ring_scope(ports::tx_ring* ring) : before_(std::exchange(ports::round_ring, ring)) {}
  ~ring_scope() { ports::round_ring = before_; }
  ring_scope(const ring_scope&) = delete;
  ring_scope& operator=(const ring_scope&) = delete;

 private:
  ports::tx_ring* before_;
};

/// Takes (or, with `lock` false, does not take) a mutex for a scope.
class maybe_lock {
 public:
  maybe_lock(std::mutex& m, bool lock) : m_(lock ? &m : nullptr) {
    if (m_ != nullptr) m_->lock();
  }
  ~maybe_lock() {
    if (m_ != nullptr) m_->unlock();
  }
  maybe_lock(const maybe_lock&) = delete;
  maybe_lock& operator=(const maybe_lock&) = delete;

 private:
  std::mutex* m_;
};

}  // namespace

thread_local datapath::worker_slot* datapath::current_ = nullptr;

datapath::scratch::scratch()
    : segments(l2::segment_buffer_size(l2::max_frame_size, max_segment_headroom)),
      retagged(l2::max_frame_size + l2::vlan_tag_size) {}

datapath::datapath(boost::asio::io_context& io, std::size_t table_capacity,
                   std::chrono::seconds mac_aging, clock_fn clock)
    : forwarder_(table_capacity, mac_aging), clock_(clock), aging_timer_(io), io_(io) {}

datapath::~datapath() {
  stop();
  submit_main();
}

void datapath::set_workers(unsigned count, std::chrono::microseconds busy_poll) {
  if (started_) throw std::logic_error("datapath::set_workers: after start");
  worker_count_ = std::max(1U, count);
  busy_poll_ = busy_poll;
}

datapath::pause_guard datapath::pause() const {
  if (workers_.empty()) return pause_guard();
  if (pause_depth_++ == 0) {
    // Asked first: a worker between two rounds waits instead of taking its gate again.
    pause_request_.store(true, std::memory_order_release);
    for (const auto& w : workers_) w->thread->gate().lock();
  }
  return pause_guard(this);
}

void datapath::resume() const {
  if (--pause_depth_ == 0) {
    table_changed();  // whatever was done while paused: ports, VLANs, the table, the aging time
    for (const auto& w : workers_) w->decisions.set_aging(forwarder_.table().aging());
    for (const auto& w : workers_) w->thread->gate().unlock();
    pause_request_.store(false, std::memory_order_release);
    pause_request_.notify_all();
  }
}

std::vector<datapath::worker_stats> datapath::worker_statistics() const {
  std::vector<worker_stats> out;
  const pause_guard paused = pause();
  for (const auto& w : workers_) {
    worker_stats st;
    st.index = w->thread->index();
    w->thread->for_each_queue([&](const ports::worker_source& p, std::size_t q) { st.queues.emplace_back(p.worker_name(), q); });
    std::sort(st.queues.begin(), st.queues.end());
    st.frames = w->frames.load();
    st.busy_rounds = w->busy_rounds.load();
    st.handed_over = w->handed_over.load();
    st.handoff_full = w->handoff_full.load();
    st.cached = w->cached.load();
    out.push_back(std::move(st));
  }
  return out;
}

l2::port_id datapath::next_id() const {
  for (std::size_t i = 0; i < ports_.size(); ++i) {
    if (!ports_[i]) return static_cast<l2::port_id>(i);
  }
  return static_cast<l2::port_id>(ports_.size());
}

std::size_t datapath::port_count() const {
  return static_cast<std::size_t>(
      std::count_if(ports_.begin(), ports_.end(), [](const auto& p) { return p != nullptr; }));
}

void datapath::add_port(std::unique_ptr<ports::port> p, std::optional<l2::port_role> role,
                        const l2::vlan_mode& vlans) {
  const l2::port_id id = p->id();
  if (id != next_id() || id >= l2::max_ports) {
    throw std::logic_error("datapath::add_port: bad port id");
  }
  if (!role) {
    role = p->kind() == ports::port_kind::uplink ? l2::port_role::uplink : l2::port_role::local;
  }
  const pause_guard paused = pause();
  forwarder_.add_port(id, *role, vlans);
  forwarder_.set_port_up(id, p->is_up());
  if (id == ports_.size()) {
    ports_.push_back(std::move(p));
  } else {
    ports_[id] = std::move(p);
  }
  if (started_) {
    start_port(*ports_[id]);
    spdlog::info("port {}: {}", id, ports_[id]->describe());
  }
}

void datapath::start_port(ports::port& p) {
  if (workers_.empty() || !p.worker_readable()) {
    p.start(*this);
    return;
  }
  p.start_on_worker(*this);
  if (p.worker_queues() > 1) {
    spread(p, p.worker_queues());
    return;
  }
  // The worker with the fewest queues reads it.
  std::size_t best = 0;
  for (std::size_t i = 1; i < workers_.size(); ++i) {
    if (workers_[i]->thread->queue_count() < workers_[best]->thread->queue_count()) best = i;
  }
  workers_[best]->thread->add(p);
}

void datapath::spread(ports::worker_source& source, std::size_t queues) {
  // Queue q on worker q (a dev: port's worker sends on its socket q too).
  for (std::size_t q = 0; q < queues; ++q) workers_[q % workers_.size()]->thread->add(source, q);
}

void datapath::add_source(ports::worker_source& source, std::size_t queues) {
  if (workers_.empty()) throw std::logic_error("datapath::add_source: no workers");
  const pause_guard paused = pause();
  spread(source, queues);
}

void datapath::remove_source(ports::worker_source& source) {
  const pause_guard paused = pause();
  for (auto& w : workers_) w->thread->remove(source);
}

void datapath::remove_port(l2::port_id id) {
  if (id >= ports_.size() || !ports_[id]) return;
  if (observed_.test(id)) throw std::logic_error("datapath::remove_port: the port is watched");
  const pause_guard paused = pause();
  for (auto& w : workers_) w->thread->remove(*ports_[id]);
  drain_handoffs();  // what the workers handed over for it leaves first (or, for a new port of this id, never)
  submit_main();
  ports_[id]->stop();
  forwarder_.remove_port(id);
  ports_[id].reset();
  while (!ports_.empty() && !ports_.back()) ports_.pop_back();
}

void datapath::start() {
  started_ = true;
  if (!main_tx_) {
    std::string why;
    main_tx_ = ports::tx_ring::open(tx_ring_slots, why);
    if (main_tx_) {
      // (Frames a read loop's drain queued leave when it stops: ports::draining.)
      main_tx_->on_first([this, alive = std::weak_ptr<char>(alive_)] {
        boost::asio::post(io_, [this, alive] {
          if (!alive.expired()) submit_main();
        });
      });
    } else {
      spdlog::info("io_uring is not available ({}): each frame sent to a TAP is its own write", why);
    }
  }
  if (worker_count_ > 1 && workers_.empty()) {
    handoff_fd_ = ports::unique_fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!handoff_fd_) throw std::runtime_error("cannot create an eventfd for the workers");
    handoff_wait_.emplace(io_, handoff_fd_.get());
    bool rings = main_tx_ != nullptr;  // (where the main thread's was refused, that was logged)
    for (unsigned i = 0; i < worker_count_; ++i) {
      auto slot = std::make_unique<worker_slot>(handoff_ring_bytes);
      worker_slot* const w = slot.get();
      slot->decisions.set_aging(forwarder_.table().aging());
      if (rings) {
        std::string why;
        slot->tx = ports::tx_ring::open(tx_ring_slots, why);
        rings = slot->tx != nullptr;
        if (!rings) spdlog::info("io_uring is not available ({}): each frame a worker sends to a TAP is its own write", why);
      }
      slot->thread = std::make_unique<worker>(
          i,
          [w, i] {
            current_ = w;
            ports::this_worker = static_cast<int>(i);
            ports::round_ring = w->tx.get();
          },
          [this, w] { end_round(*w); }, busy_poll_, &pause_request_);
      workers_.push_back(std::move(slot));
    }
    wait_for_handoffs();
  }
  for (auto& p : ports_) {
    if (!p) continue;
    start_port(*p);
    spdlog::info("port {}: {}", p->id(), p->describe());
  }
  for (auto& w : workers_) w->thread->start();
  schedule_aging();
}

void datapath::stop() {
  aging_timer_.cancel();
  submit_main();
  for (auto& w : workers_) w->thread->stop();
  if (handoff_wait_) {
    boost::system::error_code ignored;
    handoff_wait_->cancel(ignored);
    handoff_wait_->release();  // handoff_fd_ owns the descriptor
    handoff_wait_.reset();
  }
  for (auto& p : ports_) {
    if (p) p->stop();
  }
  workers_.clear();
}

bool datapath::hand_off(worker_slot& w, handoff_meta meta, const l2::packet& packet) {
  meta.offload = packet.offload;
  if (!w.handoff.push(meta, packet.frame)) {
    w.handoff_full.bump();
    return false;
  }
  w.handed_over.bump();
  w.pushed = true;
  // Half full within one round (super-frames toward an uplink): wake the main thread now.
  if (w.handoff.used() > w.handoff.capacity() / 2) round_end(w);
  return true;
}

void datapath::end_round(worker_slot& w) {
  // Small frames the round queued for TAPs leave now, in one system call.
  if (w.tx) w.tx->submit();
  // Small frames the round batched for dev: ports leave now, one sendmmsg each.
  for (ports::drain_flush* b : ports::round_batches) b->flush_drained();
  ports::round_batches.clear();
  // A round that switched frames: one wake-up's batch, for the statistics.
  const std::uint64_t frames = w.frames.load();
  if (frames != w.frames_before_round) {
    w.frames_before_round = frames;
    w.busy_rounds.bump();
  }
  round_end(w);
}

void datapath::round_end(worker_slot& w) {
  if (!w.pushed) return;
  w.pushed = false;
  // One wake-up per batch: the io_context thread clears the flag before it drains.
  if (!handoff_pending_.exchange(true, std::memory_order_acq_rel)) {
    const std::uint64_t one = 1;
    (void)!::write(handoff_fd_.get(), &one, sizeof one);
  }
}

void datapath::wait_for_handoffs() {
  handoff_wait_->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                            [this](const boost::system::error_code& ec) {
                              if (ec || !handoff_wait_) return;
                              std::uint64_t count;
                              (void)!::read(handoff_fd_.get(), &count, sizeof count);
                              drain_handoffs();
                              wait_for_handoffs();
                            });
}

void datapath::drain_handoffs() {
  if (workers_.empty() || draining_) return;  // (a send that removes a port: the outer drain goes on)
  draining_ = true;
  handoff_pending_.exchange(false, std::memory_order_acq_rel);
  for (auto& w : workers_) {
    w->handoff.drain([&](const handoff_meta& m, std::span<const std::byte> bytes) {
      if (m.port >= ports_.size() || !ports_[m.port]) return;  // removed meanwhile
      const l2::packet packet{bytes, m.offload};
      if (m.kind == handoff_meta::what::ingress) {
        on_frame(*ports_[m.port], packet);
        return;
      }
      l2::forward_decision d;
      d.vlan = m.vlan;
      if (m.tagged) d.tag = m.tag;
      transmit(*ports_[m.port], packet, d);
    });
  }
  draining_ = false;
}

l2::packet datapath::clamped(const l2::packet& packet, std::size_t max_frame, scratch& s) {
  // Only a SYN whose MSS is too large is copied and rewritten; the check reads only.
  if (packet.frame.size() > s.syn_copy.size() || packet.offload.is_gso() ||
      !l2::needs_mss_clamp(packet.frame, max_frame)) {
    return packet;
  }
  std::copy(packet.frame.begin(), packet.frame.end(), s.syn_copy.begin());
  const std::span<std::byte> copy(s.syn_copy.data(), packet.frame.size());
  const bool partial = (packet.offload.flags & l2::vnet_flag_needs_csum) != 0;
  if (!l2::clamp_mss(copy, max_frame, partial)) return packet;
  return l2::packet{copy, packet.offload};
}

void datapath::watch(l2::port_id port, frame_observer& o) {
  const pause_guard paused = pause();
  observers_.emplace_back(port, &o);
  observed_.set(port);
}

void datapath::unwatch(frame_observer& o) {
  const pause_guard paused = pause();
  drain_handoffs();  // frames handed over for it are seen before it goes
  // What the drain queued for a later batch goes now: once resumed, the
  // workers send these flows' next frames themselves, at once.
  send_queued();
  std::erase_if(observers_, [&](const auto& w) { return w.second == &o; });
  observed_.reset();
  for (const auto& w : observers_) observed_.set(w.first);
}

void datapath::send_queued() {
  submit_main();
  for (const auto& p : ports_) {
    if (p) p->flush_sends();
  }
}

void datapath::observe(l2::port_id port, const l2::packet& packet) {
  for (const auto& [watched, o] : observers_) {
    if (watched == port) o->observe(port, packet);
  }
}

void datapath::on_frame(ports::port& from, const l2::packet& arrived) {
  worker_slot* const here = current_;
  if (here == nullptr) {
    frames_seen_.fetch_add(1, std::memory_order_relaxed);
  } else {
    here->frames.bump();
  }
  if (here != nullptr && observed_.any()) [[unlikely]] {
    // Captures run on the io_context thread: so does every frame while one does.
    handoff_meta m;
    m.port = from.id();
    if (!hand_off(*here, m, arrived)) from.counters().drops.count(l2::drop_reason::tx_queue_full);
    return;
  }
  if (observed_.test(from.id())) observe(from.id(), arrived);
  // A SYN from across an uplink is clamped for the way back too.
  const l2::packet packet = clamp_mss_ && from.kind() == ports::port_kind::uplink
                                ? clamped(arrived, from.max_frame_size(),
                                          here != nullptr ? here->buffers : main_scratch_)
                                : arrived;
  const l2::forward_decision d = decide(here, from, packet);
  switch (d.kind) {
    case l2::forward_decision::action::drop:
      from.counters().drops.count(d.reason);
      break;
    case l2::forward_decision::action::unicast:
      transmit(*ports_[d.port], packet, d);
      break;
    case l2::forward_decision::action::flood:
      d.ports.for_each([&](l2::port_id out) { transmit(*ports_[out], packet, d); });
      break;
  }
}

l2::forward_decision datapath::decide(worker_slot* here, ports::port& from, const l2::packet& packet) {
  const l2::time_point now = clock_();
  std::optional<decision_cache::key> key;
  if (here != nullptr) {
    const l2::frame_parse_result parsed = l2::frame_view::parse(packet.frame);
    if (parsed) {
      key = decision_cache::key_of(from.id(), *parsed.frame);
      const std::uint64_t generation = table_generation_.load(std::memory_order_acquire);
      if (const std::optional<decision_cache::unicast> u = here->decisions.find(*key, generation, now)) {
        here->cached.bump();
        l2::forward_decision d;
        d.kind = l2::forward_decision::action::unicast;
        d.port = u->port;
        d.vlan = u->vlan;
        d.tag = parsed.frame->tag();
        return d;
      }
    }
  }
  const maybe_lock lock(decide_mutex_, !workers_.empty());
  l2::forward_decision d = forwarder_.decide(from.id(), packet.frame, now);
  if (d.flapped) [[unlikely]] log_flap(from, packet, d);
  // Learning put a MAC somewhere new: every remembered decision is void. Only
  // where it changed no more than the entry's time (or nothing: a static
  // entry) does this decision hold for the next frames of the flow; a source
  // refused (table full, port limit, pinned) is tried again with each frame.
  using l2::learn_result;
  const bool settled = !d.learned || *d.learned == learn_result::refreshed ||
                       *d.learned == learn_result::static_entry;
  const bool placed = d.learned == learn_result::learned || d.learned == learn_result::moved ||
                      d.learned == learn_result::flapping;
  if (placed && !workers_.empty()) table_changed();
  if (key && settled && d.kind == l2::forward_decision::action::unicast) {
    here->decisions.insert(*key, {d.port, d.vlan}, table_generation_.load(std::memory_order_relaxed), now);
  }
  return d;
}

void datapath::transmit(ports::port& out, const l2::packet& arrived, const l2::forward_decision& d) {
  worker_slot* const here = current_;
  // On the io_context thread, small frames to TAPs wait in main_tx_ for the
  // end of the handler (a worker's ring is its own, set when it started).
  const ring_scope ring(here == nullptr ? main_tx_.get() : ports::round_ring);
  if (here != nullptr && !out.thread_safe_send()) {
    // Only the io_context thread sends on this port: hand it over, in order.
    handoff_meta m;
    m.kind = handoff_meta::what::egress;
    m.port = out.id();
    m.vlan = d.vlan;
    m.tagged = d.tag.has_value();
    if (d.tag) m.tag = *d.tag;
    if (!hand_off(*here, m, arrived)) out.counters().drops.count(l2::drop_reason::tx_queue_full);
    return;
  }
  scratch& s = here != nullptr ? here->buffers : main_scratch_;
  // The tag as this port wants it (for ports without VLAN options: as it came).
  const l2::tag_change change = l2::egress_change(forwarder_.mode_of(out.id()), d.vlan, d.tag);
  const l2::packet given = change.what == l2::tag_change::action::none
                               ? arrived
                               : l2::retag(arrived, change, s.retagged);
  const l2::packet packet = clamp_mss_ && out.kind() == ports::port_kind::uplink
                                ? clamped(given, out.max_frame_size(), s)
                                : given;
  if (observed_.test(out.id())) observe(out.id(), packet);
  if (packet.offload.is_plain() || out.carries_offload()) {
    out.send(packet);
    return;
  }
  const std::size_t headroom = std::min(out.segment_headroom(), max_segment_headroom);
  const l2::segment_result segments = l2::segment(packet.frame, packet.offload, headroom, s.segments);
  if (!segments) {
    out.counters().drops.count(segments.reason);
    return;
  }
  out.send_segments(s.segments, segments);
}

void datapath::log_flap(ports::port& from, const l2::packet& packet, const l2::forward_decision& d) {
  const l2::time_point now = clock_();
  if (!flap_log_.admit(now)) return;  // five a second; the next line counts the rest
  const std::uint64_t passed_over = flap_log_.take_passed_over();
  const l2::mac_address source = l2::frame_view::parse(packet.frame).frame->source();
  const std::optional<l2::port_id> home = forwarder_.table().lookup(d.vlan, source, now);
  const std::string home_name =
      home && *home < ports_.size() && ports_[*home] ? ports_[*home]->name() : std::string("?");
  spdlog::warn("MAC {} vlan {} moved between {} and {} more than {} times in {} s (a loop, or two "
               "hosts with one address?): pinned to {} for {} s{}",
               source.to_string(), d.vlan, home_name, from.name(), flap_limit_, flap_window_,
               home_name, flap_hold_,
               passed_over == 0 ? std::string()
                                : " (" + std::to_string(passed_over) +
                                      " more flapped and were pinned, not logged one by one)");
}

void datapath::on_link_change(ports::port& p, bool up, std::string_view why) {
  std::size_t before = 0;
  {
    const maybe_lock lock(decide_mutex_, !workers_.empty());
    before = forwarder_.table().port_count(p.id());
    forwarder_.set_port_up(p.id(), up);
    table_changed();
  }
  const bool peer = p.kind() == ports::port_kind::uplink;
  if (up) {
    spdlog::info("{} {}{}{}: up: {}", peer ? "peer" : "port", p.name(), peer ? "" : " (",
                 peer ? "" : std::string(ports::to_string(p.kind())) + ")", why);
  } else {
    spdlog::warn("{} {}{}{}: down: {}; flushed {} MAC {}; the other ports carry on",
                 peer ? "peer" : "port", p.name(), peer ? "" : " (",
                 peer ? "" : std::string(ports::to_string(p.kind())) + ")", why, before,
                 before == 1 ? "entry" : "entries");
  }
}

void datapath::schedule_aging() {
  aging_timer_.expires_after(std::chrono::seconds(1));
  aging_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    std::size_t n = 0;
    {
      const maybe_lock lock(decide_mutex_, !workers_.empty());
      n = forwarder_.age(clock_());
      if (n > 0) table_changed();
    }
    if (n > 0) spdlog::debug("aged out {} MAC entries", n);
    schedule_aging();
  });
}

std::string format_counters(const ports::port_counters& c) {
  std::string text = "rx " + std::to_string(c.rx_frames) + " frames " +
                     std::to_string(c.rx_bytes) + " bytes, tx " + std::to_string(c.tx_frames) +
                     " frames " + std::to_string(c.tx_bytes) + " bytes, drops:";
  bool any = false;
  for (std::size_t i = 0; i < l2::drop_reason_count; ++i) {
    if (c.drops.by_reason[i] == 0) continue;
    text += ' ';
    text += l2::to_string(static_cast<l2::drop_reason>(i));
    text += '=';
    text += std::to_string(c.drops.by_reason[i]);
    any = true;
  }
  if (!any) text += " none";
  return text;
}

void datapath::log_counters() const {
  const pause_guard paused = pause();
  for (const auto& p : ports_) {
    if (!p) continue;
    spdlog::info("counters: port {} ({}, {}): {}", p->name(), ports::to_string(p->kind()),
                 p->is_up() ? "up" : "down", format_counters(p->counters()));
  }
  const l2::mac_table& t = forwarder_.table();
  const l2::mac_table_counters& tc = t.counters();
  spdlog::info("counters: mac table {} of {} entries; learned {}, moved {}, expired {}, refused {}",
               t.count(), t.capacity(), tc.learned, tc.moved, tc.expired, tc.refused);

  // The entries themselves, bounded so a full table does not flood the log.
  constexpr std::size_t most_listed = 100;
  std::size_t listed = 0;
  const l2::time_point now = clock_();
  t.for_each([&](const l2::mac_entry& e) {
    if (listed++ >= most_listed) return;
    const auto age = std::chrono::duration_cast<std::chrono::seconds>(now - e.last_seen).count();
    spdlog::info("mac: {} vlan {} on {} ({})", e.mac.to_string(), e.vlan,
                 e.port < ports_.size() && ports_[e.port] ? ports_[e.port]->name() : std::string("?"),
                 e.is_static ? std::string("static") : "seen " + std::to_string(age) + " s ago");
  });
  if (listed > most_listed) spdlog::info("mac: ... and {} more", listed - most_listed);
}

}  // namespace switchd
