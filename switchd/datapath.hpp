// datapath: wires ports to the switch core. Every port's frames come here
// (port_listener); each is handed to l2::forwarder::decide and the decision
// is carried out: drop (counted on the ingress port by reason), send to one
// port, or send to every port of the flood set. Link changes mark ports up or
// down in the forwarder (down flushes their MAC entries). A timer ages the MAC
// table once a second. Everything runs on one io_context thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <array>
#include <bitset>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "l2/forwarder.hpp"
#include "ports/log_limiter.hpp"
#include "ports/port.hpp"

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
  /// Starts every port and the aging timer.
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

  /// Frames the ports have handed over since start (all of them, dropped or not).
  std::uint64_t frames_seen() const { return frames_seen_; }

  /// The time as the MAC table sees it.
  l2::time_point now() const { return clock_(); }

  static l2::time_point real_clock() { return std::chrono::steady_clock::now(); }

 private:
  void schedule_aging();
  /// Sends `packet` (decided as `d`) out of `out`: with its tag as `out`
  /// wants it; as it is if it is plain or `out` carries offloads, else
  /// segmented (or its checksum completed) in software.
  void transmit(ports::port& out, const l2::packet& packet, const l2::forward_decision& d);

  l2::forwarder forwarder_;
  clock_fn clock_;
  std::vector<std::unique_ptr<ports::port>> ports_;  ///< indexed by port id
  boost::asio::steady_timer aging_timer_;
  /// A copy of `frame` with its TCP MSS clamped to `max_frame`, or `frame`
  /// itself when it is not a SYN that needs it.
  l2::packet clamped(const l2::packet& packet, std::size_t max_frame);

  /// Calls the observers of `port`.
  void observe(l2::port_id port, const l2::packet& packet);

  std::vector<std::pair<l2::port_id, frame_observer*>> observers_;
  std::bitset<l2::max_ports> observed_;  ///< ports with an observer: one test per frame
  std::vector<std::byte> segments_;  ///< software GSO output; allocated once
  std::vector<std::byte> retagged_;  ///< a frame with its tag pushed, popped or changed
  std::array<std::byte, 512> syn_copy_{};  ///< a SYN being clamped
  bool clamp_mss_ = false;
  /// Logs that a MAC flapped (rate-limited: a flood of flapping MACs is not a flood of lines).
  void log_flap(ports::port& from, const l2::packet& packet, const l2::forward_decision& d);
  unsigned flap_limit_ = 0, flap_window_ = 0, flap_hold_ = 0;
  ports::log_limiter flap_log_{5};
  bool started_ = false;
  std::uint64_t frames_seen_ = 0;
};

/// "rx 3 frames 294 bytes, tx 2 frames 196 bytes, drops: reflection=1" for one port.
std::string format_counters(const ports::port_counters& c);

}  // namespace switchd
