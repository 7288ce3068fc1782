// sealed_session: the sealed uplinks' protocol, as pure state machines: a
// datagram and the time in; what it carried, what to count, what to send
// back and whether the peer came up out. No socket, no clock, no randomness
// of its own (tests pass fixed sources), so every path is unit-tested with
// fake time (tests/ports/sealed_session_test.cpp). The udp_endpoint owns the
// socket and feeds them. Wire format: ports/sealed.hpp.
//
// The protocol is WireGuard's, at layer 2:
// - Handshake: Noise IKpsk2 when hosts have identities (--identity; the
//   initiator knows the responder's public key, the responder learns the
//   initiator's from the first message), NNpsk0 with an overlay key alone
//   (--key-file): one implementation (ports/noise.hpp), forward secrecy
//   either way. The overlay key, when there is one, is the pre-shared key.
//   The initiation carries a TAI64N time stamp: one not later than the last
//   one accepted from the peer is a replay and is dropped.
// - Sessions: each handshake gives a key pair per direction and an index on
//   each side (the receiver's index heads each data message). A session is
//   used for sending by its initiator once the response arrives (it answers
//   with a keepalive), by its responder once the first message on it
//   arrives. The previous session keeps opening what was sealed under it, so
//   a rekey loses no frame (of the two old sessions, the one the peer sealed
//   with last stays; the other still opens for 2 x keepalive, at least a
//   second, for frames the peer sealed under it still in flight). Replay: a
//   sliding window per session.
// - Timers: the initiator of the current session rekeys after
//   rekey_interval (its responder after a little more, should the initiator
//   be gone) or 2^60 messages; a session older than 1.5 x rekey_interval is
//   neither used nor accepted. A handshake without an answer is retried
//   after 1 s, 2 s, 4 s ... up to 30 s, each with a fresh ephemeral key, so a
//   peer that never answers costs one initiation per 30 s. A keepalive goes
//   out whenever nothing was sent for `keepalive`; a peer with nothing
//   authentic for peer_timeout is down (and handshakes start again).
// - Offload messages (super-frames) arrive in fragments, reassembled here
//   before they are authenticated as a whole; up to 16 at once (the
//   peer's workers send theirs interleaved).
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "l2/drop_reason.hpp"
#include "l2/frame.hpp"
#include "l2/offload.hpp"
#include "l2/replay_window.hpp"
#include "ports/atomic_time.hpp"
#include "ports/noise.hpp"
#include "ports/sealed.hpp"

namespace ports::sealed {

using time_point = std::chrono::steady_clock::time_point;

/// The largest sealed offload message: a virtio-net header, a maximal frame, the tag.
inline constexpr std::size_t max_message_size = l2::vnet_header_size + l2::max_frame_size + tag_size;
/// Bytes in front of each fragment of an offload message.
inline constexpr std::size_t fragment_prefix = header_size + fragment_header_size;
/// The largest handshake message.
inline constexpr std::size_t max_handshake_size = 640;  ///< with a certificate in its payload

class session;

/// How much handshake work a host takes on (WireGuard's load control).
/// Each initiation that passes mac1 costs Diffie-Hellman; these bound it.
struct handshake_limits {
  double per_second = 1000;       ///< initiations read per second, from all sources
  double burst = 200;
  double per_source_per_second = 20;  ///< from one source address
  double per_source_burst = 10;
};

/// What to do with an initiation before it is read (local_identity::admit).
enum class admission {
  read,    ///< go on: read it (Diffie-Hellman)
  cookie,  ///< under load and without a valid cookie: answer with a cookie, read nothing
  drop,    ///< over its source's rate, or mac1 fails
};

/// An initiation read by the responder (local_identity::read_initiation),
/// waiting for the session of its peer to answer it.
struct initiation {
  std::optional<noise::handshake> handshake;      ///< after message 1
  std::uint32_t sender = 0;                       ///< the initiator's index
  std::optional<noise::public_key> remote_static; ///< the initiator (with identities)
  timestamp when{};                               ///< its time stamp
  std::size_t psk = 0;                            ///< which overlay key opened it (without identities)
  std::vector<std::byte> certificate;             ///< the initiator's overlay certificate, if it sent one
};

/// This daemon's side of every session: its identity or overlay keys, the
/// index of every session, the time stamps of its initiations.
class local_identity {
 public:
  /// With `identity`, handshakes are IKpsk2 (psk: the first of `psks`, or
  /// zero); without, NNpsk0 under the first of `psks` (at least one).
  /// `clock` gives wall-clock time stamps; `random_index` non-zero indexes.
  local_identity(std::optional<noise::key_pair> identity, std::vector<key> psks,
                 std::function<timestamp()> clock = {},
                 std::function<std::uint32_t()> random_index = &sealed::random_index);

  bool has_identity() const { return identity_.has_value(); }
  const std::optional<noise::key_pair>& identity() const { return identity_; }
  const noise::pattern& pattern() const { return *pattern_; }
  /// Replaces the overlay keys (the first is used, each accepted); false
  /// when `psks` is empty without an identity.
  bool set_psks(std::vector<key> psks);
  const std::vector<key>& psks() const { return psks_; }
  /// The pre-shared key this side puts into handshakes.
  key psk() const { return psks_.empty() ? key{} : psks_.front(); }
  /// The key of mac1 on messages to a host with `public_key`, or under overlay key `psk_index`.
  noise::hash mac1_key_for(const std::optional<noise::public_key>& public_key, std::size_t psk_index) const;

  /// This host's overlay certificate (--certificate), sent in every
  /// handshake message (empty: none).
  void set_certificate(std::vector<std::byte> certificate) { certificate_ = std::move(certificate); }
  const std::vector<std::byte>& certificate() const { return certificate_; }

  /// A time stamp later than every one before (the clock may stand still).
  timestamp next_timestamp();

  /// A new index for `s`, unique among live ones. (allocate, release, find
  /// and index_count are thread-safe: workers find the sessions they open
  /// for; everything else runs on the io_context thread.)
  std::uint32_t allocate(session& s);
  /// Frees `index` (no-op for 0).
  void release(std::uint32_t index);
  /// The session an index belongs to, or nullptr.
  session* find(std::uint32_t index) const;
  /// Indexes in use (for tests: nothing leaks).
  std::size_t index_count() const {
    const std::lock_guard lock(indexes_mutex_);
    return indexes_.size();
  }

  /// Reads an initiation: mac1 first (cheap), then Noise message 1. On
  /// failure, nullopt with `why` set (sealed_forged).
  std::optional<initiation> read_initiation(std::span<const std::byte> datagram, l2::drop_reason& why);

  /// Load control, before an initiation from `source` (its address and port
  /// bytes) is read: mac1 must pass (else drop, `why` sealed_forged); over
  /// the source's rate: drop (handshake_limited); over the overall rate, or
  /// while that lasts, an initiation whose mac2 is not the source's cookie
  /// gets a cookie instead (the initiator, if it really is at that address,
  /// sends it again with the cookie; a spoofed source never sees it).
  admission admit(std::span<const std::byte> datagram, std::span<const std::byte> source, time_point now,
                  l2::drop_reason& why);
  /// The cookie reply to `initiation` from `source`, into `out` (cookie_size bytes).
  std::span<const std::byte> cookie_reply(std::span<const std::byte> initiation,
                                          std::span<const std::byte> source, time_point now,
                                          std::span<std::byte, cookie_size> out);
  void set_limits(const handshake_limits& limits) { limits_ = limits; }
  /// Whether the overall rate was exceeded in the last second.
  bool under_load(time_point now) const { return now - overloaded_at_ < std::chrono::seconds(1); }

 private:
  struct bucket {
    double tokens = 0;
    time_point refilled{};
    bool take(double rate, double burst, time_point now);
  };
  /// The current cookie of `source`: a keyed hash under a secret renewed every 2 minutes.
  mac cookie_of(std::span<const std::byte> source, time_point now);

  std::optional<noise::key_pair> identity_;
  std::vector<key> psks_;
  const noise::pattern* pattern_;
  std::optional<noise::hash> own_mac1_key_;   ///< with identity
  std::vector<noise::hash> psk_mac1_keys_;    ///< without: one per overlay key
  std::function<timestamp()> clock_;
  std::function<std::uint32_t()> random_index_;
  timestamp last_timestamp_{};
  mutable std::mutex indexes_mutex_;  ///< held by allocate, release, find
  std::unordered_map<std::uint32_t, session*> indexes_;
  std::vector<std::byte> certificate_;
  handshake_limits limits_;
  bucket overall_;
  std::array<bucket, 1024> per_source_{};  ///< by a hash of the source address (collisions share)
  time_point overloaded_at_{};
  key cookie_secret_{};
  key slot_key_{};  ///< random: where a source's rate is kept is not predictable
  time_point cookie_secret_at_{};
  bool cookie_secret_set_ = false;
};

struct session_settings {
  std::chrono::milliseconds keepalive{1000};      ///< a keepalive after this long without sending
  std::chrono::milliseconds peer_timeout{5000};   ///< silent this long: down
  std::chrono::seconds rekey_interval{120};       ///< --rekey-interval
  std::uint64_t rekey_after_messages = std::uint64_t{1} << 60;
  std::chrono::milliseconds first_retry{1000};    ///< handshake retries: this, doubling ...
  std::chrono::milliseconds last_retry{30000};    ///< ... up to this
  std::chrono::milliseconds min_initiation_gap{20};  ///< initiations answered per peer, at most one per this

  /// Sessions older than this are neither used nor accepted.
  std::chrono::milliseconds reject_after() const { return rekey_interval * 3 / 2; }
};

/// The state of the protocol with one peer (read by status and tests).
struct peer_state {
  atomic_time last_rx;          ///< last authentic datagram (plain peers: uplink_port::last_heard); workers write it
  time_point last_handshake{};  ///< last completed handshake; {} none yet
  time_point session_start{};   ///< the current session's handshake
  std::chrono::nanoseconds rtt{0};      ///< round trip of our last answered initiation; 0 none yet
  std::uint64_t handshakes_sent = 0;    ///< initiations sent
  std::uint64_t handshakes_done = 0;    ///< completed, either side initiating
  std::uint64_t rekeys = 0;             ///< completed while a session still worked
  bool up = false;              ///< a session works and the peer is not silent
};

/// What one datagram gave.
struct opened {
  std::optional<l2::packet> packet;     ///< a data or offload message's contents (in the datagram or the session)
  std::span<std::byte> control;         ///< a control message's contents (in the datagram; ports/reach.hpp)
  std::optional<l2::drop_reason> drop;  ///< to count on the peer's port
  bool abandoned = false;   ///< also count sealed_incomplete: a partial offload message was given up
  bool authentic = false;   ///< it authenticated (the peer may have moved to its source address)
  std::span<const std::byte> reply;  ///< a handshake message to send back (in the session)
  bool keepalive = false;   ///< send a keepalive now (confirms a new session to its responder)
  bool came_up = false;     ///< the peer is up now (it was not)
  bool new_session = false; ///< a handshake completed
  bool not_here = false;    ///< (open_on_worker) it needs the io_context thread: nothing was done with it
};

/// What a tick gave.
struct tick_result {
  bool went_down = false;                 ///< silent for peer_timeout: the peer is down now
  std::span<const std::byte> initiation;  ///< to send (in the session)
  bool keepalive = false;                 ///< send a keepalive
};

/// The key and numbers of the next data message: a copy, so that a worker
/// seals with it while the io_context thread installs a new session.
struct sending {
  key k{};
  std::uint32_t receiver = 0;
  std::uint64_t counter = 0;

  sending(const key& k, std::uint32_t receiver, std::uint64_t counter) : k(k), receiver(receiver), counter(counter) {}
  sending(const sending&) = default;
  sending& operator=(const sending&) = default;
  ~sending();  ///< wipes the key
};

class session {
 public:
  /// A session with a peer known by `remote_static` (with identities), or by
  /// address (without). `owner` is the caller's (the uplink port), kept for it.
  explicit session(session_settings settings = {}, std::optional<noise::public_key> remote_static = {},
                   void* owner = nullptr);
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  /// Answers an initiation from this peer: the response, and a new session
  /// that becomes usable when the initiator's first message on it arrives.
  opened respond(local_identity& me, initiation& in, time_point now);
  /// Opens any other message from this peer (found by its receiver index):
  /// a response, data, offload fragments. A whole offload message is
  /// decrypted into `out` when given (at least max_message_size bytes; the
  /// caller's own, so that the packet stays its own after the call), else
  /// in the session's reassembly buffer.
  opened open(local_identity& me, std::span<std::byte> datagram, const parsed& p, time_point now,
              std::span<std::byte> out = {});
  /// (A worker thread) Opens a data or offload message on the current or
  /// previous session of a peer that is up: everything that changes no more
  /// than replay windows, reassembly and liveness. Anything else (the first
  /// message on a new session, a peer that is down, handshakes, control) is
  /// not_here, untouched: the io_context thread opens it.
  opened open_on_worker(local_identity& me, std::span<std::byte> datagram, const parsed& p, time_point now,
                        std::span<std::byte> out);
  /// Every keepalive interval: liveness, rekeying, handshake retries,
  /// keepalives. `can_initiate`: the peer has an address to send to.
  tick_result tick(local_identity& me, time_point now, bool can_initiate = true);
  /// An initiation to send now, if none was sent yet (a peer just added).
  std::span<const std::byte> greet(local_identity& me, time_point now);
  /// The key, receiver and counter of the next data message, or nullopt
  /// when no session works yet (the frame is dropped: sealed_no_session).
  /// Thread-safe: worker threads seal frames to the peer while the
  /// io_context thread runs everything else. (Threads: next_send and
  /// open_on_worker run on any thread, every other member on the io_context
  /// thread. Each member that changes the sessions holds mutex_, which
  /// open_on_worker holds too; where one changes the current session it
  /// also takes send_mutex_, which next_send holds. Order: mutex_, then
  /// send_mutex_, then the local_identity's.)
  std::optional<sending> next_send(time_point now);
  /// When a datagram was last sealed for the peer (any thread).
  time_point last_sent() const { return time_point(time_point::duration(last_sent_.load(std::memory_order_relaxed))); }
  /// The overlay keys changed: sessions made under a key no longer held end
  /// after `grace` (they keep working meanwhile), and a handshake under the
  /// new first key starts at once: its initiation, or empty.
  std::span<const std::byte> keys_changed(local_identity& me, time_point now,
                                          std::chrono::milliseconds grace = std::chrono::milliseconds(1000));
  /// Ends everything: sessions, handshake, indexes (the peer was removed or revoked).
  void clear(local_identity& me);

  const peer_state& state() const { return state_; }
  const std::optional<noise::public_key>& remote_static() const { return remote_static_; }
  /// The certificate the peer sent in its last handshake message (empty: none).
  const std::vector<std::byte>& peer_certificate() const { return peer_certificate_; }
  void* owner() const { return owner_; }
  /// Whether a session can carry data now.
  bool has_session(time_point now) const;

 private:
  /// The next message counter: taken under send_mutex_ (any thread), read
  /// without it on the io_context thread (age checks), hence atomic.
  struct counter {
    std::atomic<std::uint64_t> value{0};
    counter() = default;
    counter(const counter& other) : value(other.load()) {}
    counter& operator=(const counter& other) {
      value.store(other.load(), std::memory_order_relaxed);
      return *this;
    }
    std::uint64_t load() const { return value.load(std::memory_order_relaxed); }
    std::uint64_t take() { return value.fetch_add(1, std::memory_order_relaxed); }
  };
  struct keypair {
    key send{}, receive{};
    std::uint32_t local = 0;   ///< our index: 0 = no session here
    std::uint32_t remote = 0;  ///< the peer's index
    counter next_counter;
    l2::replay_window window;  ///< received counters + 1
    time_point created{};
    std::uint64_t last_received = 0;  ///< which authentic message of the peer's arrived last under it (received_)
    time_point ends = time_point::max();  ///< its overlay key was dropped: unusable from then
    key psk{};                 ///< the overlay key its handshake mixed in
    bool initiator = false;    ///< we initiated its handshake

    keypair() = default;
    keypair(const keypair&) = default;
    keypair& operator=(const keypair&) = default;
    ~keypair();                ///< wipes the keys
  };
  struct pending {
    std::optional<noise::handshake> handshake;  ///< after message 1
    std::uint32_t index = 0;
    time_point sent{};
    key psk{};
    mac mac1{};  ///< of the initiation (a cookie reply names it)
  };
  /// A cookie reply to our initiation: keep its cookie for the next one.
  opened take_cookie(local_identity& me, std::span<const std::byte> datagram, const parsed& p, time_point now);

  /// Starts a handshake: the initiation, in out_.
  std::span<const std::byte> initiate(local_identity& me, time_point now);
  /// Finishes our handshake with a response.
  opened complete(local_identity& me, std::span<const std::byte> datagram, const parsed& p, time_point now);
  /// The key pair with our index `index`, or nullptr.
  keypair* find(std::uint32_t index);
  /// Installs `k` as the current session (the old one becomes previous)
  /// and counts the finished handshake (a rekey if a session was usable).
  void promote(local_identity& me, keypair& k, time_point now);
  void drop(local_identity& me, keypair& k);
  bool usable(const keypair& k, time_point now) const;
  /// Whether a handshake is due: none works, the current one is old, or the peer went silent.
  bool handshake_due(time_point now) const;
  std::chrono::milliseconds retry_interval() const;
  /// Opens a data, offload or control message on `k` (mutex_ held).
  opened open_on(local_identity& me, keypair& k, std::span<std::byte> datagram, const parsed& p, time_point now,
                 std::span<std::byte> out);
  /// Fragments of an offload message: the whole sealed message once complete.
  std::optional<std::span<std::byte>> reassemble(std::span<std::byte> datagram, const parsed& p, opened& out);

  session_settings settings_;
  std::optional<noise::public_key> remote_static_;
  void* owner_;
  peer_state state_;
  /// Held by every member that reads or changes the sessions' receive side
  /// (open_on_worker runs on workers).
  mutable std::mutex mutex_;
  keypair current_, previous_, next_;
  /// The session the last promotion let go: it only opens, for retire_for().
  keypair retired_;
  std::chrono::milliseconds retire_for() const {
    return std::max<std::chrono::milliseconds>(2 * settings_.keepalive, std::chrono::seconds(1));
  }
  /// Held by next_send (any thread) and by every change to current_ (the
  /// io_context thread), which is all a worker reads of the session.
  mutable std::mutex send_mutex_;
  std::atomic<time_point::rep> last_sent_{0};  ///< last_sent()
  pending pending_;
  std::uint32_t attempts_ = 0;            ///< unanswered initiations in a row
  std::uint64_t received_ = 0;            ///< authentic messages received, on every session
  timestamp last_initiation_{};           ///< greatest time stamp accepted from the peer
  time_point last_initiation_at_{};       ///< when it was accepted
  bool ever_initiated_ = false;
  std::vector<std::byte> peer_certificate_;
  mac cookie_{};                  ///< the responder's cookie for us, under load
  time_point cookie_at_{};        ///< when it came; valid 2 minutes
  bool retry_with_cookie_ = false;  ///< send the initiation again (with the cookie) at the next tick
  std::array<std::byte, max_handshake_size> out_{};  ///< the handshake message to send
  /// An offload message being reassembled (buffer allocated on first use).
  struct reassembly {
    std::uint32_t receiver = 0;
    std::uint64_t counter = 0;
    bool active = false;
    std::uint64_t started = 0;   ///< when it started, in messages_started_
    std::uint32_t total = 0;     ///< sealed bytes expected
    std::uint32_t received = 0;  ///< sealed bytes received
    std::vector<std::byte> buffer;  ///< header, then the sealed bytes
    std::array<std::uint32_t, 256> offsets{};  ///< of the fragments received
    std::size_t count = 0;                     ///< fragments received
  };
  /// Several at once: the peer's worker threads send theirs interleaved. A
  /// message that starts while all are busy gives up the oldest. (Buffers
  /// are allocated when a slot is first used and freed by clear().)
  static constexpr std::size_t reassembly_slots = 16;
  std::array<reassembly, reassembly_slots> messages_;
  std::uint64_t messages_started_ = 0;
};

}  // namespace ports::sealed
