// reach: how peers find each other across NATs, over the sealed channel
// (docs/wire-formats.md, "Control messages"; docs/uplinks.md, "Hosts behind
// NAT"). A control message is a sealed message of type 6: the data header,
// then, sealed under the session like a frame, one of:
//
//   announce      1, n (1), n endpoints     "find me": my local endpoints
//   find          2, key (32)               "where is the host with this key?"
//   introduce     3, key (32), observed endpoint, n (1), n endpoints
//                                           "it is there" (to both hosts)
//   probe         4, nonce (8)              sent straight to a candidate endpoint
//   pong          5, nonce (8), observed endpoint   the answer, to where the probe came from
//   relay_to      6, key (32), datagram     "pass this sealed datagram on to that key"
//   relayed_from  7, key (32), datagram     "this came from that key"
//
// An endpoint is family (1: 4 or 6), address (4 or 16), port (2, big-endian).
// The relayed datagram is a whole sealed datagram between the two end hosts:
// the relay can neither read nor alter it. Pure: bytes in, bytes out.
#pragma once

#include <boost/asio/ip/udp.hpp>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "ports/noise.hpp"
#include "ports/sealed.hpp"

namespace ports::reach {

using endpoint = boost::asio::ip::udp::endpoint;

enum class kind : std::uint8_t {
  announce = 1,
  find = 2,
  introduce = 3,
  probe = 4,
  pong = 5,
  relay_to = 6,
  relayed_from = 7,
};

/// At most this many local endpoints in an announce or introduce.
inline constexpr std::size_t max_locals = 8;
/// A relay message's own bytes: kind and key.
inline constexpr std::size_t relay_header_size = 1 + 32;
/// What relaying adds to a sealed datagram: the relay message inside a
/// sealed control message to (or from) the relay.
inline constexpr std::size_t relay_overhead = sealed::overhead + relay_header_size;
/// The largest control message that is not a relay message.
inline constexpr std::size_t max_control_size = 1 + 32 + 19 + 1 + max_locals * 19;

/// A decoded control message; which fields count depends on `k`. Holds no
/// memory of its own but `inner`, which points into the decoded bytes.
struct message {
  kind k{};
  noise::public_key key{};         ///< find, introduce, relay_to, relayed_from
  std::optional<endpoint> observed;  ///< introduce, pong
  std::array<endpoint, max_locals> locals{};  ///< announce, introduce
  std::size_t local_count = 0;
  std::uint64_t nonce = 0;             ///< probe, pong
  std::span<const std::byte> inner;    ///< relay_to, relayed_from: the sealed datagram

  std::span<const endpoint> local_endpoints() const { return std::span(locals).first(local_count); }
};

/// The endpoints where a peer might be reached directly (from introductions
/// and from its probes), each probed until it answers or goes stale. Bounded:
/// a peer or an introducer can make us probe at most max_candidates
/// addresses, once per probe interval each, for `fresh` after it was last named.
class candidates {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  static constexpr std::size_t max_candidates = 8;

  /// Adds `where` (or refreshes it); when full, the stalest one goes.
  void add(const endpoint& where, time_point now);
  /// Forgets them all.
  void clear() { count_ = 0; }
  std::size_t size() const { return count_; }

  /// Calls send(where, nonce) for each candidate named within `fresh` whose
  /// last probe is `interval` old, with a new nonce from `next_nonce`.
  template <class NextNonce, class Send>
  void probe(time_point now, std::chrono::milliseconds interval, std::chrono::milliseconds fresh,
             NextNonce&& next_nonce, Send&& send) {
    for (std::size_t i = 0; i < count_; ++i) {
      entry& e = entries_[i];
      if (now - e.named > fresh || (e.probed != time_point{} && now - e.probed < interval)) continue;
      e.nonce = next_nonce();
      e.probed = now;
      send(e.where, e.nonce);
    }
  }
  /// Whether a pong from `from` with `nonce` answers our latest probe to it
  /// (sent within `window`).
  bool answers(const endpoint& from, std::uint64_t nonce, time_point now, std::chrono::milliseconds window) const;

 private:
  struct entry {
    endpoint where;
    time_point named{};   ///< last introduced or seen
    time_point probed{};  ///< last probe sent
    std::uint64_t nonce = 0;
  };
  std::array<entry, max_candidates> entries_{};
  std::size_t count_ = 0;
};

/// Decodes a control message; nullopt if it is malformed (unknown kind,
/// short, a bad endpoint, bytes left over).
std::optional<message> decode(std::span<const std::byte> bytes);

/// Encoders: write the message to the front of `out` (max_control_size is
/// always enough) and return its size. At most max_locals endpoints are written.
std::size_t encode_announce(std::span<const endpoint> locals, std::span<std::byte> out);
std::size_t encode_find(const noise::public_key& key, std::span<std::byte> out);
std::size_t encode_introduce(const noise::public_key& key, const endpoint& observed,
                             std::span<const endpoint> locals, std::span<std::byte> out);
std::size_t encode_probe(std::uint64_t nonce, std::span<std::byte> out);
std::size_t encode_pong(std::uint64_t nonce, const endpoint& observed, std::span<std::byte> out);
/// The relay header (kind and key) in front of a datagram; the datagram
/// itself follows it in the caller's buffer.
void write_relay_header(kind k, const noise::public_key& key, std::span<std::byte, relay_header_size> out);

}  // namespace ports::reach
