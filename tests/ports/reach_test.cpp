// Tests of reaching peers across NATs (ports/reach.hpp and the endpoint's
// use of it): the control messages' bytes (round trips, every malformed
// input refused), the bounded candidate list and its probes, and three real
// endpoints on loopback, where A and K know each other by key alone and I
// knows both: I introduces them, they talk through I first and then
// directly; where they cannot reach each other (A on IPv4 only, K on IPv6
// only, I on both), everything goes through I, sealed end to end; and I
// refuses to introduce a key it does not know.
//
// Waits pump the io_context until a condition holds, bounded by a deadline;
// nothing asserts on elapsed time.
#include "ports/reach.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ports/uplink_port.hpp"
#include "tests/l2/test_bytes.hpp"
#include "tests/ports/recorder.hpp"

namespace {

namespace ip = boost::asio::ip;
namespace reach = ports::reach;
using namespace std::chrono_literals;
using l2_test::byte_vector;
using ports_test::recorder;
using path = ports::uplink_port::path_kind;

ports::noise::public_key some_key(std::uint8_t seed) {
  ports::noise::public_key k{};
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::byte>(seed + i);
  return k;
}

// ---------------------------------------------------------------------------
// 1. The control messages.

TEST(reach_codec, every_message_round_trips) {
  std::array<std::byte, reach::max_control_size> out{};
  const std::vector<reach::endpoint> locals{
      {ip::make_address("192.168.1.20"), 4789}, {ip::make_address("2001:db8::7"), 4790}};
  const reach::endpoint observed(ip::make_address("203.0.113.9"), 61000);

  auto m = reach::decode(std::span(out).first(reach::encode_announce(locals, out)));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->k, reach::kind::announce);
  ASSERT_EQ(m->local_count, 2u);
  EXPECT_EQ(m->locals[0], locals[0]);
  EXPECT_EQ(m->locals[1], locals[1]);

  m = reach::decode(std::span(out).first(reach::encode_find(some_key(3), out)));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->k, reach::kind::find);
  EXPECT_EQ(m->key, some_key(3));

  m = reach::decode(std::span(out).first(reach::encode_introduce(some_key(5), observed, locals, out)));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->k, reach::kind::introduce);
  EXPECT_EQ(m->key, some_key(5));
  EXPECT_EQ(*m->observed, observed);
  EXPECT_EQ(m->local_count, 2u);

  m = reach::decode(std::span(out).first(reach::encode_probe(0x0102030405060708, out)));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->k, reach::kind::probe);
  EXPECT_EQ(m->nonce, 0x0102030405060708u);

  m = reach::decode(std::span(out).first(reach::encode_pong(42, observed, out)));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->k, reach::kind::pong);
  EXPECT_EQ(m->nonce, 42u);
  EXPECT_EQ(*m->observed, observed);

  // A relay message: the header, then the datagram as it is.
  byte_vector relay(reach::relay_header_size + 5, std::byte{0xee});
  reach::write_relay_header(reach::kind::relay_to, some_key(9), std::span(relay).first<reach::relay_header_size>());
  m = reach::decode(relay);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->k, reach::kind::relay_to);
  EXPECT_EQ(m->key, some_key(9));
  EXPECT_EQ(m->inner.size(), 5u);
  EXPECT_EQ(m->inner.data(), relay.data() + reach::relay_header_size);
}

TEST(reach_codec, an_ipv4_mapped_endpoint_is_written_as_ipv4) {
  std::array<std::byte, reach::max_control_size> out{};
  const reach::endpoint mapped(ip::make_address("::ffff:198.51.100.4"), 4789);
  const auto m = reach::decode(std::span(out).first(reach::encode_pong(1, mapped, out)));
  ASSERT_TRUE(m);
  EXPECT_EQ(*m->observed, reach::endpoint(ip::make_address("198.51.100.4"), 4789));
}

TEST(reach_codec, at_most_eight_locals_are_written) {
  std::array<std::byte, reach::max_control_size> out{};
  const std::vector<reach::endpoint> many(12, reach::endpoint(ip::make_address("10.0.0.1"), 1));
  const auto m = reach::decode(std::span(out).first(reach::encode_announce(many, out)));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->local_count, reach::max_locals);
}

TEST(reach_codec, malformed_messages_are_refused) {
  std::array<std::byte, reach::max_control_size> out{};
  const std::vector<reach::endpoint> locals{{ip::make_address("192.168.1.20"), 4789}};
  const reach::endpoint observed(ip::make_address("2001:db8::1"), 9);
  const std::vector<byte_vector> good = {
      byte_vector(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(reach::encode_announce(locals, out))),
      byte_vector(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(reach::encode_find(some_key(1), out))),
      byte_vector(out.begin(),
                  out.begin() + static_cast<std::ptrdiff_t>(reach::encode_introduce(some_key(1), observed, locals, out))),
      byte_vector(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(reach::encode_probe(7, out))),
      byte_vector(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(reach::encode_pong(7, observed, out))),
  };
  for (const byte_vector& g : good) {
    ASSERT_TRUE(reach::decode(g));
    // Every truncation, and a byte too many.
    for (std::size_t n = 0; n < g.size(); ++n) EXPECT_FALSE(reach::decode(std::span(g).first(n))) << n;
    byte_vector longer = g;
    longer.push_back(std::byte{0});
    EXPECT_FALSE(reach::decode(longer));
  }
  // Unknown kinds, a bad address family, too many locals, an empty relay.
  EXPECT_FALSE(reach::decode(l2_test::bytes({0})));
  EXPECT_FALSE(reach::decode(l2_test::bytes({8})));
  byte_vector bad_family = good[0];
  bad_family[2] = std::byte{5};
  EXPECT_FALSE(reach::decode(bad_family));
  byte_vector too_many = good[0];
  too_many[1] = std::byte{9};
  EXPECT_FALSE(reach::decode(too_many));
  byte_vector empty_relay(reach::relay_header_size);
  reach::write_relay_header(reach::kind::relayed_from, some_key(1), std::span(empty_relay).first<reach::relay_header_size>());
  EXPECT_FALSE(reach::decode(empty_relay));
}

// ---------------------------------------------------------------------------
// 2. Candidates.

TEST(reach_candidates, bounded_stalest_replaced_probed_once_per_interval_while_fresh) {
  reach::candidates c;
  const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
  for (std::uint16_t i = 0; i < 10; ++i) c.add(reach::endpoint(ip::make_address("10.0.0.1"), 1000 + i), t0 + i * 1ms);
  EXPECT_EQ(c.size(), reach::candidates::max_candidates);
  c.add(reach::endpoint(ip::make_address("10.0.0.1"), 1009), t0 + 20ms);  // again: refreshed, not added
  EXPECT_EQ(c.size(), reach::candidates::max_candidates);

  std::uint64_t next = 100;
  std::vector<std::pair<reach::endpoint, std::uint64_t>> sent;
  const auto probe = [&](std::chrono::steady_clock::time_point now) {
    sent.clear();
    c.probe(now, 1000ms, 15000ms, [&] { return next++; },
            [&](const reach::endpoint& e, std::uint64_t n) { sent.emplace_back(e, n); });
  };
  probe(t0 + 1s);
  ASSERT_EQ(sent.size(), 8u);
  // 1000 and 1001 were the stalest: replaced by 1008 and 1009.
  for (const auto& [e, n] : sent) EXPECT_GE(e.port(), 1002);
  const auto [first, nonce] = sent.front();
  probe(t0 + 1500ms);
  EXPECT_TRUE(sent.empty()) << "probed again within the interval";
  EXPECT_TRUE(c.answers(first, nonce, t0 + 1500ms, 5000ms));
  EXPECT_FALSE(c.answers(first, nonce + 1, t0 + 1500ms, 5000ms)) << "another nonce";
  EXPECT_FALSE(c.answers(reach::endpoint(ip::make_address("10.0.0.2"), first.port()), nonce, t0 + 1500ms, 5000ms));
  EXPECT_FALSE(c.answers(first, nonce, t0 + 7s, 5000ms)) << "too late";
  probe(t0 + 2s);
  EXPECT_EQ(sent.size(), 8u);
  probe(t0 + 20s);
  EXPECT_TRUE(sent.empty()) << "stale candidates are not probed";
}

// ---------------------------------------------------------------------------
// 3. Three hosts on loopback.

std::uint16_t free_port(boost::asio::io_context& io, const ip::address& a) {
  ip::udp::socket s(io, ip::udp::endpoint(a, 0));
  return s.local_endpoint().port();
}

struct host {
  explicit host(std::string n) : name(std::move(n)) {}
  std::string name;
  ports::noise::key_pair id = ports::noise::key_pair::generate();
  recorder listener;
  ip::udp::endpoint address;
  std::unique_ptr<ports::udp_endpoint> endpoint;
  std::vector<std::unique_ptr<ports::uplink_port>> peers;

  ~host() {
    peers.clear();
    endpoint.reset();
  }
  /// A peer by key, at `remote` (port 0: by key alone).
  ports::uplink_port& add(const std::string& peer_name, const host& other, std::optional<ip::udp::endpoint> remote) {
    peers.push_back(std::make_unique<ports::uplink_port>(static_cast<l2::port_id>(peers.size() + 1), peer_name,
                                                         *endpoint, remote.value_or(ip::udp::endpoint()), "", "",
                                                         other.id.public_key));
    return *peers.back();
  }
  void start() {
    for (auto& p : peers) p->start(listener);
  }
};

class reach_test : public ::testing::Test {
 protected:
  static ports::uplink_settings settings(const host& h) {
    ports::uplink_settings s;
    s.identity = h.id;
    s.keepalive = 100ms;  // the tick: finds, probes and keepalives go out on it
    s.peer_timeout = 3s;
    s.underlay_mtu = 1500;
    return s;
  }
  void open(host& h, const ip::address& a, bool relays = true) {
    for (int attempt = 0;; ++attempt) {
      try {
        h.address = ip::udp::endpoint(a, free_port(io_, a.is_unspecified() ? ip::make_address("::1") : a));
        ports::uplink_settings s = settings(h);
        s.relay = relays;
        h.endpoint = ports::udp_endpoint::open(io_, h.address, s, "test");
        return;
      } catch (const ports::port_error&) {
        if (attempt == 5) throw;
      }
    }
  }
  /// Where `h` is reached from a socket on `from` (I on "::" is reached on
  /// the caller's own loopback).
  static ip::udp::endpoint reached(const host& h, const ip::address& from) {
    if (!h.address.address().is_unspecified()) return h.address;
    return ip::udp::endpoint(from.is_v4() ? ip::make_address("127.0.0.1") : ip::make_address("::1"), h.address.port());
  }
  struct wired {
    ports::uplink_port* a_to_i;
    ports::uplink_port* a_to_k;
    ports::uplink_port* k_to_i;
    ports::uplink_port* k_to_a;
  };
  /// Opens I, A and K at these addresses: I knows A and K by address; A and
  /// K know I by address and each other by key alone. Not started.
  wired wire(const char* i_at, const char* a_at, const char* k_at, bool i_relays = true) {
    open(i_, ip::make_address(i_at), i_relays);
    open(a_, ip::make_address(a_at));
    open(k_, ip::make_address(k_at));
    i_.add("A", a_, a_.address);
    i_.add("K", k_, k_.address);
    wired w{};
    w.a_to_i = &a_.add("I", i_, reached(i_, a_.address.address()));
    w.a_to_k = &a_.add("K", k_, std::nullopt);
    w.k_to_i = &k_.add("I", i_, reached(i_, k_.address.address()));
    w.k_to_a = &k_.add("A", a_, std::nullopt);
    return w;
  }
  void start_all() {
    i_.start();
    a_.start();
    k_.start();
  }
  bool pump_until(const std::function<bool()>& done) {
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline_) return done();
      if (io_.stopped()) io_.restart();
      io_.run_for(5ms);
    }
    return true;
  }
  /// `from` sends a test frame to `to`'s peer; it must arrive whole.
  void expect_frame(ports::uplink_port& from, host& at, std::size_t size) {
    byte_vector frame(size);
    for (std::size_t i = 0; i < size; ++i) frame[i] = static_cast<std::byte>(i * 13 + size);
    frame[12] = std::byte{0x88};
    frame[13] = std::byte{0xb5};
    const std::size_t before = at.listener.frames.size();
    from.send(l2::packet{frame, {}});
    ASSERT_TRUE(pump_until([&] { return at.listener.frames.size() > before; })) << "not delivered";
    EXPECT_EQ(at.listener.frames.back().bytes, frame);
  }

  boost::asio::io_context io_;
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::now() + 8s;
  host i_{"I"};
  host a_{"A"};
  host k_{"K"};
};

TEST_F(reach_test, an_introduced_pair_goes_through_the_introducer_then_direct) {
  const wired w = wire("127.0.0.1", "127.0.0.1", "127.0.0.1");
  ports::uplink_port& a_to_i = *w.a_to_i;
  ports::uplink_port& a_to_k = *w.a_to_k;
  ports::uplink_port& k_to_a = *w.k_to_a;
  EXPECT_EQ(a_to_k.path(), path::none);
  EXPECT_TRUE(a_to_k.key_only());
  start_all();

  ASSERT_TRUE(pump_until([&] {
    return a_to_k.is_up() && k_to_a.is_up() && a_to_k.path() == path::direct && k_to_a.path() == path::direct;
  })) << "A to K: " << static_cast<int>(a_to_k.path()) << ", K to A: " << static_cast<int>(k_to_a.path());
  EXPECT_EQ(a_to_k.remote(), k_.address);
  EXPECT_EQ(k_to_a.remote(), a_.address);
  EXPECT_GE(i_.endpoint->counters().introductions, 1u);
  // Named by key alone, it keeps the relayed MTU on the direct path too: a
  // change of path never drops a flow's full-size segments.
  EXPECT_EQ(a_to_k.max_frame_size(), a_to_i.max_frame_size() - reach::relay_overhead);
  expect_frame(a_to_k, k_, 300);
  expect_frame(k_to_a, a_, k_to_a.max_frame_size());
}

TEST_F(reach_test, a_pair_that_cannot_reach_each_other_talks_through_the_introducer_sealed_end_to_end) {
  // A has an IPv4 socket, K an IPv6 one: neither can send to the other. I listens on both.
  const wired w = wire("::", "127.0.0.1", "::1");
  ports::uplink_port& a_to_k = *w.a_to_k;
  ports::uplink_port& k_to_i = *w.k_to_i;
  ports::uplink_port& k_to_a = *w.k_to_a;
  start_all();

  ASSERT_TRUE(pump_until([&] { return a_to_k.is_up() && k_to_a.is_up(); })) << "no session through I";
  EXPECT_EQ(a_to_k.path(), path::relay);
  EXPECT_EQ(k_to_a.path(), path::relay);
  EXPECT_EQ(k_to_a.relay(), &k_to_i);
  // Relaying costs the wrapping: the inner MTU shrinks by it.
  EXPECT_EQ(k_to_a.max_frame_size(), k_to_i.max_frame_size() - reach::relay_overhead);
  const std::uint64_t relayed = i_.endpoint->counters().relayed;
  expect_frame(a_to_k, k_, 200);
  expect_frame(k_to_a, a_, k_to_a.max_frame_size());
  EXPECT_GE(i_.endpoint->counters().relayed, relayed + 2);
  // A frame over the relayed MTU is too big, not cut.
  const std::uint64_t too_big = k_to_a.counters().drops[l2::drop_reason::too_big];
  byte_vector big(k_to_a.max_frame_size() + 1);
  k_to_a.send(l2::packet{big, {}});
  EXPECT_EQ(k_to_a.counters().drops[l2::drop_reason::too_big], too_big + 1);
}

TEST_F(reach_test, an_introducer_that_does_not_relay_passes_nothing_on) {
  // As above (A on IPv4 only, K on IPv6 only), but I runs with --relay no.
  const wired w = wire("::", "127.0.0.1", "::1", false);
  ports::uplink_port& a_to_k = *w.a_to_k;
  ports::uplink_port& k_to_a = *w.k_to_a;
  start_all();
  ASSERT_TRUE(pump_until([&] { return i_.endpoint->counters().relay_refused >= 1; })) << "no relay refused";
  deadline_ = std::min(deadline_, std::chrono::steady_clock::now() + 1s);
  EXPECT_FALSE(pump_until([&] { return a_to_k.is_up() || k_to_a.is_up(); }));
  EXPECT_EQ(i_.endpoint->counters().relayed, 0u);
  EXPECT_GE(i_.endpoint->counters().introductions, 1u);
}

TEST_F(reach_test, a_revoked_key_gets_no_session_through_an_introduction) {
  const wired w = wire("127.0.0.1", "127.0.0.1", "127.0.0.1");
  ports::uplink_port& a_to_k = *w.a_to_k;
  ports::uplink_port& k_to_a = *w.k_to_a;
  // A has revoked K (as --revoked would): whoever introduces it, no session.
  const ports::noise::public_key revoked = k_.id.public_key;
  a_.endpoint->on_refusal([revoked](const ports::noise::public_key& key, std::span<const std::byte>) {
    return key == revoked;
  });
  start_all();
  ASSERT_TRUE(pump_until([&] { return i_.endpoint->counters().introductions >= 1; }));
  deadline_ = std::min(deadline_, std::chrono::steady_clock::now() + 1s);
  EXPECT_FALSE(pump_until([&] { return a_to_k.is_up() || k_to_a.is_up(); }));
  EXPECT_GE(a_.endpoint->counters().handshakes_refused, 1u);
}

TEST_F(reach_test, the_introducer_refuses_to_introduce_a_key_it_does_not_know) {
  const ip::address lo = ip::make_address("127.0.0.1");
  open(i_, lo);
  open(a_, lo);
  i_.add("A", a_, a_.address);  // I does not know K (nor does anyone)
  a_.add("I", i_, i_.address);
  ports::uplink_port& a_to_k = a_.add("K", k_, std::nullopt);
  i_.start();
  a_.start();
  ASSERT_TRUE(pump_until([&] { return i_.endpoint->counters().introductions_refused >= 1; }));
  EXPECT_EQ(i_.endpoint->counters().introductions, 0u);
  EXPECT_EQ(a_to_k.path(), path::none);
  EXPECT_FALSE(a_to_k.is_up());
}

}  // namespace
