#include "l2/vlan.hpp"

#include <algorithm>
#include <cstring>

#include "l2/byte_order.hpp"

namespace l2 {

bool vlan_mode::carries(vlan_id v) const {
  switch (mode) {
    case kind::transparent:
      return true;
    case kind::access:
      return v == access_vlan;
    case kind::trunk:
      return trunk_vlans.test(v & 0xfff) || (native && *native == v);
  }
  return false;
}

std::optional<vlan_id> classify(const vlan_mode& mode, const std::optional<vlan_tag>& tag) {
  // A priority tag (VID 0) classifies as untagged (802.1Q 6.9).
  const bool untagged = !tag || tag->vid == 0;
  switch (mode.mode) {
    case vlan_mode::kind::transparent:
      return untagged ? vlan_id{0} : tag->vid;
    case vlan_mode::kind::access:
      if (!untagged) return std::nullopt;
      return mode.access_vlan;
    case vlan_mode::kind::trunk:
      if (untagged) return mode.native;
      if (!mode.trunk_vlans.test(tag->vid & 0xfff)) return std::nullopt;
      return tag->vid;
  }
  return std::nullopt;
}

tag_change egress_change(const vlan_mode& mode, vlan_id vlan, const std::optional<vlan_tag>& tag) {
  // What the port wants: untagged, or tagged with `vlan`. A transparent port
  // takes VLAN 0 as it comes (untagged, or priority-tagged).
  bool want_tag = false;
  switch (mode.mode) {
    case vlan_mode::kind::transparent:
      if (vlan == 0) return {};
      want_tag = true;
      break;
    case vlan_mode::kind::access:
      want_tag = false;
      break;
    case vlan_mode::kind::trunk:
      want_tag = !(mode.native && *mode.native == vlan);
      break;
  }
  if (!want_tag) return tag ? tag_change{tag_change::action::pop, 0} : tag_change{};
  if (!tag) return {tag_change::action::push, vlan};
  if (tag->vid == vlan) return {};
  return {tag_change::action::set_vid, vlan};
}

packet retag(const packet& in, const tag_change& change, std::span<std::byte> out) {
  const std::span<const std::byte> f = in.frame;
  constexpr std::size_t macs = ethernet_type_offset;  // destination and source
  packet result{{}, in.offload};
  const auto shift_offload = [&](int by) {
    if (result.offload.csum_start != 0) {
      result.offload.csum_start = static_cast<std::uint16_t>(result.offload.csum_start + by);
    }
    if (result.offload.hdr_len != 0) {
      result.offload.hdr_len = static_cast<std::uint16_t>(result.offload.hdr_len + by);
    }
  };
  switch (change.what) {
    case tag_change::action::none:
      return in;
    case tag_change::action::pop: {
      // destination, source | [tag] | ethertype, payload
      std::memcpy(out.data(), f.data(), macs);
      std::memcpy(out.data() + macs, f.data() + macs + vlan_tag_size, f.size() - macs - vlan_tag_size);
      result.frame = out.first(f.size() - vlan_tag_size);
      shift_offload(-static_cast<int>(vlan_tag_size));
      return result;
    }
    case tag_change::action::push: {
      std::memcpy(out.data(), f.data(), macs);
      byte_order::store16(out, macs, ethertype_vlan);
      byte_order::store16(out, macs + 2, static_cast<std::uint16_t>(change.vid & 0xfff));
      std::memcpy(out.data() + macs + vlan_tag_size, f.data() + macs, f.size() - macs);
      result.frame = out.first(f.size() + vlan_tag_size);
      shift_offload(static_cast<int>(vlan_tag_size));
      return result;
    }
    case tag_change::action::set_vid: {
      std::memcpy(out.data(), f.data(), f.size());
      const std::uint16_t tci = byte_order::load16(f, macs + 2);
      byte_order::store16(out, macs + 2, static_cast<std::uint16_t>((tci & 0xf000) | (change.vid & 0xfff)));
      result.frame = out.first(f.size());
      return result;
    }
  }
  return in;
}

}  // namespace l2
