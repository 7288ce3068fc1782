// resolver: name lookups that never hold the daemon up. Asio's resolver runs
// getaddrinfo on one private thread that the io_context waits for when it is
// destroyed, so a name server that does not answer delays the daemon's exit
// by its timeouts, and one slow name delays every other lookup. Here each
// lookup runs on its own detached thread and posts its answer to the
// io_context, unless cancel() (or the destructor) came first: then the answer
// is dropped, and nothing waits for the thread. At most `max_pending` lookups
// run at once; more fail at once (try_again).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ports {

class resolver {
 public:
  using handler = std::function<void(const boost::system::error_code&,
                                     std::vector<boost::asio::ip::udp::endpoint>)>;
  static constexpr std::size_t max_pending = 32;

  explicit resolver(boost::asio::io_context& io);
  /// Cancels: no handler runs after this.
  ~resolver();
  resolver(const resolver&) = delete;
  resolver& operator=(const resolver&) = delete;

  /// Looks `host` up (a name or a literal; `service` a port number) for UDP
  /// and calls `h` on the io_context with the addresses, in the order
  /// getaddrinfo gives them, or with an error whose message says why.
  void async_resolve(const std::string& host, const std::string& service, handler h);
  /// Drops every pending answer; later lookups work again.
  void cancel();

 private:
  struct state;
  std::shared_ptr<state> state_;
};

}  // namespace ports
