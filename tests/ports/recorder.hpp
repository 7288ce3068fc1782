// A port_listener for the port tests: records every frame (bytes and offload
// header) and every link change, in order. And a port that only counts what
// is charged to it (a tx_ring's completions).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ports/port.hpp"
#include "tests/l2/test_bytes.hpp"

namespace ports_test {

struct received_frame {
  ports::port* from = nullptr;
  l2_test::byte_vector bytes;
  l2::vnet_header offload;
};

struct link_event {
  ports::port* from = nullptr;
  bool up = false;
  std::string why;
};

class recorder final : public ports::port_listener {
 public:
  void on_frame(ports::port& from, const l2::packet& packet) override {
    frames.push_back({&from, l2_test::byte_vector(packet.frame.begin(), packet.frame.end()), packet.offload});
  }
  void on_link_change(ports::port& p, bool up, std::string_view why) override {
    links.push_back({&p, up, std::string(why)});
  }
  std::vector<received_frame> frames;
  std::vector<link_event> links;
};

/// A port that only counts: what a tx_ring or a batch charges to it.
class counted_port final : public ports::port {
 public:
  counted_port() : port(1, "p", ports::port_kind::tap) {}
  void start(ports::port_listener& listener) override { listener_ = &listener; }
  void send(const l2::packet&) override {}
  void stop() override {}
  std::string describe() const override { return "counted"; }
};

}  // namespace ports_test
