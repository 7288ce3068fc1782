#include "ports/reach.hpp"

#include <algorithm>

#include "l2/byte_order.hpp"
#include "ports/address.hpp"

namespace ports::reach {
namespace {

namespace ip = boost::asio::ip;

/// Reads bytes from the front of a span; any read past the end fails the whole decode.
class reader {
 public:
  explicit reader(std::span<const std::byte> b) : rest_(b) {}
  bool ok() const { return ok_; }
  bool empty() const { return rest_.empty(); }
  std::span<const std::byte> take(std::size_t n) {
    if (!ok_ || rest_.size() < n) {
      ok_ = false;
      return {};
    }
    const auto out = rest_.first(n);
    rest_ = rest_.subspan(n);
    return out;
  }
  std::uint8_t u8() {
    const auto b = take(1);
    return b.empty() ? 0 : std::to_integer<std::uint8_t>(b[0]);
  }
  std::uint64_t u64() {
    const auto b = take(8);
    return b.empty() ? 0 : l2::byte_order::load64(b, 0);
  }
  noise::public_key key() {
    noise::public_key k{};
    const auto b = take(k.size());
    if (!b.empty()) std::copy(b.begin(), b.end(), k.begin());
    return k;
  }
  std::optional<endpoint> address() {
    const std::uint8_t family = u8();
    if (family == 4) return address_of<ip::address_v4>();
    if (family == 6) return address_of<ip::address_v6>();
    ok_ = false;
    return std::nullopt;
  }
  /// An address of type `A` and a port.
  template <class A>
  std::optional<endpoint> address_of() {
    typename A::bytes_type a{};
    const auto b = take(a.size());
    const auto port = take(2);
    if (!ok_) return std::nullopt;
    std::transform(b.begin(), b.end(), a.begin(), [](std::byte x) { return std::to_integer<unsigned char>(x); });
    return endpoint(A(a), l2::byte_order::load16(port, 0));
  }
  std::span<const std::byte> rest() {
    const auto out = rest_;
    rest_ = {};
    return out;
  }

 private:
  std::span<const std::byte> rest_;
  bool ok_ = true;
};

/// Writes to the front of a span.
class writer {
 public:
  explicit writer(std::span<std::byte> out) : out_(out) {}
  std::size_t size() const { return at_; }
  void u8(std::uint8_t v) { out_[at_++] = std::byte{v}; }
  void bytes(std::span<const std::byte> b) {
    std::copy(b.begin(), b.end(), out_.begin() + static_cast<std::ptrdiff_t>(at_));
    at_ += b.size();
  }
  void u64(std::uint64_t v) {
    l2::byte_order::store64(out_, at_, v);
    at_ += 8;
  }
  void address(const endpoint& e) {
    const ip::address a = canonical(e).address();
    if (a.is_v4()) {
      u8(4);
      const auto b = a.to_v4().to_bytes();
      bytes(std::as_bytes(std::span(b)));
    } else {
      u8(6);
      const auto b = a.to_v6().to_bytes();
      bytes(std::as_bytes(std::span(b)));
    }
    l2::byte_order::store16(out_, at_, e.port());
    at_ += 2;
  }
  void locals(std::span<const endpoint> list) {
    const std::size_t n = std::min(list.size(), max_locals);
    u8(static_cast<std::uint8_t>(n));
    for (std::size_t i = 0; i < n; ++i) address(list[i]);
  }

 private:
  std::span<std::byte> out_;
  std::size_t at_ = 0;
};

bool read_locals(reader& r, message& m) {
  const std::size_t n = r.u8();
  if (n > max_locals) return false;
  for (std::size_t i = 0; i < n; ++i) {
    const std::optional<endpoint> e = r.address();
    if (!e) return false;
    m.locals[i] = *e;
  }
  m.local_count = n;
  return r.ok();
}

}  // namespace

std::optional<message> decode(std::span<const std::byte> bytes) {
  reader r(bytes);
  message m;
  const std::uint8_t k = r.u8();
  if (!r.ok() || k < 1 || k > 7) return std::nullopt;
  m.k = static_cast<kind>(k);
  switch (m.k) {
    case kind::announce:
      if (!read_locals(r, m)) return std::nullopt;
      break;
    case kind::find:
      m.key = r.key();
      break;
    case kind::introduce:
      m.key = r.key();
      m.observed = r.address();
      if (!m.observed || !read_locals(r, m)) return std::nullopt;
      break;
    case kind::probe:
      m.nonce = r.u64();
      break;
    case kind::pong:
      m.nonce = r.u64();
      m.observed = r.address();
      if (!m.observed) return std::nullopt;
      break;
    case kind::relay_to:
    case kind::relayed_from:
      m.key = r.key();
      m.inner = r.rest();
      if (m.inner.empty()) return std::nullopt;
      break;
  }
  if (!r.ok() || !r.empty()) return std::nullopt;
  return m;
}

std::size_t encode_announce(std::span<const endpoint> locals, std::span<std::byte> out) {
  writer w(out);
  w.u8(static_cast<std::uint8_t>(kind::announce));
  w.locals(locals);
  return w.size();
}

std::size_t encode_find(const noise::public_key& key, std::span<std::byte> out) {
  writer w(out);
  w.u8(static_cast<std::uint8_t>(kind::find));
  w.bytes(key);
  return w.size();
}

std::size_t encode_introduce(const noise::public_key& key, const endpoint& observed,
                             std::span<const endpoint> locals, std::span<std::byte> out) {
  writer w(out);
  w.u8(static_cast<std::uint8_t>(kind::introduce));
  w.bytes(key);
  w.address(observed);
  w.locals(locals);
  return w.size();
}

std::size_t encode_probe(std::uint64_t nonce, std::span<std::byte> out) {
  writer w(out);
  w.u8(static_cast<std::uint8_t>(kind::probe));
  w.u64(nonce);
  return w.size();
}

std::size_t encode_pong(std::uint64_t nonce, const endpoint& observed, std::span<std::byte> out) {
  writer w(out);
  w.u8(static_cast<std::uint8_t>(kind::pong));
  w.u64(nonce);
  w.address(observed);
  return w.size();
}

void candidates::add(const endpoint& where, time_point now) {
  for (std::size_t i = 0; i < count_; ++i) {
    if (entries_[i].where == where) {
      entries_[i].named = now;
      return;
    }
  }
  std::size_t slot = count_;
  if (count_ == max_candidates) {
    slot = 0;
    for (std::size_t i = 1; i < count_; ++i)
      if (entries_[i].named < entries_[slot].named) slot = i;
  } else {
    ++count_;
  }
  entries_[slot] = entry{where, now, {}, 0};
}

bool candidates::answers(const endpoint& from, std::uint64_t nonce, time_point now,
                         std::chrono::milliseconds window) const {
  for (std::size_t i = 0; i < count_; ++i) {
    const entry& e = entries_[i];
    if (e.where == from && e.probed != time_point{} && e.nonce == nonce && now - e.probed <= window) return true;
  }
  return false;
}

void write_relay_header(kind k, const noise::public_key& key, std::span<std::byte, relay_header_size> out) {
  out[0] = static_cast<std::byte>(k);
  std::copy(key.begin(), key.end(), out.begin() + 1);
}

}  // namespace ports::reach
