// vnet_segment: the virtio-net offload path (l2/offload.hpp) on a header and
// frame from a TAP, and userspace GRO (l2/coalesce.hpp) on frames from an
// uplink.
//
// Why: with offloads on, a guest hands the switch a 10-byte header it fully
// controls plus a frame of up to 64 KB; validate() must catch every lie
// before segment() writes up to ~1.2 MB of output, and the coalescer merges
// segments from the network into super-frames that TAPs and peers trust.
//
// Mode 0 (byte 0 even): [10-byte vnet header][frame], headroom = (byte 0 >> 1) & 15.
//   - parse_vnet_header/emit_vnet_header round trip;
//   - complete_checksum changes at most the two checksum bytes, succeeds
//     exactly when the field fits, and leaves a correct ones'-complement sum;
//   - segment() into segment_buffer_size() bytes succeeds exactly when
//     validate() does; every segment lies inside the output; headroom and
//     bytes past total_size are never written; a buffer one byte short fails
//     without writing; GSO segments each carry their whole IP datagram with
//     a correct IPv4 header checksum and L4 checksum, are at most
//     largest_segment_size(), and their payloads concatenate to the
//     original's; a non-GSO frame comes out as itself with its checksum
//     completed;
//   - TCP segments are then offered to the coalescer (below).
// Mode 1 (byte 0 odd): the rest is frames [len u16][bytes]... offered to an
//   l2::tcp_coalescer as udp_endpoint::pass_on does (refused: flush, offer
//   again). Every flushed run of several segments must pass validate() and
//   segment() back into exactly the frames that were merged (up to what
//   the kernel's GRO also discards: IPv4 ids under DF, the urgent pointer
//   without URG, the two forms of a zero checksum); its partial checksum,
//   completed, must be correct; a run of one comes out unchanged.
#include <cstring>
#include <vector>

#include "fuzz_util.hpp"
#include "l2/coalesce.hpp"
#include "l2/offload.hpp"

namespace {

constexpr std::byte canary{0xa5};

/// Whether `got` (a segment of a re-segmented run) may stand for `want`
/// (the segment that was merged).
bool same_segment(std::span<const std::byte> got, std::span<const std::byte> want) {
  if (got.size() != want.size()) return false;
  const fuzz::l4_view v = fuzz::find_l4(want);
  if (!v.ok) return std::equal(got.begin(), got.end(), want.begin());
  const bool dont_fragment = !v.ipv6 && (fuzz::load16(want, v.l3 + 6) & 0x4000) != 0;
  const bool urgent = (std::to_integer<unsigned>(want[v.l4 + 13]) & 0x20) != 0;
  const auto differs = [&](std::size_t at) { return fuzz::load16(got, at) != fuzz::load16(want, at); };
  const auto zero_forms = [&](std::size_t at) {  // 0x0000 and 0xffff: the same ones'-complement zero
    const unsigned a = fuzz::load16(got, at), b = fuzz::load16(want, at);
    return a == b || (a == 0 && b == 0xffff) || (a == 0xffff && b == 0);
  };
  const std::size_t ip_id = v.l3 + 4, ip_checksum = v.l3 + 10, tcp_checksum = v.l4 + 16, urgent_pointer = v.l4 + 18;
  const bool id_changed = !v.ipv6 && differs(ip_id);
  const bool urgent_changed = differs(urgent_pointer);
  if (id_changed && !dont_fragment) return false;
  if (urgent_changed && urgent) return false;
  if (!v.ipv6 && !id_changed && !zero_forms(ip_checksum)) return false;
  if (!urgent_changed && !zero_forms(tcp_checksum)) return false;
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (got[i] == want[i]) continue;
    const std::size_t field = i & ~std::size_t{1};
    const bool allowed = (!v.ipv6 && (field == ip_id || field == ip_checksum)) || field == tcp_checksum ||
                         field == urgent_pointer;
    if (!allowed) return false;
  }
  return true;
}

/// Cuts `frame` with `header` into `out` and checks the result (see above).
/// Returns the segments (views into `out`) when it succeeded.
std::vector<std::span<const std::byte>> check_segment(std::span<const std::byte> frame,
                                                      const l2::vnet_header& header,
                                                      std::size_t headroom, std::vector<std::byte>& out) {
  const bool valid = l2::validate(header, frame);
  out.assign(l2::segment_buffer_size(frame.size(), headroom), canary);
  const l2::segment_result r = l2::segment(frame, header, headroom, out);
  FUZZ_CHECK(r.ok == valid);
  if (!r.ok) {
    FUZZ_CHECK(std::all_of(out.begin(), out.end(), [](std::byte b) { return b == canary; }));
    return {};
  }
  FUZZ_CHECK(r.count >= 1);
  FUZZ_CHECK(r.total_size <= out.size());
  FUZZ_CHECK(r.stride >= headroom);  // (a plain empty frame is an empty segment)
  if (r.count == 1) {
    FUZZ_CHECK(r.stride == r.total_size);
  } else {
    FUZZ_CHECK((r.count - 1) * r.stride + headroom < r.total_size && r.total_size <= r.count * r.stride);
  }
  std::vector<std::span<const std::byte>> segments;
  for (std::size_t i = 0; i < r.count; ++i) {
    const std::size_t start = i * r.stride;
    const std::size_t end = i + 1 == r.count ? r.total_size : start + r.stride;
    FUZZ_CHECK(start + headroom <= end && end <= out.size());
    if (r.count > 1) FUZZ_CHECK(start + headroom < end);
    for (std::size_t j = start; j < start + headroom; ++j) FUZZ_CHECK(out[j] == canary);  // never written
    segments.push_back(std::span<const std::byte>(out).subspan(start + headroom, end - start - headroom));
  }
  for (std::size_t j = r.total_size; j < out.size(); ++j) FUZZ_CHECK(out[j] == canary);

  // The exact size is checked before anything is written.
  if (r.total_size > 0) {
    std::vector<std::byte> short_out(r.total_size - 1, canary);
    FUZZ_CHECK(!l2::segment(frame, header, headroom, short_out).ok);
    FUZZ_CHECK(std::all_of(short_out.begin(), short_out.end(), [](std::byte b) { return b == canary; }));
  }

  if (!header.is_gso()) {
    // One segment: the frame itself, its checksum completed if asked for.
    FUZZ_CHECK(r.count == 1 && segments[0].size() == frame.size());
    std::vector<std::byte> completed(frame.begin(), frame.end());
    FUZZ_CHECK(l2::complete_checksum(completed, header));
    FUZZ_CHECK(std::equal(completed.begin(), completed.end(), segments[0].begin()));
    return segments;
  }

  // GSO: every segment a whole, correct datagram; the payload preserved.
  const fuzz::l4_view original = fuzz::find_l4(frame);
  FUZZ_CHECK(original.ok);
  const std::size_t headers = header.csum_start + (original.protocol == 6
      ? (std::to_integer<unsigned>(frame[header.csum_start + 12]) >> 4) * 4u : 8u);
  const std::size_t largest = l2::largest_segment_size(frame, header);
  std::vector<std::byte> payload;
  std::size_t seen_largest = 0;
  for (const auto& seg : segments) {
    const fuzz::l4_view v = fuzz::find_l4(seg);
    FUZZ_CHECK(v.ok && v.ip_end == seg.size());
    FUZZ_CHECK(v.protocol == original.protocol && v.l4 == original.l4);
    if (!v.ipv6) FUZZ_CHECK(fuzz::fold(fuzz::sum16(0, seg.subspan(v.l3, v.l4 - v.l3))) == 0xffff);
    FUZZ_CHECK(fuzz::l4_sum(seg, v) == 0xffff);
    FUZZ_CHECK(seg.size() <= largest);
    seen_largest = std::max(seen_largest, seg.size());
    FUZZ_CHECK(seg.size() > headers);
    payload.insert(payload.end(), seg.begin() + static_cast<std::ptrdiff_t>(headers), seg.end());
  }
  FUZZ_CHECK(seen_largest == largest);
  FUZZ_CHECK(payload.size() == original.ip_end - headers);
  FUZZ_CHECK(std::equal(payload.begin(), payload.end(), frame.begin() + static_cast<std::ptrdiff_t>(headers)));
  return segments;
}

/// A coalescer driven as udp_endpoint::pass_on drives it, with the frames of
/// the pending run kept to judge each flush.
class coalesce_checker {
 public:
  void offer(std::span<const std::byte> frame) {
    if (coalescer_.add(frame)) {
      run_.emplace_back(frame.begin(), frame.end());
      return;
    }
    if (coalescer_.pending()) flush();
    FUZZ_CHECK(!coalescer_.pending());
    if (coalescer_.add(frame)) run_.emplace_back(frame.begin(), frame.end());
  }

  void flush() {
    if (!coalescer_.pending()) {
      FUZZ_CHECK(run_.empty());
      return;
    }
    const l2::packet p = coalescer_.flush();
    FUZZ_CHECK(!coalescer_.pending());
    FUZZ_CHECK(!run_.empty());
    if (run_.size() == 1) {
      FUZZ_CHECK(p.offload == l2::vnet_header{});
      FUZZ_CHECK(std::equal(p.frame.begin(), p.frame.end(), run_[0].begin(), run_[0].end()));
      run_.clear();
      return;
    }
    FUZZ_CHECK(p.frame.size() <= 65535);
    FUZZ_CHECK(p.offload.is_gso());
    FUZZ_CHECK(l2::validate(p.offload, p.frame));
    // The partial checksum, completed, is right.
    std::vector<std::byte> completed(p.frame.begin(), p.frame.end());
    FUZZ_CHECK(l2::complete_checksum(completed, p.offload));
    const fuzz::l4_view v = fuzz::find_l4(completed);
    FUZZ_CHECK(v.ok && fuzz::l4_sum(completed, v) == 0xffff);
    // Cut again, it gives back what was merged.
    std::vector<std::byte> out(l2::segment_buffer_size(p.frame.size(), 0));
    const l2::segment_result r = l2::segment(p.frame, p.offload, 0, out);
    FUZZ_CHECK(r.ok && r.count == run_.size());
    for (std::size_t i = 0; i < r.count; ++i) {
      const std::size_t end = i + 1 == r.count ? r.total_size : (i + 1) * r.stride;
      FUZZ_CHECK(same_segment(std::span<const std::byte>(out).subspan(i * r.stride, end - i * r.stride), run_[i]));
    }
    run_.clear();
  }

 private:
  l2::tcp_coalescer coalescer_;
  std::vector<std::vector<std::byte>> run_;
};

void check_offload(std::uint8_t mode, fuzz::cursor in) {
  const std::span<const std::byte> raw = in.take(l2::vnet_header_size);
  if (raw.size() < l2::vnet_header_size) return;
  const std::span<const std::byte, l2::vnet_header_size> bytes(raw.data(), l2::vnet_header_size);
  const l2::vnet_header header = l2::parse_vnet_header(bytes);
  std::array<std::byte, l2::vnet_header_size> emitted{};
  l2::emit_vnet_header(header, emitted);
  FUZZ_CHECK(std::equal(emitted.begin(), emitted.end(), raw.begin()));
  const std::span<const std::byte> frame = in.rest();
  if (header.is_plain()) FUZZ_CHECK(l2::validate(header, frame));

  // complete_checksum in place, on a copy.
  std::vector<std::byte> copy(frame.begin(), frame.end());
  const bool needs = (header.flags & l2::vnet_flag_needs_csum) != 0;
  const std::size_t field = std::size_t{header.csum_start} + header.csum_offset;
  const bool fits = field + 2 <= frame.size();
  const bool completed = l2::complete_checksum(copy, header);
  FUZZ_CHECK(completed == (!needs || fits));
  for (std::size_t i = 0; i < copy.size(); ++i) {
    if (copy[i] != frame[i]) FUZZ_CHECK(needs && (i == field || i == field + 1));
  }
  if (needs && fits && header.csum_offset % 2 == 0) {
    // The field held the pseudo-header sum: with it, the whole sum is zero.
    const std::uint64_t sum = fuzz::sum16(fuzz::load16(frame, field), std::span(copy).subspan(header.csum_start));
    FUZZ_CHECK(fuzz::fold(sum) == 0xffff);
  }

  std::vector<std::byte> out;
  const auto segments = check_segment(frame, header, (mode >> 1) & 15, out);
  if (!segments.empty() && header.is_gso()) {
    coalesce_checker c;
    for (const auto& seg : segments) c.offer(seg);
    c.flush();
  }
}

void check_coalesce(fuzz::cursor in) {
  coalesce_checker c;
  while (!in.empty()) {
    const std::size_t length = in.u16();
    c.offer(in.take(length));
  }
  c.flush();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::cursor in(fuzz::as_bytes(data, size));
  const std::uint8_t mode = in.u8();
  if ((mode & 1) == 0) {
    check_offload(mode, in);
  } else {
    check_coalesce(in);
  }
  return 0;
}
