// uplink_port: one peer across the underlay, as a port of the switch. It
// sends through the shared udp_endpoint (ports/udp_endpoint.hpp), turns VXLAN
// datagrams the endpoint hands it back into frames (with a VLAN to VNI map
// when it has one), and holds the peer's sealed::session, address and
// counters.
#pragma once

#include <boost/asio/ip/udp.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ports/port.hpp"
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

  /// The sealed protocol with this peer (unused in plain mode).
  sealed::session& session() { return session_; }
  const sealed::session& session() const { return session_; }
  /// Its state; plain peers keep their last datagram's time here too.
  sealed::peer_state& state() { return session_.state(); }
  const sealed::peer_state& state() const { return session_.state(); }
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
  /// The VNI a frame tagged with a mapped VLAN leaves in (VNI map), or nullopt.
  std::optional<l2::vni> mapped_vni(std::span<const std::byte> frame) const;

  vni_map vni_map_;
  std::vector<std::byte> untagged_;  ///< a frame with its tag taken off (VNI map)
  sealed::session session_;
  std::chrono::steady_clock::time_point last_resolve_{};
  std::uint64_t serial_;
  bool attached_ = true;  ///< still known to the endpoint
};

}  // namespace ports
