// address: IP addresses and ports as vswitchd writes, reads and compares
// them, in one place: the one splitter of "HOST:PORT" / "[IPv6]:PORT" (for
// names, as --uplink takes them, and for literal addresses, as stream and
// dgram ports take them), "ADDR:PORT" text, IPv4-mapped IPv6 turned back into
// IPv4, the choice among a name's addresses, and whether an address is this
// host's.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/udp.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ports {

/// "HOST:PORT" split, not yet checked beyond its form.
struct host_port_text {
  std::string host;  ///< a name or an address; an IPv6 address without its brackets
  std::string port;  ///< the port's text
  bool bracketed = false;  ///< written [HOST]:PORT
};

/// Splits "HOST:PORT", "ADDR:PORT" or "[IPv6]:PORT". Returns nullopt and sets
/// *problem (what is wrong, with an example using `example_port`) when the
/// form is wrong: no port, an IPv6 address without brackets, no host.
std::optional<host_port_text> split_host_port(std::string_view text, std::string* problem,
                                              std::string_view example_port = "4789");

/// An IP address and a port, as parsed from "ADDR:PORT" or "[ADDR]:PORT".
struct ip_port {
  boost::asio::ip::address address;
  std::uint16_t port = 0;
};

/// Parses "192.0.2.1:5000" or "[2001:db8::1]:5000" (literal addresses only,
/// port 1 to 65535). Returns nullopt and sets *problem (what is wrong, with
/// an example) when the text is not of that form.
std::optional<ip_port> parse_ip_port(std::string_view text, std::string* problem);

/// "192.0.2.1:5000" or "[2001:db8::1]:5000".
std::string to_string(const boost::asio::ip::address& address, std::uint16_t port);
std::string to_string(const boost::asio::ip::udp::endpoint& ep);

/// The address a datagram came from, with IPv4-mapped IPv6 turned back into IPv4.
boost::asio::ip::udp::endpoint canonical(const boost::asio::ip::udp::endpoint& ep);

/// The same addresses, canonical (IPv4-mapped as IPv4), in order.
std::vector<boost::asio::ip::udp::endpoint> canonical(std::vector<boost::asio::ip::udp::endpoint> addresses);

/// The addresses a name resolved to, canonical (IPv4-mapped as IPv4), in order.
std::vector<boost::asio::ip::udp::endpoint> addresses_of(
    const boost::asio::ip::udp::resolver::results_type& results);

/// The address to reach a peer at among `candidates`: the first IPv4 one;
/// else, if the socket is dual-stack (`v6_socket`), the first IPv6 one.
std::optional<boost::asio::ip::udp::endpoint> pick_peer_address(
    const std::vector<boost::asio::ip::udp::endpoint>& candidates, bool v6_socket);

/// Whether `address` is on one of this host's interfaces.
bool is_local_address(const boost::asio::ip::address& address);

/// `ep` as a socket of that kind takes it: IPv4 as IPv4-mapped IPv6 on a
/// dual-stack (IPv6) socket, as it is otherwise.
boost::asio::ip::udp::endpoint socket_endpoint(const boost::asio::ip::udp::endpoint& ep, bool v6_socket);

/// The addresses on this host's interfaces, loopback included (IPv6 with their scope).
std::vector<boost::asio::ip::address> local_addresses();

}  // namespace ports
