// checksum: the Internet checksum (RFC 1071) over byte spans, for IPv4
// headers and TCP/UDP over IPv4 and IPv6. Sums are kept unfolded in 64 bits
// while adding and folded to 16 bits at the end. Used by software
// segmentation, checksum completion and GRO (offload, coalesce).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace l2::checksum {

/// Adds `bytes` (as big-endian 16-bit words, an odd last byte padded with 0)
/// to the running sum `sum`. Spans added one after the other must each start
/// at an even offset of the checksummed data, except the last.
std::uint64_t add(std::uint64_t sum, std::span<const std::byte> bytes);

/// Adds one 16-bit value (host order) to the running sum.
inline std::uint64_t add16(std::uint64_t sum, std::uint16_t value) { return sum + value; }

/// Folds a running sum to 16 bits (ones'-complement addition of the halves).
std::uint16_t fold(std::uint64_t sum);

/// The checksum field value for a running sum: ~fold(sum).
inline std::uint16_t finish(std::uint64_t sum) { return static_cast<std::uint16_t>(~fold(sum)); }

/// Sum of the TCP/UDP pseudo-header: source and destination addresses (4 bytes
/// each for IPv4, 16 for IPv6, as in the packet), protocol and L4 length.
std::uint64_t pseudo_header(std::span<const std::byte> source, std::span<const std::byte> destination,
                            std::uint8_t protocol, std::uint32_t l4_length);

}  // namespace l2::checksum
