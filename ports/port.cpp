#include "ports/port.hpp"

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

}  // namespace ports
