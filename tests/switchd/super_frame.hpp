// make_super_frame: a TCP super-frame as a TAP hands it over with its
// virtio-net header, for the datapath and workers tests.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "l2/frame.hpp"
#include "l2/offload.hpp"

namespace switchd::testing {

/// An Ethernet/IPv4/TCP super-frame from `src` to `dst` with `payload` bytes,
/// and the virtio-net header the kernel would give it (TSO, MSS `mss`). The
/// payload counts up from `seed`.
inline std::pair<std::vector<std::byte>, l2::vnet_header> make_super_frame(const l2::mac_address& dst,
                                                   const l2::mac_address& src,
                                                   std::size_t payload, std::uint16_t mss,
                                                   std::uint8_t seed = 0) {
  constexpr std::size_t ip_offset = l2::ethernet_header_size;
  constexpr std::size_t tcp_offset = ip_offset + 20;
  constexpr std::size_t data_offset = tcp_offset + 20;
  std::vector<std::byte> frame(data_offset + payload, std::byte{0x5a});
  l2::emit(l2::frame_header{dst, src, std::nullopt, 0x0800}, frame);
  auto put16 = [&](std::size_t at, std::uint16_t v) {
    frame[at] = static_cast<std::byte>(v >> 8);
    frame[at + 1] = static_cast<std::byte>(v & 0xff);
  };
  std::fill(frame.begin() + ip_offset, frame.begin() + data_offset, std::byte{0});
  frame[ip_offset] = std::byte{0x45};
  put16(ip_offset + 2, static_cast<std::uint16_t>(20 + 20 + payload));
  put16(ip_offset + 4, 0x1234);  // id
  frame[ip_offset + 8] = std::byte{64};
  frame[ip_offset + 9] = std::byte{6};  // TCP
  const std::array<std::uint8_t, 8> addresses = {10, 0, 0, 1, 10, 0, 0, 2};
  for (std::size_t i = 0; i < addresses.size(); ++i) {
    frame[ip_offset + 12 + i] = static_cast<std::byte>(addresses[i]);
  }
  // IPv4 header checksum.
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i < 20; i += 2) {
    sum += (std::to_integer<std::uint32_t>(frame[ip_offset + i]) << 8) |
           std::to_integer<std::uint32_t>(frame[ip_offset + i + 1]);
  }
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  put16(ip_offset + 10, static_cast<std::uint16_t>(~sum));
  put16(tcp_offset, 40000);      // source port
  put16(tcp_offset + 2, 5201);   // destination port
  put16(tcp_offset + 4, 0x0001); // seq
  frame[tcp_offset + 12] = std::byte{0x50};  // data offset 5
  frame[tcp_offset + 13] = std::byte{0x18};  // PSH ACK
  put16(tcp_offset + 14, 512);   // window
  for (std::size_t i = 0; i < payload; ++i) frame[data_offset + i] = static_cast<std::byte>(i + seed);

  l2::vnet_header h;
  h.flags = l2::vnet_flag_needs_csum;
  h.gso_type = l2::gso_tcpv4;
  h.hdr_len = static_cast<std::uint16_t>(data_offset);
  h.gso_size = mss;
  h.csum_start = static_cast<std::uint16_t>(tcp_offset);
  h.csum_offset = 16;
  return {frame, h};
}

}  // namespace switchd::testing
