// UDP uplinks: VXLAN (RFC 7348) tunnels to other switches across the underlay.
//
// One udp_endpoint owns the local UDP socket (--listen) and carries every
// peer; each configured peer is its own uplink_port, so the MAC table learns
// which peer a remote MAC sits behind. Frames go out as VXLAN datagrams with
// our VNI, so the Linux kernel's vxlan device, Open vSwitch and hardware VTEPs
// are peers out of the box.
//
// Receiving, the endpoint finds the peer by the datagram's source address. A
// configured peer's datagrams are accepted whatever their source port (the
// kernel's vxlan picks it per flow), except where two peers share an address
// (two daemons on one host): then the source port must match one of them.
// Datagrams from anyone else are dropped and counted on the endpoint
// (not_peer); malformed VXLAN from a peer is dropped and counted on that
// peer's port (vxlan_short, vxlan_bad_flags, vxlan_wrong_vni).
//
// Fast path: the socket reads up to `batch` messages per system call
// (recvmmsg) with UDP_GRO, so one message may hold many datagrams of one
// flow; their inner TCP segments are merged back into super-frames
// (l2::tcp_coalescer) so a TAP takes a whole run in one write. Sending, a
// super-frame that the datapath segmented goes out in one sendmsg with
// UDP_SEGMENT (each segment behind its own VXLAN header), falling back to
// one datagram per segment where the kernel refuses.
#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "l2/coalesce.hpp"
#include "l2/drop_reason.hpp"
#include "l2/vxlan.hpp"
#include "ports/netdev.hpp"
#include "ports/port.hpp"
#include "ports/read_loop.hpp"
#include "ports/tx_batch.hpp"

namespace ports {

class uplink_port;

/// The address a datagram came from, with IPv4-mapped IPv6 turned back into IPv4.
boost::asio::ip::udp::endpoint canonical(const boost::asio::ip::udp::endpoint& ep);

/// "192.0.2.1:4789" or "[2001:db8::1]:4789".
std::string to_string(const boost::asio::ip::udp::endpoint& ep);

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
                                            l2::vni vni, const std::string& option);

  /// Makes `peer` reachable; it must outlive the endpoint's reading.
  void add_peer(uplink_port& peer);
  /// Starts reading (idempotent; the first uplink_port::start calls it).
  void start();
  /// Stops reading and closes the socket.
  void stop();

  /// Sends `frame` to `peer` as one VXLAN datagram; counts on the peer's port.
  void send(uplink_port& peer, std::span<const std::byte> frame);
  /// Sends segments laid out by l2::segment() with VXLAN headroom to `peer`.
  void send_segments(uplink_port& peer, std::span<std::byte> buffer,
                     const l2::segment_result& segments);

  /// Messages read per system call.
  static constexpr std::size_t batch = 16;

  /// Whether the socket is IPv6 (dual-stack): peers are then addressed as IPv6.
  bool is_v6() const { return v6_; }
  const boost::asio::ip::udp::endpoint& local() const { return local_; }
  l2::vni vni() const { return vni_; }
  const endpoint_counters& counters() const { return counters_; }

 private:
  udp_endpoint(boost::asio::io_context& io, unique_fd fd,
               const boost::asio::ip::udp::endpoint& local, l2::vni vni);
  read_loop::step read_one();
  uplink_port* find_peer(const boost::asio::ip::udp::endpoint& from) const;
  /// One datagram from `peer`: decapsulate, then merge into the current run or deliver.
  void receive(uplink_port& peer, std::span<const std::byte> datagram);
  /// Delivers the run being merged, if any.
  void flush_run();
  /// Sends the queued small frames (one sendmmsg).
  void flush();
  /// One sendmsg of `count` segments of `stride` bytes (UDP_SEGMENT when count > 1).
  bool send_block(uplink_port& peer, std::span<const std::byte> block, std::size_t stride,
                  std::size_t count);

  read_loop reader_;
  boost::asio::ip::udp::endpoint local_;
  l2::vni vni_;
  bool v6_ = false;
  bool started_ = false;
  std::array<std::byte, l2::vxlan_header_size> header_;  ///< our VXLAN header, precomputed
  std::vector<uplink_port*> peers_;
  std::vector<std::byte> buffers_;  ///< `batch` receive buffers of 64 KiB; preallocated
  l2::tcp_coalescer coalescer_;     ///< userspace GRO of received TCP segments
  uplink_port* run_peer_ = nullptr; ///< the peer whose frames the coalescer holds
  bool udp_segment_ = true;         ///< the kernel takes UDP_SEGMENT (cleared on EIO)
  tx_batch tx_;                     ///< small frames waiting for the end of the input batch
  endpoint_counters counters_;
};

class uplink_port final : public port {
 public:
  /// A peer at `remote` reached through `endpoint`. `name` is how the user wrote it.
  uplink_port(l2::port_id id, std::string name, udp_endpoint& endpoint,
              const boost::asio::ip::udp::endpoint& remote);

  void start(port_listener& listener) override;
  void send(const l2::packet& packet) override;
  std::size_t segment_headroom() const override { return l2::vxlan_header_size; }
  void send_segments(std::span<std::byte> buffer, const l2::segment_result& segments) override {
    endpoint_.send_segments(*this, buffer, segments);
  }
  void stop() override {}
  std::string describe() const override;

  /// The peer's address (canonical: IPv4 as IPv4).
  const boost::asio::ip::udp::endpoint& remote() const { return remote_; }
  /// The peer's address as the socket wants it (IPv4-mapped on a dual-stack socket).
  const boost::asio::ip::udp::endpoint& destination() const { return destination_; }

  /// Called by the endpoint with a datagram from this peer: the inner frame,
  /// or nothing (counted as a drop on this port) if it is not valid VXLAN for us.
  std::optional<std::span<const std::byte>> decapsulate(std::span<const std::byte> datagram);
  /// Called by the endpoint to hand over a (possibly merged) packet.
  void hand_over(const l2::packet& packet) { deliver(packet, false); }
  /// Called by the endpoint after a send.
  void sent(std::size_t frame_size) { count_tx(frame_size); }
  /// Called by the endpoint when a send failed.
  void send_failed(l2::drop_reason reason) { counters_.drops.count(reason); }

 private:
  udp_endpoint& endpoint_;
  boost::asio::ip::udp::endpoint remote_;
  boost::asio::ip::udp::endpoint destination_;
};

}  // namespace ports
