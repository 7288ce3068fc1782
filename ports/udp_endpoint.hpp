// udp_endpoint: the UDP socket of the uplinks — tunnels to other switches
// across the underlay, as plain VXLAN (RFC 7348) or sealed (encrypted and
// authenticated: ports/sealed.hpp is the wire format, ports/sealed_session.hpp
// the protocol with each peer, a pure state machine). Each peer is an
// uplink_port (ports/uplink_port.hpp). This file: the socket, batching,
// GSO/GRO, the one send path every uplink datagram takes, keepalive ticks and
// re-resolution.
//
// One udp_endpoint owns the local UDP socket (--listen) and carries every
// peer; each peer is its own uplink_port, so the MAC table learns which peer
// a remote MAC sits behind. Peers can be added and removed while the switch
// runs (--peers-file).
//
// Plain mode: frames go out as VXLAN datagrams with our VNI, so the Linux
// kernel's vxlan device, Open vSwitch and hardware VTEPs are peers out of the
// box. There is no liveness protocol in VXLAN: plain peers are always up.
//
// Sealed mode (--key-file): every datagram is sealed with XChaCha20-Poly1305
// under the overlay's key; each peer's sealed::session decides what an
// incoming datagram is worth (handshake, replay window, liveness) and which
// probes and replies to send, and this endpoint sends them. A peer with
// nothing authentic for --peer-timeout goes down (its MACs are flushed by the
// datapath) and comes back up as soon as it answers again.
//
// Receiving, the endpoint finds the peer by the datagram's source address. A
// peer's datagrams are accepted whatever their source port (the kernel's
// vxlan picks it per flow), except where two peers share an address (two
// daemons on one host): then the source port must match one of them.
// Datagrams from anyone else are dropped and counted on the endpoint
// (not_peer); malformed ones from a peer are counted on that peer's port.
//
// Fast path: the socket reads up to `batch` messages per system call
// (recvmmsg) with UDP_GRO, so one message may hold many datagrams of one
// flow; their inner TCP segments are merged back into super-frames
// (l2::tcp_coalescer) so a TAP takes a whole run in one write. Sending, a
// super-frame that the datapath segmented goes out in one sendmsg with
// UDP_SEGMENT (each segment behind its own VXLAN header), falling back to one
// datagram per segment where the kernel refuses. A sealed uplink takes the
// super-frame itself: it is sealed once and sent whole, in fragments.
//
// MTU: the socket never fragments (IP_PMTUDISC_DO). Each peer's largest
// inner frame is the underlay MTU towards it (the route's, or
// --underlay-mtu) minus IP, UDP and the encapsulation; larger frames are
// dropped and counted (too_big).
#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <sys/uio.h>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "l2/coalesce.hpp"
#include "l2/drop_reason.hpp"
#include "l2/replay_window.hpp"
#include "l2/vxlan.hpp"
#include "ports/address.hpp"
#include "ports/netdev.hpp"
#include "ports/port.hpp"
#include "ports/read_loop.hpp"
#include "ports/sealed.hpp"
#include "ports/sealed_session.hpp"
#include "ports/resolver.hpp"
#include "ports/tx_batch.hpp"

namespace ports {

class uplink_port;

/// How the uplinks behave; fixed when the endpoint opens (keys can change).
struct uplink_settings {
  l2::vni vni = 1;                                     ///< VXLAN network identifier (plain mode)
  std::vector<sealed::key> keys;                       ///< empty: plain VXLAN; else sealed, first seals
  std::chrono::milliseconds keepalive{1000};           ///< probe interval per peer (sealed)
  std::chrono::milliseconds peer_timeout{5000};        ///< silent this long: peer down (sealed)
  std::chrono::seconds resolve_interval{60};           ///< names re-resolved this often
  std::size_t underlay_mtu = 0;                        ///< 0: the route's MTU towards each peer
  std::optional<boost::asio::ip::address_v4> group;    ///< VXLAN multicast group (plain mode)
  unsigned group_ifindex = 0;                          ///< interface for the group; 0: the route's
};

class udp_endpoint {
 public:
  /// Counters of datagrams no peer port could be charged with.
  struct endpoint_counters {
    std::uint64_t rx_datagrams = 0;  ///< every datagram received
    l2::drop_counters drops;         ///< not_peer
  };

  /// Binds the UDP socket to `local`. `option` names the setting for error
  /// messages (e.g. "--listen 0.0.0.0:4789"). Throws port_error (address in
  /// use, not an address of this host, no permission).
  static std::unique_ptr<udp_endpoint> open(boost::asio::io_context& io,
                                            const boost::asio::ip::udp::endpoint& local,
                                            const uplink_settings& settings,
                                            const std::string& option);
  ~udp_endpoint();

  /// Makes `peer` reachable; it must stay alive until remove_peer() or the end.
  void add_peer(uplink_port& peer);
  /// Forgets `peer` (its queued datagrams go out first); it may be destroyed after.
  void remove_peer(uplink_port& peer);
  /// Starts reading and the keepalive timer (idempotent; uplink_port::start calls it).
  void start();
  /// Whether `remote` is this endpoint: its port on one of this host's addresses.
  bool is_self(const boost::asio::ip::udp::endpoint& remote) const;
  /// Sends a first probe to a sealed peer added while running.
  void greet(uplink_port& peer);
  /// Stops reading and closes the socket.
  void stop();
  /// Replaces the keys (sealed mode only; the first seals). Returns false in plain mode.
  bool set_keys(const std::vector<sealed::key>& keys);
  /// Group mode: called with the source of a valid VXLAN datagram that no
  /// peer matches; returns the peer to charge it to (a new learned peer), or
  /// nullptr to drop it as not_peer.
  using stranger_handler = std::function<uplink_port*(const boost::asio::ip::udp::endpoint&)>;
  void on_stranger(stranger_handler handler) { stranger_ = std::move(handler); }

  /// Sends `frame` to `peer` as one datagram; counts on the peer's port.
  /// Plain mode: in VNI `vni` when given, else the endpoint's.
  void send(uplink_port& peer, std::span<const std::byte> frame, std::optional<l2::vni> vni = std::nullopt);
  /// Sealed mode: sends a packet with offloads (a super-frame, a partial
  /// checksum) whole, as one offload message in as many datagrams as it takes.
  void send_offload(uplink_port& peer, const l2::packet& packet);
  /// Plain mode: sends segments laid out by l2::segment() with headroom() to `peer`.
  /// With `untag_to`, the segments are 802.1Q-tagged: each leaves untagged, in
  /// that VNI (a VNI-mapped uplink); the buffer is rewritten in place.
  void send_segments(uplink_port& peer, std::span<std::byte> buffer,
                     const l2::segment_result& segments,
                     std::optional<l2::vni> untag_to = std::nullopt);

  /// Messages read per system call.
  static constexpr std::size_t batch = 16;

  /// Bytes in front of each segment (plain mode): the VXLAN header.
  std::size_t headroom() const { return l2::vxlan_header_size; }
  /// Bytes a datagram adds to an inner frame (8 for VXLAN, 48 sealed).
  std::size_t encapsulation_size() const {
    return sealed_ ? sealed::overhead : l2::vxlan_header_size;
  }
  bool is_sealed() const { return sealed_; }
  /// Whether the socket is IPv6 (dual-stack): peers are then addressed as IPv6.
  bool is_v6() const { return v6_; }
  const boost::asio::ip::udp::endpoint& local() const { return local_; }
  l2::vni vni() const { return settings_.vni; }
  const uplink_settings& settings() const { return settings_; }
  /// Our instance (sealed mode): random, fixed for this run.
  std::uint64_t instance() const { return me_ ? me_->instance() : 0; }
  const endpoint_counters& counters() const { return counters_; }
  /// The largest inner frame for a peer at `remote`: the underlay MTU
  /// towards it minus IP, UDP and the encapsulation.
  std::size_t max_frame_size_to(const boost::asio::ip::udp::endpoint& remote) const;

 private:
  udp_endpoint(boost::asio::io_context& io, unique_fd fd,
               const boost::asio::ip::udp::endpoint& local, const uplink_settings& settings);
  read_loop::step read_one();
  uplink_port* find_peer(const boost::asio::ip::udp::endpoint& from) const;
  /// One datagram from `peer`: decapsulate or open, then merge into the current run or deliver.
  void receive(uplink_port& peer, std::span<std::byte> datagram);
  /// The sealed receive path: the peer's session opens it (checks,
  /// reassembly, handshake, replay window); its answers are sent and its
  /// verdict counted. Returns the packet a data or offload message carried.
  std::optional<l2::packet> open_sealed(uplink_port& peer, std::span<std::byte> datagram);
  /// Hands an inner frame to the coalescer or to `peer`.
  void pass_on(uplink_port& peer, std::span<const std::byte> inner);
  /// Delivers the run being merged, if any.
  void flush_run();
  /// Sends the queued small frames (one sendmmsg).
  void flush();
  /// One sendmsg of the bytes `iov` gathers: `count` datagrams of `stride`
  /// bytes (the last may be shorter), with UDP_SEGMENT when count > 1. False
  /// when the kernel refused the segmentation (send them one by one).
  bool send_block(uplink_port& peer, std::span<const iovec> iov, std::size_t stride,
                  std::size_t count, std::size_t per_segment_overhead);
  /// The header of the next sealed datagram of `type` to `peer`.
  sealed::header next_header(uplink_port& peer, sealed::message type);
  /// Seals and sends a probe or reply the peer's session asked for.
  void send_control(uplink_port& peer, const sealed::control& c);
  /// Keepalive timer: probes, timeouts, re-resolution.
  void schedule_tick();
  void tick();
  /// Looks `peer`'s name up again (asynchronously) and follows a changed address.
  void resolve(uplink_port& peer);

  boost::asio::io_context& io_;
  read_loop reader_;
  boost::asio::ip::udp::endpoint local_;
  uplink_settings settings_;
  bool sealed_ = false;
  bool v6_ = false;
  bool started_ = false;
  std::optional<sealed::local_identity> me_;         ///< sealed: our keys, instance, sequence
  std::array<std::byte, l2::vxlan_header_size> header_;  ///< our VXLAN header, precomputed
  std::vector<uplink_port*> peers_;
  std::vector<std::byte> buffers_;  ///< `batch` receive buffers of 64 KiB; preallocated
  std::vector<std::byte> scratch_;  ///< a large frame or offload message being sealed; preallocated
  /// Per-datagram headers of an offload message being sent (sealed + fragment header).
  static constexpr std::size_t max_fragments = 256;
  std::vector<std::byte> fragment_headers_;
  l2::tcp_coalescer coalescer_;     ///< userspace GRO of received TCP segments
  uplink_port* run_peer_ = nullptr; ///< the peer whose frames the coalescer holds
  bool udp_segment_ = true;         ///< the kernel takes UDP_SEGMENT (cleared on EIO)
  tx_batch tx_;                     ///< small frames waiting for the end of the input batch
  boost::asio::steady_timer timer_;
  resolver resolver_;  ///< names re-resolved without ever holding the daemon up
  endpoint_counters counters_;
  stranger_handler stranger_;
  std::chrono::steady_clock::time_point batch_time_{};  ///< when the current input batch was read
};

}  // namespace ports
