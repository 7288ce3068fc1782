// Ethernet frames: a checked view over untrusted bytes, and the header as a
// value that can be emitted back to bytes. The length is checked once, in
// frame_view::parse; after that no accessor can read out of bounds. Frames are
// as TAP devices and AF_PACKET sockets carry them: no preamble, no FCS, and no
// minimum length padding (so "runt" means shorter than the header itself).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "l2/drop_reason.hpp"
#include "l2/mac_address.hpp"
#include "l2/types.hpp"

namespace l2 {

// Field offsets, named once.
inline constexpr std::size_t ethernet_destination_offset = 0;
inline constexpr std::size_t ethernet_source_offset = 6;
inline constexpr std::size_t ethernet_type_offset = 12;
inline constexpr std::size_t ethernet_header_size = 14;
inline constexpr std::size_t vlan_tag_size = 4;  ///< TPID (2) + TCI (2)

/// Largest frame the switch accepts: a maximal IP datagram behind a tagged header.
inline constexpr std::size_t max_frame_size = 65535 + ethernet_header_size + vlan_tag_size;

inline constexpr std::uint16_t ethertype_vlan = 0x8100;  ///< 802.1Q C-tag TPID

/// An 802.1Q tag's TCI fields.
struct vlan_tag {
  std::uint8_t pcp = 0;  ///< priority code point, 3 bits
  bool dei = false;      ///< drop eligible indicator
  vlan_id vid = 0;       ///< VLAN id, 12 bits; 0 = priority tag only

  friend bool operator==(const vlan_tag&, const vlan_tag&) = default;
};

/// The header fields of a frame, as values.
struct frame_header {
  mac_address destination;
  mac_address source;
  std::optional<vlan_tag> tag;  ///< present when the frame carries an 802.1Q tag
  std::uint16_t ethertype = 0;  ///< the (inner) ethertype, after any tag

  /// Bytes emit() writes: 14, or 18 with a tag.
  std::size_t size() const { return ethernet_header_size + (tag ? vlan_tag_size : 0); }

  friend bool operator==(const frame_header&, const frame_header&) = default;
};

/// Writes `header` in network byte order to the start of `out`. Returns the
/// number of bytes written, or 0 if `out` is shorter than header.size().
std::size_t emit(const frame_header& header, std::span<std::byte> out);

class frame_view;

/// Result of parsing: a view, or the reason the bytes are not a frame.
struct frame_parse_result;

/// A checked, read-only view of one Ethernet frame. Only parse() makes one.
class frame_view {
 public:
  /// Checks `bytes` and returns a view, or the drop reason: runt (< 14 bytes),
  /// giant (> max_frame_size), truncated_tag (TPID 0x8100 but < 18 bytes).
  static frame_parse_result parse(std::span<const std::byte> bytes);

  mac_address destination() const;
  mac_address source() const;
  /// The 802.1Q tag, if the frame has one (outermost TPID 0x8100).
  std::optional<vlan_tag> tag() const;
  /// The ethertype after any tag.
  std::uint16_t ethertype() const;
  /// All header fields as a value.
  frame_header header() const;
  /// The bytes after the header (and tag).
  std::span<const std::byte> payload() const;
  /// The whole frame.
  std::span<const std::byte> bytes() const { return bytes_; }
  /// Size of the whole frame in bytes.
  std::size_t size() const { return bytes_.size(); }

 private:
  explicit frame_view(std::span<const std::byte> bytes) : bytes_(bytes) {}
  bool tagged() const;

  std::span<const std::byte> bytes_;
};

/// A hash of the frame's flow, the same in both directions: the IP addresses
/// and (TCP and UDP, unfragmented) ports for IPv4 and IPv6,
/// else the two MAC addresses. For picking one of several queues per flow,
/// so that a flow's frames keep their order; not for security.
std::uint32_t flow_hash(const frame_view& frame);

struct frame_parse_result {
  std::optional<frame_view> frame;      ///< set when the bytes are a frame
  drop_reason reason = drop_reason::runt;  ///< why not, when `frame` is empty

  explicit operator bool() const { return frame.has_value(); }
};

}  // namespace l2
