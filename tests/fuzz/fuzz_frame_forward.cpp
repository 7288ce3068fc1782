// frame_forward: l2::forwarder::decide on a sequence of frames, then the
// egress rewrite (l2::egress_change + l2::retag) for every output port.
//
// Why: decide() is the first code every received frame meets; it parses
// untrusted bytes, learns into the MAC table (open addressing with
// backward-shift deletion) and picks ports by VLAN. A wrong decision is not a
// crash, so the target checks what must hold instead:
//   - the table never holds more than its capacity; every entry for_each()
//     reports is found again by lookup() on its port (unless expired); the
//     per-port dynamic counts match; no dynamic entry sits on a down port;
//     static entries survive learning, aging, eviction and ports going down;
//   - a drop before parsing has the reason frame_view::parse gives; a
//     forwarded frame's VLAN is classify() of the ingress mode and its tag;
//   - a unicast goes to a port that is up, is not the ingress, carries the
//     VLAN, is what lookup() says, and is not an uplink when the ingress is
//     one (split horizon);
//   - a flood set is non-empty, excludes the ingress, holds only up ports
//     that carry the VLAN, never a learned uplink, only local ports when the
//     ingress is an uplink;
//   - retag() output is the input size, or 4 bytes more (push) or less (pop),
//     the offload offsets move with it, and the tag is what the port's mode
//     wants.
//
// Input: records [ctl][len: u16 big-endian][len bytes]. ctl bits 0-3 pick a
// port (configured ones, plus unknown ids 8, 1023 and no_port), bits 4-6 the
// operation: 0/7 a frame from that port, 1 toggle the port up/down,
// 2 add a static entry (payload: VLAN u16, MAC), 3 let time pass (payload[0]
// * 2 s) and age, 4 remove an entry (VLAN u16, MAC), 5 set the port's MAC
// limit (payload[0] % 4), 6 the flood protections (payload[0] bit 0: full
// table policy evict; [1] % 4 move damping limit, [2] window s, [3] hold-down
// s; [4], [5], [6]: the port's broadcast, multicast, unknown-unicast storm
// limits per second). ctl bit 7 gives the frame an offload header (to check
// that retag moves csum_start/hdr_len). Time advances 1 ms per record.
// A fresh forwarder (copied from a template) serves each input.
#include <array>
#include <map>
#include <vector>

#include "fuzz_util.hpp"
#include "l2/forwarder.hpp"
#include "l2/vlan.hpp"

namespace {

using l2::port_id;
using l2::port_role;
using l2::vlan_id;
using l2::vlan_mode;

constexpr std::size_t table_capacity = 16;  // small: collisions, a full table, evictions
constexpr auto aging = std::chrono::seconds(300);

struct port_config {
  port_id id;
  port_role role;
  vlan_mode mode;
};

l2::vlan_set vlans(std::initializer_list<int> ids) {
  l2::vlan_set s;
  for (int v : ids) s.set(static_cast<std::size_t>(v));
  return s;
}

const std::vector<port_config>& configs() {
  static const std::vector<port_config> c = {
      {0, port_role::local, vlan_mode::transparent()},
      {1, port_role::local, vlan_mode::access(10)},
      {2, port_role::local, vlan_mode::access(20)},
      {3, port_role::local, vlan_mode::trunk(vlans({10, 20, 4094}), vlan_id{30})},
      {4, port_role::uplink, vlan_mode::transparent()},
      {5, port_role::uplink, vlan_mode::trunk(vlans({10, 20}))},
      {6, port_role::learned_uplink, vlan_mode::transparent()},
      {7, port_role::local, vlan_mode::trunk(vlans({10, 30}))},
  };
  return c;
}

const port_config* config_of(port_id p) {
  for (const auto& c : configs()) {
    if (c.id == p) return &c;
  }
  return nullptr;
}

port_id pick_port(unsigned selector) {
  switch (selector & 0x0f) {
    case 8: return 8;            // never added
    case 9: return 1023;         // the largest id, never added
    case 10: return l2::no_port;  // out of range
    default: return static_cast<port_id>((selector & 0x0f) < 8 ? selector & 0x0f : (selector & 0x0f) - 11);
  }
}

const l2::forwarder& pristine() {
  static const l2::forwarder fwd = [] {
    l2::forwarder f(table_capacity, aging);
    for (const auto& c : configs()) f.add_port(c.id, c.role, c.mode);
    return f;
  }();
  return fwd;
}

bool wants_tag(const vlan_mode& mode, vlan_id vlan) {
  switch (mode.mode) {
    case vlan_mode::kind::transparent: return vlan != 0;
    case vlan_mode::kind::access: return false;
    case vlan_mode::kind::trunk: return !(mode.native && *mode.native == vlan);
  }
  return false;
}

/// The egress rewrite of `frame` for `port`, checked.
void check_egress(const l2::forwarder& fwd, port_id port, const l2::forward_decision& d,
                  std::span<const std::byte> frame, bool with_offload) {
  const vlan_mode& mode = fwd.mode_of(port);
  const l2::tag_change change = l2::egress_change(mode, d.vlan, d.tag);
  l2::packet in{frame, {}};
  if (with_offload) {
    in.offload.flags = l2::vnet_flag_needs_csum;
    in.offload.csum_start = 34;
    in.offload.csum_offset = 16;
    in.offload.hdr_len = 54;
  }
  std::vector<std::byte> out(frame.size() + l2::vlan_tag_size);
  const l2::packet result = l2::retag(in, change, out);
  const std::size_t size = result.frame.size();
  int shift = 0;
  switch (change.what) {
    case l2::tag_change::action::none:
      FUZZ_CHECK(result.frame.data() == frame.data() && size == frame.size());
      break;
    case l2::tag_change::action::pop:
      FUZZ_CHECK(d.tag.has_value());
      FUZZ_CHECK(size + l2::vlan_tag_size == frame.size());
      // Addresses kept, the 4 tag bytes gone, the rest as it was.
      FUZZ_CHECK(std::equal(frame.begin(), frame.begin() + 12, result.frame.begin()));
      FUZZ_CHECK(std::equal(frame.begin() + 16, frame.end(), result.frame.begin() + 12));
      shift = -4;
      break;
    case l2::tag_change::action::push:
      FUZZ_CHECK(!d.tag.has_value());
      FUZZ_CHECK(size == frame.size() + l2::vlan_tag_size);
      FUZZ_CHECK(std::equal(frame.begin() + 12, frame.end(), result.frame.begin() + 16));
      shift = 4;
      break;
    case l2::tag_change::action::set_vid:
      FUZZ_CHECK(d.tag.has_value());
      FUZZ_CHECK(size == frame.size());
      break;
  }
  FUZZ_CHECK(result.frame.size() <= out.size() || change.what == l2::tag_change::action::none);
  if (with_offload) {
    FUZZ_CHECK(result.offload.csum_start == 34 + shift);
    FUZZ_CHECK(result.offload.hdr_len == 54 + shift);
    FUZZ_CHECK(result.offload.csum_offset == 16);
  }
  // The tag the port's mode asks for.
  const l2::frame_parse_result parsed = l2::frame_view::parse(result.frame);
  FUZZ_CHECK(parsed);
  const std::optional<l2::vlan_tag> tag = parsed.frame->tag();
  if (wants_tag(mode, d.vlan)) {
    FUZZ_CHECK(tag && tag->vid == d.vlan);
    if (d.tag) FUZZ_CHECK(tag->pcp == d.tag->pcp && tag->dei == d.tag->dei);  // priority kept
  } else if (mode.mode == vlan_mode::kind::transparent) {
    FUZZ_CHECK(change.what == l2::tag_change::action::none);  // VLAN 0 leaves as it came
  } else {
    FUZZ_CHECK(change.what == (d.tag ? l2::tag_change::action::pop : l2::tag_change::action::none));
  }
}

void check_decision(const l2::forwarder& fwd, port_id ingress, std::span<const std::byte> frame,
                    const l2::forward_decision& d, l2::time_point now, bool with_offload) {
  const l2::frame_parse_result parsed = l2::frame_view::parse(frame);
  if (!parsed) {
    FUZZ_CHECK(d.kind == l2::forward_decision::action::drop && d.reason == parsed.reason);
    return;
  }
  if (d.kind == l2::forward_decision::action::drop) return;

  // Forwarded: the ingress was up, its mode took the frame, in this VLAN.
  FUZZ_CHECK(fwd.is_port_up(ingress));
  const port_config* in = config_of(ingress);
  FUZZ_CHECK(in != nullptr);
  FUZZ_CHECK(d.tag == parsed.frame->tag());
  const std::optional<vlan_id> vlan = l2::classify(in->mode, d.tag);
  FUZZ_CHECK(vlan && *vlan == d.vlan);
  FUZZ_CHECK(!parsed.frame->source().is_multicast());
  FUZZ_CHECK(!parsed.frame->destination().is_link_local());
  const bool from_uplink = in->role != port_role::local;

  if (d.kind == l2::forward_decision::action::unicast) {
    FUZZ_CHECK(d.port != ingress);
    FUZZ_CHECK(fwd.is_port_up(d.port));
    FUZZ_CHECK(fwd.mode_of(d.port).carries(d.vlan));
    FUZZ_CHECK(fwd.table().lookup(d.vlan, parsed.frame->destination(), now) == d.port);
    const port_config* out = config_of(d.port);
    FUZZ_CHECK(out != nullptr);
    FUZZ_CHECK(!(from_uplink && out->role != port_role::local));
    check_egress(fwd, d.port, d, frame, with_offload);
    return;
  }
  FUZZ_CHECK(d.kind == l2::forward_decision::action::flood);
  FUZZ_CHECK(!d.ports.empty());
  FUZZ_CHECK(!d.ports.contains(ingress));
  FUZZ_CHECK(d.ports.count() <= configs().size());
  d.ports.for_each([&](port_id p) {
    const port_config* out = config_of(p);
    FUZZ_CHECK(out != nullptr);
    FUZZ_CHECK(fwd.is_port_up(p));
    FUZZ_CHECK(fwd.mode_of(p).carries(d.vlan));
    FUZZ_CHECK(out->role != port_role::learned_uplink);
    FUZZ_CHECK(!(from_uplink && out->role != port_role::local));
    check_egress(fwd, p, d, frame, with_offload);
  });
}

/// The static entries the input added (and did not remove): (VLAN, MAC) -> port.
using static_entries = std::map<std::pair<vlan_id, std::uint64_t>, port_id>;

/// The table's own consistency, from its public interface.
void check_table(const l2::forwarder& fwd, l2::time_point now, const static_entries& statics) {
  const l2::mac_table& t = fwd.table();
  FUZZ_CHECK(t.count() <= t.capacity());
  std::size_t entries = 0;
  std::array<std::size_t, 16> dynamic{};
  t.for_each([&](const l2::mac_entry& e) {
    ++entries;
    const bool expired = !e.is_static && now - e.last_seen > t.aging();
    if (!expired) FUZZ_CHECK(t.lookup(e.vlan, e.mac, now) == e.port);
    FUZZ_CHECK(e.vlan <= 0xfff);
    if (e.is_static) {
      const auto it = statics.find({e.vlan, e.mac.to_u64()});
      FUZZ_CHECK(it != statics.end() && it->second == e.port);
    } else {
      FUZZ_CHECK(!statics.contains({e.vlan, e.mac.to_u64()}));
      FUZZ_CHECK(e.port < dynamic.size());
      ++dynamic[e.port];
      FUZZ_CHECK(fwd.is_port_up(e.port));  // going down flushed them; only up ports learn
    }
  });
  FUZZ_CHECK(entries == t.count());
  // Every static entry is still there: nothing but remove() takes one away.
  for (const auto& [key, port] : statics) {
    FUZZ_CHECK(t.lookup(key.first, l2::mac_address::from_u64(key.second), now) == port);
  }
  for (port_id p = 0; p < dynamic.size(); ++p) FUZZ_CHECK(t.port_count(p) == dynamic[p]);
}

l2::mac_address mac_of(std::span<const std::byte> b) {
  std::array<std::byte, 6> octets{};
  std::copy_n(b.begin(), std::min<std::size_t>(b.size(), 6), octets.begin());
  return l2::mac_address::from_bytes(octets);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static l2::forwarder fwd = pristine();
  fwd = pristine();  // every input starts from the same switch
  l2::time_point now{std::chrono::seconds(1000)};
  fuzz::cursor in(fuzz::as_bytes(data, size));
  static_entries statics;

  while (!in.empty()) {
    const std::uint8_t ctl = in.u8();
    const std::size_t length = in.u16();
    const std::span<const std::byte> payload = in.take(length);
    const port_id port = pick_port(ctl);
    now += std::chrono::milliseconds(1);
    switch ((ctl >> 4) & 7) {
      case 1:
        fwd.set_port_up(port, !fwd.is_port_up(port));
        break;
      case 2: {
        fuzz::cursor p(payload);
        const vlan_id vlan = p.u16();
        const l2::mac_address mac = mac_of(p.take(6));
        if (fwd.table().add_static(vlan, mac, port)) statics[{static_cast<vlan_id>(vlan & 0xfff), mac.to_u64()}] = port;
        break;
      }
      case 3:
        now += std::chrono::seconds(2 * (payload.empty() ? 1 : std::to_integer<unsigned>(payload[0])));
        (void)fwd.age(now);
        break;
      case 4: {
        fuzz::cursor p(payload);
        const vlan_id vlan = p.u16();
        const l2::mac_address mac = mac_of(p.take(6));
        (void)fwd.table().remove(vlan, mac);
        statics.erase({static_cast<vlan_id>(vlan & 0xfff), mac.to_u64()});
        break;
      }
      case 5:
        fwd.table().set_port_limit(port, payload.empty() ? 0 : std::to_integer<unsigned>(payload[0]) % 4);
        break;
      case 6: {
        fuzz::cursor p(payload);
        fwd.table().set_full_policy((p.u8() & 1) != 0 ? l2::full_policy::evict : l2::full_policy::refuse);
        const unsigned limit = p.u8() % 4;
        const auto window = std::chrono::seconds(p.u8());
        fwd.table().set_move_damping(limit, window, std::chrono::seconds(p.u8()));
        l2::storm_limits storm;
        storm.broadcast = p.u8();
        storm.multicast = p.u8();
        storm.unknown = p.u8();
        fwd.set_storm_limits(port, storm);
        break;
      }
      default: {
        const l2::forward_decision d = fwd.decide(port, payload, now);
        check_decision(fwd, port, payload, d, now, (ctl & 0x80) != 0);
        break;
      }
    }
    FUZZ_CHECK(fwd.table().count() <= table_capacity);
  }
  check_table(fwd, now, statics);
  return 0;
}
