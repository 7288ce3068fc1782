// address_watch: tells when this host's IP addresses change (rtnetlink
// RTM_NEWADDR / RTM_DELADDR), so that the sealed uplinks can tell their peers
// at once where they are now (a roaming host: DHCP renewal, Wi-Fi to LTE, a
// migrated VM) instead of at the next keepalive.
#pragma once

#include <boost/asio/io_context.hpp>

#include <functional>
#include <optional>

#include "ports/read_loop.hpp"

namespace ports {

class address_watch {
 public:
  /// Calls `changed` after each batch of address events. Without netlink
  /// (no permission, an old kernel) it watches nothing; working() says so.
  address_watch(boost::asio::io_context& io, std::function<void()> changed);
  bool working() const { return reader_ && reader_->fd() >= 0; }
  void stop() {
    if (reader_) reader_->close();
  }

 private:
  read_loop::step read_one();

  std::optional<read_loop> reader_;
  std::function<void()> changed_;
};

}  // namespace ports
