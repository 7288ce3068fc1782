#include "switchd/port_factory.hpp"

#include <spdlog/spdlog.h>

#include "ports/device_port.hpp"
#include "ports/dgram_port.hpp"
#include "ports/netdev.hpp"
#include "ports/tap_port.hpp"

namespace switchd {

std::unique_ptr<ports::port> system_port_factory::open(const port_spec& spec, l2::port_id id) {
  switch (spec.mode) {
    case port_mode::tap:
      return ports::tap_port::open(io_, id, spec.name, nullptr, queues_);
    case port_mode::device:
      return ports::device_port::open(io_, id, spec.name, queues_);
    case port_mode::dgram:
      return ports::dgram_port::open(io_, id, spec.name, ports::parse_dgram_spec(spec.name, "--port"),
                                     ports::unix_socket_access{}, "--port " + spec.text);
    case port_mode::automatic:
      break;
  }
  // A bare name: the file side when it is missing or a free TAP, else the kernel side.
  const auto type = ports::netdev::type_of(spec.name);
  if (type == ports::netdev::interface_type::other) {
    spdlog::info("{}: is not a TAP; attaching its kernel side (as dev:{})", spec.name, spec.name);
    return ports::device_port::open(io_, id, spec.name, queues_);
  }
  ports::tap_port::open_failure failure = ports::tap_port::open_failure::none;
  auto tap = ports::tap_port::open(io_, id, spec.name, &failure, queues_);
  if (tap) {
    spdlog::info("{}: {} its file side (as tap:{})", spec.name,
                 tap->created() ? "created a TAP and opened" : "attached a persistent TAP by",
                 spec.name);
    return tap;
  }
  spdlog::info("{}: the TAP is held by another process (a QEMU guest?); attaching its kernel "
               "side (as dev:{})",
               spec.name, spec.name);
  return ports::device_port::open(io_, id, spec.name, queues_);
}

bool system_port_factory::interface_exists(const std::string& name) const {
  return ports::netdev::index_of(name) != 0;
}

std::unique_ptr<ports::port> system_port_factory::open_stream(ports::stream_connection connection,
                                                              l2::port_id id, const std::string& name,
                                                              gone_handler on_gone) {
  return std::make_unique<ports::stream_port>(
      io_, id, name, std::move(connection),
      [on_gone = std::move(on_gone)](ports::stream_port& p, const std::string& why) { on_gone(p, why); });
}

}  // namespace switchd
