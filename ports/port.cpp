#include "ports/port.hpp"

#include <cerrno>

namespace ports {

std::string_view to_string(port_kind kind) {
  switch (kind) {
    case port_kind::tap:
      return "tap";
    case port_kind::device:
      return "dev";
    case port_kind::uplink:
      return "uplink";
    case port_kind::other:
      return "other";
  }
  return "other";
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
    default:
      return l2::drop_reason::tx_error;
  }
}

}  // namespace ports
