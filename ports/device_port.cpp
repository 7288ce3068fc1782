#include "ports/device_port.hpp"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "l2/frame.hpp"

// Debian 12's headers predate the fanout group's own IGNORE_OUTGOING (Linux 6.9).
#ifndef PACKET_FANOUT_FLAG_IGNORE_OUTGOING
#define PACKET_FANOUT_FLAG_IGNORE_OUTGOING 0x4000
#endif

namespace ports {
namespace {

constexpr int receive_buffer_size = 4 << 20;

/// Where received frames start in their slot: room to put a VLAN tag back in front.
constexpr std::size_t headroom = l2::vlan_tag_size;

/// One receive buffer: headroom, the largest frame, and a byte to see truncation.
constexpr std::size_t slot_size = headroom + l2::max_frame_size + 1;

/// A classic BPF program that accepts nothing.
sock_filter accept_nothing[] = {BPF_STMT(BPF_RET | BPF_K, 0)};
const sock_fprog drop_everything = {1, accept_nothing};

/// A packet socket bound to interface `ifindex` (promiscuous, PACKET_VNET_HDR,
/// PACKET_AUXDATA); with `drop_all`, it takes no frame until its filter is detached.
unique_fd bound_socket(const std::string& name, unsigned ifindex, bool drop_all) {
  // Protocol 0 until bind(), so no frame of another interface slips in before it.
  unique_fd fd(::socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    const int err = errno;
    throw port_error(name + ": cannot open a packet socket (" + std::strerror(err) +
                     "); run vswitchd as root (it needs CAP_NET_RAW)");
  }
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

  if (drop_all) {
    // (Before bind: it takes no frame until the filter is detached.)
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_ATTACH_FILTER, &drop_everything, sizeof drop_everything) < 0) {
      throw port_error(name + ": SO_ATTACH_FILTER failed (" + std::string(std::strerror(errno)) + ")");
    }
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

  return fd;
}

/// Makes `first` the first member of a new PACKET_FANOUT group (hash) and
/// returns up to `count` more sockets in it (fewer when the kernel refuses
/// some: then fewer workers read the port).
std::vector<unique_fd> fanout_sockets(const std::string& name, unsigned ifindex, int first,
                                      std::size_t count) {
  // The others first, bound but taking nothing yet (a drop-all filter):
  // a frame they took before they joined would be a duplicate.
  std::vector<unique_fd> sockets;
  try {
    while (sockets.size() < count) sockets.push_back(bound_socket(name, ifindex, true));
  } catch (const port_error&) {
    // (Out of descriptors, say: as many sockets as there are.)
  }
  if (sockets.empty()) return {};
  // The group: an id the kernel picks, unique in the namespace. Inside a
  // group PACKET_IGNORE_OUTGOING is the group's flag, not the socket's
  // (Linux 6.9 and later; receive() checks the packet type as well).
  int flags = -1;
  for (const int f : {PACKET_FANOUT_FLAG_IGNORE_OUTGOING, 0}) {
    const int create = (PACKET_FANOUT_HASH | f | PACKET_FANOUT_FLAG_UNIQUEID) << 16;
    if (::setsockopt(first, SOL_PACKET, PACKET_FANOUT, &create, sizeof create) == 0) {
      flags = f;
      break;
    }
  }
  int group = 0;
  socklen_t size = sizeof group;
  if (flags < 0 || ::getsockopt(first, SOL_PACKET, PACKET_FANOUT, &group, &size) < 0) return {};
  const int join = (group & 0xffff) | ((PACKET_FANOUT_HASH | flags) << 16);
  std::erase_if(sockets, [&](const unique_fd& socket) {
    return ::setsockopt(socket.get(), SOL_PACKET, PACKET_FANOUT, &join, sizeof join) < 0;
  });
  // Now they take their share. (Until its filter goes, a socket drops the
  // frames hashed to it: a few system calls' time, when the port opens.)
  const int unused = 0;  // (the kernel wants an int's room even here)
  std::erase_if(sockets, [&](const unique_fd& socket) {
    return ::setsockopt(socket.get(), SOL_SOCKET, SO_DETACH_FILTER, &unused, sizeof unused) < 0;
  });
  return sockets;
}

}  // namespace

std::unique_ptr<device_port> device_port::open(boost::asio::io_context& io, l2::port_id id,
                                               const std::string& name, std::size_t queues) {
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

  const unsigned ifindex = netdev::index_of(name);
  unique_fd fd = bound_socket(name, ifindex, false);
  // Up before the fanout group: a socket bound to a down interface is not
  // running, and only running sockets can join.
  const bool brought_up = netdev::bring_up(name);
  // With workers: a socket per worker in a fanout group. Where the kernel
  // refuses (an interface that stays down), one socket, read by one worker.
  std::vector<unique_fd> more;
  try {
    if (queues > 1) more = fanout_sockets(name, ifindex, fd.get(), queues - 1);
  } catch (const port_error&) {
    if (brought_up) (void)netdev::set_up(name, false);  // as it was found
    throw;
  }

  auto dev = std::unique_ptr<device_port>(new device_port(io, id, name, std::move(fd), ifindex));
  for (unique_fd& socket : more) {
    dev->queues_.push_back(std::make_unique<rx_queue>());
    dev->queues_.back()->fd = std::move(socket);
    dev->queues_.back()->buffer.resize(batch * slot_size);
  }
  if (queues > 1) {
    // One batch per worker, even when fewer sockets joined the group (two
    // workers may then share a socket, never a batch).
    for (std::size_t w = 0; w < queues; ++w) {
      device_port* const self = dev.get();
      dev->round_tx_.push_back(std::make_unique<tx_batch>([self] { self->flush_round(); }));
    }
  }
  dev->brought_up_ = brought_up;
  // Binding to a down interface leaves ENETDOWN pending on the socket; it is
  // up now, so read and discard that error instead of reporting a link loss.
  for (std::size_t q = 0; q < dev->queues_.size(); ++q) {
    int pending = 0;
    socklen_t pending_size = sizeof pending;
    (void)::getsockopt(dev->worker_fd(q), SOL_SOCKET, SO_ERROR, &pending, &pending_size);
  }
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
      io_(io),
      reader_(io, std::move(fd)),
      link_timer_(io),
      tx_(io, [this] { flush(); }),
      ifindex_(ifindex) {
  queues_.push_back(std::make_unique<rx_queue>());
  queues_[0]->buffer.resize(batch * slot_size);
}

device_port::~device_port() {
  stop();
  // Leave the interface as it was found.
  if (netdev::index_of(name()) != ifindex_) return;
  if (gro_ == gro_state::turned_off) (void)netdev::set_gro(name(), true);
  if (brought_up_) (void)netdev::set_up(name(), false);
}

void device_port::start(port_listener& listener) {
  listener_ = &listener;
  reader_.start([this] { return read_one(*queues_[0], reader_.fd()); });
}

void device_port::start_on_worker(port_listener& listener) {
  listener_ = &listener;
  on_workers_ = true;
  reader_.hand_over();
}

int device_port::worker_fd(std::size_t queue) const {
  if (queue == 0) return reader_.fd();
  return queue < queues_.size() ? queues_[queue]->fd.get() : -1;
}

port::worker_step device_port::worker_read(std::size_t queue) {
  return as_worker_step(read_one(*queues_[queue], worker_fd(queue)));
}

read_loop::step device_port::read_one(rx_queue& q, int fd) {
  // Up to `batch` frames per system call, each into its own buffer.
  for (std::size_t i = 0; i < batch; ++i) {
    rx_slot& m = q.slots[i];
    m.iov[0] = {m.header.data(), m.header.size()};
    m.iov[1] = {q.buffer.data() + i * slot_size + headroom, slot_size - headroom};
    msghdr& h = q.messages[i].msg_hdr;
    h = msghdr{};
    h.msg_name = &m.from;
    h.msg_namelen = sizeof m.from;
    h.msg_iov = m.iov.data();
    h.msg_iovlen = m.iov.size();
    h.msg_control = m.control.data();
    h.msg_controllen = m.control.size();
  }
  const int n = ::recvmmsg(fd, q.messages.data(), batch, MSG_TRUNC, nullptr);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return read_loop::step::would_block;
    if (errno == EINTR) return read_loop::step::again;
    if (errno == ENETDOWN || errno == ENXIO || errno == ENODEV) return link_lost();
    return read_loop::step::again;  // transient (e.g. ENOBUFS); keep reading
  }
  for (int i = 0; i < n; ++i) receive(q, static_cast<std::size_t>(i));
  return n < static_cast<int>(batch) ? read_loop::step::would_block : read_loop::step::again;
}

void device_port::receive(rx_queue& q, std::size_t i) {
  rx_slot& m = q.slots[i];
  msghdr& msg = q.messages[i].msg_hdr;
  const std::size_t n = q.messages[i].msg_len;
  std::byte* const frame = q.buffer.data() + i * slot_size + headroom;
  if (m.from.sll_pkttype == PACKET_OUTGOING) return;
  if (!is_up()) {
    if (this_worker < 0) {
      on_link_back();
    } else if (!link_news_posted_.exchange(true)) {
      // The timer and the listener's link change belong to the main thread.
      boost::asio::post(io_, [this, alive = std::weak_ptr<char>(alive_)] {
        if (alive.expired()) return;
        link_news_posted_ = false;
        on_link_back();
      });
    }
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
  const bool deleted = netdev::index_of(name()) != ifindex_;
  if (this_worker < 0) {
    on_link_lost(deleted);
  } else if (!link_lost_posted_.exchange(true)) {
    // Each socket reports ENETDOWN, maybe late: one post, and the main thread
    // looks again when it runs (the link may be back and a frame seen since).
    boost::asio::post(io_, [this, alive = std::weak_ptr<char>(alive_)] {
      if (alive.expired()) return;
      link_lost_posted_ = false;
      const bool gone = netdev::index_of(name()) != ifindex_;
      if (gone || !netdev::is_up(name()).value_or(false)) on_link_lost(gone);
    });
  }
  if (deleted) return read_loop::step::stop;
  return this_worker < 0 ? read_loop::step::again : read_loop::step::would_block;
}

void device_port::on_link_lost(bool deleted) {
  if (deleted) {
    gone_ = true;
    set_up(false, "the interface was deleted");
    return;
  }
  set_up(false, "link is down");
  watch_link();
}

void device_port::on_link_back() {
  if (is_up()) return;
  link_timer_.cancel();
  set_up(true, "link is up again");
}

void device_port::watch_link() {
  link_timer_.expires_after(std::chrono::seconds(1));
  // (The port may be removed after the timer fired but before this runs.)
  link_timer_.async_wait([this, alive = std::weak_ptr<char>(alive_)](const boost::system::error_code& ec) {
    if (ec || alive.expired() || is_up() || reader_.fd() < 0) return;
    if (netdev::index_of(name()) != ifindex_) {
      // (On workers the sockets stay open until the port is removed: a worker
      // polls them, and a closed descriptor's number may be reused meanwhile.)
      if (!on_workers_) reader_.close();
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
  // A worker sends on its own socket, and batches for the end of its round.
  const std::size_t w = static_cast<std::size_t>(this_worker);  // (huge on the main thread)
  const std::size_t q = this_worker < 0 ? 0 : w % queues_.size();
  tx_batch* const batch_of_thread =
      this_worker < 0 ? &tx_ : (w < round_tx_.size() ? round_tx_[w].get() : nullptr);
  // Small frames wait for the end of this input batch (or round) and leave together.
  if (batch_of_thread != nullptr && tx_batch::fits(header.size(), packet.frame.size())) {
    batch_of_thread->push(header, packet.frame, nullptr, 0, nullptr);
    return;
  }
  // Keep the order.
  if (this_worker < 0) {
    flush();
  } else if (batch_of_thread != nullptr) {
    flush_round();
  }
  const int fd = worker_fd(q);
  iovec iov[2] = {{header.data(), header.size()},
                  {const_cast<std::byte*>(packet.frame.data()), packet.frame.size()}};
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = 2;
  if (::sendmsg(fd, &msg, MSG_DONTWAIT) >= 0) {
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

void device_port::flush_round() {
  const std::size_t w = static_cast<std::size_t>(this_worker);
  if (this_worker < 0 || w >= round_tx_.size()) return;
  const std::size_t q = w % queues_.size();
  tx_batch& batch = *round_tx_[w];  // (registered until the round ends: flush_drained)
  if (batch.empty()) return;
  batch.send_all(
      worker_fd(q), [this](void*, std::size_t size) { count_tx(size); },
      [this](void*, int err) { counters_.drops.count(send_drop_reason(err)); });
}

void device_port::stop() {
  link_timer_.cancel();
  reader_.close();
  for (auto& q : queues_) q->fd = unique_fd();  // (closes them)
}

std::string device_port::describe() const {
  std::string text = "dev " + name() + " (kernel side, AF_PACKET";
  if (queues_.size() > 1) text += ", " + std::to_string(queues_.size()) + " sockets in a fanout group";
  if (gro_ == gro_state::turned_off) text += "; GRO turned off while attached";
  if (gro_ == gro_state::stuck_on) text += "; GRO is on and cannot be turned off: TCP may stall";
  return text + ")";
}

}  // namespace ports
