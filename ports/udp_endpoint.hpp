// udp_endpoint: the UDP socket of the uplinks — tunnels to other switches
// across the underlay, as plain VXLAN (RFC 7348) or sealed (encrypted and
// authenticated: ports/sealed.hpp is the wire format, ports/sealed_session.hpp
// the protocol with each peer, a pure state machine). Each peer is an
// uplink_port (ports/uplink_port.hpp). This class: the sockets, batching,
// GSO, the one send path every uplink datagram takes (udp_endpoint.cpp); the
// receive path, GRO and plain VXLAN, on the io_context thread or the
// workers (udp_endpoint_receive.cpp); the sealed receive path
// (udp_endpoint_sealed.cpp); paths across NATs:
// introductions, probes, relays (udp_endpoint_reach.cpp); keepalive ticks,
// re-resolution and MTUs (udp_endpoint_peers.cpp).
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
// Sealed mode (--identity and/or --key-file): the protocol is WireGuard's
// (ports/sealed_session.hpp): a Noise handshake (IKpsk2 between host
// identities, NNpsk0 with an overlay key alone) gives each pair of peers
// sessions with their own keys, rekeyed every --rekey-interval; frames are
// sealed with ChaCha20-Poly1305 under them. The endpoint keeps every session's
// index (local_identity): data and responses find their peer by it, whatever
// address they come from; an authenticated datagram from a new address moves
// the peer there (roaming). Initiations find their peer by its public key
// (or, without identities, by address). A peer with nothing authentic for
// --peer-timeout goes down (its MACs are flushed by the datapath) and comes
// back up with the next handshake.
//
// Plain mode: the endpoint finds the peer by the datagram's source address. A
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
//
// Workers (--workers above 1): a worker thread sends on an uplink itself
// (uplink_port::thread_safe_send), through a batch of its own sent when its
// round ends; the socket is shared (the kernel serialises). A sealed peer's
// frames are sealed there too (with the worker's own buffers; the session's
// next_send is thread-safe), unless they go through a relay. Without a
// --group, the workers also receive: the endpoint binds one
// socket per worker to the same address (SO_REUSEPORT; the kernel hashes
// each datagram's addresses and ports to one of them, so one flow stays on
// one worker and in order) and each worker reads its own (worker_read, with
// its own buffers and coalescer), handing the frames to the datapath there.
// The kernel's vxlan varies its source port per inner flow, so its flows
// spread over the workers; another vswitchd sends from one port, so each
// such peer is received by one worker. What a worker reads of a peer (its
// address, path, MTU, VNI map) and the list of peers change only while the
// workers are held still (hold_senders_with). Sealed, a worker opens the
// data and offload messages of a peer that is up, on its current or
// previous session, straight from its address (session::open_on_worker);
// every other datagram (handshakes, cookies, control and relayed messages,
// a peer that moved or is down, the first message on a new session) it
// passes to the io_context thread, through a bounded queue. Group mode and
// everything else stay on the io_context thread.
#pragma once

#include <array>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <sys/uio.h>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "l2/coalesce.hpp"
#include "l2/drop_reason.hpp"
#include "l2/replay_window.hpp"
#include "l2/vxlan.hpp"
#include "ports/address.hpp"
#include "ports/address_watch.hpp"
#include "ports/log_limiter.hpp"
#include "ports/netdev.hpp"
#include "ports/port.hpp"
#include "ports/reach.hpp"
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
  std::vector<sealed::key> keys;                       ///< overlay keys (--key-file): the handshakes' psk
  std::optional<noise::key_pair> identity;             ///< this host's identity (--identity)
  std::vector<std::byte> certificate;                  ///< its overlay certificate (--certificate), sent in handshakes
  std::chrono::milliseconds keepalive{1000};           ///< probe interval per peer (sealed)
  std::chrono::milliseconds peer_timeout{5000};        ///< silent this long: peer down (sealed)
  std::chrono::seconds rekey_interval{120};            ///< sessions renewed this often (sealed)
  std::chrono::seconds resolve_interval{60};           ///< names re-resolved this often
  std::size_t underlay_mtu = 0;                        ///< 0: the route's MTU towards each peer
  bool relay = true;                                   ///< pass datagrams on between peers (--relay)
  std::optional<boost::asio::ip::address_v4> group;    ///< VXLAN multicast group (plain mode)
  unsigned group_ifindex = 0;                          ///< interface for the group; 0: the route's
  unsigned workers = 0;  ///< worker threads (--workers above 1): they send and receive on the uplinks (without a group)
};

class udp_endpoint final : public worker_source {
 public:
  /// Counters of datagrams no peer port could be charged with.
  struct endpoint_counters {
    std::uint64_t rx_datagrams = 0;  ///< every datagram received
    l2::drop_counters drops;         ///< not_peer: from no peer's address, or for no peer's session
    std::uint64_t handshakes_refused = 0;  ///< initiations not answered with a session, all reasons:
    std::uint64_t refused_not_peer = 0;    ///< from a host that is not a peer (also counted as not_peer)
    std::uint64_t refused_invalid = 0;     ///< failed mac1 or the handshake, or a replayed time stamp
    std::uint64_t refused_rate = 0;        ///< over its source's rate, or the per-peer limit
    std::uint64_t refused_under_load = 0;  ///< under load without a cookie: answered with a cookie
    std::uint64_t introductions = 0;          ///< finds answered: two hosts told about each other
    std::uint64_t introductions_refused = 0;  ///< finds for a key that is no findable peer here, and
                                              ///< introductions of a key that is no peer of ours
    std::uint64_t relayed = 0;                ///< datagrams passed on between two peers (we are their relay)
    std::uint64_t relayed_bytes = 0;
    std::uint64_t relay_refused = 0;          ///< relay requests for a key with no session here
    std::uint64_t handed_to_main = 0;  ///< (sealed, workers receiving) datagrams a worker passed to the io_context thread (status: passed_to_main)
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
  /// Starts the handshake with a sealed peer (at start, or added while running).
  void greet(uplink_port& peer);
  /// Stops reading and closes the socket.
  void stop();
  /// Replaces the overlay keys (sealed mode only; the first goes into
  /// handshakes, each is accepted). Returns false in plain mode, or when
  /// `keys` is empty without an identity.
  bool set_keys(const std::vector<sealed::key>& keys);
  /// Group mode: called with the source of a valid VXLAN datagram that no
  /// peer matches; returns the peer to charge it to (a new learned peer), or
  /// nullptr to drop it as not_peer.
  using stranger_handler = std::function<uplink_port*(const boost::asio::ip::udp::endpoint&)>;
  void on_stranger(stranger_handler handler) { stranger_ = std::move(handler); }
  /// Sealed with identities: called with the key, source and certificate
  /// of an authenticated initiation from a host that is no peer; returns the
  /// peer to answer it as (a new one, admitted), or nullptr (with the reason
  /// in its last argument) to refuse it.
  using unknown_key_handler = std::function<uplink_port*(
      const noise::public_key&, const boost::asio::ip::udp::endpoint&, std::span<const std::byte>, std::string&)>;
  /// Sealed with identities: whether handshakes with `key` are refused now
  /// (revoked), whoever the peer; checked for every initiation either way.
  using refusal_check = std::function<bool(const noise::public_key&, std::span<const std::byte> certificate)>;
  void on_refusal(refusal_check check) { refused_ = std::move(check); }
  /// Ends a peer's sessions at once (revoked): it goes down, its MACs are flushed.
  void end_sessions(uplink_port& peer);
  void on_unknown_key(unknown_key_handler handler) { unknown_key_ = std::move(handler); }
  /// What holds the worker threads still while it lives (the datapath's
  /// pause): taken around every change of what their sends read of a peer.
  using sender_hold = std::function<std::shared_ptr<void>()>;
  void hold_senders_with(sender_hold hold) { hold_ = std::move(hold); }
  /// Holds the workers still (nothing without workers or a hold).
  std::shared_ptr<void> hold_senders() const { return hold_ && !round_tx_.empty() ? hold_() : nullptr; }
  /// Sealed, workers receiving: what runs around the datagrams the workers
  /// pass to the io_context thread. `before` carries out what the workers
  /// handed over before (the datapath's handoffs), `after` sends at once what
  /// receiving them queued; so that a peer's frames keep their order when
  /// they change threads.
  void order_passed_with(std::function<void()> before, std::function<void()> after) {
    before_passed_ = std::move(before);
    after_passed_ = std::move(after);
  }
  /// Whether worker threads send on its uplinks themselves (with workers).
  bool worker_sends() const { return !round_tx_.empty(); }
  /// (io_context thread) Sends what the io_context thread batched, now
  /// (before workers send the same flows' next frames themselves): one sendmmsg.
  void flush();
  /// Whether worker threads receive its datagrams (with workers, no group):
  /// then start() leaves reading to them, one socket each, and the
  /// daemon has the datapath poll queue w on worker w (datapath::add_source).
  bool worker_receives() const { return !worker_rx_.empty(); }
  /// Sockets the workers read (one per worker), or 0.
  std::size_t receive_queues() const { return worker_rx_.size(); }
  int worker_fd(std::size_t queue) const override;
  /// (Worker `queue`) Reads one batch of datagrams from its socket and hands their frames on.
  worker_step worker_read(std::size_t queue) override;
  std::string worker_name() const override;

  /// Sends `frame` to `peer` as one datagram; counts on the peer's port.
  /// Plain mode: in VNI `vni` when given, else the endpoint's.
  void send(uplink_port& peer, std::span<const std::byte> frame, std::optional<l2::vni> vni = std::nullopt);
  /// Sealed mode (any thread, but through a relay only the io_context
  /// thread): sends a packet with offloads (a super-frame, a partial
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
  /// Receive buffer per message: a whole UDP_GRO batch or one maximal datagram.
  static constexpr std::size_t message_buffer_size = 65536;

  /// Bytes in front of each segment (plain mode): the VXLAN header.
  std::size_t headroom() const { return l2::vxlan_header_size; }
  /// Bytes a datagram adds to an inner frame (8 for VXLAN, 32 sealed).
  std::size_t encapsulation_size() const {
    return sealed_ ? sealed::overhead : l2::vxlan_header_size;
  }
  bool is_sealed() const { return sealed_; }
  /// Whether the socket is IPv6 (dual-stack): peers are then addressed as IPv6.
  bool is_v6() const { return v6_; }
  /// The address it listens on (with the port the kernel gave, for --listen ...:0).
  const boost::asio::ip::udp::endpoint& local() const { return local_; }
  l2::vni vni() const { return settings_.vni; }
  const uplink_settings& settings() const { return settings_; }
  /// Our identity's public key (sealed mode with --identity).
  std::optional<noise::public_key> public_key() const {
    return settings_.identity ? std::optional(settings_.identity->public_key) : std::nullopt;
  }
  /// Its counters now (the workers' receive counts added in).
  endpoint_counters counters() const;
  /// The largest inner frame for a peer at `remote`: the underlay MTU
  /// towards it minus IP, UDP and the encapsulation.
  std::size_t max_frame_size_to(const boost::asio::ip::udp::endpoint& remote) const;

 private:
  /// The receive side of one thread: the io_context thread's, or a worker's
  /// (its own socket). Batches of datagrams land in its buffers; runs of one
  /// TCP flow's segments merge in its coalescer.
  struct receiver {
    /// Allocates the buffers (for the thread that will read).
    void allocate(bool sealed);
    std::vector<std::byte> buffers;  ///< `batch` receive buffers of 64 KiB; preallocated
    std::vector<std::byte> plain;    ///< (sealed) a whole offload message, decrypted; preallocated
    l2::tcp_coalescer coalescer;     ///< userspace GRO of received TCP segments
    uplink_port* run_peer = nullptr; ///< the peer whose frames the coalescer holds
    std::chrono::steady_clock::time_point batch_time{};  ///< when the current input batch was read
    single_writer_counter datagrams;  ///< every datagram it received
    single_writer_counter not_peer;   ///< (plain) from no peer's address
    single_writer_counter handed_to_main;   ///< (sealed, a worker's) passed to the io_context thread
    single_writer_counter main_queue_full;  ///< (sealed, a worker's) not passed, of no peer: the queue was full
    /// (sealed, a worker's) At the end of its round, after its output:
    /// tells the io_context thread what it passed (udp_endpoint::post_drain).
    struct pass_flush final : drain_flush {
      udp_endpoint* endpoint = nullptr;
      bool registered = false;  ///< in this round's round_batches
      void flush_drained() override {
        registered = false;
        endpoint->post_drain();
      }
    } passed;
  };

  udp_endpoint(boost::asio::io_context& io, std::vector<unique_fd> fds,
               const boost::asio::ip::udp::endpoint& local, const uplink_settings& settings);
  /// Reads one batch (recvmmsg) from `fd` into `rx` and handles each datagram.
  read_loop::step read_batch(int fd, receiver& rx);
  uplink_port* find_peer(const boost::asio::ip::udp::endpoint& from) const;
  /// One plain datagram from `peer`: decapsulate, then merge into the current run or deliver.
  void receive(receiver& rx, uplink_port& peer, std::span<std::byte> datagram);
  /// One sealed datagram from `from`: an initiation goes to the session of
  /// the peer it names, anything else to the session its receiver index
  /// belongs to; what the session makes of it is applied.
  /// `via`: it came relayed by that peer (from: the relay's address).
  void receive_sealed(const boost::asio::ip::udp::endpoint& from, std::span<std::byte> datagram,
                      uplink_port* via = nullptr);
  /// (A worker) One sealed datagram from `from`: opened here if it may be
  /// (see the top of this file), else passed to the io_context thread.
  void receive_sealed_on_worker(receiver& rx, const boost::asio::ip::udp::endpoint& from,
                                std::span<std::byte> datagram);
  /// (A worker) Counts a drop on the peer at `from`, or as not_peer.
  void drop_on_worker(receiver& rx, const boost::asio::ip::udp::endpoint& from, l2::drop_reason reason);
  /// (A worker) Queues a copy of `datagram` for the io_context thread
  /// (receive_sealed there, once the worker's round ended: post_drain);
  /// dropped, and counted (rx_queue_full), when the queue is full.
  /// `peer`: the peer its receiver index names, if any (waiting_on_main).
  void pass_to_main(receiver& rx, const boost::asio::ip::udp::endpoint& from, std::span<const std::byte> datagram,
                    uplink_port* peer);
  /// Has the io_context thread receive what the workers queued (once).
  void post_drain();
  /// (The io_context thread) Receives what the workers queued.
  void drain_from_workers();
  /// Counts a packet a session opened from `peer` and hands it on from `rx`.
  void deliver_opened(receiver& rx, uplink_port& peer, const l2::packet& packet);
  /// Applies a session's verdict on a datagram from `from` (relayed by `via`):
  /// counts, answers, liveness, the path; hands on the packet it carried.
  void apply(uplink_port& peer, const sealed::opened& r, const boost::asio::ip::udp::endpoint& from,
             uplink_port* via);

  // Reaching peers across NATs (udp_endpoint_reach.cpp; ports/reach.hpp).
  /// Sends a whole datagram to `peer` by its path: straight to it, or wrapped
  /// for its relay. Nothing goes out to a peer with no path yet.
  void transmit(uplink_port& peer, std::span<const std::byte> datagram);
  /// The next message on the session with `peer`'s relay (nullopt, counted
  /// as a drop on `peer`, when there is none).
  std::optional<sealed::sending> relay_sending(uplink_port& peer);
  /// Makes `out` a relay message to `peer`'s relay: its sealed datagram is
  /// already at relay_inner_offset; the header is written and all sealed
  /// under `outer`.
  void wrap_for_relay(const uplink_port& peer, const sealed::sending& outer, std::span<std::byte> out);
  /// Seals `body` as a control message to `peer` and sends it by its path,
  /// or straight to `to` when given (probes and pongs).
  void send_control(uplink_port& peer, std::span<const std::byte> body,
                    const boost::asio::ip::udp::endpoint* to = nullptr);
  /// A control message from `peer` (authentic), from `from` or relayed by `via`.
  void on_control(uplink_port& peer, std::span<std::byte> body, const boost::asio::ip::udp::endpoint& from,
                  uplink_port* via);
  /// An authentic datagram from `peer` arrived from `from` (relayed by `via`): its path follows.
  void on_authentic(uplink_port& peer, const boost::asio::ip::udp::endpoint& from, uplink_port* via);
  /// Each keepalive tick, per peer: lost direct paths, probes, finds, announcements.
  void reach_tick(uplink_port& peer, std::chrono::steady_clock::time_point now);
  /// How long a direct path may be silent while the peer's traffic arrives
  /// relayed before we follow it to the relay (longer than a probe round).
  std::chrono::milliseconds relayed_silence() const {
    return 2 * std::max<std::chrono::milliseconds>(settings_.keepalive, std::chrono::seconds(1));
  }
  /// The peer with public key `key`, or nullptr.
  uplink_port* peer_by_key(const noise::public_key& key) const;
  /// This host's endpoints as seen on its own interfaces (for announcements).
  std::vector<boost::asio::ip::udp::endpoint> local_endpoints() const;
  /// A source address and port as bytes (what load control keys on).
  class source_bytes {
   public:
    explicit source_bytes(const boost::asio::ip::udp::endpoint& from);
    std::span<const std::byte> bytes() const { return std::span(bytes_).first(size_); }

   private:
    std::array<std::byte, 18> bytes_{};
    std::size_t size_ = 0;
  };
  /// Counts a sealed drop on the peer at `from`, or on the endpoint as not_peer.
  void drop_from(const boost::asio::ip::udp::endpoint& from, l2::drop_reason reason);
  /// Hands an inner frame to `rx`'s coalescer or to `peer`.
  void pass_on(receiver& rx, uplink_port& peer, std::span<const std::byte> inner);
  /// Delivers the run `rx` is merging, if any.
  void flush_run(receiver& rx);
  /// The batch of the calling thread: a worker's own, or the io_context thread's.
  tx_batch& thread_batch();
  /// Where a thread seals what does not fit a batch slot (sealed mode).
  struct seal_buffers {
    void allocate();
    std::vector<std::byte> scratch;  ///< a large frame or offload message being sealed
    std::vector<std::byte> fragment_headers;  ///< per datagram of an offload message: sealed + fragment header
  };
  /// The calling thread's: a worker's own, or the io_context thread's.
  seal_buffers& thread_seal();
  /// Sends what the calling thread batched (before a frame that must not overtake it).
  void flush_thread();
  /// (Worker `w`) Sends what it batched in this round.
  void flush_round(std::size_t w);
  /// Sends one batch's datagrams, counting each on its peer.
  void send_batch(tx_batch& batch);
  /// One sendmsg of the bytes `iov` gathers: `count` datagrams of `stride`
  /// bytes (the last may be shorter), with UDP_SEGMENT when count > 1. False
  /// when the kernel refused the segmentation (send them one by one).
  bool send_block(uplink_port& peer, std::span<const iovec> iov, std::size_t stride,
                  std::size_t count, std::size_t per_segment_overhead);
  /// Sends a handshake message the peer's session made.
  void send_handshake(uplink_port& peer, std::span<const std::byte> message);
  /// Sends an empty data message (a keepalive).
  void send_keepalive(uplink_port& peer);
  /// This host's addresses changed (sealed): a keepalive to every peer at
  /// once, so that they follow us to our new address (roaming).
  void announce();
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
  std::optional<sealed::local_identity> me_;         ///< sealed: our identity and keys, the sessions' indexes
  std::array<std::byte, l2::vxlan_header_size> header_;  ///< our VXLAN header, precomputed
  std::vector<uplink_port*> peers_;
  receiver main_rx_;  ///< the io_context thread's (no buffers when the workers receive)
  std::vector<unique_fd> rx_fds_;  ///< workers 1..N-1's sockets (worker 0 reads reader_'s)
  std::vector<std::unique_ptr<receiver>> worker_rx_;  ///< one per worker, when they receive
  /// Sealed datagrams the workers pass to the io_context thread.
  struct passed {
    boost::asio::ip::udp::endpoint from;
    std::vector<std::byte> bytes;
    uplink_port* peer = nullptr;  ///< counted in its waiting_on_main (remove_peer clears it)
  };
  /// At most this many, and this many bytes, wait (as much as a socket's
  /// buffer): a flood of handshakes costs the workers a copy each, never
  /// memory without end (a full queue drops, counted as rx_queue_full).
  static constexpr std::size_t passed_capacity = 4096;
  static constexpr std::size_t passed_bytes_capacity = std::size_t{4} << 20;
  /// Spare buffers kept for reuse, at most (the rest are freed).
  static constexpr std::size_t passed_spares = 64;
  std::mutex passed_mutex_;  ///< guards the four below
  std::vector<passed> passed_;  ///< waiting
  std::size_t passed_bytes_ = 0;  ///< their bytes
  std::vector<std::vector<std::byte>> passed_spare_;  ///< buffers to reuse
  bool drain_posted_ = false;
  std::function<void()> before_passed_, after_passed_;  ///< order_passed_with
  std::vector<passed> draining_;  ///< (the io_context thread) being received
  std::shared_ptr<char> alive_ = std::make_shared<char>();  ///< a posted drain finds the endpoint gone
  seal_buffers main_seal_;  ///< the io_context thread's (sealed mode)
  std::vector<std::unique_ptr<seal_buffers>> worker_seal_;  ///< one per worker (sealed, with workers)
  std::vector<std::byte> relay_buffer_;  ///< a datagram wrapped for a relay; preallocated
  /// Where the wrapped datagram starts in relay_buffer_: behind the sealed header and the relay header.
  static constexpr std::size_t relay_inner_offset = sealed::header_size + reach::relay_header_size;
  log_limiter reach_log_;  ///< refused finds and introductions, logged at a limited rate
  /// Datagrams of an offload message being sent, at most.
  static constexpr std::size_t max_fragments = 256;
  std::atomic<bool> udp_segment_{true};  ///< the kernel takes UDP_SEGMENT (cleared on EIO; any sender)
  tx_batch tx_;                     ///< small frames waiting for the end of the input batch
  std::vector<std::unique_ptr<tx_batch>> round_tx_;  ///< with workers: each worker's small frames
  sender_hold hold_;
  boost::asio::steady_timer timer_;
  resolver resolver_;  ///< names re-resolved without ever holding the daemon up
  endpoint_counters counters_;
  stranger_handler stranger_;
  unknown_key_handler unknown_key_;
  refusal_check refused_;
  log_limiter refused_log_;  ///< handshakes from strangers, logged at a limited rate
  /// Sealed: this host's addresses changed: tell every peer where we are now.
  std::optional<address_watch> addresses_;
};

}  // namespace ports
