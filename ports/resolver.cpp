#include "ports/resolver.hpp"

#include <netdb.h>
#include <sys/socket.h>

#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <cstring>
#include <mutex>
#include <thread>

namespace ports {

namespace ip = boost::asio::ip;

/// Shared by the resolver and its lookup threads.
struct resolver::state {
  std::mutex mutex;
  boost::asio::io_context* io = nullptr;  ///< null once the resolver is gone
  std::uint64_t generation = 0;           ///< bumped by cancel()
  std::size_t pending = 0;
};

resolver::resolver(boost::asio::io_context& io) : state_(std::make_shared<state>()) { state_->io = &io; }

resolver::~resolver() {
  const std::lock_guard lock(state_->mutex);
  state_->io = nullptr;
  ++state_->generation;
}

void resolver::cancel() {
  const std::lock_guard lock(state_->mutex);
  ++state_->generation;
}

void resolver::async_resolve(const std::string& host, const std::string& service, handler h) {
  std::uint64_t generation = 0;
  {
    const std::lock_guard lock(state_->mutex);
    if (state_->pending >= max_pending) {
      boost::asio::post(*state_->io, [h = std::move(h)] {
        h(boost::asio::error::try_again, {});
      });
      return;
    }
    ++state_->pending;
    generation = state_->generation;
  }
  std::thread([shared = state_, host, service, generation, h = std::move(h)]() mutable {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
    addrinfo* list = nullptr;
    const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &list);
    boost::system::error_code ec;
    std::vector<ip::udp::endpoint> found;
    if (rc != 0) {
      ec = rc == EAI_NONAME ? boost::system::error_code(boost::asio::error::host_not_found)
                            : boost::system::error_code(rc, boost::asio::error::get_addrinfo_category());
    } else {
      for (const addrinfo* a = list; a != nullptr; a = a->ai_next) {
        ip::udp::endpoint ep;
        if (a->ai_addrlen > ep.capacity()) continue;
        std::memcpy(ep.data(), a->ai_addr, a->ai_addrlen);
        ep.resize(a->ai_addrlen);
        found.push_back(ep);
      }
      ::freeaddrinfo(list);
      if (found.empty()) ec = boost::asio::error::host_not_found;
    }
    const std::lock_guard lock(shared->mutex);
    --shared->pending;
    if (shared->io == nullptr || shared->generation != generation) return;  // cancelled meanwhile
    boost::asio::post(*shared->io, [shared, generation, h = std::move(h), ec,
                                    found = std::move(found)]() mutable {
      {
        // cancel() may have come between the post and now.
        const std::lock_guard again(shared->mutex);
        if (shared->io == nullptr || shared->generation != generation) return;
      }
      h(ec, std::move(found));
    });
  }).detach();
}

}  // namespace ports
