// UDP uplinks: tunnels to other switches across the underlay, as plain VXLAN
// (RFC 7348) or sealed (encrypted and authenticated, ports/sealed.hpp).
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
// under the overlay's key and carries our instance (random per start), the
// peer's instance as we know it and a sequence number. A replay window per
// peer, the instance handshake and keepalive probes (which also measure the
// RTT) run here. A peer's new instance is adopted only from a reply that
// carries the random challenge of our last probe to the peer's address, so no
// replayed or reflected datagram can take a peer over; a peer with nothing
// authentic for --peer-timeout goes down
// (its MACs are flushed by the datapath) and comes back up as soon as it
// answers again, e.g. after a restart.
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
#include "ports/netdev.hpp"
#include "ports/port.hpp"
#include "ports/read_loop.hpp"
#include "ports/sealed.hpp"
#include "ports/resolver.hpp"
#include "ports/tx_batch.hpp"

namespace ports {

class uplink_port;

/// The address a datagram came from, with IPv4-mapped IPv6 turned back into IPv4.
boost::asio::ip::udp::endpoint canonical(const boost::asio::ip::udp::endpoint& ep);

/// The addresses a name resolved to, canonical (IPv4-mapped as IPv4), in order.
std::vector<boost::asio::ip::udp::endpoint> addresses_of(
    const boost::asio::ip::udp::resolver::results_type& results);

/// The same addresses, canonical (IPv4-mapped as IPv4), in order.
std::vector<boost::asio::ip::udp::endpoint> canonical(std::vector<boost::asio::ip::udp::endpoint> addresses);

/// The address to reach a peer at among `candidates`: the first IPv4 one;
/// else, if the socket is dual-stack (`v6_socket`), the first IPv6 one.
std::optional<boost::asio::ip::udp::endpoint> pick_peer_address(
    const std::vector<boost::asio::ip::udp::endpoint>& candidates, bool v6_socket);

/// Whether `address` is on one of this host's interfaces.
bool is_local_address(const boost::asio::ip::address& address);

/// "192.0.2.1:4789" or "[2001:db8::1]:4789".
std::string to_string(const boost::asio::ip::udp::endpoint& ep);

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
  std::uint64_t instance() const { return instance_; }
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
  /// The sealed receive path: checks, reassembly, handshake, replay window,
  /// probes. Returns the packet a data or offload message carried.
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
  /// Sends `peer` a probe with a fresh random challenge, addressed to `receiver`.
  void challenge(uplink_port& peer, std::uint64_t receiver);
  /// Sends a probe (or a reply with `token`) to `peer`, addressed to `receiver`.
  void send_control(uplink_port& peer, sealed::message type, std::uint64_t receiver,
                    std::uint64_t token);
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
  std::uint64_t instance_ = 0;                       ///< our instance (sealed)
  std::uint64_t next_sequence_ = 1;                  ///< of our next sealed datagram, to any peer
  std::vector<std::uint32_t> key_ids_;               ///< ids of settings_.keys, same order
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

class uplink_port final : public port {
 public:
  /// A peer at `remote` reached through `endpoint`. `name` is how the user
  /// wrote it; `host` and `service` are re-resolved periodically when `host`
  /// is a name.
  uplink_port(l2::port_id id, std::string name, udp_endpoint& endpoint,
              const boost::asio::ip::udp::endpoint& remote, std::string host = {},
              std::string service = {});

  /// VLAN to VNI: the peer carries VLAN v untagged in VNI n for each pair
  /// (plain VXLAN, as the kernel's vxlan devices, one per VNI); frames reach
  /// send() tagged and leave untagged in their VLAN's VNI, and arrive in a
  /// mapped VNI to be handed over tagged. Empty (the default): every frame
  /// in the endpoint's VNI, tags as they are.
  using vni_map = std::vector<std::pair<l2::vlan_id, l2::vni>>;
  void set_vni_map(vni_map map);
  const vni_map& vnis() const { return vni_map_; }
  ~uplink_port() override;

  void start(port_listener& listener) override;
  void send(const l2::packet& packet) override;
  /// Sealed peers are vswitchd: super-frames and partial checksums cross whole.
  bool carries_offload() const override { return endpoint_.is_sealed(); }
  std::size_t segment_headroom() const override { return endpoint_.headroom(); }
  void send_segments(std::span<std::byte> buffer, const l2::segment_result& segments) override;
  void stop() override;
  std::string describe() const override;
  std::size_t max_frame_size() const override { return max_frame_; }

  /// The peer's address (canonical: IPv4 as IPv4).
  const boost::asio::ip::udp::endpoint& remote() const { return remote_; }
  /// The peer's address as the socket wants it (IPv4-mapped on a dual-stack socket).
  const boost::asio::ip::udp::endpoint& destination() const { return destination_; }
  /// Points the peer at a new address (re-resolution) and recomputes its MTU.
  void set_remote(const boost::asio::ip::udp::endpoint& remote);
  /// The name to re-resolve, or empty for a literal address.
  const std::string& host() const { return host_; }
  const std::string& service() const { return service_; }
  /// Unique per port object in this process (finds it again after an asynchronous wait).
  std::uint64_t serial() const { return serial_; }

  /// Liveness and handshake state of a sealed peer.
  struct peer_state {
    std::uint64_t instance = 0;                  ///< the peer's current instance; 0 unknown
    l2::replay_window window;                    ///< of the current instance
    std::array<std::uint64_t, 16> retired{};     ///< instances it had before (never again)
    std::size_t next_retired = 0;
    std::chrono::steady_clock::time_point last_rx{};     ///< last authentic datagram
    /// When we last answered a sender instance we could not accept (a few slots).
    struct nudge_slot {
      std::uint64_t sender = 0;
      std::chrono::steady_clock::time_point last{};
    };
    std::array<nudge_slot, 8> nudges{};
    std::chrono::steady_clock::time_point last_resolve{};
    std::uint64_t challenge = 0;                 ///< token of our last probe; 0 once answered
    std::chrono::steady_clock::time_point challenge_sent{};  ///< when it went out
    std::chrono::nanoseconds rtt{0};             ///< last measured round trip; 0 none yet
    std::uint64_t probes_sent = 0;
    std::uint64_t replies_received = 0;
    /// The offload message being reassembled (buffer allocated on first use).
    struct reassembly {
      std::uint64_t sequence = 0;  ///< 0: none in progress
      std::uint32_t total = 0;     ///< sealed bytes expected
      std::uint32_t received = 0;  ///< sealed bytes received
      std::vector<std::byte> buffer;  ///< header, then the sealed bytes
      std::array<std::uint32_t, 256> offsets{};  ///< of the fragments received
      std::size_t count = 0;                     ///< fragments received
    } message;

    bool is_retired(std::uint64_t id) const;
    /// Makes `id` current, from its datagram `sequence`: the old one is
    /// retired, the window starts at `sequence` (nothing older is taken).
    void adopt(std::uint64_t id, std::uint64_t sequence);
    /// Whether a datagram from `sender` we cannot accept may be answered now
    /// (once per `interval` per sender instance); records it if so.
    bool may_nudge(std::uint64_t sender, std::chrono::steady_clock::time_point now,
                   std::chrono::steady_clock::duration interval);
  };
  peer_state& state() { return state_; }
  const peer_state& state() const { return state_; }

  /// Called by the endpoint with a plain datagram from this peer: the inner
  /// frame, or nothing (counted as a drop on this port) if it is not valid VXLAN for us.
  /// With a VNI map the frame is tagged with its VNI's VLAN, in place (the
  /// tag goes where the VXLAN header was).
  std::optional<std::span<const std::byte>> decapsulate(std::span<std::byte> datagram);
  /// Called by the endpoint to hand over a (possibly merged) packet.
  void hand_over(const l2::packet& packet) { deliver(packet, false); }
  /// Called by the endpoint when a frame was received (counted before merging).
  void received(std::size_t frame_size) { count_rx(frame_size); }
  /// Called by the endpoint after a send.
  void sent(std::size_t frame_size) { count_tx(frame_size); }
  /// Called by the endpoint when a datagram from this peer or a send failed.
  void drop(l2::drop_reason reason) { counters_.drops.count(reason); }
  /// Called by the endpoint: the peer's liveness changed.
  void set_alive(bool alive, std::string_view why) { set_up(alive, why); }

 private:
  udp_endpoint& endpoint_;
  boost::asio::ip::udp::endpoint remote_;
  boost::asio::ip::udp::endpoint destination_;
  std::string host_;
  std::string service_;
  std::size_t max_frame_ = l2::max_frame_size;
  /// The VNI a frame tagged with a mapped VLAN leaves in (VNI map), or nullopt.
  std::optional<l2::vni> mapped_vni(std::span<const std::byte> frame) const;

  vni_map vni_map_;
  std::vector<std::byte> untagged_;  ///< a frame with its tag taken off (VNI map)
  peer_state state_;
  std::uint64_t serial_;
  bool attached_ = true;  ///< still known to the endpoint
};

}  // namespace ports
