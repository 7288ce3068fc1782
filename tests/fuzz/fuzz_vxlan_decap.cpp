// vxlan_decap: l2::vxlan_decode on a UDP payload as it arrives from the
// underlay, for the VNIs the daemon asks for.
//
// Why: every datagram a plain uplink receives goes through vxlan_decode
// before anything else (ports::uplink_port::decapsulate). That function
// itself needs a real ports::udp_endpoint (a bound UDP socket) to exist, so
// it is not fuzzed here; its VNI-map path relies on a property of
// vxlan_decode checked below instead: asked for VNI max_vni + 1 (which no
// datagram can carry), every well-formed datagram comes back as
// vxlan_wrong_vni with its VNI, and only well-formed ones do.
//
// Checked: the reason matches the datagram (short under 8 + 14 bytes, bad
// flags without the I bit, wrong VNI otherwise unless it is ours); the VNI
// reported is bytes 4-6; a decoded inner frame is the datagram after the
// 8-byte header (a view, no copy), parses as an Ethernet frame unless it is
// a giant, and vxlan_encode(id) + inner re-encodes the datagram's meaningful
// bytes.
//
// Input: the UDP payload.
#include "fuzz_util.hpp"
#include "l2/frame.hpp"
#include "l2/vxlan.hpp"

namespace {

void check(std::span<const std::byte> datagram, l2::vni expected) {
  const l2::vxlan_decode_result r = l2::vxlan_decode(datagram, expected);
  const std::size_t size = datagram.size();
  if (size >= l2::vxlan_header_size) {
    const l2::vni id = std::to_integer<l2::vni>(datagram[4]) << 16 |
                       std::to_integer<l2::vni>(datagram[5]) << 8 | std::to_integer<l2::vni>(datagram[6]);
    FUZZ_CHECK(r.id == id);
    FUZZ_CHECK(r.id <= l2::max_vni);
  }
  if (size < l2::vxlan_header_size + l2::ethernet_header_size) {
    FUZZ_CHECK(!r.ok && r.reason == l2::drop_reason::vxlan_short);
    return;
  }
  const bool flag = (std::to_integer<unsigned>(datagram[0]) & l2::vxlan_flag_i) != 0;
  if (!flag) {
    FUZZ_CHECK(!r.ok && r.reason == l2::drop_reason::vxlan_bad_flags);
    return;
  }
  if (r.id != expected) {
    FUZZ_CHECK(!r.ok && r.reason == l2::drop_reason::vxlan_wrong_vni);
    return;
  }
  FUZZ_CHECK(r.ok && expected <= l2::max_vni);
  FUZZ_CHECK(r.inner.data() == datagram.data() + l2::vxlan_header_size);
  FUZZ_CHECK(r.inner.size() == size - l2::vxlan_header_size);
  const l2::frame_parse_result parsed = l2::frame_view::parse(r.inner);
  if (r.inner.size() <= l2::max_frame_size) {
    FUZZ_CHECK(parsed || parsed.reason == l2::drop_reason::truncated_tag);
  } else {
    FUZZ_CHECK(!parsed && parsed.reason == l2::drop_reason::giant);
  }
  // The header the daemon would send for this VNI has the same flag and VNI.
  const auto header = l2::vxlan_encode(r.id);
  FUZZ_CHECK((std::to_integer<unsigned>(header[0]) & l2::vxlan_flag_i) != 0);
  FUZZ_CHECK(std::equal(header.begin() + 4, header.begin() + 7, datagram.begin() + 4));
  FUZZ_CHECK(l2::vxlan_decode(header, r.id).reason == l2::drop_reason::vxlan_short);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> datagram = fuzz::as_bytes(data, size);
  check(datagram, 1);                 // the default --vni
  check(datagram, 1010);              // a mapped VNI (seeds carry it)
  check(datagram, l2::max_vni);       // the largest
  check(datagram, l2::max_vni + 1);   // "any VNI": what uplink_port::decapsulate uses with a VNI map
  return 0;
}
