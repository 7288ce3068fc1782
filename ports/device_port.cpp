#include "ports/device_port.hpp"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "l2/frame.hpp"

namespace ports {
namespace {

constexpr int receive_buffer_size = 4 << 20;

/// Where received frames start in their slot: room to put a VLAN tag back in front.
constexpr std::size_t headroom = l2::vlan_tag_size;

/// One receive buffer: headroom, the largest frame, and a byte to see truncation.
constexpr std::size_t slot_size = headroom + l2::max_frame_size + 1;

}  // namespace

std::unique_ptr<device_port> device_port::open(boost::asio::io_context& io, l2::port_id id,
                                               const std::string& name) {
  if (auto problem = netdev::name_problem(name)) throw port_error(name + ": " + *problem);
  switch (netdev::type_of(name)) {
    case netdev::interface_type::missing:
      throw port_error(name + ": no such interface; create it first (for a QEMU guest: "
                       "`ip tuntap add " + name + " mode tap`), or use --port tap:" + name +
                       " to have vswitchd create a TAP");
    case netdev::interface_type::tun:
      throw port_error(netdev::tun_refusal(name));
    case netdev::interface_type::tap:
    case netdev::interface_type::other:
      break;
  }

  // Protocol 0 until bind(), so no frame of another interface slips in before it.
  unique_fd fd(::socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    const int err = errno;
    throw port_error(name + ": cannot open a packet socket (" + std::strerror(err) +
                     "); run vswitchd as root (it needs CAP_NET_RAW)");
  }
  const unsigned ifindex = netdev::index_of(name);
  const int one = 1;
  // Frames we (or anyone) send out of this interface are not input. Older
  // kernels lack the option; read_one() checks the packet type as well.
  (void)::setsockopt(fd.get(), SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
  if (::setsockopt(fd.get(), SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) < 0) {
    throw port_error(name + ": PACKET_VNET_HDR failed (" + std::string(std::strerror(errno)) + ")");
  }
  if (::setsockopt(fd.get(), SOL_PACKET, PACKET_AUXDATA, &one, sizeof one) < 0) {
    throw port_error(name + ": PACKET_AUXDATA failed (" + std::string(std::strerror(errno)) + ")");
  }
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &receive_buffer_size,
                   sizeof receive_buffer_size) < 0) {
    (void)::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &receive_buffer_size,
                       sizeof receive_buffer_size);
  }

  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(ETH_P_ALL);
  addr.sll_ifindex = static_cast<int>(ifindex);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) < 0) {
    const int err = errno;
    throw port_error(name + ": cannot bind a packet socket to it (" + std::strerror(err) + ")");
  }
  packet_mreq mreq{};
  mreq.mr_ifindex = static_cast<int>(ifindex);
  mreq.mr_type = PACKET_MR_PROMISC;
  if (::setsockopt(fd.get(), SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mreq, sizeof mreq) < 0) {
    const int err = errno;
    throw port_error(name + ": cannot make it promiscuous (" + std::string(std::strerror(err)) +
                     "); run vswitchd as root");
  }

  auto dev = std::unique_ptr<device_port>(new device_port(io, id, name, std::move(fd), ifindex));
  dev->brought_up_ = netdev::bring_up(name);
  // Binding to a down interface leaves ENETDOWN pending on the socket; it is
  // up now, so read and discard that error instead of reporting a link loss.
  int pending = 0;
  socklen_t pending_size = sizeof pending;
  (void)::getsockopt(dev->reader_.fd(), SOL_SOCKET, SO_ERROR, &pending, &pending_size);
  // GRO would merge received TCP segments into frames larger than the MTU,
  // which no other port could send (until ports carry offload metadata).
  // If it cannot be turned off, describe() says so.
  if (netdev::gro(name).value_or(false)) {
    dev->gro_ = netdev::set_gro(name, false) ? gro_state::stuck_on : gro_state::turned_off;
  }
  return dev;
}

device_port::device_port(boost::asio::io_context& io, l2::port_id id, const std::string& name,
                         unique_fd fd, unsigned ifindex)
    : port(id, name, port_kind::device),
      reader_(io, std::move(fd)),
      link_timer_(io),
      buffer_(batch * slot_size),
      tx_(io, [this] { flush(); }),
      ifindex_(ifindex) {}

device_port::~device_port() {
  stop();
  // Leave the interface as it was found.
  if (netdev::index_of(name()) != ifindex_) return;
  if (gro_ == gro_state::turned_off) (void)netdev::set_gro(name(), true);
  if (brought_up_) (void)netdev::set_up(name(), false);
}

void device_port::start(port_listener& listener) {
  listener_ = &listener;
  reader_.start([this] { return read_one(); });
}

read_loop::step device_port::read_one() {
  // Up to `batch` frames per system call, each into its own buffer.
  for (std::size_t i = 0; i < batch; ++i) {
    rx_slot& m = rx_[i];
    m.iov[0] = {m.header.data(), m.header.size()};
    m.iov[1] = {buffer_.data() + i * slot_size + headroom, slot_size - headroom};
    msghdr& h = messages_[i].msg_hdr;
    h = msghdr{};
    h.msg_name = &m.from;
    h.msg_namelen = sizeof m.from;
    h.msg_iov = m.iov.data();
    h.msg_iovlen = m.iov.size();
    h.msg_control = m.control.data();
    h.msg_controllen = m.control.size();
  }
  const int n = ::recvmmsg(reader_.fd(), messages_.data(), batch, MSG_TRUNC, nullptr);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return read_loop::step::would_block;
    if (errno == EINTR) return read_loop::step::again;
    if (errno == ENETDOWN || errno == ENXIO || errno == ENODEV) return link_lost();
    return read_loop::step::again;  // transient (e.g. ENOBUFS); keep reading
  }
  for (int i = 0; i < n; ++i) receive(static_cast<std::size_t>(i));
  return n < static_cast<int>(batch) ? read_loop::step::would_block : read_loop::step::again;
}

void device_port::receive(std::size_t i) {
  rx_slot& m = rx_[i];
  msghdr& msg = messages_[i].msg_hdr;
  const std::size_t n = messages_[i].msg_len;
  std::byte* const frame = buffer_.data() + i * slot_size + headroom;
  if (m.from.sll_pkttype == PACKET_OUTGOING) return;
  if (!is_up()) {
    link_timer_.cancel();
    set_up(true, "link is up again");
  }
  if (n < l2::vnet_header_size) return;
  std::size_t size = n - l2::vnet_header_size;
  l2::vnet_header offload = l2::parse_vnet_header(m.header);
  if ((msg.msg_flags & MSG_TRUNC) != 0 || size > l2::max_frame_size) {
    counters_.drops.count(l2::drop_reason::giant);
    return;
  }
  // Put back a VLAN tag the kernel moved into metadata (VLAN receive offload).
  std::byte* start = frame;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_PACKET || c->cmsg_type != PACKET_AUXDATA) continue;
    tpacket_auxdata aux;
    std::memcpy(&aux, CMSG_DATA(c), sizeof aux);
    if ((aux.tp_status & TP_STATUS_VLAN_VALID) == 0 || size < 2 * l2::mac_address::size) break;
    const std::uint16_t tpid =
        (aux.tp_status & TP_STATUS_VLAN_TPID_VALID) != 0 ? aux.tp_vlan_tpid : l2::ethertype_vlan;
    start = frame - l2::vlan_tag_size;
    std::memmove(start, frame, 2 * l2::mac_address::size);
    const std::uint16_t tag[2] = {htons(tpid), htons(aux.tp_vlan_tci)};
    std::memcpy(start + 2 * l2::mac_address::size, tag, sizeof tag);
    size += l2::vlan_tag_size;
    // The kernel counted offsets from the untagged frame.
    if (!offload.is_plain()) {
      offload.csum_start = static_cast<std::uint16_t>(offload.csum_start + l2::vlan_tag_size);
      if (offload.hdr_len != 0) {
        offload.hdr_len = static_cast<std::uint16_t>(offload.hdr_len + l2::vlan_tag_size);
      }
    }
    break;
  }
  deliver(l2::packet{std::span<const std::byte>(start, size), offload});
}


read_loop::step device_port::link_lost() {
  if (netdev::index_of(name()) != ifindex_) {
    gone_ = true;
    set_up(false, "the interface was deleted");
    return read_loop::step::stop;
  }
  set_up(false, "link is down");
  watch_link();
  return read_loop::step::again;
}

void device_port::watch_link() {
  link_timer_.expires_after(std::chrono::seconds(1));
  // (The port may be removed after the timer fired but before this runs.)
  link_timer_.async_wait([this, alive = std::weak_ptr<char>(alive_)](const boost::system::error_code& ec) {
    if (ec || alive.expired() || is_up() || reader_.fd() < 0) return;
    if (netdev::index_of(name()) != ifindex_) {
      reader_.close();
      gone_ = true;
      set_up(false, "the interface was deleted");  // already down: no second log line
      return;
    }
    if (netdev::is_up(name()).value_or(false)) {
      set_up(true, "link is up again");
      return;
    }
    watch_link();
  });
}

void device_port::send(const l2::packet& packet) {
  if (!is_up()) {
    counters_.drops.count(l2::drop_reason::port_down);
    return;
  }
  std::array<std::byte, l2::vnet_header_size> header;
  emit_vnet_header_for(packet, header);
  // Small frames wait for the end of this input batch and leave together.
  if (tx_batch::fits(header.size(), packet.frame.size())) {
    tx_.push(header, packet.frame, nullptr, 0, nullptr);
    return;
  }
  flush();  // keep the order
  iovec iov[2] = {{header.data(), header.size()},
                  {const_cast<std::byte*>(packet.frame.data()), packet.frame.size()}};
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = 2;
  if (::sendmsg(reader_.fd(), &msg, MSG_DONTWAIT) >= 0) {
    count_tx(packet.frame.size());
  } else {
    counters_.drops.count(send_drop_reason(errno));
  }
}

void device_port::flush() {
  if (tx_.empty()) return;
  if (reader_.fd() < 0) {
    tx_.clear();  // the socket is closed: nothing can go out
    return;
  }
  tx_.send_all(
      reader_.fd(), [this](void*, std::size_t size) { count_tx(size); },
      [this](void*, int err) { counters_.drops.count(send_drop_reason(err)); });
}

void device_port::stop() {
  link_timer_.cancel();
  reader_.close();
}

std::string device_port::describe() const {
  std::string text = "dev " + name() + " (kernel side, AF_PACKET";
  if (gro_ == gro_state::turned_off) text += "; GRO turned off while attached";
  if (gro_ == gro_state::stuck_on) text += "; GRO is on and cannot be turned off: TCP may stall";
  return text + ")";
}

}  // namespace ports
