#include "switchd/decision_cache.hpp"

#include <bit>

namespace switchd {

decision_cache::key decision_cache::key_of(l2::port_id ingress, const l2::frame_view& frame) {
  key k;
  k.ingress = ingress;
  if (const std::optional<l2::vlan_tag> tag = frame.tag()) {
    k.tag = std::uint32_t{1} << 16 | std::uint32_t{tag->pcp} << 13 | std::uint32_t{tag->dei} << 12 |
            (tag->vid & 0xfffU);
  }
  k.source = frame.source().to_u64();
  k.destination = frame.destination().to_u64();
  return k;
}

decision_cache::decision_cache(std::size_t slots) {
  const std::size_t size = std::bit_ceil(slots < 1 ? std::size_t{1} : slots);
  slots_.resize(size);
  shift_ = 64U - static_cast<unsigned>(std::countr_zero(size));
}

std::size_t decision_cache::index(const key& k) const {
  // Fibonacci hashing of the key folded into 64 bits (both MACs fill 48).
  const std::uint64_t folded = k.source ^ std::rotl(k.destination, 24) ^
                               (std::uint64_t{k.ingress} << 48) ^ (std::uint64_t{k.tag} << 20);
  const std::uint64_t h = folded * 0x9E3779B97F4A7C15ULL;
  return shift_ >= 64 ? 0 : static_cast<std::size_t>(h >> shift_);
}

std::optional<decision_cache::unicast> decision_cache::find(const key& k, std::uint64_t generation,
                                                            l2::time_point now) const {
  const slot& s = slots_[index(k)];
  if (!s.used || s.generation != generation || s.k != k) return std::nullopt;
  if (now - s.made >= max_age_ || now < s.made) return std::nullopt;
  return s.u;
}

void decision_cache::insert(const key& k, unicast u, std::uint64_t generation, l2::time_point now) {
  slot& s = slots_[index(k)];
  s.k = k;
  s.u = u;
  s.generation = generation;
  s.made = now;
  s.used = true;
}

}  // namespace switchd
