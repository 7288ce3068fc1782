// Basic vocabulary of the switch core: port and VLAN identifiers and the time
// type. l2 never reads a clock; callers pass `now` as an l2::time_point, so
// tests drive aging by handing in a later time instead of sleeping.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace l2 {

/// Index of a port in the switch; dense, small, assigned by the daemon.
using port_id = std::uint16_t;

/// Upper bound on the number of ports a switch may have (port ids are < this).
inline constexpr std::size_t max_ports = 1024;

/// A port id that names no port.
inline constexpr port_id no_port = 0xffff;

/// 802.1Q VLAN identifier (12 bits). 0 means "untagged / no VLAN".
using vlan_id = std::uint16_t;

/// Largest valid VLAN id (4095 is reserved).
inline constexpr vlan_id max_vlan_id = 4094;

/// Monotonic time, handed in by the caller.
using time_point = std::chrono::steady_clock::time_point;

}  // namespace l2
