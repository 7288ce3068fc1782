#include "switchd/datapath.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "l2/tcp_mss.hpp"
#include <stdexcept>

namespace switchd {
namespace {

/// The most headroom any port asks for in front of a segment (VXLAN: 8 bytes).
constexpr std::size_t max_segment_headroom = 64;

}  // namespace

datapath::datapath(boost::asio::io_context& io, std::size_t table_capacity,
                   std::chrono::seconds mac_aging, clock_fn clock)
    : forwarder_(table_capacity, mac_aging),
      clock_(clock),
      aging_timer_(io),
      segments_(l2::segment_buffer_size(l2::max_frame_size, max_segment_headroom)),
      retagged_(l2::max_frame_size + l2::vlan_tag_size) {}

datapath::~datapath() { stop(); }

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
  forwarder_.add_port(id, *role, vlans);
  forwarder_.set_port_up(id, p->is_up());
  if (id == ports_.size()) {
    ports_.push_back(std::move(p));
  } else {
    ports_[id] = std::move(p);
  }
  if (started_) {
    ports_[id]->start(*this);
    spdlog::info("port {}: {}", id, ports_[id]->describe());
  }
}

void datapath::remove_port(l2::port_id id) {
  if (id >= ports_.size() || !ports_[id]) return;
  if (observed_.test(id)) throw std::logic_error("datapath::remove_port: the port is watched");
  ports_[id]->stop();
  forwarder_.remove_port(id);
  ports_[id].reset();
  while (!ports_.empty() && !ports_.back()) ports_.pop_back();
}

void datapath::start() {
  started_ = true;
  for (auto& p : ports_) {
    if (!p) continue;
    p->start(*this);
    spdlog::info("port {}: {}", p->id(), p->describe());
  }
  schedule_aging();
}

void datapath::stop() {
  aging_timer_.cancel();
  for (auto& p : ports_) {
    if (p) p->stop();
  }
}

l2::packet datapath::clamped(const l2::packet& packet, std::size_t max_frame) {
  // Only a SYN whose MSS is too large is copied and rewritten; the check reads only.
  if (packet.frame.size() > syn_copy_.size() || packet.offload.is_gso() ||
      !l2::needs_mss_clamp(packet.frame, max_frame)) {
    return packet;
  }
  std::copy(packet.frame.begin(), packet.frame.end(), syn_copy_.begin());
  const std::span<std::byte> copy(syn_copy_.data(), packet.frame.size());
  const bool partial = (packet.offload.flags & l2::vnet_flag_needs_csum) != 0;
  if (!l2::clamp_mss(copy, max_frame, partial)) return packet;
  return l2::packet{copy, packet.offload};
}

void datapath::watch(l2::port_id port, frame_observer& o) {
  observers_.emplace_back(port, &o);
  observed_.set(port);
}

void datapath::unwatch(frame_observer& o) {
  std::erase_if(observers_, [&](const auto& w) { return w.second == &o; });
  observed_.reset();
  for (const auto& w : observers_) observed_.set(w.first);
}

void datapath::observe(l2::port_id port, const l2::packet& packet) {
  for (const auto& [watched, o] : observers_) {
    if (watched == port) o->observe(port, packet);
  }
}

void datapath::on_frame(ports::port& from, const l2::packet& arrived) {
  ++frames_seen_;
  if (observed_.test(from.id())) observe(from.id(), arrived);
  // A SYN from across an uplink is clamped for the way back too.
  const l2::packet packet = clamp_mss_ && from.kind() == ports::port_kind::uplink
                                ? clamped(arrived, from.max_frame_size())
                                : arrived;
  const l2::forward_decision d = forwarder_.decide(from.id(), packet.frame, clock_());
  if (d.flapped) [[unlikely]] log_flap(from, packet, d);
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

void datapath::transmit(ports::port& out, const l2::packet& arrived, const l2::forward_decision& d) {
  // The tag as this port wants it (for ports without VLAN options: as it came).
  const l2::tag_change change = l2::egress_change(forwarder_.mode_of(out.id()), d.vlan, d.tag);
  const l2::packet given = change.what == l2::tag_change::action::none
                               ? arrived
                               : l2::retag(arrived, change, retagged_);
  const l2::packet packet = clamp_mss_ && out.kind() == ports::port_kind::uplink
                                ? clamped(given, out.max_frame_size())
                                : given;
  if (observed_.test(out.id())) observe(out.id(), packet);
  if (packet.offload.is_plain() || out.carries_offload()) {
    out.send(packet);
    return;
  }
  const std::size_t headroom = std::min(out.segment_headroom(), max_segment_headroom);
  const l2::segment_result segments = l2::segment(packet.frame, packet.offload, headroom, segments_);
  if (!segments) {
    out.counters().drops.count(segments.reason);
    return;
  }
  out.send_segments(segments_, segments);
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
  const std::size_t before = forwarder_.table().port_count(p.id());
  forwarder_.set_port_up(p.id(), up);
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
    const std::size_t n = forwarder_.age(clock_());
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
