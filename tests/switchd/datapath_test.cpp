// The daemon's wiring, with fake ports: frames in, frames out, counters.
#include "switchd/datapath.hpp"

#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "l2/frame.hpp"
#include "tests/switchd/fake_port.hpp"

namespace switchd {
namespace {

using testing::fake_port;
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
