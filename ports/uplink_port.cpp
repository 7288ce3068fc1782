#include "ports/uplink_port.hpp"

#include <algorithm>
#include <cstring>

#include "l2/byte_order.hpp"

namespace ports {

namespace ip = boost::asio::ip;

namespace {
std::uint64_t next_serial = 1;

sealed::session_settings session_settings_of(const uplink_settings& u) {
  sealed::session_settings s;
  s.keepalive = u.keepalive;
  s.peer_timeout = u.peer_timeout;
  s.rekey_interval = u.rekey_interval;
  return s;
}
}  // namespace

uplink_port::uplink_port(l2::port_id id, std::string name, udp_endpoint& endpoint,
                         const ip::udp::endpoint& remote, std::string host, std::string service,
                         std::optional<noise::public_key> key)
    : port(id, std::move(name), port_kind::uplink),
      endpoint_(endpoint),
      host_(std::move(host)),
      service_(std::move(service)),
      session_(session_settings_of(endpoint.settings()), key, this),
      serial_(next_serial++) {
  key_only_ = remote.port() == 0 && key.has_value();
  set_remote(remote);
  // A sealed peer is down until the handshake with it is done.
  if (endpoint_.is_sealed()) set_up(false, "no handshake yet");
  endpoint_.add_peer(*this);
}

uplink_port::~uplink_port() { stop(); }

void uplink_port::set_remote(const ip::udp::endpoint& remote) {
  // (The route's MTU is looked up before the workers are held.)
  const ip::udp::endpoint next = canonical(remote);
  const ip::udp::endpoint next_destination = socket_endpoint(next, endpoint_.is_v6());
  const std::size_t next_max_frame = direct_max_frame(next);
  const std::shared_ptr<void> hold = endpoint_.hold_senders();  // workers read the path
  const path_kind before = path();
  const ip::udp::endpoint was = remote_;
  const uplink_port* via_before = relay_;
  relay_ = nullptr;
  remote_ = next;
  destination_ = next_destination;
  max_frame_ = next_max_frame;
  note_path(before, was, via_before);
}

std::size_t uplink_port::direct_max_frame(const ip::udp::endpoint& remote) const {
  if (remote.port() == 0) return l2::max_frame_size;
  // A peer named by key alone may be relayed any time: it keeps the relayed
  // MTU on a direct path too, so that a change of path never drops the
  // segments of a flow whose MSS was set before it.
  const std::size_t direct = endpoint_.max_frame_size_to(remote);
  if (!key_only_) return direct;
  return direct > reach::relay_overhead + l2::ethernet_header_size ? direct - reach::relay_overhead
                                                                   : l2::ethernet_header_size;
}

void uplink_port::clear_relay() {
  if (relay_ == nullptr) return;
  const std::shared_ptr<void> hold = endpoint_.hold_senders();
  const uplink_port* via_before = relay_;
  relay_ = nullptr;
  max_frame_ = direct_max_frame(remote_);
  note_path(path_kind::relay, remote_, via_before);
}

void uplink_port::set_relay(uplink_port& via) {
  const std::shared_ptr<void> hold = endpoint_.hold_senders();
  const path_kind before = path();
  const ip::udp::endpoint was = remote_;
  const uplink_port* via_before = relay_;
  relay_ = &via;
  const std::size_t outer = via.max_frame_size();
  max_frame_ = outer > reach::relay_overhead + l2::ethernet_header_size ? outer - reach::relay_overhead
                                                                         : l2::ethernet_header_size;
  note_path(before, was, via_before);
}

void uplink_port::note_path(path_kind before, const ip::udp::endpoint& was, const uplink_port* via_before) {
  const path_kind now_kind = path();
  const bool same = now_kind == before &&
                    (now_kind == path_kind::relay ? via_before == relay_ : was == remote_);
  if (same) return;
  if (before != path_kind::none) ++path_changes_;
  path_since_ = std::chrono::steady_clock::now();
}

void uplink_port::start(port_listener& listener) {
  listener_ = &listener;
  started_.store(true, std::memory_order_release);
  endpoint_.start();
  endpoint_.greet(*this);
}

void uplink_port::stop() {
  if (!attached_) return;
  attached_ = false;
  endpoint_.remove_peer(*this);
}

void uplink_port::send(const l2::packet& packet) {
  if (!packet.offload.is_plain()) {
    endpoint_.send_offload(*this, packet);  // only in sealed mode (carries_offload)
    return;
  }
  if (vni_map_.empty()) {
    endpoint_.send(*this, packet.frame);
    return;
  }
  // The datapath tagged it with its VLAN (the port is a trunk of the mapped
  // VLANs): it leaves untagged, in that VLAN's VNI.
  const std::optional<l2::vni> vni = mapped_vni(packet.frame);
  if (!vni) {
    counters_.drops.count(l2::drop_reason::vlan_not_allowed);
    return;
  }
  const std::span<const std::byte> f = packet.frame;
  constexpr std::size_t macs = l2::ethernet_type_offset;
  std::memcpy(untagged_.data(), f.data(), macs);
  std::memcpy(untagged_.data() + macs, f.data() + macs + l2::vlan_tag_size,
              f.size() - macs - l2::vlan_tag_size);
  endpoint_.send(*this, std::span<const std::byte>(untagged_.data(), f.size() - l2::vlan_tag_size),
                 *vni);
}

void uplink_port::send_segments(std::span<std::byte> buffer, const l2::segment_result& segments) {
  if (vni_map_.empty()) {
    endpoint_.send_segments(*this, buffer, segments);
    return;
  }
  // The segments of one super-frame share its tag: all leave in its VNI.
  const std::size_t room = segment_headroom();
  const std::optional<l2::vni> vni =
      segments.count == 0 ? std::nullopt
                          : mapped_vni(buffer.subspan(room, std::min(segments.stride, segments.total_size) - room));
  if (!vni) {
    for (std::size_t i = 0; i < segments.count; ++i) counters_.drops.count(l2::drop_reason::vlan_not_allowed);
    return;
  }
  endpoint_.send_segments(*this, buffer, segments, *vni);
}

std::optional<l2::vni> uplink_port::mapped_vni(std::span<const std::byte> frame) const {
  const l2::frame_parse_result parsed = l2::frame_view::parse(frame);
  const std::optional<l2::vlan_tag> tag = parsed ? parsed.frame->tag() : std::nullopt;
  if (!tag) return std::nullopt;
  const auto m = std::find_if(vni_map_.begin(), vni_map_.end(),
                              [&](const auto& e) { return e.first == tag->vid; });
  if (m == vni_map_.end()) return std::nullopt;
  return m->second;
}

void uplink_port::set_vni_map(vni_map map) {
  const std::shared_ptr<void> hold = endpoint_.hold_senders();  // thread_safe_send() changes
  vni_map_ = std::move(map);
  if (!vni_map_.empty()) untagged_.resize(l2::max_frame_size);
}

std::optional<std::span<const std::byte>> uplink_port::decapsulate(std::span<std::byte> datagram) {
  if (vni_map_.empty()) {
    const l2::vxlan_decode_result r = l2::vxlan_decode(datagram, endpoint_.vni());
    if (!r) {
      counters_.drops.count(r.reason);
      return std::nullopt;
    }
    return r.inner;
  }
  // Any mapped VNI: decode without insisting on one, then look it up.
  const l2::vxlan_decode_result r = l2::vxlan_decode(datagram, l2::max_vni + 1);
  if (r.reason != l2::drop_reason::vxlan_wrong_vni) {  // short, or bad flags
    counters_.drops.count(r.reason);
    return std::nullopt;
  }
  const auto m = std::find_if(vni_map_.begin(), vni_map_.end(),
                              [&](const auto& e) { return e.second == r.id; });
  if (m == vni_map_.end()) {
    counters_.drops.count(l2::drop_reason::vxlan_wrong_vni);
    return std::nullopt;
  }
  // The inner frame gets its VLAN's tag, in place: the MAC addresses move
  // four bytes back into the VXLAN header, the tag goes behind them.
  const std::size_t inner = l2::vxlan_header_size;
  if (l2::byte_order::load16(datagram, inner + l2::ethernet_type_offset) == l2::ethertype_vlan) {
    counters_.drops.count(l2::drop_reason::vlan_not_allowed);  // tagged inside a mapped VNI
    return std::nullopt;
  }
  const std::size_t start = inner - l2::vlan_tag_size;
  std::memmove(datagram.data() + start, datagram.data() + inner, l2::ethernet_type_offset);
  l2::byte_order::store16(datagram, start + l2::ethernet_type_offset, l2::ethertype_vlan);
  l2::byte_order::store16(datagram, start + l2::ethernet_type_offset + 2, m->first);
  return datagram.subspan(start);
}

std::string uplink_port::describe() const {
  std::string text = "uplink " + name() + " (";
  text += endpoint_.is_sealed() ? "sealed" : "VXLAN";
  text += path() == path_kind::none ? ", " : " ";
  text += path_text();
  if (!endpoint_.is_sealed() && vni_map_.empty()) text += ", VNI " + std::to_string(endpoint_.vni());
  if (!vni_map_.empty()) {
    text += ", VLAN:VNI";
    for (const auto& [vlan, vni] : vni_map_) {
      // (appends only: GCC 12 warns falsely, -Wrestrict, on " " + std::string)
      text += ' ';
      text += std::to_string(vlan);
      text += ':';
      text += std::to_string(vni);
    }
  }
  if (path() != path_kind::none) text += ", inner frames up to " + std::to_string(max_frame_) + " bytes";
  text += ")";
  return text;
}

std::string uplink_port::path_text() const {
  switch (path()) {
    case path_kind::direct:
      return "to " + to_string(remote_);
    case path_kind::relay:
      return "via " + relay_->name();
    case path_kind::none:
      break;
  }
  return "address not known yet (named by key)";
}

}  // namespace ports
