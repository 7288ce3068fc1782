// port_factory: opens what a port_spec names. With port_spec (the parser),
// the only place that knows the kinds of local port: `tap:` (a TAP's file
// side), `dev:` (an interface's kernel side, AF_PACKET), a bare name (either,
// whichever fits), `dgram:` (a QEMU -netdev dgram guest), and QEMU stream
// connections. Everything else sees ports::port. The port_registry opens
// ports through this interface, so tests run the daemon's wiring with a fake
// factory that makes fake ports.
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <string>

#include "ports/port.hpp"
#include "ports/stream_port.hpp"
#include "switchd/port_spec.hpp"

namespace switchd {

class port_factory {
 public:
  virtual ~port_factory() = default;
  /// Opens the port `spec` names as port `id`. Throws ports::port_error
  /// (its message starts with the interface name) naming the fix.
  virtual std::unique_ptr<ports::port> open(const port_spec& spec, l2::port_id id) = 0;
  /// Whether an interface called `name` exists here (a port whose interface
  /// went away is opened again once it is back).
  virtual bool interface_exists(const std::string& name) const = 0;
  /// Called (posted) once a guest's port has closed: the owner removes it then.
  using gone_handler = std::function<void(ports::port& port, const std::string& why)>;
  /// The port of a QEMU stream guest that connected (`connection`), as port `id`.
  virtual std::unique_ptr<ports::port> open_stream(ports::stream_connection connection, l2::port_id id,
                                                   const std::string& name, gone_handler on_gone) = 0;
};

/// The real thing: TAPs, AF_PACKET sockets and dgram sockets on `io`.
class system_port_factory final : public port_factory {
 public:
  explicit system_port_factory(boost::asio::io_context& io) : io_(io) {}
  /// Queues per port, one per data-path worker (1: one thread): the queues
  /// of the TAPs it creates, the sockets of a dev: port's fanout group.
  void set_worker_queues(std::size_t queues) { queues_ = queues; }
  std::unique_ptr<ports::port> open(const port_spec& spec, l2::port_id id) override;
  bool interface_exists(const std::string& name) const override;
  std::unique_ptr<ports::port> open_stream(ports::stream_connection connection, l2::port_id id,
                                           const std::string& name, gone_handler on_gone) override;

 private:
  boost::asio::io_context& io_;
  std::size_t queues_ = 1;
};

}  // namespace switchd
