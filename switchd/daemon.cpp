#include "switchd/daemon.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/ip/udp.hpp>

#include "ports/device_port.hpp"
#include "ports/netdev.hpp"
#include "ports/tap_port.hpp"

namespace switchd {
namespace {

namespace ip = boost::asio::ip;

/// Resolves `hp` (a name or a literal) to UDP endpoints; throws startup_error naming `option`.
std::vector<ip::udp::endpoint> resolve(boost::asio::io_context& io, const host_port& hp,
                                       const std::string& option, bool passive) {
  ip::udp::resolver resolver(io);
  boost::system::error_code ec;
  const auto flags = passive ? ip::resolver_base::passive | ip::resolver_base::numeric_service
                             : ip::resolver_base::numeric_service;
  auto results = resolver.resolve(hp.host, std::to_string(hp.port), flags, ec);
  if (ec || results.empty()) {
    throw startup_error(option + " " + hp.text + ": cannot resolve " + hp.host + " (" +
                        (ec ? ec.message() : std::string("no address")) +
                        "); check the name or give an IP address");
  }
  std::vector<ip::udp::endpoint> out;
  for (const auto& r : results) out.push_back(ports::canonical(r.endpoint()));
  return out;
}

/// The first endpoint of `family` (v4 or v6) in `eps`, or nullptr.
const ip::udp::endpoint* first_of(const std::vector<ip::udp::endpoint>& eps, bool v6) {
  for (const auto& ep : eps) {
    if (ep.address().is_v6() == v6) return &ep;
  }
  return nullptr;
}

}  // namespace

daemon::daemon(const options& opts)
    : datapath_(io_, opts.mac_table_size, std::chrono::seconds(opts.mac_aging)),
      signals_(io_) {
  if (opts.ports.size() + opts.uplinks.size() > l2::max_ports) {
    throw startup_error("too many ports: at most " + std::to_string(l2::max_ports) +
                        " ports and uplinks together");
  }
  try {
    for (const port_spec& spec : opts.ports) open_port(spec);
    open_uplinks(opts);
  } catch (const ports::port_error& e) {
    throw startup_error(e.what());
  }
}

daemon::~daemon() { datapath_.stop(); }

void daemon::open_port(const port_spec& spec) {
  const l2::port_id id = datapath_.next_id();
  const std::string where = "--port " + spec.text + ": ";
  try {
    switch (spec.mode) {
      case port_mode::tap:
        datapath_.add_port(ports::tap_port::open(io_, id, spec.name));
        return;
      case port_mode::device:
        datapath_.add_port(ports::device_port::open(io_, id, spec.name));
        return;
      case port_mode::automatic:
        break;
    }
    // A bare name: the file side when it is missing or a free TAP, else the kernel side.
    const auto type = ports::netdev::type_of(spec.name);
    if (type == ports::netdev::interface_type::other) {
      spdlog::info("{}: is not a TAP; attaching its kernel side (as dev:{})", spec.name, spec.name);
      datapath_.add_port(ports::device_port::open(io_, id, spec.name));
      return;
    }
    ports::tap_port::open_failure failure = ports::tap_port::open_failure::none;
    auto tap = ports::tap_port::open(io_, id, spec.name, &failure);
    if (tap) {
      spdlog::info("{}: {} its file side (as tap:{})", spec.name,
                   tap->created() ? "created a TAP and opened" : "attached a persistent TAP by",
                   spec.name);
      datapath_.add_port(std::move(tap));
      return;
    }
    spdlog::info("{}: the TAP is held by another process (a QEMU guest?); attaching its kernel "
                 "side (as dev:{})",
                 spec.name, spec.name);
    datapath_.add_port(ports::device_port::open(io_, id, spec.name));
  } catch (const ports::port_error& e) {
    // Port errors start with the interface name, which `where` already gives.
    std::string_view message = e.what();
    if (message.starts_with(spec.name + ": ")) message.remove_prefix(spec.name.size() + 2);
    throw startup_error(where + std::string(message));
  }
}

void daemon::open_uplinks(const options& opts) {
  if (opts.uplinks.empty()) return;

  // Resolve the peers, then pick the local endpoint's family.
  std::vector<std::vector<ip::udp::endpoint>> candidates;
  bool want_v6 = false;
  for (const host_port& hp : opts.uplinks) {
    candidates.push_back(resolve(io_, hp, "--uplink", false));
    if (first_of(candidates.back(), false) == nullptr) want_v6 = true;  // IPv6 only
  }
  ip::udp::endpoint local(want_v6 ? ip::udp::v6() : ip::udp::v4(), l2::vxlan_default_port);
  std::string listen_option = std::string("--listen ") + (want_v6 ? "[::]:4789" : "0.0.0.0:4789") +
                              " (the default)";
  if (opts.listen) {
    listen_option = "--listen " + opts.listen->text;
    local = resolve(io_, *opts.listen, "--listen", true).front();
    if (local.address().is_v4() && want_v6) {
      throw startup_error(listen_option +
                          ": is IPv4 but an --uplink peer is IPv6 only; listen on [::]:PORT "
                          "(which serves both) or on an IPv6 address");
    }
  }
  endpoint_ = ports::udp_endpoint::open(io_, local, opts.vni, listen_option);

  const bool v6 = endpoint_->is_v6();
  for (std::size_t i = 0; i < opts.uplinks.size(); ++i) {
    // On a dual-stack socket any family works; prefer IPv4 when both resolve.
    const ip::udp::endpoint* remote = first_of(candidates[i], false);
    if (remote == nullptr && v6) remote = first_of(candidates[i], true);
    if (remote == nullptr) {
      throw startup_error("--uplink " + opts.uplinks[i].text + ": has no IPv4 address but " +
                          listen_option + " is IPv4; listen on [::]:PORT instead");
    }
    for (const auto& other : datapath_.ports()) {
      const auto* up = dynamic_cast<const ports::uplink_port*>(other.get());
      if (up != nullptr && up->remote() == *remote) {
        throw startup_error("--uplink " + opts.uplinks[i].text + ": is the same peer as --uplink " +
                            up->name() + "; give each peer once");
      }
    }
    if (*remote == ports::canonical(endpoint_->local())) {
      throw startup_error("--uplink " + opts.uplinks[i].text +
                          ": is this daemon's own --listen address; name another host's");
    }
    datapath_.add_port(std::make_unique<ports::uplink_port>(datapath_.next_id(),
                                                            opts.uplinks[i].text, *endpoint_,
                                                            *remote));
  }
}

void daemon::wait_for_signals() {
  signals_.async_wait([this](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    if (signo == SIGUSR1) {
      log_counters();
      wait_for_signals();
      return;
    }
    spdlog::info("{}: stopping", signo == SIGINT ? "SIGINT" : "SIGTERM");
    datapath_.stop();
    if (endpoint_) endpoint_->stop();
    io_.stop();
  });
}

int daemon::run() {
  signals_.add(SIGINT);
  signals_.add(SIGTERM);
  signals_.add(SIGUSR1);
  wait_for_signals();
  datapath_.start();
  spdlog::info("vswitchd ready: {} ports, MAC table {} entries, aging {} s",
               datapath_.ports().size(), datapath_.forwarder().table().capacity(),
               std::chrono::duration_cast<std::chrono::seconds>(
                   datapath_.forwarder().table().aging()).count());
  if (endpoint_) {
    spdlog::info("uplinks: VXLAN VNI {} on UDP {}", endpoint_->vni(),
                 ports::to_string(endpoint_->local()));
  }
  io_.run();
  log_counters();
  return 0;
}

void daemon::log_counters() const {
  if (endpoint_) {
    const auto& c = endpoint_->counters();
    spdlog::info("counters: udp endpoint: rx {} datagrams, dropped from non-peers {}",
                 c.rx_datagrams, c.drops[l2::drop_reason::not_peer]);
  }
  datapath_.log_counters();
}

}  // namespace switchd
