// The sealed uplink protocol with one peer (ports/sealed_session), as a pure
// state machine with fake time and fixed tokens: two daemons A and B, each
// with its session for the other, pass real sealed datagrams by hand.
// Covered: key confirmation (the handshake, and data only after it), replay,
// forged and unknown-key datagrams, our own datagram reflected, expiry after
// --peer-timeout and recovery, a peer restart (the new instance adopted only
// through a fresh challenge; the old one never again), and the loss of any
// single handshake message (the next keepalive completes it).
#include "ports/sealed_session.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <vector>

#include "l2/byte_order.hpp"

namespace ports::sealed {
namespace {

using namespace std::chrono_literals;
using bytes = std::vector<std::byte>;

const session_settings settings{1000ms, 5000ms, 100ms};

key test_key(std::uint8_t seed) {
  key k{};
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = std::byte(seed + i);
  return k;
}

/// Tokens 1, 2, 3, ... offset by `base`: distinct per side, never zero.
std::function<std::uint64_t()> counter(std::uint64_t base) {
  auto next = std::make_shared<std::uint64_t>(base);
  return [next] { return ++*next; };
}

/// One daemon: its identity and its session with the other.
struct side {
  side(std::uint64_t instance, std::uint64_t token_base, key k = test_key(7))
      : me({k}, instance), peer(settings, counter(token_base)) {}
  local_identity me;
  session peer;

  bytes seal(const control& c) {
    bytes out(overhead + sizeof(std::uint64_t));
    out.resize(me.seal(c, std::span<std::byte, overhead + sizeof(std::uint64_t)>(out.data(), out.size())));
    return out;
  }
  /// A data datagram carrying `payload`.
  bytes data(const bytes& payload) {
    bytes out(overhead + payload.size());
    std::copy(payload.begin(), payload.end(), out.begin() + header_size);
    const header h = me.next_header(message::data, peer.state().instance);
    out.resize(seal_in_place(me.sealing_key(), h, out, payload.size()));
    return out;
  }
};

/// Everything `r` asks to send, sealed by `from`.
std::vector<bytes> sends(side& from, const opened& r) {
  std::vector<bytes> out;
  for (std::size_t i = 0; i < r.reply_count; ++i) out.push_back(from.seal(r.replies[i]));
  return out;
}

class sealed_session_test : public ::testing::Test {
 protected:
  /// Opens a copy of `datagram` in `to`'s session at now_. (The copy is gone
  /// on return: read the verdict, not the packet's bytes.)
  opened deliver(side& to, bytes datagram) { return to.peer.open(to.me, datagram, now_); }

  /// The handshake: A probes; B answers and challenges; A answers. Both up.
  void handshake() {
    const bytes probe = a_.seal(a_.peer.tick(now_).probe);
    const opened at_b = deliver(b_, probe);
    EXPECT_FALSE(at_b.drop);
    ASSERT_EQ(at_b.reply_count, 2u);  // a reply to A's probe, and B's own challenge
    std::vector<bytes> to_a = sends(b_, at_b);
    const opened reply = deliver(a_, to_a[0]);
    EXPECT_TRUE(reply.came_up);
    EXPECT_EQ(a_.peer.state().instance, b_.me.instance());
    const opened challenge = deliver(a_, to_a[1]);
    ASSERT_EQ(challenge.reply_count, 1u);
    const opened answer = deliver(b_, a_.seal(challenge.replies[0]));
    EXPECT_TRUE(answer.came_up);
    EXPECT_EQ(b_.peer.state().instance, a_.me.instance());
    ASSERT_TRUE(a_.peer.state().up && b_.peer.state().up);
  }

  side a_{0xa1, 100};
  side b_{0xb1, 200};
  time_point now_{std::chrono::seconds(1000)};
};

TEST_F(sealed_session_test, key_confirmation_then_data_flows) {
  const bytes early = a_.data({std::byte{1}, std::byte{2}});
  const opened before = deliver(b_, early);
  EXPECT_EQ(before.drop, l2::drop_reason::sealed_stale) << "data before the handshake";
  EXPECT_FALSE(before.packet);
  handshake();
  EXPECT_GT(a_.peer.state().replies_received, 0u);
  const bytes payload = {std::byte{0xde}, std::byte{0xad}, std::byte{0xbe}, std::byte{0xef}};
  bytes datagram = a_.data(payload);  // (the packet is decrypted in place: it lives in here)
  const opened r = b_.peer.open(b_.me, datagram, now_);
  ASSERT_TRUE(r.packet);
  EXPECT_FALSE(r.drop);
  EXPECT_EQ(bytes(r.packet->frame.begin(), r.packet->frame.end()), payload);
}

TEST_F(sealed_session_test, a_replayed_datagram_is_dropped) {
  handshake();
  const bytes d = a_.data({std::byte{5}});
  EXPECT_TRUE(deliver(b_, d).packet);
  const opened again = deliver(b_, d);
  EXPECT_EQ(again.drop, l2::drop_reason::sealed_replayed);
  EXPECT_FALSE(again.packet);
}

TEST_F(sealed_session_test, forged_and_unknown_key_datagrams_are_dropped) {
  handshake();
  bytes d = a_.data({std::byte{5}, std::byte{6}});
  d[header_size] ^= std::byte{1};
  EXPECT_EQ(deliver(b_, d).drop, l2::drop_reason::sealed_forged);
  side stranger{0xc1, 300, test_key(99)};
  EXPECT_EQ(deliver(b_, stranger.data({std::byte{1}})).drop, l2::drop_reason::sealed_unknown_key);
  bytes runt(10);
  EXPECT_EQ(deliver(b_, runt).drop, l2::drop_reason::sealed_short);
  EXPECT_TRUE(b_.peer.state().up);  // none of it touched the peer
}

TEST_F(sealed_session_test, our_own_datagram_reflected_changes_nothing) {
  handshake();
  const opened r = deliver(a_, a_.seal(a_.peer.tick(now_).probe));
  EXPECT_EQ(r.reply_count, 0u);
  EXPECT_EQ(a_.peer.state().instance, b_.me.instance());
  EXPECT_EQ(deliver(a_, a_.data({std::byte{1}})).drop, l2::drop_reason::sealed_stale);
}

TEST_F(sealed_session_test, a_silent_peer_goes_down_then_comes_back) {
  handshake();
  now_ += 4900ms;
  EXPECT_FALSE(a_.peer.tick(now_).went_down);
  now_ += 200ms;  // 5.1 s without an authentic datagram
  EXPECT_TRUE(a_.peer.tick(now_).went_down);
  EXPECT_FALSE(a_.peer.state().up);
  EXPECT_FALSE(a_.peer.tick(now_).went_down) << "down once";
  const opened back = deliver(a_, b_.data({std::byte{9}}));
  EXPECT_TRUE(back.came_up);
  EXPECT_TRUE(back.packet);
}

TEST_F(sealed_session_test, a_restarted_peer_is_adopted_through_a_fresh_challenge_only) {
  handshake();
  const bytes old_data = b_.data({std::byte{1}});
  side b2{0xb2, 400};  // B restarts: a new instance, no state
  // Its data is not taken before the handshake.
  EXPECT_EQ(deliver(a_, b2.data({std::byte{2}})).drop, l2::drop_reason::sealed_stale);
  // Its probe is answered and challenged ...
  const opened nudged = deliver(a_, b2.seal(b2.peer.tick(now_).probe));
  ASSERT_EQ(nudged.reply_count, 2u);
  EXPECT_EQ(a_.peer.state().instance, b_.me.instance()) << "not adopted from a probe";
  // ... and its reply to A's challenge makes it current.
  const opened at_b2 = deliver(b2, a_.seal(nudged.replies[1]));
  ASSERT_GE(at_b2.reply_count, 1u);
  const opened adopted = deliver(a_, b2.seal(at_b2.replies[0]));
  EXPECT_TRUE(adopted.restarted);
  EXPECT_EQ(a_.peer.state().instance, b2.me.instance());
  EXPECT_TRUE(a_.peer.state().is_retired(b_.me.instance()));
  // The old instance is never heard again.
  EXPECT_EQ(deliver(a_, old_data).drop, l2::drop_reason::sealed_stale);
  EXPECT_EQ(deliver(a_, b_.data({std::byte{3}})).drop, l2::drop_reason::sealed_stale);
}

TEST_F(sealed_session_test, a_replayed_old_reply_cannot_take_the_peer_over) {
  handshake();
  // A reply B sent once, with an old token, replayed after A's next challenge.
  const control old_reply{message::reply, a_.me.instance(), a_.peer.state().challenge + 12345};
  side b2{0xb2, 400};
  const opened r = deliver(a_, b2.seal(old_reply));
  EXPECT_FALSE(r.restarted);
  EXPECT_EQ(a_.peer.state().instance, b_.me.instance());
}

TEST_F(sealed_session_test, nudges_are_limited_per_sender) {
  side b2{0xb2, 400};
  EXPECT_EQ(deliver(a_, b2.seal(b2.peer.tick(now_).probe)).reply_count, 2u);
  EXPECT_EQ(deliver(a_, b2.seal(b2.peer.tick(now_).probe)).reply_count, 0u) << "within 100 ms";
  now_ += 100ms;
  EXPECT_EQ(deliver(a_, b2.seal(b2.peer.tick(now_).probe)).reply_count, 2u);
}

/// A and B tick every keepalive and answer each other; the `lose`-th datagram
/// sent (counting from 0) never arrives. Returns the keepalive rounds it took
/// until both were up, or 0 if not within 6. `*sent_in_all` gets how many
/// datagrams were sent by then.
int rounds_to_handshake(int lose, int* sent_in_all = nullptr) {
  side a{0xa1, 100};
  side b{0xb1, 200};
  time_point now{std::chrono::seconds(1000)};
  struct in_flight {
    bool to_a;
    bytes datagram;
  };
  std::deque<in_flight> wire;
  int sent = 0;
  const auto send = [&](bool to_a, bytes d) {
    if (sent++ != lose) wire.push_back({to_a, std::move(d)});
  };
  for (int round = 1; round <= 6; ++round) {
    send(false, a.seal(a.peer.tick(now).probe));
    send(true, b.seal(b.peer.tick(now).probe));
    while (!wire.empty()) {
      in_flight m = std::move(wire.front());
      wire.pop_front();
      side& to = m.to_a ? a : b;
      const opened r = to.peer.open(to.me, m.datagram, now);
      for (bytes& reply : sends(to, r)) send(!m.to_a, std::move(reply));
    }
    if (sent_in_all != nullptr) *sent_in_all = sent;
    if (a.peer.state().up && b.peer.state().up) return round;
    now += settings.keepalive;
  }
  return 0;
}

TEST(sealed_session, the_loss_of_any_single_handshake_message_costs_at_most_a_keepalive) {
  int in_first_round = 0;
  EXPECT_EQ(rounds_to_handshake(-1, &in_first_round), 1);
  ASSERT_GE(in_first_round, 6);  // probes, replies, challenges both ways
  for (int lose = 0; lose < in_first_round; ++lose) {
    const int rounds = rounds_to_handshake(lose);
    EXPECT_GE(rounds, 1) << "datagram " << lose << " lost: no handshake within 6 keepalives";
    EXPECT_LE(rounds, 2) << "datagram " << lose << " lost";
  }
}

}  // namespace
}  // namespace ports::sealed
