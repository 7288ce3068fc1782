#include "ports/sealed_session.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstring>

#include "l2/byte_order.hpp"

namespace ports::sealed {
namespace {

/// Bound into every handshake: a v2 sealed uplink of vswitchd, nothing else.
constexpr std::string_view prologue_text = "vswitchd sealed uplink v2";
std::span<const std::byte> prologue() { return std::as_bytes(std::span(prologue_text)); }

/// A session is not used beyond this many messages (as WireGuard).
constexpr std::uint64_t reject_after_messages = ~std::uint64_t{0} - (std::uint64_t{1} << 13);

constexpr std::size_t initiation_body_offset = 8;
constexpr std::size_t response_body_offset = 12;

/// The Noise message inside a handshake datagram: after its indexes, before the macs.
std::span<const std::byte> body_of(std::span<const std::byte> datagram, std::size_t offset) {
  return datagram.subspan(offset, datagram.size() - offset - 2 * mac_size);
}

bool later(const timestamp& a, const timestamp& b) { return std::memcmp(a.data(), b.data(), a.size()) > 0; }

}  // namespace

// ---- local_identity ----

local_identity::local_identity(std::optional<noise::key_pair> identity, std::vector<key> psks,
                               std::function<timestamp()> clock, std::function<std::uint32_t()> random_index)
    : identity_(std::move(identity)),
      pattern_(noise::find_pattern(identity_ ? "IKpsk2" : "NNpsk0")),
      clock_(clock ? std::move(clock) : [] { return tai64n(std::chrono::system_clock::now()); }),
      random_index_(std::move(random_index)) {
  if (identity_) own_mac1_key_ = mac1_key(identity_->public_key);
  set_psks(std::move(psks));
  randombytes_buf(slot_key_.data(), slot_key_.size());
}

bool local_identity::set_psks(std::vector<key> psks) {
  if (!identity_ && psks.empty()) return false;
  for (key& k : psks_) sodium_memzero(k.data(), k.size());
  psks_ = std::move(psks);
  psk_mac1_keys_.clear();
  for (const key& k : psks_) psk_mac1_keys_.push_back(mac1_key(k));
  return true;
}

noise::hash local_identity::mac1_key_for(const std::optional<noise::public_key>& public_key,
                                         std::size_t psk_index) const {
  if (public_key) return mac1_key(*public_key);
  return psk_mac1_keys_.empty() ? noise::hash{} : psk_mac1_keys_[std::min(psk_index, psk_mac1_keys_.size() - 1)];
}

timestamp local_identity::next_timestamp() {
  timestamp t = clock_();
  if (!later(t, last_timestamp_)) {
    // The clock stood still or went back: one nanosecond after the last.
    t = last_timestamp_;
    l2::byte_order::store32(t, 8, l2::byte_order::load32(t, 8) + 1);
  }
  last_timestamp_ = t;
  return t;
}

std::uint32_t local_identity::allocate(session& s) {
  for (;;) {
    const std::uint32_t index = random_index_();
    const std::lock_guard lock(indexes_mutex_);
    if (index != 0 && indexes_.emplace(index, &s).second) return index;
  }
}

void local_identity::release(std::uint32_t index) {
  if (index == 0) return;
  const std::lock_guard lock(indexes_mutex_);
  indexes_.erase(index);
}

session* local_identity::find(std::uint32_t index) const {
  const std::lock_guard lock(indexes_mutex_);
  const auto it = indexes_.find(index);
  return it == indexes_.end() ? nullptr : it->second;
}

std::optional<initiation> local_identity::read_initiation(std::span<const std::byte> datagram,
                                                          l2::drop_reason& why) {
  why = l2::drop_reason::sealed_forged;
  const parsed p = parse(datagram);
  if (!p.ok || p.type != message::initiation) {
    why = p.ok ? l2::drop_reason::sealed_stale : p.reason;
    return std::nullopt;
  }
  std::array<std::byte, max_handshake_size> payload{};
  const auto read = [&](const key& psk, std::size_t psk_index) -> std::optional<initiation> {
    noise::handshake_config c;
    c.pattern = pattern_;
    c.initiator = false;
    c.prologue = prologue();
    c.local_static = identity_;
    c.psk = psk;
    initiation in;
    in.handshake.emplace(c);
    const std::optional<std::size_t> n = in.handshake->read_message(body_of(datagram, initiation_body_offset), payload);
    if (!n || *n < timestamp_size) return std::nullopt;
    std::copy_n(payload.begin(), timestamp_size, in.when.begin());
    in.sender = p.sender;
    in.remote_static = in.handshake->remote_static();
    in.psk = psk_index;
    in.certificate.assign(payload.begin() + timestamp_size, payload.begin() + static_cast<std::ptrdiff_t>(*n));
    return in;
  };
  // mac1 first: it costs a hash, the handshake costs Diffie-Hellman.
  if (identity_) {
    if (!check_mac1(*own_mac1_key_, datagram)) return std::nullopt;
    return read(psk(), 0);
  }
  for (std::size_t i = 0; i < psks_.size(); ++i) {
    if (!check_mac1(psk_mac1_keys_[i], datagram)) continue;
    if (std::optional<initiation> in = read(psks_[i], i)) return in;
  }
  return std::nullopt;
}

// ---- load control ----

bool local_identity::bucket::take(double rate, double burst, time_point now) {
  if (refilled == time_point{}) {
    tokens = burst;
  } else {
    tokens = std::min(burst, tokens + rate * std::chrono::duration<double>(now - refilled).count());
  }
  refilled = now;
  if (tokens < 1) return false;
  tokens -= 1;
  return true;
}

mac local_identity::cookie_of(std::span<const std::byte> source, time_point now) {
  if (!cookie_secret_set_ || now - cookie_secret_at_ >= std::chrono::minutes(2)) {
    randombytes_buf(cookie_secret_.data(), cookie_secret_.size());
    cookie_secret_at_ = now;
    cookie_secret_set_ = true;
  }
  return keyed_mac(cookie_secret_, source);
}

admission local_identity::admit(std::span<const std::byte> datagram, std::span<const std::byte> source,
                                time_point now, l2::drop_reason& why) {
  why = l2::drop_reason::sealed_forged;
  // 1. mac1: only a host that knows our public key (or the overlay key) gets further.
  bool mac1_ok = false;
  if (identity_) {
    mac1_ok = check_mac1(*own_mac1_key_, datagram);
  } else {
    for (const noise::hash& k : psk_mac1_keys_) mac1_ok |= check_mac1(k, datagram);
  }
  if (!mac1_ok) return admission::drop;
  // 2. The source's own rate.
  why = l2::drop_reason::handshake_limited;
  const std::uint32_t slot =
      source.empty() ? 0 : l2::byte_order::load32(keyed_mac(slot_key_, source), 0) % per_source_.size();
  if (!per_source_[slot].take(limits_.per_source_per_second, limits_.per_source_burst, now)) return admission::drop;
  // 3. Under load, only initiations with the source's cookie are read.
  if (under_load(now)) return check_mac2(cookie_of(source, now), datagram) ? admission::read : admission::cookie;
  if (!overall_.take(limits_.per_second, limits_.burst, now)) {
    overloaded_at_ = now;
    return check_mac2(cookie_of(source, now), datagram) ? admission::read : admission::cookie;
  }
  return admission::read;
}

std::span<const std::byte> local_identity::cookie_reply(std::span<const std::byte> initiation,
                                                        std::span<const std::byte> source, time_point now,
                                                        std::span<std::byte, cookie_size> out) {
  const parsed p = parse(initiation);
  write_prefix(message::cookie, out);
  l2::byte_order::store32(out, 4, p.sender);
  const std::span<std::byte> nonce = out.subspan(8, 24);
  randombytes_buf(nonce.data(), nonce.size());
  const mac cookie = cookie_of(source, now);
  std::copy(cookie.begin(), cookie.end(), out.begin() + 32);
  const mac mac1 = mac1_of(initiation);
  const noise::hash k =
      identity_ ? cookie_key(identity_->public_key) : cookie_key(psks_.empty() ? key{} : psks_.front());
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      reinterpret_cast<unsigned char*>(out.data() + 32), nullptr, reinterpret_cast<const unsigned char*>(out.data() + 32),
      mac_size, reinterpret_cast<const unsigned char*>(mac1.data()), mac1.size(), nullptr,
      reinterpret_cast<const unsigned char*>(nonce.data()), reinterpret_cast<const unsigned char*>(k.data()));
  return out;
}

// ---- session ----

session::session(session_settings settings, std::optional<noise::public_key> remote_static, void* owner)
    : settings_(settings), remote_static_(remote_static), owner_(owner) {}

session::keypair::~keypair() {
  sodium_memzero(send.data(), send.size());
  sodium_memzero(receive.data(), receive.size());
  sodium_memzero(psk.data(), psk.size());
}

bool session::usable(const keypair& k, time_point now) const {
  return k.local != 0 && now - k.created < settings_.reject_after() && now < k.ends &&
         k.next_counter.load() < reject_after_messages;
}

bool session::has_session(time_point now) const { return usable(current_, now); }

session::keypair* session::find(std::uint32_t index) {
  if (index == 0) return nullptr;
  for (keypair* k : {&current_, &previous_, &next_, &retired_})
    if (k->local == index) return k;
  return nullptr;
}

void session::drop(local_identity& me, keypair& k) {
  me.release(k.local);
  const std::lock_guard lock(send_mutex_);  // (k may be current_)
  sodium_memzero(k.send.data(), k.send.size());
  sodium_memzero(k.receive.data(), k.receive.size());
  k = keypair{};
}

void session::promote(local_identity& me, keypair& k, time_point now) {
  // `k` is moved in (it may be next_): one of the old sessions stays as the
  // previous one, which keeps opening what was sealed under it.
  if (usable(current_, now)) ++state_.rekeys;
  attempts_ = 0;
  state_.last_handshake = now;
  ++state_.handshakes_done;
  keypair installed = k;
  if (&k != &current_) k = keypair{};
  // Which old session stays: usually the current one. But after crossing
  // handshakes each side sends on the session the other initiated, which
  // here may be the previous one: the peer's frames sealed under it may
  // still be in flight (with workers, even behind its first on the new
  // session), so the previous one stays when the peer used it last. Not if
  // the current one is our own new session that carried nothing yet: the
  // peer is about to use that one (both rekeyed at once).
  const bool keep_previous =
      current_.last_received != 0 && previous_.last_received > current_.last_received;
  keypair& gone = keep_previous ? current_ : previous_;
  if (gone.local != 0) {
    // It still opens for a little while: the peer may have sealed a frame
    // under it that is still in flight (both sides rekeying at once, each
    // promoting the other's session, let go of one the peer still used).
    me.release(retired_.local);
    retired_ = gone;
    sodium_memzero(retired_.send.data(), retired_.send.size());
    retired_.ends = std::min(retired_.ends, now + retire_for());
  }
  // (One critical section: a worker's next_send sees the old session or the
  // new one, never none. Assignment overwrites the keys that go.)
  const std::lock_guard lock(send_mutex_);
  if (!keep_previous) previous_ = current_;
  current_ = installed;
  state_.session_start = installed.created;
}

std::chrono::milliseconds session::retry_interval() const {
  std::chrono::milliseconds interval = settings_.first_retry;
  for (std::uint32_t i = 1; i < attempts_ && interval < settings_.last_retry; ++i) interval *= 2;
  return std::min(interval, settings_.last_retry);
}

bool session::handshake_due(time_point now) const {
  if (!usable(current_, now)) {
    // A responder waiting for its new session's first message gives the
    // initiator a moment before starting a handshake of its own.
    return !(usable(next_, now) && now - next_.created < 2 * settings_.keepalive);
  }
  const auto age = now - current_.created;
  // (The responder waits a little longer, in case the initiator is gone;
  // never past the session's age limit.)
  const auto responder_margin = std::min<std::chrono::milliseconds>(settings_.peer_timeout, settings_.rekey_interval / 4);
  if (current_.initiator ? age >= settings_.rekey_interval
                         : age >= settings_.rekey_interval + responder_margin)
    return true;
  return current_.next_counter.load() >= settings_.rekey_after_messages || !state_.up;
}

std::span<const std::byte> session::initiate(local_identity& me, time_point now) {
  // With identities the initiator must know whom it talks to.
  if (me.has_identity() && !remote_static_) return {};
  noise::handshake_config c;
  c.pattern = &me.pattern();
  c.initiator = true;
  c.prologue = prologue();
  c.local_static = me.identity();
  c.remote_static = remote_static_;
  c.psk = me.psk();
  pending_.handshake.emplace(c);
  pending_.psk = me.psk();
  me.release(pending_.index);
  pending_.index = me.allocate(*this);
  pending_.sent = now;

  write_prefix(message::initiation, out_);
  l2::byte_order::store32(out_, 4, pending_.index);
  // The payload: our time stamp, then our certificate (if any).
  std::array<std::byte, max_handshake_size> payload{};
  const timestamp when = me.next_timestamp();
  std::copy(when.begin(), when.end(), payload.begin());
  const std::size_t cert = std::min(me.certificate().size(), payload.size() - timestamp_size - 256);
  std::copy_n(me.certificate().begin(), cert, payload.begin() + timestamp_size);
  const std::optional<std::size_t> n = pending_.handshake->write_message(
      std::span(payload).first(timestamp_size + cert), std::span(out_).subspan(initiation_body_offset).first(
                                                             out_.size() - initiation_body_offset - 2 * mac_size));
  if (!n) return {};
  const std::size_t size = initiation_body_offset + *n + 2 * mac_size;
  write_mac1(me.mac1_key_for(remote_static_, 0), std::span(out_).first(size));
  if (cookie_at_ != time_point{} && now - cookie_at_ < std::chrono::minutes(2))
    write_mac2(cookie_, std::span(out_).first(size));
  pending_.mac1 = mac1_of(std::span(out_).first(size));
  retry_with_cookie_ = false;
  ++state_.handshakes_sent;
  ++attempts_;
  ever_initiated_ = true;
  return std::span(out_).first(size);
}

std::span<const std::byte> session::greet(local_identity& me, time_point now) {
  const std::lock_guard lock(mutex_);
  if (ever_initiated_ || pending_.handshake || has_session(now)) return {};
  return initiate(me, now);
}

opened session::respond(local_identity& me, initiation& in, time_point now) {
  const std::lock_guard lock(mutex_);
  opened out;
  // 1. Fresh: a later time stamp than any accepted, and not a flood.
  if (!later(in.when, last_initiation_)) {
    out.drop = l2::drop_reason::sealed_replayed;
    return out;
  }
  if (last_initiation_at_ != time_point{} && now - last_initiation_at_ < settings_.min_initiation_gap) {
    out.drop = l2::drop_reason::handshake_limited;
    return out;
  }
  // 2. The response, into out_.
  keypair k;
  k.local = me.allocate(*this);
  k.remote = in.sender;
  write_prefix(message::response, out_);
  l2::byte_order::store32(out_, 4, k.local);
  l2::byte_order::store32(out_, 8, in.sender);
  const std::optional<std::size_t> n = in.handshake->write_message(
      me.certificate(), std::span(out_).subspan(response_body_offset).first(out_.size() - response_body_offset - 2 * mac_size));
  if (!n) {
    me.release(k.local);
    out.drop = l2::drop_reason::sealed_forged;
    return out;
  }
  const std::size_t size = response_body_offset + *n + 2 * mac_size;
  write_mac1(me.mac1_key_for(in.remote_static, in.psk), std::span(out_).first(size));
  // 3. The new session: usable once the initiator's first message arrives on it.
  const noise::transport_keys keys = in.handshake->split();
  k.send = keys.responder_to_initiator.key();
  k.receive = keys.initiator_to_responder.key();
  k.created = now;
  k.psk = me.has_identity() || me.psks().empty() ? me.psk() : me.psks()[std::min(in.psk, me.psks().size() - 1)];
  drop(me, next_);
  next_ = k;
  last_initiation_ = in.when;
  last_initiation_at_ = now;
  peer_certificate_ = in.certificate;
  out.reply = std::span(out_).first(size);
  return out;
}

opened session::complete(local_identity& me, std::span<const std::byte> datagram, const parsed& p,
                         time_point now) {
  opened out;
  if (!pending_.handshake || p.receiver != pending_.index) {
    out.drop = l2::drop_reason::sealed_stale;  // an answer to an earlier attempt, or to none
    return out;
  }
  if (!check_mac1(me.mac1_key_for(me.has_identity() ? std::optional(me.identity()->public_key) : std::nullopt, 0),
                  datagram)) {
    out.drop = l2::drop_reason::sealed_forged;
    return out;
  }
  // With identities the responder mixes in its first overlay key: try ours
  // in turn (during a key change the two sides' lists differ in order). The
  // handshake is copied for each try: a forged answer leaves it as it was.
  std::array<std::byte, max_handshake_size> payload{};
  std::optional<noise::handshake> done;
  std::size_t payload_size = 0;
  key used = pending_.psk;
  const std::size_t tries = me.has_identity() ? std::max<std::size_t>(1, me.psks().size()) : 1;
  for (std::size_t i = 0; i < tries && !done; ++i) {
    noise::handshake attempt = *pending_.handshake;
    if (me.has_identity()) {
      used = me.psks().empty() ? key{} : me.psks()[i];
      attempt.use_psk(used);
    }
    if (const auto n = attempt.read_message(body_of(datagram, response_body_offset), payload)) {
      payload_size = *n;
      done.emplace(std::move(attempt));
    }
  }
  if (!done) {
    out.drop = l2::drop_reason::sealed_forged;
    return out;
  }
  peer_certificate_.assign(payload.begin(), payload.begin() + static_cast<std::ptrdiff_t>(payload_size));
  const noise::transport_keys keys = done->split();
  keypair k;
  k.send = keys.initiator_to_responder.key();
  k.receive = keys.responder_to_initiator.key();
  k.local = pending_.index;
  k.remote = p.sender;
  k.created = now;
  k.psk = used;
  k.initiator = true;
  state_.rtt = std::chrono::duration_cast<std::chrono::nanoseconds>(now - pending_.sent);
  pending_ = pending{};  // its index is the session's now
  promote(me, k, now);
  state_.last_rx = now;
  out.authentic = true;
  out.keepalive = true;  // the responder uses the session once it has heard on it
  out.new_session = true;
  if (!state_.up) {
    state_.up = true;
    out.came_up = true;
  }
  return out;
}

std::optional<std::span<std::byte>> session::reassemble(std::span<std::byte> datagram, const parsed& p,
                                                        opened& out) {
  const std::uint32_t offset = l2::byte_order::load32(datagram, header_size);
  const std::uint32_t total = l2::byte_order::load32(datagram, header_size + 4);
  const std::span<const std::byte> piece = datagram.subspan(fragment_prefix);
  if (total < tag_size + l2::vnet_header_size || total > max_message_size || offset > total ||
      piece.size() > total - offset) {
    out.drop = l2::drop_reason::sealed_forged;
    return std::nullopt;
  }
  reassembly* slot = nullptr;
  for (reassembly& r : messages_) {
    if (r.active && r.receiver == p.receiver && r.counter == p.counter && r.total == total) slot = &r;
  }
  if (slot == nullptr) {
    // A new message: in a free slot, else in the oldest one's (which is
    // given up, and counted).
    reassembly* oldest = &messages_.front();
    for (reassembly& r : messages_) {
      if (!r.active) {
        slot = &r;
        break;
      }
      if (r.started < oldest->started) oldest = &r;
    }
    if (slot == nullptr) {
      slot = oldest;
      out.abandoned = true;
    }
    if (slot->buffer.empty()) slot->buffer.resize(header_size + max_message_size);
    slot->active = true;
    slot->started = ++messages_started_;
    slot->receiver = p.receiver;
    slot->counter = p.counter;
    slot->total = total;
    slot->received = 0;
    slot->count = 0;
    std::copy_n(datagram.begin(), header_size, slot->buffer.begin());
  }
  reassembly& m = *slot;
  // A fragment the network duplicated is ignored; too many pieces is nonsense.
  const auto received = m.offsets.begin() + static_cast<std::ptrdiff_t>(m.count);
  if (std::find(m.offsets.begin(), received, offset) != received) return std::nullopt;
  if (m.count == m.offsets.size()) {
    m.active = false;
    out.drop = l2::drop_reason::sealed_forged;
    return std::nullopt;
  }
  m.offsets[m.count++] = offset;
  std::copy(piece.begin(), piece.end(), m.buffer.begin() + static_cast<std::ptrdiff_t>(header_size + offset));
  m.received += static_cast<std::uint32_t>(piece.size());
  if (m.received < m.total) return std::nullopt;
  m.active = false;  // complete (or overfull: forged)
  if (m.received != m.total) {
    out.drop = l2::drop_reason::sealed_forged;
    return std::nullopt;
  }
  return std::span<std::byte>(m.buffer.data(), header_size + m.total);
}

opened session::take_cookie(local_identity& me, std::span<const std::byte> datagram, const parsed& p,
                            time_point now) {
  opened out;
  if (!pending_.handshake || p.receiver != pending_.index) {
    out.drop = l2::drop_reason::sealed_stale;
    return out;
  }
  // The cookie, sealed to the responder's public key (or the overlay key)
  // with our initiation's mac1: only the host we called, answering that
  // initiation, can have made it.
  const noise::hash k = remote_static_ ? cookie_key(*remote_static_) : cookie_key(me.psk());
  std::array<std::byte, mac_size + tag_size> sealed_cookie;
  std::copy_n(datagram.begin() + 32, sealed_cookie.size(), sealed_cookie.begin());
  mac cookie{};
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(cookie.data()), nullptr, nullptr,
          reinterpret_cast<const unsigned char*>(sealed_cookie.data()), sealed_cookie.size(),
          reinterpret_cast<const unsigned char*>(pending_.mac1.data()), pending_.mac1.size(),
          reinterpret_cast<const unsigned char*>(datagram.data() + 8), reinterpret_cast<const unsigned char*>(k.data())) != 0) {
    out.drop = l2::drop_reason::sealed_forged;
    return out;
  }
  cookie_ = cookie;
  cookie_at_ = now;
  retry_with_cookie_ = true;
  return out;
}

opened session::open(local_identity& me, std::span<std::byte> datagram, const parsed& p, time_point now,
                     std::span<std::byte> out) {
  const std::lock_guard lock(mutex_);
  if (p.type == message::response) return complete(me, datagram, p, now);
  if (p.type == message::cookie) return take_cookie(me, datagram, p, now);
  if (p.type != message::data && p.type != message::offload && p.type != message::control) {
    opened stale;
    stale.drop = l2::drop_reason::sealed_stale;  // an initiation goes to respond()
    return stale;
  }
  keypair* k = find(p.receiver);
  if (k == nullptr) {
    opened unknown;
    unknown.drop = l2::drop_reason::sealed_unknown_key;
    return unknown;
  }
  return open_on(me, *k, datagram, p, now, out);
}

opened session::open_on_worker(local_identity& me, std::span<std::byte> datagram, const parsed& p, time_point now,
                               std::span<std::byte> out) {
  const std::lock_guard lock(mutex_);
  keypair* k = find(p.receiver);
  if ((p.type != message::data && p.type != message::offload) || !state_.up || k == nullptr || k == &next_) {
    opened elsewhere;
    elsewhere.not_here = true;
    return elsewhere;
  }
  return open_on(me, *k, datagram, p, now, out);
}

opened session::open_on(local_identity& me, keypair& key_pair, std::span<std::byte> datagram, const parsed& p,
                        time_point now, std::span<std::byte> plain_out) {
  opened out;
  keypair* k = &key_pair;
  // 1. The session it names, still valid, and a counter not seen before.
  if (now - k->created >= settings_.reject_after() || now >= k->ends) {
    out.drop = l2::drop_reason::sealed_stale;
    return out;
  }
  if (!k->window.check(p.counter + 1)) {
    out.drop = l2::drop_reason::sealed_replayed;
    return out;
  }
  // 2. An offload message comes in fragments: collect them first.
  std::span<std::byte> sealed_bytes = datagram;
  if (p.type == message::offload) {
    const std::optional<std::span<std::byte>> whole = reassemble(datagram, p, out);
    if (!whole) return out;
    sealed_bytes = *whole;
  }
  // 3. Authenticate and decrypt (a whole offload message into the
  // caller's buffer, if given); only then move the window.
  const std::optional<std::span<std::byte>> plain =
      p.type == message::offload && !plain_out.empty() ? open_into(k->receive, sealed_bytes, plain_out)
                                                       : open_in_place(k->receive, sealed_bytes);
  if (!plain) {
    out.drop = l2::drop_reason::sealed_forged;
    return out;
  }
  if (!k->window.accept(p.counter + 1)) {
    out.drop = l2::drop_reason::sealed_replayed;
    return out;
  }
  k->last_received = ++received_;
  out.authentic = true;
  // 4. The first message on a session we answered confirms it.
  if (k == &next_) {
    promote(me, next_, now);
    out.new_session = true;
  }
  state_.last_rx = now;
  if (!state_.up) {
    state_.up = true;
    out.came_up = true;
  }
  // 5. What it carried (nothing: a keepalive).
  if (p.type == message::offload) {
    if (plain->size() < l2::vnet_header_size) {
      out.drop = l2::drop_reason::sealed_forged;
      return out;
    }
    out.packet = l2::packet{plain->subspan(l2::vnet_header_size),
                            l2::parse_vnet_header(plain->first<l2::vnet_header_size>())};
  } else if (p.type == message::control) {
    out.control = *plain;
  } else if (!plain->empty()) {
    out.packet = l2::packet{*plain, {}};
  }
  return out;
}

tick_result session::tick(local_identity& me, time_point now, bool can_initiate) {
  const std::lock_guard lock(mutex_);
  tick_result out;
  // 1. Liveness.
  if (state_.up && now - state_.last_rx.load() > settings_.peer_timeout) {
    state_.up = false;
    out.went_down = true;
  }
  // 2. Sessions past their age are forgotten (keys wiped, indexes freed).
  for (keypair* k : {&retired_, &previous_, &next_, &current_})
    if (k->local != 0 && (now - k->created >= settings_.reject_after() || now >= k->ends)) drop(me, *k);
  // 3. A handshake when one is due and the last attempt had its time.
  if (can_initiate && handshake_due(now) &&
      (!pending_.handshake || now - pending_.sent >= retry_interval() || retry_with_cookie_))
    out.initiation = initiate(me, now);
  // 4. A keepalive when nothing went out for a while.
  out.keepalive = usable(current_, now) && now - last_sent() >= settings_.keepalive;
  return out;
}

std::optional<sending> session::next_send(time_point now) {
  const std::lock_guard lock(send_mutex_);
  if (!usable(current_, now)) return std::nullopt;
  last_sent_.store(now.time_since_epoch().count(), std::memory_order_relaxed);
  return sending(current_.send, current_.remote, current_.next_counter.take());
}

sending::~sending() { sodium_memzero(k.data(), k.size()); }

std::span<const std::byte> session::keys_changed(local_identity& me, time_point now,
                                                 std::chrono::milliseconds grace) {
  const std::lock_guard hold(mutex_);
  const auto held = [&](const key& k) {
    if (me.psks().empty()) return sodium_is_zero(reinterpret_cast<const unsigned char*>(k.data()), k.size()) == 1;
    return std::find(me.psks().begin(), me.psks().end(), k) != me.psks().end();
  };
  bool affected = false;
  {
    const std::lock_guard lock(send_mutex_);  // (ends is read by next_send)
    for (keypair* k : {&current_, &previous_, &next_, &retired_}) {
      if (k->local == 0 || held(k->psk)) continue;
      k->ends = std::min(k->ends, now + grace);
      affected = true;
    }
  }
  if (pending_.handshake && !held(pending_.psk)) {
    me.release(pending_.index);
    pending_ = pending{};
    affected = true;
  }
  if (!affected) return {};
  attempts_ = 0;
  return initiate(me, now);
}

void session::clear(local_identity& me) {
  const std::lock_guard lock(mutex_);
  drop(me, current_);
  drop(me, previous_);
  drop(me, next_);
  drop(me, retired_);
  me.release(pending_.index);
  pending_ = pending{};
  for (reassembly& r : messages_) r = reassembly{};  // (its buffer freed)
  state_.up = false;
  state_.session_start = {};
}

}  // namespace ports::sealed
