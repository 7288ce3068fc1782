// sealed_open: the sealed-uplink codec (ports/sealed.hpp) on datagrams from
// the underlay, the protocol (ports/sealed_session.hpp) under an attacker who
// controls the wire, and the key file parser on file text.
//
// Why: sealed::parse, read_initiation and the sessions see every datagram a
// sealed uplink receives, before anything is authenticated; parse_key_file
// reads a file the user edits by hand. Checked:
//   - parse: ok exactly for version 2, a type 1..5, reserved 0 and at least
//     the size the type needs; otherwise the right reason;
//   - open_in_place under the fuzz key (and another key): on success the
//     plaintext lies in place and sealing it again with the parsed header
//     reproduces the datagram byte for byte; under the other key it never
//     succeeds; a responder never accepts such a datagram as an initiation
//     (it fails mac1) nor finds a session for it;
//   - seal_in_place -> parse -> open_in_place round trips any fields and
//     payload the input describes (mode 1), and refuses a buffer too small;
//   - parse_key_file: an error exactly when there is not 1 or 2 keys; error
//     texts never quote key material; each key read comes back through
//     format_key() and the parser;
//   - the protocol (mode 3): two hosts A and B with identities and real
//     sessions; the input is a script of what happens on the wire (frames
//     sent either way, datagrams delivered, lost, duplicated, reordered,
//     altered; time passing, with handshakes and keepalives). Whatever the
//     script: nothing crashes, every frame delivered is one that was sent,
//     unaltered, and none is delivered twice; indexes never pile up.
//
// Input: byte 0 picks the mode (% 5): 0 the rest is a datagram; 1 the rest
// is [type][receiver u32][counter u64][payload...] to seal; 2 the rest is a
// key file; 3 the rest is a script (see check_protocol); 4 the rest is a
// control message's contents (ports/reach.hpp: decode accepts exactly what
// the encoders write).
#include <algorithm>
#include <cctype>
#include <cstring>
#include <deque>
#include <set>
#include <vector>

#include "fuzz_keys.hpp"
#include "fuzz_util.hpp"
#include "l2/byte_order.hpp"
#include "ports/reach.hpp"
#include "ports/sealed.hpp"
#include "ports/sealed_session.hpp"

namespace {

namespace sealed = ports::sealed;
namespace noise = ports::noise;
namespace reach = ports::reach;
using bytes = std::vector<std::byte>;

std::size_t minimum_size(unsigned type) {
  switch (type) {
    case 1: return sealed::initiation_size_without_identity;
    case 2: return sealed::response_size;
    case 3: return sealed::cookie_size;
    case 4: return sealed::overhead;
    case 6: return sealed::overhead + 1;
    default: return sealed::header_size + sealed::fragment_header_size + 1;
  }
}

/// A fixed identity (private key bytes `seed`, `seed` + 1, ...).
noise::key_pair identity(unsigned seed) {
  noise::secret k{};
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::byte>(seed + i);
  return noise::key_pair::from_private(k);
}

void check_datagram(std::span<const std::byte> datagram) {
  // 1. The clear parts.
  const sealed::parsed p = sealed::parse(datagram);
  const bool prefix_ok = datagram.size() >= sealed::prefix_size &&
                         std::to_integer<unsigned>(datagram[0]) == sealed::version &&
                         std::to_integer<unsigned>(datagram[1]) >= 1 &&
                         std::to_integer<unsigned>(datagram[1]) <= 6 && datagram[2] == std::byte{0} &&
                         datagram[3] == std::byte{0};
  const bool well_formed = prefix_ok && datagram.size() >= minimum_size(std::to_integer<unsigned>(datagram[1]));
  FUZZ_CHECK(p.ok == well_formed);
  if (!p.ok) {
    FUZZ_CHECK(p.reason == (datagram.size() < sealed::prefix_size || prefix_ok ? l2::drop_reason::sealed_short
                                                                              : l2::drop_reason::sealed_bad_version));
  }

  // 2. Authentication of data, under the fuzz key and under another one.
  if (p.ok && (p.type == sealed::message::data || p.type == sealed::message::offload ||
               p.type == sealed::message::control)) {
    for (const sealed::key* k : {&fuzz::fuzz_key(), &fuzz::other_key()}) {
      bytes buffer(datagram.begin(), datagram.end());
      const auto plain = sealed::open_in_place(*k, buffer);
      if (!plain) continue;
      FUZZ_CHECK(k == &fuzz::fuzz_key());  // nothing the fuzzer makes opens under a key it never saw
      FUZZ_CHECK(plain->data() == buffer.data() + sealed::header_size);
      FUZZ_CHECK(plain->size() == buffer.size() - sealed::overhead);
      bytes again(buffer.size());
      if (!plain->empty()) std::memcpy(again.data() + sealed::header_size, plain->data(), plain->size());
      FUZZ_CHECK(sealed::seal_in_place(*k, p.type, p.receiver, p.counter, again, plain->size()) == datagram.size());
      FUZZ_CHECK(std::equal(again.begin(), again.end(), datagram.begin()));
    }
  }

  // 3. A responder: nothing the fuzzer makes passes mac1 (keyed by our
  // public key), and no session index exists to find.
  static sealed::local_identity me(identity(1), {fuzz::fuzz_key()});
  l2::drop_reason why{};
  FUZZ_CHECK(!me.read_initiation(datagram, why));
  if (p.ok) FUZZ_CHECK(me.find(p.receiver) == nullptr);
}

void check_seal(fuzz::cursor in) {
  const auto type = in.u8() % 2 == 0 ? sealed::message::data : sealed::message::offload;
  std::uint32_t receiver = 0;
  for (std::byte x : in.take(4)) receiver = receiver << 8 | std::to_integer<std::uint32_t>(x);
  std::uint64_t counter = 0;
  for (std::byte x : in.take(8)) counter = counter << 8 | std::to_integer<std::uint64_t>(x);
  const std::span<const std::byte> payload = in.rest();
  bytes datagram(payload.size() + sealed::overhead);
  std::copy(payload.begin(), payload.end(), datagram.begin() + sealed::header_size);
  // Too small a buffer is refused without writing.
  bytes small(datagram.begin(), datagram.end() - 1);
  const bytes small_before = small;
  FUZZ_CHECK(sealed::seal_in_place(fuzz::fuzz_key(), type, receiver, counter, small, payload.size()) == 0);
  FUZZ_CHECK(small == small_before);

  FUZZ_CHECK(sealed::seal_in_place(fuzz::fuzz_key(), type, receiver, counter, datagram, payload.size()) ==
             datagram.size());
  const sealed::parsed p = sealed::parse(datagram);
  FUZZ_CHECK(p.ok == (type == sealed::message::data || datagram.size() >= minimum_size(5)));
  if (p.ok) FUZZ_CHECK(p.type == type && p.receiver == receiver && p.counter == counter);
  check_datagram(datagram);
  const auto plain = sealed::open_in_place(fuzz::fuzz_key(), datagram);
  FUZZ_CHECK(plain && std::equal(plain->begin(), plain->end(), payload.begin(), payload.end()));
}

/// True if `text` has a run of `n` hex digits.
bool has_hex_run(std::string_view text, std::size_t n) {
  std::size_t run = 0;
  for (char c : text) {
    run = std::isxdigit(static_cast<unsigned char>(c)) ? run + 1 : 0;
    if (run >= n) return true;
  }
  return false;
}

void check_key_file(std::string_view text) {
  const sealed::key_file f = sealed::parse_key_file(text);
  FUZZ_CHECK(f.error.empty() == (!f.keys.empty() && f.keys.size() <= 2));
  FUZZ_CHECK(!has_hex_run(f.error, 16));
  if (f.keys.size() == 2) FUZZ_CHECK(f.keys[0] != f.keys[1]);
  for (const sealed::key& k : f.keys) {
    const std::string line = sealed::format_key(k);
    FUZZ_CHECK(line.size() == 64);
    const sealed::key_file again = sealed::parse_key_file(line + "\n");
    FUZZ_CHECK(again.error.empty() && again.keys.size() == 1 && again.keys[0] == k);
  }
}

// ---- mode 3: the protocol under an attacker on the wire ----

struct host {
  host(const noise::key_pair& me_keys, const noise::public_key& peer, std::int64_t* wall)
      : me(me_keys, {fuzz::fuzz_key()},
           [wall] {
             return sealed::tai64n(std::chrono::system_clock::time_point(std::chrono::milliseconds(*wall)));
           }),
        session(settings(), peer) {}

  static sealed::session_settings settings() {
    sealed::session_settings s;
    s.rekey_interval = std::chrono::seconds(20);  // rekeys within reach of a short script
    return s;
  }

  sealed::local_identity me;
  sealed::session session;
  std::uint64_t sent = 0;               ///< frames sealed, numbered from 0
  std::set<std::uint64_t> delivered;    ///< frame numbers the other side delivered
};

struct in_flight {
  bool to_b = false;
  bytes datagram;
};

/// A frame's bytes: its number, then a pattern of it.
bytes frame_of(std::uint64_t n, bool from_a) {
  bytes f(24 + n % 40);
  l2::byte_order::store64(f, 0, n);
  for (std::size_t i = 8; i < f.size(); ++i) f[i] = static_cast<std::byte>(n * 31 + i + (from_a ? 0 : 128));
  return f;
}

void check_protocol(fuzz::cursor in) {
  std::int64_t wall = 1'700'000'000'000;
  sealed::time_point now{};
  const noise::key_pair a_keys = identity(1), b_keys = identity(77);
  host a(a_keys, b_keys.public_key, &wall), b(b_keys, a_keys.public_key, &wall);
  std::deque<in_flight> wire;
  const auto put = [&](bool to_b, std::span<const std::byte> d) {
    if (!d.empty() && wire.size() < 64) wire.push_back({to_b, bytes(d.begin(), d.end())});
  };
  const auto send_frame = [&](host& from, bool to_b, bool keepalive) {
    const std::optional<sealed::sending> s = from.session.next_send(now);
    if (!s) return;
    const bytes f = keepalive ? bytes{} : frame_of(from.sent++, to_b);
    bytes d(f.size() + sealed::overhead);
    if (!f.empty()) std::memcpy(d.data() + sealed::header_size, f.data(), f.size());
    sealed::seal_in_place(s->k, sealed::message::data, s->receiver, s->counter, d, f.size());
    put(to_b, d);
  };
  const auto deliver = [&](in_flight item) {
    host& to = item.to_b ? b : a;
    host& from = item.to_b ? a : b;
    const sealed::parsed p = sealed::parse(item.datagram);
    if (!p.ok) return;
    sealed::opened r;
    if (p.type == sealed::message::initiation) {
      l2::drop_reason why{};
      std::optional<sealed::initiation> init = to.me.read_initiation(item.datagram, why);
      if (!init) return;
      FUZZ_CHECK(init->remote_static == from.me.identity()->public_key);
      r = to.session.respond(to.me, *init, now);
    } else {
      sealed::session* s = to.me.find(p.receiver);
      if (s == nullptr) return;
      FUZZ_CHECK(s == &to.session);
      r = s->open(to.me, item.datagram, p, now);
    }
    put(!item.to_b, r.reply);
    if (r.keepalive) send_frame(to, !item.to_b, true);
    if (!r.packet) return;
    // A frame delivered is one `from` sent, unaltered, and only once.
    FUZZ_CHECK(r.authentic && to.session.state().up);
    const std::span<const std::byte> got = r.packet->frame;
    FUZZ_CHECK(got.size() >= 8);
    const std::uint64_t n = l2::byte_order::load64(got, 0);
    FUZZ_CHECK(n < from.sent);
    const bytes want = frame_of(n, item.to_b);
    FUZZ_CHECK(std::equal(got.begin(), got.end(), want.begin(), want.end()));
    FUZZ_CHECK(from.delivered.insert(n).second);
  };

  put(true, a.session.greet(a.me, now));
  put(false, b.session.greet(b.me, now));
  for (int steps = 0; !in.empty() && steps < 400; ++steps) {
    switch (in.u8() % 9) {
      case 0: send_frame(a, true, false); break;
      case 1: send_frame(b, false, false); break;
      case 2:
      case 3:
        if (!wire.empty()) {
          in_flight item = std::move(wire.front());
          wire.pop_front();
          deliver(std::move(item));
        }
        break;
      case 4:
        if (!wire.empty()) wire.pop_front();  // lost
        break;
      case 5:
        if (!wire.empty()) wire.push_back(wire.front());  // duplicated
        break;
      case 6:
        if (!wire.empty() && !wire.front().datagram.empty()) {  // altered
          bytes& d = wire.front().datagram;
          const std::size_t bit = in.u16() % (d.size() * 8);
          d[bit / 8] ^= static_cast<std::byte>(1u << (bit % 8));
        }
        break;
      case 7:
        if (!wire.empty()) {  // reordered
          wire.push_back(std::move(wire.front()));
          wire.pop_front();
        }
        break;
      default: {  // time passes; both hosts tick
        const auto step = std::chrono::milliseconds(100 * (1 + in.u8()));
        now += step;
        wall += step.count();
        for (host* h : {&a, &b}) {
          const bool to_b = h == &a;
          const sealed::tick_result t = h->session.tick(h->me, now);
          put(to_b, t.initiation);
          if (t.keepalive) send_frame(*h, to_b, true);
        }
        break;
      }
    }
  }
  // Current, previous, next, the one let go and a pending handshake at most.
  FUZZ_CHECK(a.me.index_count() <= 5);
  FUZZ_CHECK(b.me.index_count() <= 5);
}


// ---- mode 4: a control message (ports/reach.hpp) ----

/// decode accepts exactly what the encoders write: a message it accepts is
/// written again byte for byte (an IPv4-mapped endpoint comes back as IPv4,
/// so such a message is only decoded again), and a relay message's datagram
/// is the rest of the input, in place.
void check_control(std::span<const std::byte> body) {
  const std::optional<reach::message> m = reach::decode(body);
  if (!m) return;
  FUZZ_CHECK(!body.empty() && std::to_integer<unsigned>(body[0]) == static_cast<unsigned>(m->k));
  FUZZ_CHECK(m->local_count <= reach::max_locals);
  std::array<std::byte, reach::max_control_size> out{};
  std::size_t n = 0;
  switch (m->k) {
    case reach::kind::announce: n = reach::encode_announce(m->local_endpoints(), out); break;
    case reach::kind::find: n = reach::encode_find(m->key, out); break;
    case reach::kind::introduce: n = reach::encode_introduce(m->key, *m->observed, m->local_endpoints(), out); break;
    case reach::kind::probe: n = reach::encode_probe(m->nonce, out); break;
    case reach::kind::pong: n = reach::encode_pong(m->nonce, *m->observed, out); break;
    case reach::kind::relay_to:
    case reach::kind::relayed_from:
      FUZZ_CHECK(!m->inner.empty());
      FUZZ_CHECK(m->inner.data() == body.data() + reach::relay_header_size);
      FUZZ_CHECK(m->inner.size() == body.size() - reach::relay_header_size);
      FUZZ_CHECK(std::equal(m->key.begin(), m->key.end(), body.begin() + 1));
      return;
  }
  FUZZ_CHECK(n <= body.size());
  const std::optional<reach::message> again = reach::decode(std::span<const std::byte>(out).first(n));
  FUZZ_CHECK(again && again->k == m->k && again->key == m->key && again->nonce == m->nonce &&
             again->local_count == m->local_count && again->observed == m->observed);
  const bool mapped = [&] {
    for (const auto& e : m->local_endpoints())
      if (e.address().is_v6() && e.address().to_v6().is_v4_mapped()) return true;
    return m->observed && m->observed->address().is_v6() && m->observed->address().to_v6().is_v4_mapped();
  }();
  if (!mapped) FUZZ_CHECK(n == body.size() && std::equal(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n), body.begin()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::cursor in(fuzz::as_bytes(data, size));
  switch (in.u8() % 5) {
    case 0: check_datagram(in.rest()); break;
    case 1: check_seal(in); break;
    case 2: check_key_file(fuzz::to_string(in.rest())); break;
    case 3: check_protocol(in); break;
    default: check_control(in.rest()); break;
  }
  return 0;
}
