// sealed_session: the sealed uplink's protocol with one peer, as a pure state
// machine: a datagram and the time in, what it carried, what to count, what to
// send back and whether the peer came up out; the keepalive tick in, the probe
// to send and whether the peer went down out. No socket, no clock, no
// randomness of its own (the caller passes a source), so every path is
// unit-tested with fake time (tests/ports/sealed_session_test.cpp). The
// udp_endpoint owns the socket and feeds it; this is the room a handshake
// with per-host identity (issue 14) replaces.
//
// The protocol (wire format in ports/sealed.hpp):
// - Each daemon run has a random instance. A datagram names its sender's
//   instance, the receiver's instance as the sender knows it (0: not yet) and
//   a sequence number from one counter for all peers.
// - Key confirmation: a peer's instance is adopted only from a reply that is
//   addressed to this run and carries the random challenge of our last probe
//   to the peer. A replayed or reflected datagram cannot carry it, so none can
//   take a peer over; a restarted peer is adopted at its first such reply.
// - Replay: per adopted instance a sliding window; retired instances are
//   never heard again except by answering a fresh challenge.
// - Liveness: the peer is up once an authentic datagram addressed to this run
//   arrives; down after peer_timeout without one. Probes go out each
//   keepalive either way (they also measure the round trip).
// - Datagrams we cannot accept yet are answered (a reply to a probe, and a
//   challenge), at most once per nudge_interval per sender instance.
// - Offload messages (super-frames) arrive in fragments, reassembled here
//   before they are authenticated as a whole.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "l2/drop_reason.hpp"
#include "l2/frame.hpp"
#include "l2/offload.hpp"
#include "l2/replay_window.hpp"
#include "ports/sealed.hpp"

namespace ports::sealed {

using time_point = std::chrono::steady_clock::time_point;

/// The largest sealed offload message: a virtio-net header, a maximal frame, the tag.
inline constexpr std::size_t max_message_size = l2::vnet_header_size + l2::max_frame_size + tag_size;
/// Bytes in front of each fragment of an offload message.
inline constexpr std::size_t fragment_prefix = header_size + fragment_header_size;

/// A probe or a reply the session wants sent to its peer.
struct control {
  message type = message::probe;
  std::uint64_t receiver = 0;  ///< the peer's instance to address it to
  std::uint64_t token = 0;     ///< the challenge, or the token answered
};

/// This daemon's side of every session: the keys, our instance, and the one
/// sequence counter for all peers (so no nonce ever repeats under a key).
class local_identity {
 public:
  local_identity(std::vector<key> keys, std::uint64_t instance);
  /// Replaces the keys (the first seals); false when `keys` is empty.
  bool set_keys(std::vector<key> keys);
  /// The key with id `id`, or nullptr.
  const key* find(std::uint32_t id) const;
  const key& sealing_key() const { return keys_.front(); }
  const std::vector<key>& keys() const { return keys_; }
  std::uint64_t instance() const { return instance_; }
  /// The header of our next datagram of `type` to a peer we know as `receiver`.
  header next_header(message type, std::uint64_t receiver);
  /// Seals `c` into `out`; returns the datagram's size.
  std::size_t seal(const control& c, std::span<std::byte, overhead + sizeof(std::uint64_t)> out);

 private:
  std::vector<key> keys_;
  std::vector<std::uint32_t> key_ids_;  ///< of keys_, same order
  std::uint64_t instance_;
  std::uint64_t next_sequence_ = 1;
};

/// What one datagram gave.
struct opened {
  std::optional<l2::packet> packet;     ///< a data or offload message's contents (in the datagram or the session)
  std::optional<l2::drop_reason> drop;  ///< to count on the peer's port
  bool abandoned = false;  ///< also count sealed_incomplete: a partial offload message was given up
  std::array<control, 2> replies{};     ///< to send, in order
  std::size_t reply_count = 0;
  bool came_up = false;    ///< the peer is up now (it was not)
  bool restarted = false;  ///< a new instance of a peer we knew was adopted

  void send(const control& c) { replies[reply_count++] = c; }
};

/// What a keepalive tick gave.
struct tick_result {
  bool went_down = false;  ///< silent for peer_timeout: the peer is down now
  control probe;           ///< to send
};

struct session_settings {
  std::chrono::milliseconds keepalive{1000};          ///< probe interval
  std::chrono::milliseconds peer_timeout{5000};       ///< silent this long: down
  std::chrono::milliseconds nudge_interval{100};      ///< answers to one sender instance, at most
};

/// The state of the protocol with one peer (read by status and tests).
struct peer_state {
  std::uint64_t instance = 0;               ///< the peer's current instance; 0 unknown
  l2::replay_window window;                 ///< of the current instance
  std::array<std::uint64_t, 16> retired{};  ///< instances it had before (never again)
  std::size_t next_retired = 0;
  time_point last_rx{};                     ///< last authentic datagram (plain peers: any VXLAN)
  std::uint64_t challenge = 0;              ///< token of our last probe; 0 once answered
  time_point challenge_sent{};              ///< when it went out
  std::chrono::nanoseconds rtt{0};          ///< last measured round trip; 0 none yet
  std::uint64_t probes_sent = 0;
  std::uint64_t replies_received = 0;
  bool up = false;                          ///< the handshake is done and the peer not silent

  bool is_retired(std::uint64_t id) const;
};

class session {
 public:
  /// `random` gives non-zero 64-bit tokens (tests pass a fixed sequence).
  explicit session(session_settings settings = {},
                   std::function<std::uint64_t()> random = &random_instance);

  /// Opens `datagram` from this peer, received at `now`: checks it, collects
  /// fragments, authenticates and decrypts in place, runs the handshake.
  opened open(local_identity& me, std::span<std::byte> datagram, time_point now);
  /// The keepalive, every settings.keepalive: liveness and the next probe.
  tick_result tick(time_point now);
  /// A probe to send now (a peer added while running); nothing twice.
  std::optional<control> greet(time_point now);

  const peer_state& state() const { return state_; }
  peer_state& state() { return state_; }

 private:
  /// Step 1, before any cryptography: the key to open it with, or nullptr
  /// (with the drop reason set) for a datagram that cannot be accepted.
  const key* admit(const local_identity& me, const parsed& p, opened& out) const;
  /// Step 4, on an authentic datagram: adopts a new instance of the peer from
  /// the answer to our challenge, or answers and challenges (nudges). Whether
  /// the datagram is from the peer's current instance, addressed to this run.
  bool handshake(const local_identity& me, const header& h, std::uint64_t token, bool has_token,
                 time_point now, opened& out);
  /// Fragments of an offload message: the whole sealed message once complete.
  std::optional<std::span<std::byte>> reassemble(std::span<std::byte> datagram, const header& h,
                                                 opened& out);
  /// Makes `id` current from its datagram `sequence`: the old one is retired.
  void adopt(std::uint64_t id, std::uint64_t sequence);
  /// Whether a datagram from `sender` we cannot accept may be answered now.
  bool may_nudge(std::uint64_t sender, time_point now);
  /// A probe with our standing challenge (a fresh one each keepalive).
  control challenge(time_point now, std::uint64_t receiver);

  session_settings settings_;
  std::function<std::uint64_t()> random_;
  peer_state state_;
  struct nudge_slot {
    std::uint64_t sender = 0;
    time_point last{};
  };
  std::array<nudge_slot, 8> nudges_{};
  /// The offload message being reassembled (buffer allocated on first use).
  struct reassembly {
    std::uint64_t sequence = 0;  ///< 0: none in progress
    std::uint32_t total = 0;     ///< sealed bytes expected
    std::uint32_t received = 0;  ///< sealed bytes received
    std::vector<std::byte> buffer;  ///< header, then the sealed bytes
    std::array<std::uint32_t, 256> offsets{};  ///< of the fragments received
    std::size_t count = 0;                     ///< fragments received
  } message_;
};

}  // namespace ports::sealed
