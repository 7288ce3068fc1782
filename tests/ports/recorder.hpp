// A port_listener for the port tests: records every frame (bytes and offload
// header) and every link change, in order.
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

}  // namespace ports_test
