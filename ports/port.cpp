#include "ports/port.hpp"

#include "ports/netdev.hpp"

#include <algorithm>
#include <cerrno>

namespace ports {

std::string bind_fix(int err, std::string_view in_use) {
  switch (err) {
    case EADDRINUSE:
      return std::string(in_use);
    case EADDRNOTAVAIL:
      return "not an address of this host; use one of its addresses (ip -br addr), or 0.0.0.0 or [::] "
             "for all";
    case EACCES:
    case EPERM:
      return "ports below 1024 need root; run vswitchd as root or choose a port from 1024 up";
    default:
      return "choose another address";
  }
}

std::string bind_fix_path(int err) {
  return err == EACCES || err == EPERM ? "run vswitchd as root or choose a directory it may write"
                                       : "choose another path";
}

std::string_view to_string(port_kind kind) {
  switch (kind) {
    case port_kind::tap:
      return "tap";
    case port_kind::device:
      return "dev";
    case port_kind::uplink:
      return "uplink";
    case port_kind::stream:
      return "stream";
    case port_kind::dgram:
      return "dgram";
    case port_kind::other:
      return "other";
  }
  return "other";
}

std::optional<unsigned> port::interface_mtu() const { return netdev::mtu_of(name()); }

void port::send_segments(std::span<std::byte> buffer, const l2::segment_result& segments) {
  const std::size_t headroom = segment_headroom();
  for (std::size_t i = 0; i < segments.count; ++i) {
    const std::size_t start = i * segments.stride + headroom;
    const std::size_t end =
        i + 1 == segments.count ? segments.total_size : (i + 1) * segments.stride;
    send(l2::packet{buffer.subspan(start, end - start), {}});
  }
}

void emit_vnet_header_for(const l2::packet& packet,
                          std::span<std::byte, l2::vnet_header_size> out) {
  if (!packet.offload.is_plain()) {
    l2::emit_vnet_header(packet.offload, out);
    return;
  }
  l2::vnet_header plain;
  plain.hdr_len = static_cast<std::uint16_t>(std::min<std::size_t>(packet.frame.size(), 0xffff));
  l2::emit_vnet_header(plain, out);
}

l2::drop_reason send_drop_reason(int err) {
  switch (err) {
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
    case ENOBUFS:
      return l2::drop_reason::tx_queue_full;
    case EIO:
    case ENETDOWN:
    case ENXIO:
      return l2::drop_reason::port_down;
    case EMSGSIZE:  // larger than the path takes (an uplink never fragments)
      return l2::drop_reason::too_big;
    default:
      return l2::drop_reason::tx_error;
  }
}

}  // namespace ports
