// Software segmentation of a 64 KB TCP/IPv4 super-frame (MSS 1448) into
// wire-ready frames behind VXLAN headroom, as the datapath does toward an
// uplink; and checksum completion of one 1500-byte frame.
#include <benchmark/benchmark.h>

#include <vector>

#include "l2/checksum.hpp"
#include "l2/frame.hpp"
#include "l2/offload.hpp"

namespace {

struct super_frame {
  std::vector<std::byte> bytes;
  l2::vnet_header header;
};

/// Ethernet + IPv4 + TCP with `payload` bytes and a TSO header (MSS `mss`).
super_frame make(std::size_t payload, std::uint16_t mss) {
  constexpr std::size_t ip = l2::ethernet_header_size, tcp = ip + 20, data = tcp + 20;
  super_frame s;
  s.bytes.assign(data + payload, std::byte{0x61});
  l2::emit(l2::frame_header{l2::mac_address{{2, 0, 0, 0, 0, 2}}, l2::mac_address{{2, 0, 0, 0, 0, 1}},
                            std::nullopt, 0x0800},
           s.bytes);
  auto put16 = [&](std::size_t at, std::size_t v) {
    s.bytes[at] = static_cast<std::byte>(v >> 8);
    s.bytes[at + 1] = static_cast<std::byte>(v);
  };
  std::fill(s.bytes.begin() + ip, s.bytes.begin() + data, std::byte{0});
  s.bytes[ip] = std::byte{0x45};
  put16(ip + 2, 40 + payload);
  s.bytes[ip + 8] = std::byte{64};
  s.bytes[ip + 9] = std::byte{6};
  s.bytes[ip + 12] = std::byte{10};
  s.bytes[ip + 15] = std::byte{1};
  s.bytes[ip + 16] = std::byte{10};
  s.bytes[ip + 19] = std::byte{2};
  put16(ip + 10, l2::checksum::finish(l2::checksum::add(0, std::span(s.bytes).subspan(ip, 20))));
  put16(tcp, 40000);
  put16(tcp + 2, 5201);
  s.bytes[tcp + 12] = std::byte{0x50};
  s.bytes[tcp + 13] = std::byte{0x10};
  put16(tcp + 14, 1024);
  s.header.flags = l2::vnet_flag_needs_csum;
  s.header.gso_type = l2::gso_tcpv4;
  s.header.hdr_len = static_cast<std::uint16_t>(data);
  s.header.gso_size = mss;
  s.header.csum_start = static_cast<std::uint16_t>(tcp);
  s.header.csum_offset = 16;
  return s;
}

void segment_64k_tcp(benchmark::State& state) {
  const super_frame s = make(65535 - 40, 1448);
  std::vector<std::byte> out(l2::segment_buffer_size(s.bytes.size(), 8));
  for (auto _ : state) {
    const l2::segment_result r = l2::segment(s.bytes, s.header, 8, out);
    if (!r) state.SkipWithError("segment failed");
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(s.bytes.size()));
}

void complete_checksum_1500(benchmark::State& state) {
  super_frame s = make(1460, 1460);
  s.header.gso_type = l2::gso_none;
  for (auto _ : state) {
    benchmark::DoNotOptimize(l2::complete_checksum(s.bytes, s.header));
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(s.bytes.size()));
}

}  // namespace

BENCHMARK(segment_64k_tcp);
BENCHMARK(complete_checksum_1500);
