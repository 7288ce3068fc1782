// fake_port: a port without a device, for running the daemon's wiring without
// privileges. inject() plays a frame arriving from outside; sent holds every
// frame the switch handed to the port; fail_sends makes sends fail as a
// broken device would; go_down()/go_up() play link changes; gone plays its
// interface deleted under it.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "ports/port.hpp"

namespace switchd::testing {

class fake_port final : public ports::port {
 public:
  fake_port(l2::port_id id, std::string name, ports::port_kind kind = ports::port_kind::other)
      : port(id, std::move(name), kind) {}

  void start(ports::port_listener& listener) override { listener_ = &listener; }
  void send(const l2::packet& packet) override {
    if (fail_sends) {
      counters_.drops.count(l2::drop_reason::tx_error);
      return;
    }
    sent.emplace_back(packet.frame.begin(), packet.frame.end());
    sent_offload.push_back(packet.offload);
    count_tx(packet.frame.size());
  }
  bool carries_offload() const override { return offload; }
  std::size_t max_frame_size() const override { return max_frame; }
  void stop() override {}
  std::string describe() const override { return "fake " + name(); }
  bool detached() const override { return gone; }

  /// A frame arrives from outside.
  void inject(std::span<const std::byte> frame, const l2::vnet_header& offload = {}) {
    deliver(l2::packet{frame, offload});
  }
  void go_down(std::string_view why) { set_up(false, why); }
  void go_up(std::string_view why) { set_up(true, why); }

  std::vector<std::vector<std::byte>> sent;  ///< frames sent out, in order
  std::vector<l2::vnet_header> sent_offload; ///< their offload headers
  bool fail_sends = false;                   ///< make send() fail (tx_error)
  bool offload = false;                      ///< carries_offload()
  std::size_t max_frame = l2::max_frame_size; ///< max_frame_size()
  bool gone = false;                         ///< detached(): its interface was deleted
};

}  // namespace switchd::testing
