// capture: one `vswitchctl capture` — the frames entering and leaving one
// port, streamed as pcap records to a control client (the record format is
// in docs/control-protocol.md). The daemon starts and ends it
// (switchd/commands.cpp); the datapath shows it the frames.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>

#include "switchd/control.hpp"
#include "switchd/datapath.hpp"
#include "switchd/pcap.hpp"

namespace switchd {

/// One `vswitchctl capture`: streams pcap records of the frames entering and
/// leaving one port to a control client. Allocates only when the client's
/// queue grows; a client that does not keep up loses records (counted).
class capture_session final : public frame_observer {
 public:
  static constexpr std::uint32_t snaplen = 262144;

  capture_session(boost::asio::io_context& io, std::shared_ptr<control_client> client,
                  l2::port_id port, std::uint64_t count, std::uint64_t serial)
      : client_(std::move(client)), timer_(io), port_(port), limit_(count), serial_(serial) {}

  void observe(l2::port_id, const l2::packet& packet) override {
    if (ended_) return;
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    const auto usec = std::chrono::duration_cast<std::chrono::microseconds>(now).count();
    const std::size_t size = packet.frame.size();
    const std::size_t kept = std::min<std::size_t>(size, snaplen);
    const auto header = pcap::record_header<std::byte>(static_cast<std::uint64_t>(usec),
                                                       static_cast<std::uint32_t>(kept),
                                                       static_cast<std::uint32_t>(size));
    if (client_->stream(header, packet.frame.first(kept))) {
      ++captured_;
    } else {
      ++dropped_;
    }
    if (limit_ != 0 && captured_ >= limit_) finish_soon("count");
  }

  /// Ends the capture after the current handler (the datapath may be
  /// iterating its observers): the timer's handler wakes up and ends it.
  void finish_soon(const char* reason) {
    if (ended_) return;
    ended_ = true;
    reason_ = reason;
    timer_.cancel();
  }

  std::shared_ptr<control_client> client_;
  boost::asio::steady_timer timer_;  ///< --seconds, and the deferred end
  l2::port_id port_;
  std::uint64_t limit_;
  std::uint64_t serial_;  ///< finds it again after an asynchronous wait
  std::uint64_t captured_ = 0;
  std::uint64_t dropped_ = 0;
  bool ended_ = false;
  const char* reason_ = "stopping";
};

}  // namespace switchd
