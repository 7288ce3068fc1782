// The daemon's wiring, with fake ports: frames in, frames out, counters.
#include "switchd/datapath.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <vector>

#include "l2/frame.hpp"
#include "tests/switchd/fake_port.hpp"
#include "tests/switchd/super_frame.hpp"

namespace switchd {
namespace {

using testing::fake_port;
using testing::make_super_frame;
using bytes = std::vector<std::byte>;

l2::time_point fake_now_value{};
l2::time_point fake_now() { return fake_now_value; }

const l2::mac_address mac_a{{0x02, 0, 0, 0, 0, 0x0a}};
const l2::mac_address mac_b{{0x02, 0, 0, 0, 0, 0x0b}};
const l2::mac_address mac_c{{0x02, 0, 0, 0, 0, 0x0c}};
const l2::mac_address broadcast{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};

/// An IPv4-ethertype frame from `src` to `dst` with `payload_size` bytes of payload.
bytes make_frame(const l2::mac_address& dst, const l2::mac_address& src,
                 std::size_t payload_size = 46) {
  bytes frame(l2::ethernet_header_size + payload_size, std::byte{0x5a});
  l2::frame_header h{dst, src, std::nullopt, 0x0800};
  EXPECT_EQ(l2::emit(h, frame), l2::ethernet_header_size);
  return frame;
}

class datapath_test : public ::testing::Test {
 protected:
  datapath_test() : dp_(io_, 64, std::chrono::seconds(300), &fake_now) {}

  fake_port& add(const std::string& name, ports::port_kind kind = ports::port_kind::other) {
    auto p = std::make_unique<fake_port>(dp_.next_id(), name, kind);
    fake_port& ref = *p;
    dp_.add_port(std::move(p));
    return ref;
  }

  boost::asio::io_context io_;
  datapath dp_;
};

TEST_F(datapath_test, broadcast_reaches_every_other_port_and_reply_is_unicast) {
  fake_port& a = add("a");
  fake_port& b = add("b");
  fake_port& c = add("c");
  dp_.start();

  const bytes request = make_frame(broadcast, mac_a);
  a.inject(request);
  EXPECT_TRUE(a.sent.empty());
  ASSERT_EQ(b.sent.size(), 1u);
  ASSERT_EQ(c.sent.size(), 1u);
  EXPECT_EQ(b.sent[0], request);
  EXPECT_EQ(c.sent[0], request);

  const bytes reply = make_frame(mac_a, mac_b, 100);
  b.inject(reply);
  ASSERT_EQ(a.sent.size(), 1u);
  EXPECT_EQ(a.sent[0], reply);
  EXPECT_EQ(c.sent.size(), 1u) << "the unicast reply must not reach c";

  // And now a -> b is known unicast too.
  const bytes unicast = make_frame(mac_b, mac_a, 200);
  a.inject(unicast);
  EXPECT_EQ(b.sent.size(), 2u);
  EXPECT_EQ(c.sent.size(), 1u);

  EXPECT_EQ(a.counters().rx_frames, 2u);
  EXPECT_EQ(a.counters().rx_bytes, request.size() + unicast.size());
  EXPECT_EQ(a.counters().tx_frames, 1u);
  EXPECT_EQ(a.counters().tx_bytes, reply.size());
  EXPECT_EQ(b.counters().rx_frames, 1u);
  EXPECT_EQ(b.counters().tx_frames, 2u);
  EXPECT_EQ(b.counters().tx_bytes, request.size() + unicast.size());
  EXPECT_EQ(c.counters().tx_frames, 1u);
  EXPECT_EQ(c.counters().rx_frames, 0u);
  EXPECT_EQ(dp_.forwarder().table().count(), 2u);
  for (const fake_port* p : {&a, &b, &c}) EXPECT_EQ(p->counters().drops.total(), 0u);
}

TEST_F(datapath_test, frames_from_an_uplink_are_not_flooded_to_other_uplinks) {
  fake_port& local = add("tap0");
  fake_port& up1 = add("peer1:4789", ports::port_kind::uplink);
  fake_port& up2 = add("peer2:4789", ports::port_kind::uplink);
  dp_.start();

  up1.inject(make_frame(broadcast, mac_b));
  EXPECT_EQ(local.sent.size(), 1u);
  EXPECT_TRUE(up2.sent.empty());

  local.inject(make_frame(broadcast, mac_a));
  EXPECT_EQ(up1.sent.size(), 1u);
  EXPECT_EQ(up2.sent.size(), 1u);
}

TEST_F(datapath_test, malformed_and_reflected_frames_are_dropped_and_counted_on_ingress) {
  fake_port& a = add("a");
  fake_port& b = add("b");
  dp_.start();

  const bytes runt(13, std::byte{0});
  a.inject(runt);
  EXPECT_EQ(a.counters().drops[l2::drop_reason::runt], 1u);
  EXPECT_TRUE(b.sent.empty());

  // Learn mac_b on a, then a frame to mac_b arriving on a is a reflection.
  a.inject(make_frame(broadcast, mac_b));
  a.inject(make_frame(mac_b, mac_c));
  EXPECT_EQ(a.counters().drops[l2::drop_reason::reflection], 1u);
  EXPECT_EQ(b.sent.size(), 1u);

  const bytes multicast_source = make_frame(mac_a, l2::mac_address{{0x01, 0, 0x5e, 0, 0, 1}});
  a.inject(multicast_source);
  EXPECT_EQ(a.counters().drops[l2::drop_reason::multicast_source], 1u);
  EXPECT_EQ(a.counters().rx_frames, 4u) << "dropped frames were still received";
}

TEST_F(datapath_test, a_port_that_goes_down_is_flushed_and_skipped) {
  fake_port& a = add("a");
  fake_port& b = add("b");
  fake_port& c = add("c");
  dp_.start();

  c.inject(make_frame(broadcast, mac_c));
  ASSERT_EQ(dp_.forwarder().table().port_count(c.id()), 1u);
  c.go_down("the TAP was deleted");
  EXPECT_EQ(dp_.forwarder().table().port_count(c.id()), 0u);

  c.sent.clear();
  a.inject(make_frame(mac_c, mac_a));  // unknown now: flooded, but not to c
  EXPECT_EQ(b.sent.size(), 2u);
  EXPECT_TRUE(c.sent.empty());

  b.inject(make_frame(mac_a, mac_b));  // a and b keep working
  EXPECT_EQ(a.sent.size(), 2u);
  EXPECT_TRUE(c.sent.empty());

  c.go_up("back");
  a.inject(make_frame(broadcast, mac_a));
  EXPECT_EQ(c.sent.size(), 1u);
}

TEST_F(datapath_test, a_failing_port_does_not_stop_the_others) {
  fake_port& a = add("a");
  fake_port& b = add("b");
  fake_port& c = add("c");
  dp_.start();

  b.fail_sends = true;
  a.inject(make_frame(broadcast, mac_a));
  EXPECT_EQ(b.counters().drops[l2::drop_reason::tx_error], 1u);
  EXPECT_EQ(c.sent.size(), 1u);
}

TEST_F(datapath_test, entries_age_out_with_the_clock) {
  fake_port& a = add("a");
  fake_port& b = add("b");
  fake_port& c = add("c");
  dp_.start();
  fake_now_value = l2::time_point{};

  b.inject(make_frame(broadcast, mac_b));
  a.inject(make_frame(mac_b, mac_a));
  EXPECT_EQ(c.sent.size(), 1u) << "b is known: only the broadcast reached c";

  fake_now_value += std::chrono::seconds(301);
  a.inject(make_frame(mac_b, mac_a));
  EXPECT_EQ(c.sent.size(), 2u) << "b aged out: the frame is flooded";
  fake_now_value = l2::time_point{};
}

}  // namespace
}  // namespace switchd

namespace switchd {
namespace {


TEST_F(datapath_test, super_frames_pass_whole_to_offload_ports_and_segmented_to_others) {
  fake_port& a = add("tap0");
  fake_port& b = add("tap1");
  fake_port& up = add("peer:4789", ports::port_kind::uplink);
  a.offload = b.offload = true;
  dp_.start();

  const auto [frame, offload] = make_super_frame(broadcast, mac_a, 3000, 1000);
  a.inject(frame, offload);

  ASSERT_EQ(b.sent.size(), 1u) << "an offload port gets the super-frame whole";
  EXPECT_EQ(b.sent[0], frame);
  EXPECT_EQ(b.sent_offload[0], offload);

  ASSERT_EQ(up.sent.size(), 3u) << "a port without offloads gets MSS-sized segments";
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(up.sent[i].size(), l2::ethernet_header_size + 20 + 20 + 1000);
    EXPECT_TRUE(up.sent_offload[i].is_plain());
  }
  EXPECT_EQ(up.counters().tx_frames, 3u);
}

TEST_F(datapath_test, a_bad_virtio_net_header_is_dropped_on_ingress) {
  fake_port& a = add("tap0");
  fake_port& b = add("tap1");
  dp_.start();

  auto [frame, offload] = make_super_frame(broadcast, mac_a, 3000, 1000);
  offload.gso_size = 0;
  a.inject(frame, offload);
  offload.gso_size = 1000;
  offload.csum_start = static_cast<std::uint16_t>(frame.size() + 10);
  a.inject(frame, offload);

  EXPECT_TRUE(b.sent.empty());
  EXPECT_EQ(a.counters().drops[l2::drop_reason::bad_vnet_header], 2u);
  EXPECT_EQ(dp_.forwarder().table().count(), 0u) << "nothing learned from a dropped frame";
}

TEST_F(datapath_test, removed_port_gets_nothing_and_its_id_is_reused) {
  fake_port& a = add("a");
  fake_port& b = add("b");
  fake_port& c = add("c");
  dp_.start();
  b.inject(make_frame(broadcast, mac_b));  // learn mac_b on b
  ASSERT_EQ(dp_.forwarder().table().port_count(b.id()), 1u);

  const l2::port_id b_id = b.id();
  dp_.remove_port(b_id);  // destroys b
  EXPECT_EQ(dp_.port_count(), 2u);
  EXPECT_EQ(dp_.forwarder().table().count(), 0u) << "b's MAC entries go with it";
  a.inject(make_frame(mac_b, mac_a));  // unknown again: flooded to c only
  EXPECT_EQ(c.sent.size(), 2u);

  // The freed id is the next one; a port added while running starts at once.
  EXPECT_EQ(dp_.next_id(), b_id);
  fake_port& d = add("d");
  EXPECT_EQ(d.id(), b_id);
  a.inject(make_frame(broadcast, mac_a));
  EXPECT_EQ(d.sent.size(), 1u);
  d.inject(make_frame(mac_a, mac_c));
  EXPECT_EQ(a.sent.size(), 2u);  // b's broadcast, then d's unicast
}

/// An IPv4 TCP SYN from mac_a to mac_b carrying MSS `mss` (checksum left 0).
bytes make_syn(std::uint16_t mss) {
  bytes f = make_frame(mac_b, mac_a, 20 + 24);
  std::byte* ip = f.data() + l2::ethernet_header_size;
  const unsigned char ip_header[20] = {0x45, 0, 0, 44, 0, 1, 0x40, 0, 64, 6, 0, 0,
                                       10, 0, 0, 1, 10, 0, 0, 2};
  std::memcpy(ip, ip_header, sizeof ip_header);
  const unsigned char tcp[24] = {0x30, 0x39, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x60, 0x02,
                                 0xff, 0xff, 0, 0, 0, 0, 2, 4,
                                 static_cast<unsigned char>(mss >> 8),
                                 static_cast<unsigned char>(mss & 0xff)};
  std::memcpy(ip + 20, tcp, sizeof tcp);
  return f;
}

std::uint16_t mss_of(const bytes& f) {
  const std::size_t at = l2::ethernet_header_size + 20 + 22;
  return static_cast<std::uint16_t>((std::to_integer<unsigned>(f[at]) << 8) |
                                    std::to_integer<unsigned>(f[at + 1]));
}

TEST_F(datapath_test, clamp_mss_rewrites_syns_crossing_an_uplink_only) {
  fake_port& local = add("local");
  fake_port& other = add("other");
  fake_port& up = add("up", ports::port_kind::uplink);
  up.max_frame = 1424;  // a sealed uplink over a 1500-byte IPv4 underlay
  dp_.set_clamp_mss(true);
  dp_.start();

  local.inject(make_syn(1460));  // unknown destination: flooded
  ASSERT_EQ(up.sent.size(), 1u);
  ASSERT_EQ(other.sent.size(), 1u);
  EXPECT_EQ(mss_of(up.sent[0]), 1424 - 14 - 40) << "clamped towards the uplink";
  EXPECT_EQ(mss_of(other.sent[0]), 1460) << "a local port gets the SYN as it was";

  // A SYN coming in from the uplink is clamped for the local side too.
  up.inject(make_syn(8960));
  EXPECT_EQ(mss_of(local.sent.back()), 1424 - 14 - 40);

  // A small MSS is left alone; with clamping off nothing changes.
  local.inject(make_syn(1200));
  EXPECT_EQ(mss_of(up.sent.back()), 1200);
  dp_.set_clamp_mss(false);
  local.inject(make_syn(1460));
  EXPECT_EQ(mss_of(up.sent.back()), 1460);
}

}  // namespace
}  // namespace switchd

namespace switchd {
namespace {

TEST_F(datapath_test, a_removed_port_takes_its_static_entries_and_limit_with_it) {
  fake_port& a = add("a");
  fake_port& b = add("b");
  fake_port& c = add("c");
  dp_.start();
  l2::mac_table& t = dp_.forwarder().table();
  ASSERT_TRUE(t.add_static(0, mac_b, b.id()));
  t.set_port_limit(b.id(), 1);
  const l2::port_id b_id = b.id();
  dp_.remove_port(b_id);
  EXPECT_EQ(t.count(), 0u) << "a static entry must not point at a reused id";
  fake_port& d = add("d");  // reuses b's id
  ASSERT_EQ(d.id(), b_id);
  a.inject(make_frame(mac_b, mac_a));  // unknown: flooded, not sent to d as if it were b
  EXPECT_EQ(c.sent.size(), 1u);
  EXPECT_EQ(d.sent.size(), 1u);
  d.inject(make_frame(broadcast, mac_b));
  d.inject(make_frame(broadcast, mac_c));
  EXPECT_EQ(t.port_count(d.id()), 2u) << "b's limit of 1 does not apply to d";
}

/// Records what it is shown.
struct recorder final : frame_observer {
  void observe(l2::port_id port, const l2::packet& packet) override {
    seen.emplace_back(port, bytes(packet.frame.begin(), packet.frame.end()));
  }
  std::vector<std::pair<l2::port_id, bytes>> seen;
};

TEST_F(datapath_test, an_observer_sees_frames_entering_and_leaving_its_port_only) {
  fake_port& a = add("a");
  fake_port& b = add("b");
  fake_port& c = add("c");
  dp_.start();
  recorder r;
  dp_.watch(b.id(), r);
  const bytes from_a = make_frame(broadcast, mac_a);
  a.inject(from_a);                      // flooded: leaves b (and c)
  const bytes from_b = make_frame(mac_a, mac_b);
  b.inject(from_b);                      // enters b
  c.inject(make_frame(mac_a, mac_c));    // c to a: not b's
  ASSERT_EQ(r.seen.size(), 2u);
  EXPECT_EQ(r.seen[0], std::make_pair(b.id(), from_a));
  EXPECT_EQ(r.seen[1], std::make_pair(b.id(), from_b));
  dp_.unwatch(r);
  a.inject(from_a);
  EXPECT_EQ(r.seen.size(), 2u) << "nothing after unwatch";
}

}  // namespace
}  // namespace switchd

namespace switchd {
namespace {

/// A tagged copy of `frame` (VID `vid`, priority `pcp`).
bytes with_tag(const bytes& frame, l2::vlan_id vid, std::uint8_t pcp = 0) {
  bytes out(frame.begin(), frame.begin() + 12);
  const std::uint16_t tci = static_cast<std::uint16_t>((pcp << 13) | vid);
  out.push_back(std::byte{0x81});
  out.push_back(std::byte{0x00});
  out.push_back(static_cast<std::byte>(tci >> 8));
  out.push_back(static_cast<std::byte>(tci & 0xff));
  out.insert(out.end(), frame.begin() + 12, frame.end());
  return out;
}

class datapath_vlan_test : public datapath_test {
 protected:
  fake_port& add_mode(const std::string& name, const l2::vlan_mode& mode) {
    auto p = std::make_unique<fake_port>(dp_.next_id(), name, ports::port_kind::other);
    fake_port& ref = *p;
    dp_.add_port(std::move(p), std::nullopt, mode);
    return ref;
  }
  static l2::vlan_mode trunk_10_20() {
    l2::vlan_set s;
    s.set(10);
    s.set(20);
    return l2::vlan_mode::trunk(s);
  }
};

TEST_F(datapath_vlan_test, tags_are_pushed_popped_and_kept_per_output_port) {
  fake_port& a10 = add_mode("a10", l2::vlan_mode::access(10));
  fake_port& b10 = add_mode("b10", l2::vlan_mode::access(10));
  fake_port& c20 = add_mode("c20", l2::vlan_mode::access(20));
  fake_port& trunk = add_mode("trunk", trunk_10_20());
  fake_port& trunk2 = add_mode("trunk2", trunk_10_20());
  dp_.start();

  // Untagged into an access port: untagged to its VLAN's access port, tagged on the trunks.
  const bytes from_a = make_frame(broadcast, mac_a);
  a10.inject(from_a);
  ASSERT_EQ(b10.sent.size(), 1u);
  EXPECT_EQ(b10.sent[0], from_a);
  ASSERT_EQ(trunk.sent.size(), 1u);
  EXPECT_EQ(trunk.sent[0], with_tag(from_a, 10));
  EXPECT_TRUE(c20.sent.empty()) << "VLAN 20 sees nothing of VLAN 10";

  // Tagged (priority 5) into a trunk: stripped for the access port, kept
  // with its priority for the other trunk.
  const bytes plain_b = make_frame(broadcast, mac_b);
  trunk.inject(with_tag(plain_b, 20, 5));
  ASSERT_EQ(c20.sent.size(), 1u);
  EXPECT_EQ(c20.sent[0], plain_b);
  ASSERT_EQ(trunk2.sent.size(), 2u);
  EXPECT_EQ(trunk2.sent[1], with_tag(plain_b, 20, 5));
  EXPECT_EQ(a10.sent.size(), 0u);

  // Known unicast across: access -> trunk gets the tag.
  const bytes to_b = make_frame(mac_b, mac_c);
  trunk2.inject(with_tag(make_frame(broadcast, mac_c), 20));  // learn mac_c in 20 on trunk2
  c20.inject(make_frame(mac_c, mac_b));                       // c20 -> trunk2, tagged
  EXPECT_EQ(trunk2.sent.back(), with_tag(make_frame(mac_c, mac_b), 20));
  (void)to_b;

  // A VLAN the trunk does not carry, and a tagged frame on an access port: dropped, counted.
  trunk.inject(with_tag(plain_b, 30));
  a10.inject(with_tag(from_a, 10));
  EXPECT_EQ(trunk.counters().drops[l2::drop_reason::vlan_not_allowed], 1u);
  EXPECT_EQ(a10.counters().drops[l2::drop_reason::vlan_not_allowed], 1u);
}

}  // namespace
}  // namespace switchd
