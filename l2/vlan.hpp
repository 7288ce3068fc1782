// vlan: 802.1Q port modes and the tag changes a frame needs on its way out.
//
// Every port has a mode:
//   transparent  (no VLAN options; the default) every VLAN: a tagged frame
//                belongs to its tag's VLAN, an untagged one to VLAN 0; out,
//                VLAN 0 leaves as it is and any other VLAN leaves tagged.
//   access V     (vlan=V) untagged on the wire, VLAN V inside. A tagged frame
//                arriving is dropped (vlan_not_allowed), except a priority
//                tag (VID 0), which 802.1Q treats as untagged. Out: untagged.
//   trunk S [N]  (trunk=S[,native=N]) tagged, only the VLANs in S. An
//                untagged (or priority-tagged) frame belongs to the native
//                VLAN N if there is one, else it is dropped. Out: tagged,
//                except the native VLAN, which leaves untagged.
// The forwarder classifies each frame on ingress (classify()), keeps the
// flood sets per VLAN, and the datapath rewrites the frame for each output
// port (egress_change() then retag()): push a tag, pop it, or change its VID.
// Where a tag is kept or changed its priority bits (PCP, DEI) are kept.
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <span>

#include "l2/drop_reason.hpp"
#include "l2/frame.hpp"
#include "l2/offload.hpp"
#include "l2/types.hpp"

namespace l2 {

/// VLAN ids 0..4095 as a set.
using vlan_set = std::bitset<4096>;

/// A port's 802.1Q mode.
struct vlan_mode {
  enum class kind : std::uint8_t { transparent, access, trunk };

  kind mode = kind::transparent;
  vlan_id access_vlan = 0;           ///< access: the port's VLAN (1..4094)
  vlan_set trunk_vlans;              ///< trunk: the VLANs allowed tagged
  std::optional<vlan_id> native;     ///< trunk: the VLAN of untagged frames

  static vlan_mode transparent() { return {}; }
  static vlan_mode access(vlan_id v) {
    vlan_mode m;
    m.mode = kind::access;
    m.access_vlan = v;
    return m;
  }
  static vlan_mode trunk(const vlan_set& allowed, std::optional<vlan_id> native = std::nullopt) {
    vlan_mode m;
    m.mode = kind::trunk;
    m.trunk_vlans = allowed;
    m.native = native;
    return m;
  }
  /// Whether frames of VLAN `v` may enter or leave the port.
  bool carries(vlan_id v) const;

  friend bool operator==(const vlan_mode&, const vlan_mode&) = default;
};

/// The VLAN a frame with `tag` (nullopt: untagged) belongs to on a port in
/// `mode`, or nullopt when the port does not take it (vlan_not_allowed).
std::optional<vlan_id> classify(const vlan_mode& mode, const std::optional<vlan_tag>& tag);

/// What a frame of VLAN `vlan`, arriving with `tag`, needs to leave a port in `mode`.
struct tag_change {
  enum class action : std::uint8_t {
    none,     ///< leaves as it is
    pop,      ///< remove the tag
    push,     ///< insert a tag (VID `vid`, priority 0)
    set_vid,  ///< keep the tag and its priority, change the VID to `vid`
  };
  action what = action::none;
  vlan_id vid = 0;

  friend bool operator==(const tag_change&, const tag_change&) = default;
};
tag_change egress_change(const vlan_mode& mode, vlan_id vlan, const std::optional<vlan_tag>& tag);

/// Applies `change` to `in`, writing the new frame into `out` (at least
/// in.frame.size() + vlan_tag_size bytes), and returns it; with
/// action::none, returns `in` itself. The offload header follows the frame:
/// csum_start and hdr_len move with the L3 header (a push or pop shifts it by
/// four bytes). The caller has checked that `in` is a frame (the forwarder did).
packet retag(const packet& in, const tag_change& change, std::span<std::byte> out);

}  // namespace l2
