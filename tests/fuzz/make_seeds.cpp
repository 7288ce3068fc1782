// make_seeds: writes the seed corpora of the fuzz targets (tests/fuzz/corpus/
// <target>/<name>), built from real frames with the codecs themselves: ARP
// and TCP/UDP frames with right checksums, VXLAN datagrams, datagrams sealed
// under the fuzz key, GSO super-frames and the segments l2::segment cuts
// them into, QEMU stream records, control requests and results, option
// texts. The corpus is committed; run this again when a wire format changes:
//
//   build-fuzz/make_seeds tests/fuzz/corpus
//
// Every seed follows its target's input layout (see the comment at the top
// of each fuzz_<target>.cpp).
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "fuzz_keys.hpp"
#include "fuzz_util.hpp"
#include "l2/offload.hpp"
#include "l2/vxlan.hpp"
#include "ports/reach.hpp"
#include "ports/sealed.hpp"

namespace {

using bytes = std::vector<std::byte>;

std::filesystem::path root;

void write(const std::string& target, const std::string& name, const bytes& data) {
  const auto dir = root / target;
  std::filesystem::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  if (!out) throw std::runtime_error("cannot write " + (dir / name).string());
}

void write(const std::string& target, const std::string& name, std::string_view text) {
  write(target, name, bytes(reinterpret_cast<const std::byte*>(text.data()),
                            reinterpret_cast<const std::byte*>(text.data() + text.size())));
}

// --- byte building -------------------------------------------------------------

void put8(bytes& b, unsigned v) { b.push_back(static_cast<std::byte>(v & 0xff)); }
void put16(bytes& b, unsigned v) { put8(b, v >> 8); put8(b, v); }
void put32(bytes& b, std::uint32_t v) { put16(b, v >> 16); put16(b, v & 0xffff); }
void put64(bytes& b, std::uint64_t v) { put32(b, static_cast<std::uint32_t>(v >> 32)); put32(b, static_cast<std::uint32_t>(v)); }
void append(bytes& b, const bytes& more) { b.insert(b.end(), more.begin(), more.end()); }
void set16(bytes& b, std::size_t at, unsigned v) {
  b[at] = static_cast<std::byte>((v >> 8) & 0xff);
  b[at + 1] = static_cast<std::byte>(v & 0xff);
}
bytes text_bytes(std::string_view s) {
  return bytes(reinterpret_cast<const std::byte*>(s.data()), reinterpret_cast<const std::byte*>(s.data() + s.size()));
}
/// Words joined by NUL bytes: an argv for the targets that split at NUL.
bytes words(std::initializer_list<std::string_view> list) {
  bytes out;
  for (std::string_view w : list) {
    if (!out.empty()) out.push_back(std::byte{0});
    const bytes b = text_bytes(w);
    out.insert(out.end(), b.begin(), b.end());
  }
  return out;
}

using mac = std::array<unsigned, 6>;
constexpr mac host_a{0x52, 0x54, 0x00, 0x00, 0x00, 0x0a};
constexpr mac host_b{0x52, 0x54, 0x00, 0x00, 0x00, 0x0b};
constexpr mac host_c{0x52, 0x54, 0x00, 0x00, 0x00, 0x0c};
constexpr mac host_d{0x52, 0x54, 0x00, 0x00, 0x00, 0x0d};
constexpr mac broadcast{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
constexpr mac stp{0x01, 0x80, 0xc2, 0x00, 0x00, 0x00};

/// Ethernet header (with an 802.1Q tag when vid >= 0), then `payload`.
bytes ethernet(const mac& dst, const mac& src, unsigned type, const bytes& payload, int vid = -1, unsigned pcp = 0) {
  bytes f;
  for (unsigned o : dst) put8(f, o);
  for (unsigned o : src) put8(f, o);
  if (vid >= 0) {
    put16(f, 0x8100);
    put16(f, pcp << 13 | static_cast<unsigned>(vid));
  }
  put16(f, type);
  append(f, payload);
  return f;
}

bytes arp(bool reply, const mac& sender, unsigned sender_ip, const mac& target, unsigned target_ip) {
  bytes p;
  put16(p, 1);       // Ethernet
  put16(p, 0x0800);  // IPv4
  put8(p, 6);
  put8(p, 4);
  put16(p, reply ? 2 : 1);
  for (unsigned o : sender) put8(p, o);
  put32(p, sender_ip);
  for (unsigned o : target) put8(p, reply ? o : 0);
  put32(p, target_ip);
  return p;
}

bytes arp_frame(bool reply, const mac& from, const mac& to, int vid = -1) {
  return ethernet(reply ? to : broadcast, from, 0x0806,
                  arp(reply, from, 0x0a000000u | from[5], to, 0x0a000000u | to[5]), vid);
}

/// TCP header with `options` (padded to 4 bytes), then `payload`; checksum 0.
bytes tcp(std::uint32_t seq, unsigned flags, const bytes& options, const bytes& payload, unsigned window = 65535) {
  bytes t;
  put16(t, 40000);
  put16(t, 5201);
  put32(t, seq);
  put32(t, (flags & 0x10) != 0 ? 0x1000u : 0u);
  bytes opts = options;
  while (opts.size() % 4 != 0) put8(opts, 0);
  put8(t, (5 + opts.size() / 4) << 4);
  put8(t, flags);
  put16(t, window);
  put16(t, 0);  // checksum
  put16(t, 0);  // urgent pointer
  append(t, opts);
  append(t, payload);
  return t;
}

bytes udp(const bytes& payload) {
  bytes u;
  put16(u, 40000);
  put16(u, 4789);
  put16(u, 8 + payload.size());
  put16(u, 0);
  append(u, payload);
  return u;
}

bytes ipv4(unsigned protocol, const bytes& l4, unsigned id = 1, bool df = true, unsigned tos = 0) {
  bytes ip;
  put8(ip, 0x45);
  put8(ip, tos);
  put16(ip, 20 + l4.size());
  put16(ip, id);
  put16(ip, df ? 0x4000 : 0);
  put8(ip, 64);
  put8(ip, protocol);
  put16(ip, 0);
  put32(ip, 0x0a000001);
  put32(ip, 0x0a000002);
  set16(ip, 10, static_cast<std::uint16_t>(~fuzz::fold(fuzz::sum16(0, ip))));
  append(ip, l4);
  return ip;
}

bytes ipv6(unsigned next, const bytes& l4) {
  bytes ip;
  put32(ip, 0x60000000);
  put16(ip, l4.size());
  put8(ip, next);
  put8(ip, 64);
  for (int i = 0; i < 2; ++i) {
    put32(ip, 0x20010db8);
    put32(ip, 0);
    put32(ip, 0);
    put32(ip, static_cast<std::uint32_t>(i + 1));
  }
  append(ip, l4);
  return ip;
}

/// Makes the TCP/UDP checksum of `frame` right (or, with `partial`, the
/// pseudo-header sum a NEEDS_CSUM frame carries).
bytes with_checksum(bytes frame, bool partial = false) {
  const fuzz::l4_view v = fuzz::find_l4(frame);
  if (!v.ok) return frame;
  const std::size_t at = v.l4 + (v.protocol == 6 ? 16 : 6);
  set16(frame, at, 0);
  if (partial) {
    // The sum of the pseudo-header only: the L4 bytes summed, with field 0, taken out again.
    const std::uint16_t all = fuzz::l4_sum(frame, v);
    const std::uint16_t data = fuzz::fold(fuzz::sum16(0, std::span(frame).subspan(v.l4, v.ip_end - v.l4)));
    const std::uint64_t pseudo = std::uint64_t{all} + static_cast<std::uint16_t>(~data);
    set16(frame, at, fuzz::fold(pseudo));
  } else {
    set16(frame, at, static_cast<std::uint16_t>(~fuzz::l4_sum(frame, v)));
  }
  return frame;
}

bytes payload_of(std::size_t n, unsigned seed = 0) {
  bytes p;
  for (std::size_t i = 0; i < n; ++i) put8(p, static_cast<unsigned>(i * 7 + seed));
  return p;
}

bytes mss_option(unsigned mss) { return {std::byte{2}, std::byte{4}, std::byte(mss >> 8), std::byte(mss & 0xff)}; }

bytes tcp4_frame(std::uint32_t seq, unsigned flags, const bytes& options, const bytes& payload, int vid = -1,
                 unsigned id = 1, bool df = true) {
  return with_checksum(ethernet(host_b, host_a, 0x0800, ipv4(6, tcp(seq, flags, options, payload), id, df), vid));
}

bytes tcp6_frame(std::uint32_t seq, unsigned flags, const bytes& options, const bytes& payload) {
  return with_checksum(ethernet(host_b, host_a, 0x86dd, ipv6(6, tcp(seq, flags, options, payload))));
}

bytes vnet(unsigned flags, unsigned gso_type, unsigned hdr_len, unsigned gso_size, unsigned csum_start,
           unsigned csum_offset) {
  l2::vnet_header h;
  h.flags = static_cast<std::uint8_t>(flags);
  h.gso_type = static_cast<std::uint8_t>(gso_type);
  h.hdr_len = static_cast<std::uint16_t>(hdr_len);
  h.gso_size = static_cast<std::uint16_t>(gso_size);
  h.csum_start = static_cast<std::uint16_t>(csum_start);
  h.csum_offset = static_cast<std::uint16_t>(csum_offset);
  bytes out(l2::vnet_header_size);
  l2::emit_vnet_header(h, std::span<std::byte, l2::vnet_header_size>(out.data(), out.size()));
  return out;
}

// --- frame_forward --------------------------------------------------------------

/// A frame_forward record: ctl (port | op << 4), length, payload.
void record(bytes& in, unsigned port, unsigned op, const bytes& payload) {
  put8(in, port | op << 4);
  put16(in, payload.size());
  append(in, payload);
}

void frame_forward() {
  const std::string t = "frame_forward";
  {  // learn from an ARP broadcast, answer over the uplink, then known unicast
    bytes in;
    record(in, 0, 0, arp_frame(false, host_a, host_b));
    record(in, 4, 0, arp_frame(true, host_b, host_a));
    record(in, 0, 0, tcp4_frame(1, 0x02, mss_option(1460), {}));
    record(in, 4, 0, tcp4_frame(1, 0x12, mss_option(1460), {}));
    write(t, "arp_then_unicast", in);
  }
  {  // VLANs: a trunk's tagged frame, an access port's answer, native and priority tags
    bytes in;
    record(in, 3, 0, arp_frame(false, host_c, host_d, 10));
    record(in, 1, 0, arp_frame(true, host_d, host_c));
    record(in, 3, 0, arp_frame(true, host_c, host_d, 10));
    record(in, 3, 0, arp_frame(false, host_a, host_b));       // native VLAN 30
    record(in, 7, 0, arp_frame(true, host_b, host_a, 30));
    record(in, 0, 0, arp_frame(false, host_b, host_c, 0));    // priority tag
    record(in, 5, 0, arp_frame(false, host_d, host_a, 20));   // uplink trunk
    record(in, 2, 0, arp_frame(true, host_a, host_d));        // access 20
    write(t, "vlans", in);
  }
  {  // static entry, port down and up, removal, a learned uplink
    bytes in;
    bytes key;
    put16(key, 0);
    for (unsigned o : host_b) put8(key, o);
    record(in, 7, 2, key);
    record(in, 0, 0, arp_frame(true, host_a, host_b));
    record(in, 7, 1, {});
    record(in, 0, 0, arp_frame(true, host_a, host_b));
    record(in, 7, 1, {});
    record(in, 6, 0, arp_frame(true, host_c, host_a));
    record(in, 0, 0, arp_frame(true, host_a, host_c));
    record(in, 7, 4, key);
    record(in, 0, 0, arp_frame(true, host_a, host_b));
    write(t, "static_down_remove", in);
  }
  {  // aging: learn, 400 s pass, unknown again
    bytes in;
    record(in, 0, 0, arp_frame(false, host_a, host_b));
    record(in, 1, 0, arp_frame(true, host_b, host_a));
    record(in, 0, 3, {std::byte{200}});
    record(in, 1, 0, arp_frame(true, host_b, host_a));
    write(t, "aging", in);
  }
  {  // malformed and special frames
    bytes in;
    record(in, 0, 0, payload_of(10));                                  // runt
    bytes truncated = ethernet(broadcast, host_a, 0x8100, {});         // TPID, no tag
    record(in, 0, 0, truncated);
    record(in, 0, 0, ethernet(stp, host_a, 0x0026, payload_of(40)));  // link-local
    record(in, 0, 0, ethernet(host_b, broadcast, 0x0800, payload_of(40)));  // group source
    record(in, 8, 0, arp_frame(false, host_a, host_b));               // unknown port
    record(in, 10, 0, arp_frame(false, host_a, host_b));              // no_port
    record(in, 1, 0, arp_frame(false, host_a, host_b, 10));           // tagged on access
    write(t, "malformed", in);
  }
  {  // more sources than the table holds, and a port limit
    bytes in;
    record(in, 0, 5, {std::byte{2}});
    for (unsigned i = 0; i < 24; ++i) {
      mac m = host_a;
      m[4] = i;
      record(in, i % 2 == 0 ? 0 : 3, 0, arp_frame(false, m, host_b));
    }
    write(t, "table_full", in);
  }
  {  // flood protections: evict when full, move damping, storm limits
    bytes in;
    bytes policy;
    for (unsigned v : {1u, 2u, 10u, 30u, 2u, 2u, 2u}) put8(policy, v);  // evict; 2 moves in 10 s, 30 s; 2/s
    record(in, 0, 6, policy);
    bytes key;
    put16(key, 0);
    for (unsigned o : host_d) put8(key, o);
    record(in, 7, 2, key);  // a static entry that must survive eviction
    for (unsigned i = 0; i < 20; ++i) {
      mac m = host_a;
      m[4] = i;
      record(in, i % 3 == 0 ? 0 : 4, 0, arp_frame(false, m, host_b));
    }
    for (unsigned i = 0; i < 5; ++i) record(in, i % 2 == 0 ? 0 : 4, 0, arp_frame(true, host_c, host_a));  // flapping
    for (unsigned i = 0; i < 6; ++i) record(in, 0, 0, arp_frame(false, host_a, host_b));  // a broadcast storm
    write(t, "flood_protection", in);
  }
  {  // frames with an offload header through push, pop and set_vid
    bytes in;
    const bytes f = tcp4_frame(7, 0x18, {}, payload_of(64));
    record(in, 0x80 | 0, 0, f);
    record(in, 0x80 | 3, 0, tcp4_frame(7, 0x18, {}, payload_of(64), 20));
    record(in, 0x80 | 1, 0, f);
    write(t, "offload_retag", in);
  }
}

// --- vxlan_decap ----------------------------------------------------------------

bytes vxlan(l2::vni id, const bytes& inner) {
  const auto h = l2::vxlan_encode(id);
  bytes d(h.begin(), h.end());
  append(d, inner);
  return d;
}

void vxlan_decap() {
  const std::string t = "vxlan_decap";
  write(t, "arp_vni1", vxlan(1, arp_frame(false, host_a, host_b)));
  write(t, "tcp_vni1010", vxlan(1010, tcp4_frame(1, 0x02, mss_option(1460), {})));
  write(t, "max_vni", vxlan(l2::max_vni, arp_frame(true, host_b, host_a)));
  write(t, "tagged_inner", vxlan(1, arp_frame(false, host_a, host_b, 10)));
  bytes bad = vxlan(1, arp_frame(false, host_a, host_b));
  bad[0] = std::byte{0x00};
  write(t, "no_i_flag", bad);
  bytes reserved = vxlan(1, arp_frame(false, host_a, host_b));
  reserved[1] = reserved[7] = std::byte{0xff};
  reserved[0] = std::byte{0xff};
  write(t, "reserved_bits", reserved);
  write(t, "short", bytes(vxlan(1, payload_of(13))));
}

// --- sealed_open ----------------------------------------------------------------

namespace sealed = ports::sealed;

bytes seal(sealed::message type, std::uint64_t counter, const bytes& payload) {
  bytes d(payload.size() + sealed::overhead);
  std::copy(payload.begin(), payload.end(), d.begin() + sealed::header_size);
  if (sealed::seal_in_place(fuzz::fuzz_key(), type, 0x01020304, counter, d, payload.size()) != d.size())
    throw std::runtime_error("seal");
  return d;
}

bytes mode(unsigned m, const bytes& rest) {
  bytes b{static_cast<std::byte>(m)};
  append(b, rest);
  return b;
}

void sealed_open() {
  const std::string t = "sealed_open";
  // Mode 0: datagrams.
  write(t, "data_arp", mode(0, seal(sealed::message::data, 1, arp_frame(false, host_a, host_b))));
  write(t, "data_tcp", mode(0, seal(sealed::message::data, 2, tcp4_frame(1, 0x02, mss_option(1460), {}))));
  write(t, "data_empty", mode(0, seal(sealed::message::data, 3, {})));
  bytes offload = vnet(1, 1, 54, 100, 34, 16);
  append(offload, tcp4_frame(1, 0x10, {}, payload_of(300)));
  write(t, "offload", mode(0, seal(sealed::message::offload, 6, offload)));
  bytes version1 = seal(sealed::message::data, 7, arp_frame(false, host_a, host_b));
  version1[0] = std::byte{1};
  write(t, "version1", mode(0, version1));
  bytes initiation(sealed::initiation_size_with_identity);
  sealed::write_prefix(sealed::message::initiation, initiation);
  write(t, "initiation_shape", mode(0, initiation));
  bytes response(sealed::response_size);
  sealed::write_prefix(sealed::message::response, response);
  write(t, "response_shape", mode(0, response));
  write(t, "plain_vxlan", mode(0, vxlan(1, arp_frame(false, host_a, host_b))));
  // Mode 1: fields and payload to seal.
  bytes fields;
  put8(fields, 0);
  put32(fields, 7);
  put64(fields, 3);
  append(fields, arp_frame(false, host_a, host_b));
  write(t, "seal_data", mode(1, fields));
  bytes offload_fields;
  put8(offload_fields, 1);
  put32(offload_fields, 0xffffffff);
  put64(offload_fields, 0);
  append(offload_fields, offload);
  write(t, "seal_offload", mode(1, offload_fields));
  // Mode 2: key files.
  const std::string k1 = sealed::format_key(fuzz::fuzz_key());
  const std::string k2 = sealed::format_key(fuzz::other_key());
  write(t, "keys_one", mode(2, text_bytes(k1 + "\n")));
  write(t, "keys_two_comments", mode(2, text_bytes("# overlay key\n  " + k1 + "  # current\n\n" + k2 + "\r\n")));
  std::string upper = k2;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  write(t, "keys_upper_three", mode(2, text_bytes(k1 + "\n" + upper + "\n" + k1.substr(1) + "0\n")));
  write(t, "keys_duplicate", mode(2, text_bytes(k1 + "\n" + k1 + "\n")));
  write(t, "keys_bad", mode(2, text_bytes("not a key\n" + k1.substr(0, 63) + "g\n")));
  // Mode 4: control messages (and one sealed, as a datagram).
  {
    namespace reach = ports::reach;
    using ep = reach::endpoint;
    const std::vector<ep> locals{ep(boost::asio::ip::make_address("192.168.1.20"), 4789),
                                 ep(boost::asio::ip::make_address("2001:db8::7"), 4790)};
    const ep observed(boost::asio::ip::make_address("203.0.113.9"), 61000);
    ports::noise::public_key key{};
    for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::byte>(i * 5 + 1);
    std::array<std::byte, reach::max_control_size> out{};
    const auto body = [&](std::size_t n) { return bytes(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n)); };
    write(t, "control_announce", mode(4, body(reach::encode_announce(locals, out))));
    write(t, "control_find", mode(4, body(reach::encode_find(key, out))));
    write(t, "control_introduce", mode(4, body(reach::encode_introduce(key, observed, locals, out))));
    write(t, "control_probe", mode(4, body(reach::encode_probe(0x1122334455667788, out))));
    write(t, "control_pong", mode(4, body(reach::encode_pong(0x1122334455667788, observed, out))));
    bytes relay(reach::relay_header_size);
    reach::write_relay_header(reach::kind::relay_to, key, std::span(relay).first<reach::relay_header_size>());
    append(relay, seal(sealed::message::data, 9, arp_frame(false, host_a, host_b)));
    write(t, "control_relay_to", mode(4, relay));
    write(t, "control_sealed", mode(0, seal(sealed::message::control, 10, body(reach::encode_find(key, out)))));
  }
  // Mode 3: scripts (0 A sends, 1 B sends, 2 deliver, 4 lose, 5 duplicate,
  // 6 alter (+2 bytes), 7 reorder, 8 time (+1 byte)).
  const auto script = [](std::initializer_list<unsigned> ops) {
    bytes b;
    for (unsigned op : ops) put8(b, op);
    return b;
  };
  write(t, "script_handshake_and_frames",
        mode(3, script({2, 2, 2, 2, 2, 2, 0, 2, 1, 2, 0, 0, 2, 2, 1, 2})));
  write(t, "script_replay", mode(3, script({2, 2, 2, 2, 2, 2, 0, 5, 2, 2, 1, 5, 2, 2})));
  write(t, "script_alter", mode(3, script({2, 2, 2, 2, 2, 2, 0, 6, 0, 9, 2, 0, 2})));
  write(t, "script_loss_and_retry", mode(3, script({4, 4, 8, 10, 2, 2, 2, 2, 0, 2})));
  write(t, "script_rekey",
        mode(3, script({2, 2, 2, 2, 2, 2, 0, 2, 8, 200, 0, 2, 2, 2, 2, 2, 2, 0, 2, 1, 2, 8, 50, 7, 2, 2})));
}

// --- vnet_segment ---------------------------------------------------------------

/// A mode-0 input: mode byte (headroom 8), header, frame.
bytes offload_input(const bytes& header, const bytes& frame) {
  bytes in{static_cast<std::byte>(8 << 1)};
  append(in, header);
  append(in, frame);
  return in;
}

/// The segments l2::segment cuts `frame` into, as coalesce records (mode 1).
bytes segments_input(const bytes& header, const bytes& frame, bool psh_last = false) {
  const l2::vnet_header h = l2::parse_vnet_header(std::span<const std::byte, l2::vnet_header_size>(header.data(), header.size()));
  bytes out(l2::segment_buffer_size(frame.size(), 0));
  const l2::segment_result r = l2::segment(frame, h, 0, out);
  if (!r) throw std::runtime_error("segment failed for a seed");
  bytes in{std::byte{1}};
  for (std::size_t i = 0; i < r.count; ++i) {
    const std::size_t end = i + 1 == r.count ? r.total_size : (i + 1) * r.stride;
    bytes seg(out.begin() + static_cast<std::ptrdiff_t>(i * r.stride), out.begin() + static_cast<std::ptrdiff_t>(end));
    if (psh_last && i + 1 == r.count) {
      const fuzz::l4_view v = fuzz::find_l4(seg);
      seg[v.l4 + 13] |= std::byte{0x08};
      seg = with_checksum(seg);
    }
    put16(in, seg.size());
    append(in, seg);
  }
  return in;
}

void vnet_segment() {
  const std::string t = "vnet_segment";
  const bytes opts_ts{std::byte{1}, std::byte{1}, std::byte{8}, std::byte{10}, std::byte{0}, std::byte{0},
                      std::byte{0}, std::byte{1}, std::byte{0}, std::byte{0}, std::byte{0}, std::byte{2}};
  const bytes tcp4 = with_checksum(ethernet(host_b, host_a, 0x0800, ipv4(6, tcp(1000, 0x18, {}, payload_of(350)))), true);
  const bytes tcp4_ts = with_checksum(ethernet(host_b, host_a, 0x0800, ipv4(6, tcp(1000, 0x10, opts_ts, payload_of(300)))), true);
  const bytes tcp4_tagged = with_checksum(ethernet(host_b, host_a, 0x0800, ipv4(6, tcp(5, 0x10, {}, payload_of(200))), 10), true);
  const bytes tcp4_cwr = with_checksum(ethernet(host_b, host_a, 0x0800, ipv4(6, tcp(5, 0x90, {}, payload_of(200)), 7, false, 2)), true);
  const bytes tcp6 = with_checksum(ethernet(host_b, host_a, 0x86dd, ipv6(6, tcp(77, 0x19, {}, payload_of(260)))), true);
  const bytes udp4 = with_checksum(ethernet(host_b, host_a, 0x0800, ipv4(17, udp(payload_of(300)))), true);
  const bytes udp6 = with_checksum(ethernet(host_b, host_a, 0x86dd, ipv6(17, udp(payload_of(120)))), true);

  const bytes h_tcp4 = vnet(1, 1, 54, 100, 34, 16);
  write(t, "gso_tcp4", offload_input(h_tcp4, tcp4));
  write(t, "gso_tcp4_options", offload_input(vnet(1, 1, 66, 64, 34, 16), tcp4_ts));
  write(t, "gso_tcp4_tagged", offload_input(vnet(1, 1, 58, 50, 38, 16), tcp4_tagged));
  write(t, "gso_tcp4_ecn", offload_input(vnet(1, 0x81, 54, 64, 34, 16), tcp4_cwr));
  write(t, "gso_tcp6", offload_input(vnet(1, 4, 74, 100, 54, 16), tcp6));
  write(t, "gso_udp_l4", offload_input(vnet(1, 5, 42, 128, 34, 6), udp4));
  write(t, "gso_udp6_l4", offload_input(vnet(1, 5, 62, 40, 54, 6), udp6));
  write(t, "needs_csum_only", offload_input(vnet(1, 0, 0, 0, 34, 6), udp4));
  write(t, "plain", offload_input(vnet(0, 0, 0, 0, 0, 0), arp_frame(false, host_a, host_b)));
  write(t, "ufo_rejected", offload_input(vnet(1, 3, 42, 100, 34, 6), udp4));
  write(t, "gso_bad_start", offload_input(vnet(1, 1, 54, 100, 30, 16), tcp4));

  write(t, "run_tcp4", segments_input(h_tcp4, tcp4));
  write(t, "run_tcp4_psh", segments_input(vnet(1, 1, 54, 100, 34, 16),
                                          with_checksum(ethernet(host_b, host_a, 0x0800, ipv4(6, tcp(1000, 0x10, {}, payload_of(350)))), true), true));
  write(t, "run_tcp4_options", segments_input(vnet(1, 1, 66, 64, 34, 16), tcp4_ts));
  write(t, "run_tcp4_tagged", segments_input(vnet(1, 1, 58, 50, 38, 16), tcp4_tagged));
  write(t, "run_tcp4_ecn_nodf", segments_input(vnet(1, 0x81, 54, 64, 34, 16), tcp4_cwr));
  write(t, "run_tcp6", segments_input(vnet(1, 4, 74, 100, 54, 16),
                                      with_checksum(ethernet(host_b, host_a, 0x86dd, ipv6(6, tcp(77, 0x10, {}, payload_of(260)))), true)));
  {  // a run broken by an ARP frame and a segment with a bad checksum
    bytes in = segments_input(h_tcp4, tcp4);
    const bytes a = arp_frame(false, host_a, host_b);
    put16(in, a.size());
    append(in, a);
    bytes bad = tcp4_frame(2000, 0x10, {}, payload_of(100));
    bad[bad.size() - 1] ^= std::byte{1};
    put16(in, bad.size());
    append(in, bad);
    write(t, "run_interrupted", in);
  }
}

// --- stream_reassembly ----------------------------------------------------------

void stream_record(bytes& s, const bytes& frame) {
  put32(s, static_cast<std::uint32_t>(frame.size()));
  append(s, frame);
}

void stream_reassembly() {
  const std::string t = "stream_reassembly";
  bytes stream;
  stream_record(stream, arp_frame(false, host_a, host_b));
  stream_record(stream, tcp4_frame(1, 0x02, mss_option(1460), {}));
  stream_record(stream, arp_frame(true, host_b, host_a, 10));
  {
    bytes in{std::byte{0}};
    append(in, stream);
    write(t, "three_records_one_read", in);
  }
  {  // cut inside a length prefix, inside a frame, and into single bytes
    bytes in{std::byte{6}};
    for (unsigned cut : {2u, 30u, 1u, 1u, 0u, 40u}) put16(in, cut);
    append(in, stream);
    write(t, "three_records_cut", in);
  }
  {  // an empty record, then one too long after a frame
    bytes s;
    stream_record(s, {});
    stream_record(s, arp_frame(false, host_a, host_b));
    put32(s, 69633);
    append(s, payload_of(8));
    bytes in{std::byte{2}};
    put16(in, 3);
    put16(in, 5);
    append(in, s);
    write(t, "empty_then_too_long", in);
  }
  {  // the longest record, incomplete
    bytes s;
    put32(s, 69632);
    append(s, payload_of(100));
    bytes in{std::byte{1}};
    put16(in, 50);
    append(in, s);
    write(t, "longest_incomplete", in);
  }
}

// --- control_request ------------------------------------------------------------

void control_request() {
  const std::string t = "control_request";
  write(t, "req_show", R"j({"cmd": "show"})j");
  write(t, "req_fdb_add", R"j({"cmd": "fdb/add", "args": {"mac": "52:54:00:12:34:56", "port": "tap0", "vlan": 10}})j");
  write(t, "req_fdb_del", "{\"cmd\": \"fdb/del\", \"args\": {\"mac\": \"52-54-00-12-34-56\"}}\r");
  write(t, "req_port_add", R"j({"cmd": "port/add", "args": {"spec": "tap:tap3,max-macs=8,trunk=10,20-29,native=5"}})j");
  write(t, "req_uplink_add", R"j({"cmd": "uplink/add", "args": {"peer": "192.0.2.1:4789,vni-map=10:1010,20:1020"}})j");
  write(t, "req_capture", R"j({"cmd": "capture", "args": {"port": "tap0", "count": 100, "seconds": 10}})j");
  write(t, "req_bad_args", R"j({"cmd": "port/del", "args": ["tap0"]})j");
  write(t, "req_not_object", R"j(["show"])j");
  write(t, "res_show", R"j({"ok": true, "result": {
  "version": "0.1.0", "pid": 1234, "uptime_s": 12.5,
  "mac_table": {"entries": 3, "capacity": 8192, "aging_s": 300, "learned": 10, "moved": 0, "expired": 7, "refused": 0},
  "uplink": {"mode": "vxlan", "local": "0.0.0.0:4789", "vni": 1, "rx_datagrams": 5, "drops": {"not_peer": 2, "vxlan_short": 0}},
  "ports": [
    {"id": 0, "name": "tap0", "kind": "tap", "state": "up", "mtu": 1500, "description": "tap tap0: file side of TAP tap0 (created)",
     "mac_entries": 2, "rx_frames": 10, "rx_bytes": 1000, "tx_frames": 9, "tx_bytes": 900, "drops": {"runt": 1, "giant": 0}, "peer": null},
    {"id": 1, "name": "192.0.2.2:4789", "kind": "uplink", "state": "down", "mtu": null, "description": "uplink",
     "mac_entries": 0, "rx_frames": 0, "rx_bytes": 0, "tx_frames": 0, "tx_bytes": 0, "drops": {"too_big": 3},
     "peer": {"address": "192.0.2.2:4789", "state": "down", "sealed": true, "learned": false,
              "rtt_ms": 0.123, "last_seen_s": 75.5, "probes_sent": 3, "probes_answered": 2}}]}})j");
  write(t, "res_fdb", R"j({"entries": [{"mac": "52:54:00:12:34:56", "vlan": 0, "port": "tap0", "type": "dynamic", "age_s": 12},
    {"mac": "52:54:00:12:34:57", "vlan": 10, "port": "tap1", "type": "static", "age_s": 0}], "count": 2, "capacity": 8192})j");
  write(t, "res_reload", R"j({"ports_added": ["tap2"], "ports_removed": [], "ports_changed": ["tap0"], "peers_added": ["h:4789"],
    "peers_removed": [], "unchanged": 3, "failed": ["tap9: no permission", {"odd": 1}], "restart_needed": ["vni"]})j");
  write(t, "res_capture", R"j({"port": "tap0", "snaplen": 262144, "linktype": 1, "captured": 5, "dropped": 0, "reason": "count"})j");
  write(t, "res_numbers", R"j({"pid": -1, "uptime_s": 90061.5, "count": 1.5e3, "flushed": -7, "rtt_ms": 123456.7, "last_seen_s": -2})j");
  write(t, "argv_show_json", words({"--json", "show"}));
  write(t, "argv_fdb_add", words({"fdb", "add", "52:54:00:12:34:56", "tap0", "--vlan", "10"}));
  write(t, "argv_fdb_show", words({"fdb", "show", "--port=tap0", "--vlan=4095"}));
  write(t, "argv_capture", words({"capture", "tap0", "-", "--count", "100", "--seconds", "5"}));
  write(t, "argv_timeout_env", words({"VSWITCHD_CONTROL=/tmp/x.ctl", "--timeout", "0.5", "stats"}));
  write(t, "argv_port_add", words({"port", "add", "tap:tap3,max-macs=8", "--control", "/run/v.ctl"}));
  write(t, "argv_log_level", words({"log-level", "debug", "--", ""}));
  {  // a capture stream: two records, then the end marker and its summary
    bytes s;
    for (int i = 0; i < 2; ++i) {
      const bytes f = arp_frame(false, host_a, host_b);
      for (std::uint32_t v : {1700000000u, 5u, static_cast<std::uint32_t>(f.size()), static_cast<std::uint32_t>(f.size())}) {
        for (int j = 0; j < 4; ++j) put8(s, v >> (8 * j));
      }
      append(s, f);
    }
    for (int j = 0; j < 16; ++j) put8(s, 0xff);
    append(s, text_bytes(R"j({"captured": 2, "dropped": 0, "reason": "count"})j"));
    write(t, "pcap_stream", s);
  }
}

// --- config_parse ---------------------------------------------------------------

void config_parse() {
  const std::string t = "config_parse";
  write(t, "port_tap", "tap0");
  write(t, "port_dev_max_macs", "dev:qtap0,max-macs=16");
  write(t, "port_trunk", "tap:tap1,trunk=10,20-29,native=1");
  write(t, "port_access", "tap2,vlan=10");
  write(t, "port_dgram_unix", "dgram:unix:/run/vsw-vm1.sock=unix:/run/vm1.sock");
  write(t, "port_dgram_ip", "dgram:127.0.0.1:5001=127.0.0.1:5000,vlan=3");
  write(t, "uplink_name", "otherhost:4789");
  write(t, "uplink_v6", "[2001:db8::2]:4789");
  write(t, "uplink_vni_map", "192.0.2.1:4789,vni-map=10:1010,20:1020");
  write(t, "stream_unix", "unix:/run/vswitchd/vm.sock,vlan=10");
  write(t, "stream_tcp", "tcp:[::1]:5555,trunk=5-7");
  write(t, "vlan_list", "10,20,30-39,4094");
  write(t, "peers_file",
        "# peers\n192.0.2.2\n192.0.2.3:4789\n  [2001:db8::5]:4789  # v6\nhost4.example.net:4789\n");
  write(t, "config_example",
        "# vswitchd configuration\nport = tap0\nport = tap1\nport = dev:qtap0,max-macs=16\n"
        "uplink = otherhost:4789\nuplink = [2001:db8::2]:4789\npeers-file = /etc/vswitchd/peers\n"
        "key-file = /etc/vswitchd/key\nkeepalive = 1\npeer-timeout = 5\nresolve-interval = 60\n"
        "underlay-mtu = 1500\nclamp-mss = true\nlisten = 0.0.0.0:4789\nmac-aging = 300\n"
        "mac-table-size = 8192\nlog-level = info\ncontrol = /run/vswitchd/vswitchd.ctl\n"
        "metrics = 127.0.0.1:9310\nlog-file = /var/log/vswitchd.log\nuser = vswitchd\n");
  write(t, "config_group_stream",
        "port = tap0,trunk=10,20,native=30\ngroup = 239.1.1.1\ngroup-dev = eth0\nvni = 42\n"
        "stream-listen = unix:/run/vswitchd/vm.sock,vlan=10\nstream-mode = 0666\nstream-group = kvm\n"
        "uplink = 192.0.2.9:4789,vni-map=10:1010\n");
  write(t, "argv_ports", words({"--port", "tap0", "--uplink", "h:4789", "--key-file", "/k", "--vni=7"}));
  write(t, "argv_help", words({"--port", "tap0", "-h"}));
}

// --- tcp_mss --------------------------------------------------------------------

bytes mss_input(unsigned mode, unsigned max_frame, const bytes& frame) {
  bytes in{static_cast<std::byte>(mode)};
  put16(in, max_frame);
  append(in, frame);
  return in;
}

void tcp_mss() {
  const std::string t = "tcp_mss";
  const bytes nop{std::byte{1}};
  bytes odd = nop;  // NOP, MSS: the value at an odd offset
  append(odd, mss_option(1460));
  bytes full = mss_option(1460);  // MSS, SACK permitted, timestamps, NOP, window scale
  for (unsigned v : {4u, 2u, 8u, 10u, 0u, 0u, 0u, 1u, 0u, 0u, 0u, 0u, 1u, 3u, 3u, 7u}) put8(full, v);
  write(t, "syn4", mss_input(0, 1400, tcp4_frame(1, 0x02, mss_option(1460), {})));
  write(t, "syn4_odd_offset", mss_input(0, 1400, tcp4_frame(1, 0x02, odd, {})));
  write(t, "syn4_tagged_full", mss_input(0, 1450, tcp4_frame(1, 0x02, full, {}, 10)));
  write(t, "synack6", mss_input(0, 1280, tcp6_frame(1, 0x12, mss_option(1440), {})));
  write(t, "syn4_partial", mss_input(1, 1400, tcp4_frame(1, 0x02, mss_option(8960), {})));
  write(t, "syn4_fixup", mss_input(2, 600, tcp4_frame(1, 0x02, odd, {})));
  write(t, "syn4_no_mss", mss_input(0, 1400, tcp4_frame(1, 0x02, bytes{std::byte{1}, std::byte{1}, std::byte{4}, std::byte{2}}, {})));
  write(t, "ack4_not_syn", mss_input(0, 1400, tcp4_frame(1, 0x10, mss_option(1460), payload_of(20))));
  write(t, "syn4_small_limit", mss_input(0, 60, tcp4_frame(1, 0x02, mss_option(1460), {})));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_seeds CORPUS_DIR   (e.g. tests/fuzz/corpus)\n";
    return 2;
  }
  root = argv[1];
  frame_forward();
  vxlan_decap();
  sealed_open();
  vnet_segment();
  stream_reassembly();
  control_request();
  config_parse();
  tcp_mss();
  std::cout << "seeds written under " << root << "\n";
  return 0;
}
