#include "ports/address.hpp"

#include <ifaddrs.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>

namespace ports {

namespace ip = boost::asio::ip;

std::optional<host_port_text> split_host_port(std::string_view text, std::string* problem,
                                              std::string_view example_port) {
  const auto fail = [&](std::string what) -> std::optional<host_port_text> {
    if (problem != nullptr) *problem = std::move(what);
    return std::nullopt;
  };
  const std::string brackets = "write an IPv6 address in brackets: [ADDR]:PORT, e.g. [2001:db8::1]:" +
                               std::string(example_port);
  host_port_text out;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return fail(brackets);
    }
    out.host = std::string(text.substr(1, close - 1));
    out.port = std::string(text.substr(close + 2));
    out.bracketed = true;
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return fail("no port; write HOST:PORT, e.g. " + std::string(text) + ":" + std::string(example_port));
    }
    if (text.find(':') != colon) return fail(brackets);
    out.host = std::string(text.substr(0, colon));
    out.port = std::string(text.substr(colon + 1));
  }
  if (out.host.empty()) {
    return fail("no host or address; write HOST:PORT, or 0.0.0.0:PORT or [::]:PORT for every address");
  }
  return out;
}

std::optional<ip_port> parse_ip_port(std::string_view text, std::string* problem) {
  const std::optional<host_port_text> split = split_host_port(text, problem, "5000");
  if (!split) return std::nullopt;
  const auto fail = [&](std::string what) -> std::optional<ip_port> {
    if (problem != nullptr) *problem = std::move(what);
    return std::nullopt;
  };
  unsigned port = 0;
  const std::string& p = split->port;
  const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
  if (p.empty() || ec != std::errc{} || end != p.data() + p.size() || port == 0 || port > 65535) {
    return fail("the port must be a number from 1 to 65535");
  }
  boost::system::error_code bad;
  const auto address = ip::make_address(split->host, bad);
  if (bad || split->bracketed != address.is_v6()) {
    return fail("'" + split->host +
                "' is not an IP address (names are not resolved here); e.g. 127.0.0.1:5000 or "
                "[::1]:5000");
  }
  return ip_port{address, static_cast<std::uint16_t>(port)};
}

std::string to_string(const ip::address& address, std::uint16_t port) {
  // (Appends only: GCC 12 at -O3 warns falsely, -Wrestrict, on "[" + string.)
  std::string text;
  if (address.is_v6()) text += '[';
  text += address.to_string();
  if (address.is_v6()) text += ']';
  text += ':';
  text += std::to_string(port);
  return text;
}

std::string to_string(const ip::udp::endpoint& ep) { return to_string(ep.address(), ep.port()); }

ip::udp::endpoint socket_endpoint(const ip::udp::endpoint& ep, bool v6_socket) {
  if (!v6_socket || !ep.address().is_v4()) return ep;
  return ip::udp::endpoint(ip::make_address_v6(ip::v4_mapped, ep.address().to_v4()), ep.port());
}

std::vector<ip::address> local_addresses() {
  std::vector<ip::address> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return out;
  for (const ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
    if (a->ifa_addr == nullptr) continue;
    if (a->ifa_addr->sa_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(a->ifa_addr);
      out.push_back(ip::address_v4(ntohl(in->sin_addr.s_addr)));
    } else if (a->ifa_addr->sa_family == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(a->ifa_addr);
      ip::address_v6::bytes_type bytes;
      std::memcpy(bytes.data(), &in6->sin6_addr, bytes.size());
      out.push_back(ip::address_v6(bytes, in6->sin6_scope_id));
    }
  }
  ::freeifaddrs(list);
  return out;
}

bool is_local_address(const ip::address& address) {
  // The addresses on this host's interfaces (not a bind test: with
  // ip_nonlocal_bind every bind succeeds).
  if (address.is_loopback()) return true;  // all of 127/8 and ::1, listed or not
  for (const ip::address& a : local_addresses()) {
    if (a.is_v6() && address.is_v6() ? a.to_v6().to_bytes() == address.to_v6().to_bytes() : a == address)
      return true;
  }
  return false;
}

std::vector<ip::udp::endpoint> addresses_of(const ip::udp::resolver::results_type& results) {
  std::vector<ip::udp::endpoint> out;
  for (const auto& r : results) out.push_back(canonical(r.endpoint()));
  return out;
}

std::vector<ip::udp::endpoint> canonical(std::vector<ip::udp::endpoint> addresses) {
  for (ip::udp::endpoint& ep : addresses) ep = canonical(ep);
  return addresses;
}

std::optional<ip::udp::endpoint> pick_peer_address(const std::vector<ip::udp::endpoint>& candidates,
                                                   bool v6_socket) {
  for (const ip::udp::endpoint& ep : candidates) {
    if (ep.address().is_v4()) return ep;
  }
  for (const ip::udp::endpoint& ep : candidates) {
    if (v6_socket && ep.address().is_v6()) return ep;
  }
  return std::nullopt;
}

ip::udp::endpoint canonical(const ip::udp::endpoint& ep) {
  const ip::address a = ep.address();
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return {ip::make_address_v4(ip::v4_mapped, a.to_v6()), ep.port()};
  }
  return ep;
}

}  // namespace ports
