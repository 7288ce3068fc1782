// Helpers shared by the l2 unit tests: byte vectors from integer literals,
// MAC literals, and building a frame's bytes from header values.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "l2/frame.hpp"
#include "l2/mac_address.hpp"
#include "l2/types.hpp"

namespace l2_test {

using byte_vector = std::vector<std::byte>;

/// The Internet checksum's folded sum, the obvious way, as an independent
/// reference for l2::checksum: 16-bit big-endian words, end-around carry after
/// every addition, an odd last byte padded with zero.
inline std::uint16_t reference_sum(std::span<const std::byte> data) {
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i < data.size(); i += 2) {
    std::uint32_t word = std::to_integer<std::uint32_t>(data[i]) << 8;
    if (i + 1 < data.size()) word |= std::to_integer<std::uint32_t>(data[i + 1]);
    sum += word;
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<std::uint16_t>(sum);
}

/// Bytes from integer literals, e.g. bytes({0x08, 0x00}).
inline byte_vector bytes(std::initializer_list<int> values) {
  byte_vector out;
  out.reserve(values.size());
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

/// A MAC from its text form; fails the test if the text is malformed.
inline l2::mac_address mac(std::string_view text) {
  const std::optional<l2::mac_address> parsed = l2::mac_address::parse(text);
  EXPECT_TRUE(parsed.has_value()) << text;
  return parsed.value_or(l2::mac_address{});
}

/// A frame with the given header and `payload_size` bytes of payload.
inline byte_vector make_frame(const l2::frame_header& header, std::size_t payload_size = 46) {
  byte_vector out(header.size() + payload_size, std::byte{0x5a});
  l2::emit(header, out);
  return out;
}

/// An IPv4 frame from `source` to `destination`, tagged with `vid` when given.
inline byte_vector make_frame(std::string_view destination, std::string_view source,
                              std::optional<l2::vlan_id> vid = std::nullopt) {
  l2::frame_header header;
  header.destination = mac(destination);
  header.source = mac(source);
  if (vid) header.tag = l2::vlan_tag{0, false, *vid};
  header.ethertype = 0x0800;
  return make_frame(header);
}

/// Fake time: `n` seconds after an arbitrary epoch.
inline l2::time_point at(long n) { return l2::time_point{} + std::chrono::seconds(n); }

}  // namespace l2_test
