#include "ports/address_watch.hpp"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>

namespace ports {
namespace {

unique_fd open_watch() {
  unique_fd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd) return fd;
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  local.nl_groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) return unique_fd();
  return fd;
}

}  // namespace

address_watch::address_watch(boost::asio::io_context& io, std::function<void()> changed)
    : changed_(std::move(changed)) {
  unique_fd fd = open_watch();
  if (!fd) return;
  reader_.emplace(io, std::move(fd));
  reader_->start([this] { return read_one(); });
}

read_loop::step address_watch::read_one() {
  alignas(nlmsghdr) std::array<char, 8192> buffer;
  const ssize_t n = ::recv(reader_->fd(), buffer.data(), buffer.size(), MSG_DONTWAIT);
  if (n < 0) {
    const int error = errno;  // (changed_() may send, and so set errno)
    if (error == EAGAIN || error == EWOULDBLOCK) return read_loop::step::would_block;
    // ENOBUFS: events were lost; something changed, so say so.
    if (error == ENOBUFS) changed_();
    return error == EINTR || error == ENOBUFS ? read_loop::step::again : read_loop::step::stop;
  }
  bool address_event = false;
  int left = static_cast<int>(n);
  for (auto* h = reinterpret_cast<const nlmsghdr*>(buffer.data()); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
    address_event |= h->nlmsg_type == RTM_NEWADDR || h->nlmsg_type == RTM_DELADDR;
  }
  if (address_event) changed_();
  return read_loop::step::again;
}

}  // namespace ports
