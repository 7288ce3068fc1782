// uplink_port: one peer across the underlay, as a port of the switch. It
// sends through the shared udp_endpoint (ports/udp_endpoint.hpp), turns VXLAN
// datagrams the endpoint hands it back into frames (with a VLAN to VNI map
// when it has one), and holds the peer's sealed::session, address and
// counters.
#pragma once

#include <atomic>
#include <boost/asio/ip/udp.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ports/port.hpp"
#include "ports/reach.hpp"
#include "ports/sealed_session.hpp"
#include "ports/udp_endpoint.hpp"

namespace ports {

class uplink_port final : public port {
 public:
  /// A peer at `remote` reached through `endpoint`. `name` is how the user
  /// wrote it; `host` and `service` are re-resolved periodically when `host`
  /// is a name. `key`: the peer's public key (sealed, with identities).
  uplink_port(l2::port_id id, std::string name, udp_endpoint& endpoint,
              const boost::asio::ip::udp::endpoint& remote, std::string host = {},
              std::string service = {}, std::optional<noise::public_key> key = {});

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
  /// With workers, a peer without a VNI map takes frames from any thread
  /// (udp_endpoint: each worker's own batch and seal buffers, the socket
  /// shared), unless its frames go through a relay (sealed under two
  /// sessions, with the io_context thread's buffers). The path changes only
  /// while the workers are held still.
  bool thread_safe_send() const override {
    return endpoint_.worker_sends() && vni_map_.empty() && relay_ == nullptr;
  }
  /// Sends what the io_context thread batched for the endpoint (all its peers).
  void flush_sends() override { endpoint_.flush(); }
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
  /// Points the peer at a new address (re-resolution, roaming, a direct path
  /// found): its datagrams go straight there again, and its MTU is recomputed.
  void set_remote(const boost::asio::ip::udp::endpoint& remote);

  /// Where its datagrams go: straight to remote(), through another peer
  /// that has a session with it (relay), or nowhere yet (a peer named by
  /// key alone, before anyone introduced it).
  enum class path_kind { none, direct, relay };
  path_kind path() const {
    return relay_ != nullptr ? path_kind::relay : remote_.port() == 0 ? path_kind::none : path_kind::direct;
  }
  /// The path for people: "to ADDRESS", "via RELAY", or that none is known yet.
  std::string path_text() const;
  /// The peer its datagrams go through (path relay), or nullptr.
  uplink_port* relay() const { return relay_; }
  /// Sends through `via` from now on (its MTU shrinks by reach::relay_overhead).
  void set_relay(uplink_port& via);
  /// No relay any more: back to its last direct address, or no path.
  void clear_relay();
  /// When the current path was taken, and how often it changed.
  std::chrono::steady_clock::time_point path_since() const { return path_since_; }
  std::uint64_t path_changes() const { return path_changes_; }
  /// Named by key alone (--uplink key=KEY): its address is learned.
  bool key_only() const { return key_only_; }

  /// What the endpoint keeps to reach this peer across NATs, and to introduce it to others.
  struct reach_state {
    reach::candidates candidates;  ///< endpoints to probe for a direct path
    atomic_time last_direct_rx;  ///< last authentic datagram straight from it (workers write it too)
    std::chrono::steady_clock::time_point last_find{};       ///< last time we asked others where it is
    std::chrono::steady_clock::time_point last_announce{};   ///< last time we told it our local endpoints
    uplink_port* introducer = nullptr;  ///< the last peer that introduced it (a relay for it)
    std::chrono::steady_clock::time_point introduced{};
    // As an introducer, for the other peers:
    bool findable = false;  ///< it announced itself (asks to be found)
    std::array<boost::asio::ip::udp::endpoint, reach::max_locals> locals{};  ///< its local endpoints
    std::size_t local_count = 0;
    std::chrono::steady_clock::time_point last_answer{};  ///< our last answer to its finds (rate)
    std::chrono::steady_clock::time_point pong_window{};  ///< pongs to it: at most a few per second
    unsigned pongs = 0;
  };
  reach_state& reach() { return reach_; }
  const reach_state& reach() const { return reach_; }
  /// The name to re-resolve, or empty for a literal address.
  const std::string& host() const { return host_; }
  const std::string& service() const { return service_; }
  /// Unique per port object in this process (finds it again after an asynchronous wait).
  std::uint64_t serial() const { return serial_; }

  /// The sealed protocol with this peer (unused in plain mode).
  sealed::session& session() { return session_; }
  const sealed::session& session() const { return session_; }
  /// Its sealed state (unused in plain mode).
  const sealed::peer_state& state() const { return session_.state(); }
  /// When it was last heard from: its last authentic datagram (sealed), or
  /// its last valid VXLAN datagram (plain); zero for never.
  std::chrono::steady_clock::time_point last_heard() const {
    return endpoint_.is_sealed() ? state().last_rx.load() : plain_heard_.load();
  }
  /// Whether it was started: it has a listener (and, in a datapath, a place
  /// in the forwarder). The endpoint knows a peer from its construction, but
  /// a worker hands on nothing for it before this.
  bool started() const { return started_.load(std::memory_order_acquire); }
  /// (Plain) Called by the endpoint with a valid datagram's time (on any
  /// thread that receives: workers may, see udp_endpoint).
  void heard(std::chrono::steady_clock::time_point when) { plain_heard_ = when; }
  /// (Sealed, workers receiving) How many of its datagrams a worker passed to
  /// the io_context thread that it has not received yet: while any wait, the
  /// workers pass its next ones there too, so that its frames keep their order.
  std::atomic<std::uint32_t>& waiting_on_main() { return waiting_on_main_; }
  /// When its name was last looked up again.
  std::chrono::steady_clock::time_point last_resolve() const { return last_resolve_; }
  void set_last_resolve(std::chrono::steady_clock::time_point t) { last_resolve_ = t; }

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
  uplink_port* relay_ = nullptr;
  std::chrono::steady_clock::time_point path_since_{};
  std::uint64_t path_changes_ = 0;
  bool key_only_ = false;
  reach_state reach_;
  /// The largest inner frame on the direct path (a key-only peer's: the relayed one).
  std::size_t direct_max_frame(const boost::asio::ip::udp::endpoint& remote) const;
  /// Counts a change of path (the first path is not a change).
  void note_path(path_kind before, const boost::asio::ip::udp::endpoint& was, const uplink_port* via_before);
  /// The VNI a frame tagged with a mapped VLAN leaves in (VNI map), or nullopt.
  std::optional<l2::vni> mapped_vni(std::span<const std::byte> frame) const;

  vni_map vni_map_;
  std::vector<std::byte> untagged_;  ///< a frame with its tag taken off (VNI map)
  sealed::session session_;
  std::chrono::steady_clock::time_point last_resolve_{};
  std::uint64_t serial_;
  bool attached_ = true;  ///< still known to the endpoint
  atomic_time plain_heard_;  ///< (plain) last_heard()
  std::atomic<std::uint32_t> waiting_on_main_{0};
  std::atomic<bool> started_{false};  ///< started()
};

}  // namespace ports
