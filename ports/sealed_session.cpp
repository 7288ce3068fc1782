#include "ports/sealed_session.hpp"

#include <algorithm>

#include "l2/byte_order.hpp"

namespace ports::sealed {

// ---- local_identity ----

local_identity::local_identity(std::vector<key> keys, std::uint64_t instance) : instance_(instance) {
  set_keys(std::move(keys));
}

bool local_identity::set_keys(std::vector<key> keys) {
  if (keys.empty()) return false;
  keys_ = std::move(keys);
  key_ids_.clear();
  for (const key& k : keys_) key_ids_.push_back(key_id_of(k));
  return true;
}

const key* local_identity::find(std::uint32_t id) const {
  const auto it = std::find(key_ids_.begin(), key_ids_.end(), id);
  return it == key_ids_.end() ? nullptr : &keys_[static_cast<std::size_t>(it - key_ids_.begin())];
}

header local_identity::next_header(message type, std::uint64_t receiver) {
  // One counter for all peers: (sender, sequence) never repeats under the
  // overlay's key, whatever the receiver field says, so neither does a nonce.
  return header{type, key_ids_.front(), instance_, receiver, next_sequence_++};
}

std::size_t local_identity::seal(const control& c,
                                 std::span<std::byte, overhead + sizeof(std::uint64_t)> out) {
  const header h = next_header(c.type, c.receiver);
  l2::byte_order::store64(out, header_size, c.token);
  return seal_in_place(sealing_key(), h, out, sizeof(std::uint64_t));
}

// ---- peer_state ----

bool peer_state::is_retired(std::uint64_t id) const {
  return std::find(retired.begin(), retired.end(), id) != retired.end();
}

// ---- session ----

session::session(session_settings settings, std::function<std::uint64_t()> random)
    : settings_(settings), random_(std::move(random)) {}

void session::adopt(std::uint64_t id, std::uint64_t sequence) {
  peer_state& st = state_;
  if (st.instance != 0) {
    st.retired[st.next_retired] = st.instance;
    st.next_retired = (st.next_retired + 1) % st.retired.size();
  }
  std::replace(st.retired.begin(), st.retired.end(), id, std::uint64_t{0});  // current again
  st.instance = id;
  // Nothing sealed before the answer to our challenge is taken from it.
  st.window.reset_at(sequence);
}

bool session::may_nudge(std::uint64_t sender, time_point now) {
  nudge_slot* oldest = &nudges_.front();
  for (nudge_slot& slot : nudges_) {
    if (slot.sender == sender) {
      if (now - slot.last < settings_.nudge_interval) return false;
      slot.last = now;
      return true;
    }
    if (slot.last < oldest->last) oldest = &slot;
  }
  *oldest = nudge_slot{sender, now};
  return true;
}

control session::challenge(time_point now, std::uint64_t receiver) {
  // One challenge stands for a keepalive interval: probes crossing each
  // other during a handshake must not replace the token being answered.
  if (state_.challenge == 0 || now - state_.challenge_sent >= settings_.keepalive) {
    state_.challenge = random_();
    state_.challenge_sent = now;
  }
  ++state_.probes_sent;
  return control{message::probe, receiver, state_.challenge};
}

std::optional<control> session::greet(time_point now) {
  if (state_.probes_sent != 0) return std::nullopt;
  return challenge(now, state_.instance);
}

tick_result session::tick(time_point now) {
  tick_result out;
  // Silent for too long means down; probes go out either way (they keep NAT
  // and firewall state, and measure the round trip).
  if (state_.up && now - state_.last_rx > settings_.peer_timeout) {
    state_.up = false;
    out.went_down = true;
  }
  out.probe = challenge(now, state_.instance);
  return out;
}

std::optional<std::span<std::byte>> session::reassemble(std::span<std::byte> datagram,
                                                        const header& h, opened& out) {
  if (datagram.size() <= fragment_prefix) {
    out.drop = l2::drop_reason::sealed_short;
    return std::nullopt;
  }
  const std::uint32_t offset = l2::byte_order::load32(datagram, header_size);
  const std::uint32_t total = l2::byte_order::load32(datagram, header_size + 4);
  const std::span<const std::byte> piece = datagram.subspan(fragment_prefix);
  if (total < tag_size + l2::vnet_header_size || total > max_message_size || offset > total ||
      piece.size() > total - offset) {
    out.drop = l2::drop_reason::sealed_forged;
    return std::nullopt;
  }
  reassembly& m = message_;
  if (m.buffer.empty()) m.buffer.resize(header_size + max_message_size);
  if (m.sequence != h.sequence || m.total != total) {
    // (A message left incomplete is counted; the new one starts.)
    out.abandoned = m.sequence != 0;
    m.sequence = h.sequence;
    m.total = total;
    m.received = 0;
    m.count = 0;
    std::copy_n(datagram.begin(), header_size, m.buffer.begin());
  } else if (!std::equal(datagram.begin(), datagram.begin() + header_size, m.buffer.begin())) {
    // Every fragment carries the same header, and only the stored one is
    // authenticated with the message: a different one is forged (and must
    // not steer the handshake).
    out.drop = l2::drop_reason::sealed_forged;
    return std::nullopt;
  }
  // A fragment the network duplicated is ignored; too many pieces is nonsense.
  const auto received = m.offsets.begin() + static_cast<std::ptrdiff_t>(m.count);
  if (std::find(m.offsets.begin(), received, offset) != received) return std::nullopt;
  if (m.count == m.offsets.size()) {
    m.sequence = 0;
    out.drop = l2::drop_reason::sealed_forged;
    return std::nullopt;
  }
  m.offsets[m.count++] = offset;
  std::copy(piece.begin(), piece.end(),
            m.buffer.begin() + static_cast<std::ptrdiff_t>(header_size + offset));
  m.received += static_cast<std::uint32_t>(piece.size());
  if (m.received < m.total) return std::nullopt;
  m.sequence = 0;  // complete (or overfull: forged)
  if (m.received != m.total) {
    out.drop = l2::drop_reason::sealed_forged;
    return std::nullopt;
  }
  return std::span<std::byte>(m.buffer.data(), header_size + m.total);
}

const key* session::admit(const local_identity& me, const parsed& p, opened& out) const {
  const peer_state& st = state_;
  if (!p.ok) {
    out.drop = p.reason;
    return nullptr;
  }
  const key* k = me.find(p.h.key_id);
  if (k == nullptr) {
    out.drop = l2::drop_reason::sealed_unknown_key;
    return nullptr;
  }
  const bool current = st.instance != 0 && p.h.sender == st.instance;
  if (current && !st.window.check(p.h.sequence)) {
    out.drop = l2::drop_reason::sealed_replayed;
    return nullptr;
  }
  // A retired instance is heard again only by answering a fresh challenge
  // (which undoes a wrong adoption); anything else from it is stale.
  if (!current && st.is_retired(p.h.sender) && p.h.type != message::reply) {
    out.drop = l2::drop_reason::sealed_stale;
    return nullptr;
  }
  // Fragments go into reassembly only from the current instance, addressed
  // to this run: others could only evict a message being collected.
  if (p.h.type == message::offload && (!current || p.h.receiver != me.instance())) {
    out.drop = l2::drop_reason::sealed_stale;
    return nullptr;
  }
  return k;
}

bool session::handshake(const local_identity& me, const header& h, std::uint64_t token,
                        bool has_token, time_point now, opened& out) {
  peer_state& st = state_;
  const bool control_message = h.type == message::probe || h.type == message::reply;
  const auto not_yet = [&](std::uint64_t receiver) {
    // Only probes and replies move the handshake (data waits for it), and
    // each sender instance has its own budget of answers: replayed
    // datagrams of some instances cannot use up the one a restarted peer needs.
    if (!control_message) {
      out.drop = l2::drop_reason::sealed_stale;
    } else if (may_nudge(h.sender, now)) {
      if (h.type == message::probe && has_token) out.send({message::reply, h.sender, token});
      out.send(challenge(now, receiver));
    }
    return false;
  };
  if (h.sender == me.instance()) {  // our own datagram, sent back to us
    if (!control_message) out.drop = l2::drop_reason::sealed_stale;
    return false;
  }
  // A new instance of the peer is adopted only from a reply, addressed to
  // this run of ours, that carries the random challenge we last sent to the
  // peer: a replay (from another member, from before a restart, or our own
  // datagram reflected) cannot carry it.
  if (st.instance == 0 || h.sender != st.instance) {
    const bool answers_challenge = h.type == message::reply && h.receiver == me.instance() &&
                                   has_token && st.challenge != 0 && token == st.challenge;
    if (!answers_challenge) return not_yet(h.sender);
    out.restarted = st.instance != 0;
    adopt(h.sender, h.sequence);
  }
  // The peer still addresses an earlier run of ours: nothing it sends can be
  // trusted to be fresh until it has adopted this one.
  if (h.receiver != me.instance()) return not_yet(st.instance);
  return true;
}

opened session::open(local_identity& me, std::span<std::byte> datagram, time_point now) {
  opened out;
  peer_state& st = state_;
  // 1. Header checks, before any cryptography.
  const parsed p = parse(datagram);
  const key* k = admit(me, p, out);
  if (k == nullptr) return out;
  // 2. An offload message comes in fragments: collect them first.
  std::span<std::byte> sealed_bytes = datagram;
  if (p.h.type == message::offload) {
    const std::optional<std::span<std::byte>> whole = reassemble(datagram, p.h, out);
    if (!whole) return out;
    sealed_bytes = *whole;
  }
  // 3. Authenticate and decrypt in place.
  const std::optional<std::span<std::byte>> plain = open_in_place(*k, sealed_bytes);
  if (!plain) {
    out.drop = l2::drop_reason::sealed_forged;
    return out;
  }
  // 4. The handshake: adopt, answer, or wait.
  const bool has_token = plain->size() == sizeof(std::uint64_t) &&
                         (p.h.type == message::probe || p.h.type == message::reply);
  const std::uint64_t token = has_token ? l2::byte_order::load64(*plain, 0) : 0;
  if (!handshake(me, p.h, token, has_token, now, out)) return out;
  // Only now, addressed to this run of ours, may it move the window: a
  // datagram another peer captured and sent here must not push the window
  // past the peer's real traffic.
  (void)st.window.accept(p.h.sequence);  // already marked when just adopted
  // 5. Alive; then by type.
  st.last_rx = now;
  if (!st.up) {
    st.up = true;
    out.came_up = true;
  }
  switch (p.h.type) {
    case message::data:
      out.packet = l2::packet{*plain, {}};
      break;
    case message::offload:
      out.packet = l2::packet{plain->subspan(l2::vnet_header_size),
                              l2::parse_vnet_header(plain->first<l2::vnet_header_size>())};
      break;
    case message::probe:
      if (has_token) out.send({message::reply, st.instance, token});
      break;
    case message::reply:
      if (has_token && token == st.challenge && st.challenge != 0) {
        st.rtt = std::chrono::duration_cast<std::chrono::nanoseconds>(now - st.challenge_sent);
        st.challenge = 0;  // one answer per challenge
        ++st.replies_received;
      }
      break;
  }
  return out;
}

}  // namespace ports::sealed
