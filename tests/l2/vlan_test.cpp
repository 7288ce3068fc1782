// 802.1Q port modes: which VLAN a frame belongs to on each kind of port, what
// tag it needs to leave each kind of port, and the bytes of the rewritten
// frame (push, pop, VID change with the priority kept), with the offload
// offsets following the L3 header.
#include "l2/vlan.hpp"

#include <gtest/gtest.h>

#include "test_bytes.hpp"

namespace {

using l2::classify;
using l2::egress_change;
using l2::tag_change;
using l2::vlan_mode;
using l2::vlan_tag;
using l2_test::bytes;
using l2_test::byte_vector;
using action = tag_change::action;

l2::vlan_set vlans(std::initializer_list<int> ids) {
  l2::vlan_set s;
  for (int v : ids) s.set(static_cast<std::size_t>(v));
  return s;
}

const std::optional<vlan_tag> untagged;
std::optional<vlan_tag> tagged(l2::vlan_id vid, std::uint8_t pcp = 0) { return vlan_tag{pcp, false, vid}; }

TEST(vlan, classify_on_each_kind_of_port) {
  const vlan_mode transparent = vlan_mode::transparent();
  const vlan_mode access10 = vlan_mode::access(10);
  const vlan_mode trunk = vlan_mode::trunk(vlans({10, 20}));
  const vlan_mode trunk_native = vlan_mode::trunk(vlans({10, 20}), 1);
  struct row {
    const vlan_mode* mode;
    std::optional<vlan_tag> tag;
    std::optional<l2::vlan_id> want;
  };
  const row rows[] = {
      {&transparent, untagged, 0},
      {&transparent, tagged(30), 30},
      {&transparent, tagged(0, 5), 0},          // a priority tag is untagged
      {&access10, untagged, 10},
      {&access10, tagged(0, 3), 10},             // priority tag: still untagged
      {&access10, tagged(10), std::nullopt},     // tagged frames are not taken
      {&access10, tagged(20), std::nullopt},
      {&trunk, tagged(10), 10},
      {&trunk, tagged(20, 7), 20},
      {&trunk, tagged(30), std::nullopt},        // not in the list
      {&trunk, untagged, std::nullopt},          // no native VLAN
      {&trunk, tagged(0), std::nullopt},
      {&trunk_native, untagged, 1},
      {&trunk_native, tagged(0, 2), 1},
      {&trunk_native, tagged(20), 20},
      {&trunk_native, tagged(1), std::nullopt},  // the native VLAN comes untagged
  };
  for (const row& r : rows) {
    EXPECT_EQ(classify(*r.mode, r.tag), r.want)
        << "mode " << static_cast<int>(r.mode->mode) << " tag " << (r.tag ? int(r.tag->vid) : -1);
  }
}

TEST(vlan, membership) {
  EXPECT_TRUE(vlan_mode::transparent().carries(0));
  EXPECT_TRUE(vlan_mode::transparent().carries(4094));
  EXPECT_TRUE(vlan_mode::access(10).carries(10));
  EXPECT_FALSE(vlan_mode::access(10).carries(0));
  EXPECT_FALSE(vlan_mode::access(10).carries(11));
  const vlan_mode trunk = vlan_mode::trunk(vlans({10, 20}), 1);
  EXPECT_TRUE(trunk.carries(1));
  EXPECT_TRUE(trunk.carries(20));
  EXPECT_FALSE(trunk.carries(0));
  EXPECT_FALSE(trunk.carries(30));
}

TEST(vlan, egress_tag_for_each_kind_of_port) {
  const vlan_mode transparent = vlan_mode::transparent();
  const vlan_mode access10 = vlan_mode::access(10);
  const vlan_mode trunk_native = vlan_mode::trunk(vlans({10, 20}), 1);
  // To an access port: always untagged.
  EXPECT_EQ(egress_change(access10, 10, untagged), tag_change{});
  EXPECT_EQ(egress_change(access10, 10, tagged(10, 5)), (tag_change{action::pop, 0}));
  // To a trunk: tagged, except the native VLAN.
  EXPECT_EQ(egress_change(trunk_native, 10, untagged), (tag_change{action::push, 10}));
  EXPECT_EQ(egress_change(trunk_native, 10, tagged(10, 5)), tag_change{});  // kept, priority and all
  EXPECT_EQ(egress_change(trunk_native, 1, untagged), tag_change{});
  EXPECT_EQ(egress_change(trunk_native, 1, tagged(0, 6)), (tag_change{action::pop, 0}));
  // A frame classified by a priority tag into VLAN 10 (on an access port)
  // keeps the tag's priority when it leaves a trunk tagged.
  EXPECT_EQ(egress_change(trunk_native, 10, tagged(0, 6)), (tag_change{action::set_vid, 10}));
  // To a transparent port: VLAN 0 as it came, others tagged.
  EXPECT_EQ(egress_change(transparent, 0, untagged), tag_change{});
  EXPECT_EQ(egress_change(transparent, 0, tagged(0, 4)), tag_change{});
  EXPECT_EQ(egress_change(transparent, 30, tagged(30)), tag_change{});
  EXPECT_EQ(egress_change(transparent, 10, untagged), (tag_change{action::push, 10}));
}

// A small tagged frame: dst 02:..:02, src 02:..:01, tag PCP 5 DEI 1 VID 10
// (TCI 0xb00a), IPv4 ethertype, 4 payload bytes.
const byte_vector tagged_frame = bytes({0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01,
                                        0x81, 0x00, 0xb0, 0x0a, 0x08, 0x00, 0xde, 0xad, 0xbe, 0xef});
const byte_vector untagged_frame = bytes({0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01,
                                          0x08, 0x00, 0xde, 0xad, 0xbe, 0xef});

byte_vector retagged(const byte_vector& frame, tag_change change, l2::vnet_header offload = {},
                     l2::vnet_header* out_offload = nullptr) {
  byte_vector buffer(frame.size() + 4);
  const l2::packet out = l2::retag(l2::packet{frame, offload}, change, buffer);
  if (out_offload != nullptr) *out_offload = out.offload;
  return byte_vector(out.frame.begin(), out.frame.end());
}

TEST(vlan, retag_bytes) {
  EXPECT_EQ(retagged(tagged_frame, {action::pop, 0}), untagged_frame);
  EXPECT_EQ(retagged(untagged_frame, {action::push, 10}),
            bytes({0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x81, 0x00, 0x00, 0x0a, 0x08,
                   0x00, 0xde, 0xad, 0xbe, 0xef}));
  // VID 10 -> 4094, PCP 5 and DEI kept.
  EXPECT_EQ(retagged(tagged_frame, {action::set_vid, 4094}),
            bytes({0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x81, 0x00, 0xbf, 0xfe, 0x08,
                   0x00, 0xde, 0xad, 0xbe, 0xef}));
  EXPECT_EQ(retagged(tagged_frame, {}), tagged_frame);
}

TEST(vlan, retag_moves_the_offload_offsets_with_the_l3_header) {
  l2::vnet_header offload;
  offload.flags = l2::vnet_flag_needs_csum;
  offload.gso_type = l2::gso_tcpv4;
  offload.gso_size = 1448;
  offload.hdr_len = 66;
  offload.csum_start = 34;
  offload.csum_offset = 16;
  l2::vnet_header out;
  retagged(untagged_frame, {action::push, 10}, offload, &out);
  EXPECT_EQ(out.csum_start, 38);
  EXPECT_EQ(out.hdr_len, 70);
  EXPECT_EQ(out.gso_size, 1448);
  EXPECT_EQ(out.csum_offset, 16);
  retagged(tagged_frame, {action::pop, 0}, out, &out);
  EXPECT_EQ(out.csum_start, 34);
  EXPECT_EQ(out.hdr_len, 66);
  retagged(tagged_frame, {action::set_vid, 20}, offload, &out);
  EXPECT_EQ(out, offload);
  // A plain frame stays plain.
  retagged(untagged_frame, {action::push, 10}, l2::vnet_header{}, &out);
  EXPECT_TRUE(out.is_plain());
  EXPECT_EQ(out.csum_start, 0);
}

}  // namespace
