// sealed_open: the sealed-uplink codec (ports/sealed.hpp) on datagrams from
// the underlay, and the key file parser on file text.
//
// Why: sealed::parse and sealed::open_in_place see every datagram a sealed
// uplink receives, before anything is authenticated; parse_key_file reads a
// file the user edits by hand. Checked:
//   - parse: ok exactly for >= 48 bytes, version 1, type <= 3, reserved 0,
//     and then write_header() of the fields gives back the 32 header bytes;
//   - open_in_place under the right key (and under another key): on success
//     the plaintext is the datagram minus header and tag, in place, and
//     sealing it again with the parsed header reproduces the datagram byte
//     for byte; on failure the payload bytes are zeroed (as documented);
//     under the wrong key it never succeeds;
//   - seal_in_place -> parse -> open_in_place round trips any header and
//     payload the input describes (mode 1), and refuses a buffer too small;
//   - parse_key_file: an error exactly when there is not 1 or 2 keys; error
//     texts never quote key material (no run of 16 hex digits); each key
//     read comes back from format_key() through the parser.
//   - the protocol with a peer (ports::sealed::session, a pure state machine
//     kept across inputs, so the fuzzer reaches fragments, reassembly, the
//     replay window and the handshake): it never crashes; a packet comes
//     only from a peer that is up, and lies within the datagram or the
//     session's reassembly; at most two answers per datagram, each addressed.
//
// Input: byte 0 picks the mode (% 3): 0 the rest is a datagram; 1 the rest
// is [type][sender u64][receiver u64][sequence u64][payload...] to seal;
// 2 the rest is a key file. The seeds (make_seeds) are datagrams sealed
// under `fuzz_key` below, so the fuzzer starts on the authenticated path.
#include <algorithm>
#include <cctype>
#include <cstring>
#include <vector>

#include "fuzz_util.hpp"
#include "fuzz_keys.hpp"
#include "l2/byte_order.hpp"
#include "ports/sealed.hpp"
#include "ports/sealed_session.hpp"

namespace {

namespace sealed = ports::sealed;

bool all_zero(std::span<const std::byte> b) {
  return std::all_of(b.begin(), b.end(), [](std::byte x) { return x == std::byte{0}; });
}

void check_datagram(std::span<const std::byte> datagram) {
  // 1. The clear header.
  const sealed::parsed p = sealed::parse(datagram);
  const bool well_formed = datagram.size() >= sealed::overhead &&
                           std::to_integer<unsigned>(datagram[0]) == sealed::version &&
                           std::to_integer<unsigned>(datagram[1]) <= 3 && datagram[2] == std::byte{0} &&
                           datagram[3] == std::byte{0};
  FUZZ_CHECK(p.ok == well_formed);
  if (!p.ok) {
    FUZZ_CHECK(p.reason == (datagram.size() < sealed::overhead ? l2::drop_reason::sealed_short
                                                               : l2::drop_reason::sealed_bad_version));
  } else {
    std::array<std::byte, sealed::header_size> header{};
    sealed::write_header(p.h, header);
    FUZZ_CHECK(std::equal(header.begin(), header.end(), datagram.begin()));
  }

  // 2. Authentication, under our key and under another one.
  for (const sealed::key* k : {&fuzz::fuzz_key(), &fuzz::other_key()}) {
    std::vector<std::byte> buffer(datagram.begin(), datagram.end());
    const auto plain = sealed::open_in_place(*k, buffer);
    if (!plain) {
      if (buffer.size() >= sealed::overhead) {
        FUZZ_CHECK(all_zero(std::span(buffer).subspan(sealed::header_size, buffer.size() - sealed::overhead)));
      }
      continue;
    }
    FUZZ_CHECK(k == &fuzz::fuzz_key());  // nothing the fuzzer makes opens under a key it never saw
    FUZZ_CHECK(plain->data() == buffer.data() + sealed::header_size);
    FUZZ_CHECK(plain->size() == buffer.size() - sealed::overhead);
    if (!p.ok) continue;
    // Sealing the plaintext again with the same header (and so the same
    // nonce) must give the very same bytes.
    std::vector<std::byte> again(buffer.size());
    std::memcpy(again.data() + sealed::header_size, plain->data(), plain->size());
    FUZZ_CHECK(sealed::seal_in_place(*k, p.h, again, plain->size()) == datagram.size());
    FUZZ_CHECK(std::equal(again.begin(), again.end(), datagram.begin()));
    // What the daemon reads from the plaintext: a probe's or reply's token.
    if (plain->size() == sizeof(std::uint64_t)) (void)l2::byte_order::load64(*plain, 0);
  }
}

/// The session every datagram of mode 0 goes to, as from one peer.
void check_session(std::span<const std::byte> datagram) {
  static sealed::local_identity me({fuzz::fuzz_key()}, 0x1111111111111111);
  static std::uint64_t token = 0;
  static sealed::session session(sealed::session_settings{}, [] { return ++token; });
  static sealed::time_point now{};
  now += std::chrono::milliseconds(37);  // time moves on: nudges, expiry, challenges
  if (datagram.size() % 7 == 0) (void)session.tick(now);
  std::vector<std::byte> buffer(datagram.begin(), datagram.end());
  const sealed::opened r = session.open(me, buffer, now);
  FUZZ_CHECK(r.reply_count <= r.replies.size());
  for (std::size_t i = 0; i < r.reply_count; ++i) {
    FUZZ_CHECK(r.replies[i].type == sealed::message::probe || r.replies[i].type == sealed::message::reply);
    FUZZ_CHECK(r.replies[i].token != 0 || r.replies[i].type == sealed::message::reply);
  }
  if (r.packet) {
    FUZZ_CHECK(session.state().up);
    const std::byte* begin = r.packet->frame.data();
    const bool in_datagram = begin >= buffer.data() && begin + r.packet->frame.size() <= buffer.data() + buffer.size();
    FUZZ_CHECK(in_datagram || r.packet->frame.size() <= sealed::max_message_size);
  }
}

void check_seal(fuzz::cursor in) {
  sealed::header h;
  h.type = static_cast<sealed::message>(in.u8() % 4);
  h.key_id = sealed::key_id_of(fuzz::fuzz_key());
  for (std::uint64_t* field : {&h.sender, &h.receiver, &h.sequence}) {
    const std::span<const std::byte> b = in.take(8);
    for (std::byte x : b) *field = *field << 8 | std::to_integer<std::uint64_t>(x);
  }
  const std::span<const std::byte> payload = in.rest();
  std::vector<std::byte> datagram(payload.size() + sealed::overhead);
  std::copy(payload.begin(), payload.end(), datagram.begin() + sealed::header_size);
  // Too small a buffer is refused without writing.
  std::vector<std::byte> small(datagram.begin(), datagram.end() - 1);
  const std::vector<std::byte> small_before = small;
  FUZZ_CHECK(sealed::seal_in_place(fuzz::fuzz_key(), h, small, payload.size()) == 0);
  FUZZ_CHECK(small == small_before);

  FUZZ_CHECK(sealed::seal_in_place(fuzz::fuzz_key(), h, datagram, payload.size()) == datagram.size());
  const sealed::parsed p = sealed::parse(datagram);
  FUZZ_CHECK(p.ok && p.h == h);
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::cursor in(fuzz::as_bytes(data, size));
  switch (in.u8() % 3) {
    case 0:
      check_datagram(in.rest());
      check_session(in.rest());
      break;
    case 1: check_seal(in); break;
    default: check_key_file(fuzz::to_string(in.rest())); break;
  }
  return 0;
}
