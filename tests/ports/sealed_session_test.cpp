// The sealed uplink protocol (ports/sealed_session), as pure state machines
// with fake time: two daemons A and B, each with its identity and a session
// for the other, pass real datagrams by hand (a test decides which arrive).
// Covered: the handshake (and no data before it), data both ways, replay of
// data and of handshake messages, forgeries, a wrong overlay key, rekeying
// without losing a frame in flight, the loss of each handshake message, a
// peer restart, silence (down, then bounded retries with back-off), expiry,
// revocation (clear), crossing handshakes, the overlay-key-only pattern
// (NNpsk0) with a key change, and the per-peer initiation limit.
#include "ports/sealed_session.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "l2/byte_order.hpp"

namespace ports::sealed {
namespace {

using namespace std::chrono_literals;
using bytes = std::vector<std::byte>;

session_settings test_settings() {
  session_settings s;
  s.keepalive = 1000ms;
  s.peer_timeout = 5000ms;
  s.rekey_interval = 120s;
  return s;
}

key test_key(std::uint8_t seed) {
  key k{};
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = std::byte(seed + i);
  return k;
}

/// Indexes base+1, base+2, ...: distinct per side.
std::function<std::uint32_t()> counter(std::uint32_t base) {
  auto next = std::make_shared<std::uint32_t>(base);
  return [next] { return ++*next; };
}

/// Fake wall clock: seconds set by the test.
struct wall_clock {
  std::shared_ptr<std::int64_t> seconds = std::make_shared<std::int64_t>(1'700'000'000);
  std::function<timestamp()> source() const {
    auto s = seconds;
    return [s] { return tai64n(std::chrono::system_clock::time_point(std::chrono::seconds(*s))); };
  }
};

/// One daemon: its identity and its session with the other.
struct side {
  side(std::optional<noise::key_pair> id, std::vector<key> psks, std::uint32_t index_base, wall_clock clock,
       std::optional<noise::public_key> peer)
      : me(std::move(id), std::move(psks), clock.source(), counter(index_base)),
        s(test_settings(), peer) {}

  local_identity me;
  session s;
};

bytes copy(std::span<const std::byte> d) { return bytes(d.begin(), d.end()); }

struct sealed_pair : ::testing::Test {
  noise::key_pair a_keys = noise::key_pair::generate();
  noise::key_pair b_keys = noise::key_pair::generate();
  wall_clock a_clock, b_clock;
  std::unique_ptr<side> a = std::make_unique<side>(a_keys, std::vector<key>{}, 1000, a_clock, b_keys.public_key);
  std::unique_ptr<side> b = std::make_unique<side>(b_keys, std::vector<key>{}, 2000, b_clock, a_keys.public_key);
  time_point now = time_point{} + 1000s;

  /// What `to` made of a datagram: the opened result (initiations answered by its session).
  opened deliver(side& to, bytes datagram) {
    const parsed p = parse(datagram);
    if (!p.ok) {
      opened out;
      out.drop = p.reason;
      return out;
    }
    if (p.type == message::initiation) {
      l2::drop_reason why{};
      std::optional<initiation> in = to.me.read_initiation(datagram, why);
      if (!in) {
        opened out;
        out.drop = why;
        return out;
      }
      EXPECT_EQ(in->remote_static, to.s.remote_static());
      return to.s.respond(to.me, *in, now);
    }
    session* s = to.me.find(p.receiver);
    if (s == nullptr) {
      opened out;
      out.drop = l2::drop_reason::sealed_unknown_key;
      return out;
    }
    EXPECT_EQ(s, &to.s);
    last_datagram = std::move(datagram);  // the packet points into it
    return s->open(to.me, last_datagram, p, now);
  }
  bytes last_datagram;

  /// A data datagram from `from` carrying `payload`, or empty if it has no session.
  bytes seal(side& from, std::string_view payload) {
    const std::optional<sending> s = from.s.next_send(now);
    if (!s) return {};
    bytes d(payload.size() + overhead);
    std::memcpy(d.data() + header_size, payload.data(), payload.size());
    EXPECT_EQ(seal_in_place(s->k, message::data, s->receiver, s->counter, d, payload.size()), d.size());
    return d;
  }

  /// The payload a data datagram carried, or "" (with the drop reason in `why`).
  std::string carried(side& to, bytes datagram, std::optional<l2::drop_reason>* why = nullptr) {
    const opened r = deliver(to, std::move(datagram));
    if (why != nullptr) *why = r.drop;
    if (!r.packet) return "";
    return std::string(reinterpret_cast<const char*>(r.packet->frame.data()), r.packet->frame.size());
  }

  /// Both rekey at once (their rekey time has come): the initiations, then
  /// the responses, then the keepalives cross; each side promotes both new sessions.
  void rekey_both_at_once() {
    const bytes from_a = copy(a->s.tick(a->me, now).initiation);
    const bytes from_b = copy(b->s.tick(b->me, now).initiation);
    ASSERT_FALSE(from_a.empty());
    ASSERT_FALSE(from_b.empty());
    const opened ra = deliver(*b, from_a);
    const opened rb = deliver(*a, from_b);
    ASSERT_FALSE(ra.drop);
    ASSERT_FALSE(rb.drop);
    deliver(*a, copy(ra.reply));
    deliver(*b, copy(rb.reply));
    const bytes keepalive_a = seal(*a, ""), keepalive_b = seal(*b, "");
    EXPECT_TRUE(deliver(*b, keepalive_a).new_session);
    EXPECT_TRUE(deliver(*a, keepalive_b).new_session);
  }

  /// The full handshake, A initiating: initiation, response, A's keepalive.
  void handshake(side& initiator, side& responder) {
    const std::span<const std::byte> greeting = initiator.s.greet(initiator.me, now);
    const bytes init = copy(greeting.empty() ? initiator.s.tick(initiator.me, now).initiation : greeting);
    ASSERT_FALSE(init.empty());
    const opened r = deliver(responder, init);
    ASSERT_FALSE(r.drop) << l2::to_string(*r.drop);
    ASSERT_EQ(r.reply.size(), response_size);
    const opened done = deliver(initiator, copy(r.reply));
    ASSERT_FALSE(done.drop) << l2::to_string(*done.drop);
    ASSERT_TRUE(done.keepalive);
    const opened confirmed = deliver(responder, seal(initiator, ""));
    ASSERT_FALSE(confirmed.drop) << l2::to_string(*confirmed.drop);
    ASSERT_TRUE(confirmed.new_session);
  }
};

TEST_F(sealed_pair, TheHandshakeBringsBothUpAndNoDataGoesBeforeIt) {
  EXPECT_FALSE(a->s.next_send(now));  // no session: the frame would be dropped
  const bytes init = copy(a->s.greet(a->me, now));
  ASSERT_EQ(init.size(), initiation_size_with_identity);
  EXPECT_TRUE(a->s.greet(a->me, now).empty());  // greeted once
  const opened r = deliver(*b, init);
  ASSERT_FALSE(r.drop);
  EXPECT_FALSE(r.came_up);
  EXPECT_FALSE(b->s.next_send(now));  // the responder waits for the initiator's first message
  now += 3ms;
  const opened done = deliver(*a, copy(r.reply));
  EXPECT_TRUE(done.came_up);
  EXPECT_TRUE(done.new_session);
  EXPECT_TRUE(done.keepalive);
  EXPECT_EQ(a->s.state().rtt, 3ms);
  EXPECT_TRUE(a->s.state().up);
  const opened confirmed = deliver(*b, seal(*a, ""));  // the keepalive
  EXPECT_TRUE(confirmed.came_up);
  EXPECT_FALSE(confirmed.packet);  // a keepalive carries nothing
  EXPECT_EQ(carried(*b, seal(*a, "hello b")), "hello b");
  EXPECT_EQ(carried(*a, seal(*b, "hello a")), "hello a");
  EXPECT_EQ(a->s.state().handshakes_done, 1u);
  EXPECT_EQ(b->s.state().handshakes_done, 1u);
  EXPECT_EQ(a->s.state().rekeys, 0u);
}

TEST_F(sealed_pair, ReplayedDataAndHandshakeMessagesAreRefused) {
  const bytes init = copy(a->s.greet(a->me, now));
  const opened r = deliver(*b, init);
  const bytes response = copy(r.reply);
  deliver(*a, response);
  deliver(*b, seal(*a, ""));
  const bytes data = seal(*a, "once");
  std::optional<l2::drop_reason> why;
  EXPECT_EQ(carried(*b, data), "once");
  EXPECT_EQ(carried(*b, data, &why), "");
  EXPECT_EQ(why, l2::drop_reason::sealed_replayed);
  // The initiation again: its time stamp is not newer.
  EXPECT_EQ(deliver(*b, init).drop, l2::drop_reason::sealed_replayed);
  // The response again: we no longer wait for it.
  EXPECT_EQ(deliver(*a, response).drop, l2::drop_reason::sealed_stale);
  // Later messages are not held up by an old one arriving late.
  const bytes first = seal(*a, "first"), second = seal(*a, "second");
  EXPECT_EQ(carried(*b, second), "second");
  EXPECT_EQ(carried(*b, first), "first");
}

TEST_F(sealed_pair, ForgeriesAreRefusedAndDoNotHurtTheOriginal) {
  handshake(*a, *b);
  const bytes data = seal(*a, "genuine frame");
  for (std::size_t i : {std::size_t{5}, std::size_t{12}, std::size_t{20}, data.size() - 1}) {
    bytes forged = data;
    forged[i] ^= std::byte{0x40};
    std::optional<l2::drop_reason> why;
    EXPECT_EQ(carried(*b, forged, &why), "");
    EXPECT_TRUE(why == l2::drop_reason::sealed_forged || why == l2::drop_reason::sealed_unknown_key ||
                why == l2::drop_reason::sealed_replayed)
        << i;
  }
  EXPECT_EQ(carried(*b, data), "genuine frame");
  // An initiation with a broken mac1 costs no Diffie-Hellman and is refused.
  side c(noise::key_pair::generate(), {}, 3000, wall_clock{}, b_keys.public_key);
  bytes init = copy(c.s.greet(c.me, now));
  init[init.size() - 20] ^= std::byte{1};
  l2::drop_reason why{};
  EXPECT_FALSE(b->me.read_initiation(init, why));
  EXPECT_EQ(why, l2::drop_reason::sealed_forged);
}

TEST_F(sealed_pair, TheResponderLearnsWhoInitiatedAndAStrangerIsNamedByItsKey) {
  // A host B has no session for: its initiation reads (B learns its key,
  // for admission to decide), nothing more.
  noise::key_pair c_keys = noise::key_pair::generate();
  side c(c_keys, {}, 3000, wall_clock{}, b_keys.public_key);
  const bytes init = copy(c.s.greet(c.me, now));
  l2::drop_reason why{};
  const std::optional<initiation> in = b->me.read_initiation(init, why);
  ASSERT_TRUE(in);
  EXPECT_EQ(in->remote_static, c_keys.public_key);
  EXPECT_EQ(b->me.index_count(), 0u);
}

TEST_F(sealed_pair, ADifferentOverlayKeyFailsTheHandshake) {
  a = std::make_unique<side>(a_keys, std::vector<key>{test_key(1)}, 1000, a_clock, b_keys.public_key);
  b = std::make_unique<side>(b_keys, std::vector<key>{test_key(2)}, 2000, b_clock, a_keys.public_key);
  const opened r = deliver(*b, copy(a->s.greet(a->me, now)));
  ASSERT_FALSE(r.drop);  // the psk is mixed into the answer
  EXPECT_EQ(deliver(*a, copy(r.reply)).drop, l2::drop_reason::sealed_forged);
  EXPECT_FALSE(a->s.next_send(now));
  // With the key both hold first (a key change in progress), it works.
  a->me.set_psks({test_key(1), test_key(2)});
  now += 2s;
  handshake(*a, *b);
  EXPECT_EQ(carried(*b, seal(*a, "x")), "x");
}

TEST_F(sealed_pair, ARekeyLosesNoFrameInFlight) {
  handshake(*a, *b);
  now += 121s;
  const bytes old_frame = seal(*a, "sealed before the rekey");
  const tick_result t = a->s.tick(a->me, now);
  ASSERT_FALSE(t.initiation.empty());  // A initiated the session: A rekeys
  const opened r = deliver(*b, copy(t.initiation));
  ASSERT_FALSE(r.drop);
  // Until the new session is confirmed B still sends on the old one.
  const bytes b_old = seal(*b, "from b, old session");
  deliver(*a, copy(r.reply));
  const bytes new_frame = seal(*a, "sealed after the rekey");
  EXPECT_EQ(carried(*b, new_frame), "sealed after the rekey");  // confirms B's new session
  EXPECT_EQ(carried(*b, old_frame), "sealed before the rekey");  // the previous session still opens
  EXPECT_EQ(carried(*a, b_old), "from b, old session");
  EXPECT_EQ(carried(*a, seal(*b, "from b, new session")), "from b, new session");
  EXPECT_EQ(a->s.state().rekeys, 1u);
  EXPECT_EQ(b->s.state().rekeys, 1u);
  // Sessions do not pile up: current and previous on each side.
  EXPECT_LE(a->me.index_count(), 2u);
  EXPECT_LE(b->me.index_count(), 2u);
}

TEST_F(sealed_pair, RekeyingGoesOnForHoursWithoutLeakingIndexes) {
  handshake(*a, *b);
  for (int i = 0; i < 100; ++i) {
    now += 60s;
    for (side* s : {a.get(), b.get()}) {
      side& other = s == a.get() ? *b : *a;
      const tick_result t = s->s.tick(s->me, now);
      if (t.keepalive) deliver(other, seal(*s, ""));
      if (t.initiation.empty()) continue;
      const opened r = deliver(other, copy(t.initiation));
      if (r.reply.empty()) continue;
      deliver(*s, copy(r.reply));
      deliver(other, seal(*s, ""));
    }
    ASSERT_EQ(carried(*b, seal(*a, "a")), "a") << i;
    ASSERT_EQ(carried(*a, seal(*b, "b")), "b") << i;
  }
  EXPECT_GE(a->s.state().rekeys + b->s.state().rekeys, 40u);
  EXPECT_LE(a->me.index_count(), 3u);
  EXPECT_LE(b->me.index_count(), 3u);
}

TEST_F(sealed_pair, EachLostHandshakeMessageCostsOneRetry) {
  // 1. The initiation is lost: A retries after a second.
  (void)a->s.greet(a->me, now);
  now += 500ms;
  EXPECT_TRUE(a->s.tick(a->me, now).initiation.empty());  // not yet
  now += 500ms;
  bytes init = copy(a->s.tick(a->me, now).initiation);
  ASSERT_FALSE(init.empty());
  // 2. The response is lost: A retries again (after 2 s now), B answers anew.
  ASSERT_FALSE(deliver(*b, init).drop);
  now += 2s;
  init = copy(a->s.tick(a->me, now).initiation);
  ASSERT_FALSE(init.empty());
  const opened r = deliver(*b, init);
  ASSERT_FALSE(r.drop);
  // 3. The confirming keepalive is lost: the next frame confirms instead.
  deliver(*a, copy(r.reply));
  (void)seal(*a, "");  // lost
  EXPECT_EQ(carried(*b, seal(*a, "confirms")), "confirms");
  EXPECT_TRUE(b->s.state().up);
  EXPECT_EQ(a->s.state().handshakes_sent, 3u);
}

TEST_F(sealed_pair, ARestartedPeerIsBackAtItsFirstHandshake) {
  handshake(*a, *b);
  const bytes before = seal(*a, "to the old b");
  // B restarts: a new run with the same identity, nothing else kept.
  *b_clock.seconds += 30;
  now += 30s;
  b = std::make_unique<side>(b_keys, std::vector<key>{}, 5000, b_clock, a_keys.public_key);
  EXPECT_EQ(deliver(*b, before).drop, l2::drop_reason::sealed_unknown_key);
  handshake(*b, *a);  // the new B greets at start
  EXPECT_EQ(carried(*a, seal(*b, "new b")), "new b");
  EXPECT_EQ(carried(*b, seal(*a, "to the new b")), "to the new b");
  EXPECT_EQ(a->s.state().rekeys, 1u);
}

TEST_F(sealed_pair, ASilentPeerGoesDownAndCostsBoundedRetries) {
  handshake(*a, *b);
  std::size_t initiations = 0;
  bool went_down = false;
  for (int i = 0; i < 600; ++i) {  // ten minutes of silence from B
    now += 1s;
    const tick_result t = a->s.tick(a->me, now);
    went_down |= t.went_down;
    if (!t.initiation.empty()) ++initiations;
  }
  EXPECT_TRUE(went_down);
  EXPECT_FALSE(a->s.state().up);
  // 1, 2, 4, 8, 16 then every 30 s: about 25 in ten minutes, not 600.
  EXPECT_GE(initiations, 15u);
  EXPECT_LE(initiations, 30u);
  // The session expired (1.5 x the rekey interval): nothing is sent on it.
  EXPECT_FALSE(a->s.next_send(now));
  EXPECT_LE(a->me.index_count(), 1u);  // at most the pending handshake's
  // B answers again: up at once.
  const opened r = deliver(*b, copy(a->s.tick(a->me, now + 30s).initiation));
  now += 30s;
  ASSERT_FALSE(r.reply.empty());
  EXPECT_TRUE(deliver(*a, copy(r.reply)).came_up);
}

TEST_F(sealed_pair, AnExpiredSessionIsNeitherUsedNorAccepted) {
  handshake(*a, *b);
  const bytes data = seal(*a, "late");
  now += 181s;  // 1.5 x 120 s
  std::optional<l2::drop_reason> why;
  EXPECT_EQ(carried(*b, data, &why), "");
  EXPECT_EQ(why, l2::drop_reason::sealed_stale);
  EXPECT_FALSE(a->s.next_send(now));
}

TEST_F(sealed_pair, ClearingASessionCutsThePeerOff) {
  handshake(*a, *b);
  b->s.clear(b->me);  // revoked
  EXPECT_EQ(b->me.index_count(), 0u);
  EXPECT_FALSE(b->s.state().up);
  EXPECT_EQ(deliver(*b, seal(*a, "after revocation")).drop, l2::drop_reason::sealed_unknown_key);
  EXPECT_FALSE(b->s.next_send(now));
}

TEST_F(sealed_pair, CrossingHandshakesSettle) {
  const bytes from_a = copy(a->s.greet(a->me, now));
  const bytes from_b = copy(b->s.greet(b->me, now));
  const opened ra = deliver(*b, from_a);
  const opened rb = deliver(*a, from_b);
  const opened da = deliver(*a, copy(ra.reply));
  const opened db = deliver(*b, copy(rb.reply));
  ASSERT_TRUE(da.keepalive && db.keepalive);
  deliver(*b, seal(*a, ""));
  deliver(*a, seal(*b, ""));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(carried(*b, seal(*a, "a to b")), "a to b");
    EXPECT_EQ(carried(*a, seal(*b, "b to a")), "b to a");
  }
}

TEST_F(sealed_pair, AfterCrossingHandshakesARekeyLosesNoFrameInFlight) {
  // Both initiate at once: each ends up sending on the session the other
  // initiated, which the other holds as its previous one.
  const bytes from_a = copy(a->s.greet(a->me, now));
  const bytes from_b = copy(b->s.greet(b->me, now));
  const opened ra = deliver(*b, from_a);
  const opened rb = deliver(*a, from_b);
  deliver(*a, copy(ra.reply));
  deliver(*b, copy(rb.reply));
  const bytes keepalive_a = seal(*a, ""), keepalive_b = seal(*b, "");  // (they cross too)
  EXPECT_TRUE(deliver(*b, keepalive_a).new_session);
  EXPECT_TRUE(deliver(*a, keepalive_b).new_session);
  EXPECT_EQ(carried(*b, seal(*a, "a to b")), "a to b");
  EXPECT_EQ(carried(*a, seal(*b, "b to a")), "b to a");
  // A rekeys; a frame A sealed before arrives after A's first on the new
  // session (as a worker's batch can after the io_context thread's keepalive).
  now += 126s;
  const bytes old_frame = seal(*a, "sealed before the rekey");
  const tick_result t = a->s.tick(a->me, now);
  ASSERT_FALSE(t.initiation.empty());
  const opened r = deliver(*b, copy(t.initiation));
  ASSERT_FALSE(r.drop);
  deliver(*a, copy(r.reply));
  EXPECT_EQ(carried(*b, seal(*a, "sealed after the rekey")), "sealed after the rekey");
  std::optional<l2::drop_reason> why;
  EXPECT_EQ(carried(*b, old_frame, &why), "sealed before the rekey") << (why ? l2::to_string(*why) : "");
  EXPECT_EQ(carried(*a, seal(*b, "b to a")), "b to a");
  EXPECT_LE(b->me.index_count(), 3u);  // current, previous and the one let go (opening only, for a while)
}

TEST_F(sealed_pair, BothRekeyingAtOnceKeepsTrafficFlowingBothWays) {
  handshake(*a, *b);
  EXPECT_EQ(carried(*b, seal(*a, "a to b")), "a to b");
  EXPECT_EQ(carried(*a, seal(*b, "b to a")), "b to a");
  // Both initiate at once on a session that works; the responses and then
  // the keepalives cross. Each side's own new session has carried nothing
  // yet when the other's is promoted: it must stay, the peer is about to use it.
  now += 126s;
  ASSERT_NO_FATAL_FAILURE(rekey_both_at_once());
  std::optional<l2::drop_reason> why;
  EXPECT_EQ(carried(*b, seal(*a, "a to b after"), &why), "a to b after") << (why ? l2::to_string(*why) : "");
  EXPECT_EQ(carried(*a, seal(*b, "b to a after"), &why), "b to a after") << (why ? l2::to_string(*why) : "");
  EXPECT_LE(a->me.index_count(), 3u);
  EXPECT_LE(b->me.index_count(), 3u);
}

TEST_F(sealed_pair, BothRekeyingAtOnceLosesNoFrameStillInFlightUnderTheOldSession) {
  handshake(*a, *b);
  EXPECT_EQ(carried(*b, seal(*a, "a to b")), "a to b");
  EXPECT_EQ(carried(*a, seal(*b, "b to a")), "b to a");
  // Frames each side sealed under the old session, still in flight while
  // both rekey at once; each side promotes two new sessions, and the
  // second promotion lets the old one go.
  now += 126s;
  const bytes straggler_a = seal(*a, "a, old session"), straggler_b = seal(*b, "b, old session");
  ASSERT_NO_FATAL_FAILURE(rekey_both_at_once());
  std::optional<l2::drop_reason> why;
  EXPECT_EQ(carried(*b, straggler_a, &why), "a, old session") << (why ? l2::to_string(*why) : "");
  EXPECT_EQ(carried(*a, straggler_b, &why), "b, old session") << (why ? l2::to_string(*why) : "");
  // It opens for a while only (2 x keepalive, at least a second), then it is
  // forgotten: current and previous stay.
  now += 3s;
  (void)a->s.tick(a->me, now);
  (void)b->s.tick(b->me, now);
  EXPECT_LE(a->me.index_count(), 2u);
  EXPECT_LE(b->me.index_count(), 2u);
  EXPECT_EQ(carried(*a, seal(*b, "b to a later"), &why), "b to a later") << (why ? l2::to_string(*why) : "");
  EXPECT_EQ(carried(*b, seal(*a, "a to b later"), &why), "a to b later") << (why ? l2::to_string(*why) : "");
}

TEST_F(sealed_pair, InitiationsFromOnePeerAreAnsweredAtALimitedRate) {
  const opened first = deliver(*b, copy(a->s.greet(a->me, now)));
  ASSERT_FALSE(first.drop);
  now += 5ms;
  const opened second = deliver(*b, copy(a->s.tick(a->me, now + 1s).initiation));
  EXPECT_EQ(second.drop, l2::drop_reason::handshake_limited);
}

// ---- an overlay key alone: NNpsk0 ----

struct overlay_key_only : sealed_pair {
  void SetUp() override {
    a = std::make_unique<side>(std::nullopt, std::vector<key>{test_key(9)}, 1000, a_clock, std::nullopt);
    b = std::make_unique<side>(std::nullopt, std::vector<key>{test_key(9)}, 2000, b_clock, std::nullopt);
  }
};

TEST_F(overlay_key_only, TheHandshakeNeedsTheKeyAndAKeyChangeKeepsWorking) {
  EXPECT_EQ(a->me.pattern().name, "NNpsk0");
  const bytes init = copy(a->s.greet(a->me, now));
  EXPECT_EQ(init.size(), initiation_size_without_identity);
  // A host with another key: its initiation does not even pass mac1.
  side stranger(std::nullopt, {test_key(3)}, 3000, wall_clock{}, std::nullopt);
  l2::drop_reason why{};
  EXPECT_FALSE(b->me.read_initiation(copy(stranger.s.greet(stranger.me, now)), why));
  EXPECT_EQ(why, l2::drop_reason::sealed_forged);
  // The real one.
  const opened r = deliver(*b, init);
  ASSERT_FALSE(r.drop);
  deliver(*a, copy(r.reply));
  deliver(*b, seal(*a, ""));
  EXPECT_EQ(carried(*b, seal(*a, "psk")), "psk");
  // A key change: B takes the new key first, A still has only the old.
  b->me.set_psks({test_key(10), test_key(9)});
  now += 121s;
  const opened again = deliver(*b, copy(a->s.tick(a->me, now).initiation));
  ASSERT_FALSE(again.drop);
  deliver(*a, copy(again.reply));
  EXPECT_EQ(carried(*b, seal(*a, "after the change")), "after the change");
  EXPECT_FALSE(b->me.set_psks({}));  // without identities a key is needed
}

}  // namespace
}  // namespace ports::sealed

namespace ports::sealed {
namespace {

TEST_F(overlay_key_only, AKeyChangeRekeysAtOnceWithoutLosingAFrame) {
  handshake(*a, *b);
  const bytes old_frame = seal(*a, "sealed under the old key");
  now += 1s;
  a->me.set_psks({test_key(10)});
  b->me.set_psks({test_key(10)});
  const bytes init = copy(a->s.keys_changed(a->me, now));
  ASSERT_FALSE(init.empty());
  (void)b->s.keys_changed(b->me, now);  // B starts one too (lost here)
  const opened r = deliver(*b, init);
  ASSERT_FALSE(r.drop);
  deliver(*a, copy(r.reply));
  EXPECT_EQ(carried(*b, seal(*a, "new key")), "new key");
  EXPECT_EQ(carried(*b, old_frame), "sealed under the old key");  // within the grace
  now += 1001ms;
  (void)a->s.tick(a->me, now);
  (void)b->s.tick(b->me, now);
  EXPECT_EQ(carried(*b, seal(*a, "still")), "still");
  EXPECT_EQ(carried(*a, seal(*b, "back")), "back");
}

TEST_F(overlay_key_only, AKeyNoLongerHeldEndsItsSessionsWithinASecond) {
  handshake(*a, *b);
  now += 1s;
  a->me.set_psks({test_key(3)});  // B does not have it
  const opened r = deliver(*b, copy(a->s.keys_changed(a->me, now)));
  EXPECT_EQ(r.drop, l2::drop_reason::sealed_forged);
  EXPECT_EQ(carried(*b, seal(*a, "in the grace")), "in the grace");
  now += 1001ms;
  (void)a->s.tick(a->me, now);
  EXPECT_FALSE(a->s.next_send(now));
}

}  // namespace
}  // namespace ports::sealed

namespace ports::sealed {
namespace {

bytes source_of(std::uint8_t last_octet) { return bytes{std::byte{10}, std::byte{0}, std::byte{0}, std::byte{last_octet}, std::byte{0x12}, std::byte{0xb5}}; }

TEST_F(sealed_pair, UnderLoadOnlyInitiationsWithTheirSourcesCookieAreRead) {
  handshake_limits limits;
  limits.per_second = 2;
  limits.burst = 2;
  b->me.set_limits(limits);
  l2::drop_reason why{};
  // Strangers (spoofed sources) use up the budget: the third makes B "under load".
  for (std::uint8_t i = 1; i <= 3; ++i) {
    side stranger(noise::key_pair::generate(), {}, 9000 + i * 10, wall_clock{}, b_keys.public_key);
    const bytes init = copy(stranger.s.greet(stranger.me, now));
    EXPECT_EQ(b->me.admit(init, source_of(100 + i), now, why), i <= 2 ? admission::read : admission::cookie);
  }
  EXPECT_TRUE(b->me.under_load(now));
  // A's initiation (from A's real address) gets a cookie instead of an answer.
  const bytes init = copy(a->s.greet(a->me, now));
  ASSERT_EQ(b->me.admit(init, source_of(1), now, why), admission::cookie);
  std::array<std::byte, cookie_size> reply{};
  b->me.cookie_reply(init, source_of(1), now, reply);
  const opened took = deliver(*a, copy(reply));
  EXPECT_FALSE(took.drop);
  // A sends its initiation again at the next tick, now with the cookie: read.
  now += 100ms;
  const bytes again = copy(a->s.tick(a->me, now).initiation);
  ASSERT_FALSE(again.empty());
  EXPECT_EQ(b->me.admit(again, source_of(1), now, why), admission::read);
  const opened r = deliver(*b, again);
  ASSERT_FALSE(r.drop);
  deliver(*a, copy(r.reply));
  EXPECT_EQ(carried(*b, seal(*a, "through the flood")), "through the flood");
  // The same initiation replayed from another (spoofed) source: its cookie is
  // bound to A's address, so it is not read.
  EXPECT_EQ(b->me.admit(again, source_of(50), now, why), admission::cookie);
  // A cookie reply (forged or not) for a handshake A no longer runs names an
  // index A has freed.
  bytes forged = copy(reply);
  forged[40] ^= std::byte{1};
  const opened f = deliver(*a, forged);
  ASSERT_TRUE(f.drop);
  EXPECT_EQ(l2::to_string(*f.drop), "sealed_unknown_key");
  // When the load is over, initiations are read without cookies again.
  now += 2s;
  side late(noise::key_pair::generate(), {}, 9900, wall_clock{}, b_keys.public_key);
  EXPECT_EQ(b->me.admit(copy(late.s.greet(late.me, now)), source_of(60), now, why), admission::read);
}

TEST_F(sealed_pair, OneSourceIsReadAtItsOwnRateAndJunkNotAtAll) {
  handshake_limits limits;
  limits.per_source_per_second = 1;
  limits.per_source_burst = 2;
  b->me.set_limits(limits);
  l2::drop_reason why{};
  side c(noise::key_pair::generate(), {}, 9000, wall_clock{}, b_keys.public_key);
  const bytes init = copy(c.s.greet(c.me, now));
  EXPECT_EQ(b->me.admit(init, source_of(7), now, why), admission::read);
  EXPECT_EQ(b->me.admit(init, source_of(7), now, why), admission::read);
  EXPECT_EQ(b->me.admit(init, source_of(7), now, why), admission::drop);
  EXPECT_EQ(why, l2::drop_reason::handshake_limited);
  EXPECT_EQ(b->me.admit(init, source_of(8), now, why), admission::read);  // another source
  now += 1s;
  EXPECT_EQ(b->me.admit(init, source_of(7), now, why), admission::read);  // refilled
  bytes junk = init;
  junk[20] ^= std::byte{1};  // mac1 no longer matches
  EXPECT_EQ(b->me.admit(junk, source_of(9), now, why), admission::drop);
  EXPECT_EQ(why, l2::drop_reason::sealed_forged);
}

}  // namespace
}  // namespace ports::sealed

namespace ports::sealed {
namespace {

TEST_F(sealed_pair, AForgedCookieReplyIsRefusedAndTheHandshakeGoesOn) {
  handshake_limits limits;
  limits.per_second = 0.001;
  limits.burst = 1;
  b->me.set_limits(limits);
  l2::drop_reason why{};
  side c(noise::key_pair::generate(), {}, 9000, wall_clock{}, b_keys.public_key);
  ASSERT_EQ(b->me.admit(copy(c.s.greet(c.me, now)), source_of(70), now, why), admission::read);
  const bytes init = copy(a->s.greet(a->me, now));
  ASSERT_EQ(b->me.admit(init, source_of(1), now, why), admission::cookie);
  std::array<std::byte, cookie_size> reply{};
  b->me.cookie_reply(init, source_of(1), now, reply);
  bytes forged = copy(reply);
  forged[40] ^= std::byte{1};
  EXPECT_EQ(deliver(*a, forged).drop, l2::drop_reason::sealed_forged);
  EXPECT_TRUE(a->s.tick(a->me, now + 100ms).initiation.empty());  // no cookie taken: no early retry
  EXPECT_FALSE(deliver(*a, copy(reply)).drop);
}

}  // namespace
}  // namespace ports::sealed

namespace ports::sealed {
namespace {

TEST_F(sealed_pair, CertificatesTravelInTheHandshakeBothWays) {
  const bytes a_cert(170, std::byte{0xa1}), b_cert(160, std::byte{0xb2});
  a->me.set_certificate(a_cert);
  b->me.set_certificate(b_cert);
  const bytes init = copy(a->s.greet(a->me, now));
  EXPECT_EQ(init.size(), initiation_size_with_identity + a_cert.size());
  l2::drop_reason why{};
  std::optional<initiation> in = b->me.read_initiation(init, why);
  ASSERT_TRUE(in);
  EXPECT_EQ(in->certificate, a_cert);
  const opened r = b->s.respond(b->me, *in, now);
  ASSERT_FALSE(r.drop);
  EXPECT_EQ(r.reply.size(), response_size + b_cert.size());
  EXPECT_EQ(b->s.peer_certificate(), a_cert);
  ASSERT_FALSE(deliver(*a, copy(r.reply)).drop);
  EXPECT_EQ(a->s.peer_certificate(), b_cert);
  EXPECT_EQ(carried(*b, seal(*a, "with certificates")), "with certificates");
}

}  // namespace
}  // namespace ports::sealed
