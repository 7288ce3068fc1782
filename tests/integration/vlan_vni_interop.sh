#!/usr/bin/env bash
# VLANs across an uplink to the kernel's vxlan, one VNI per VLAN.
#
# h1 runs vswitchd: access ports VLAN 10 (vm1) and VLAN 20 (vm3) and
#   --uplink h2:4789,vni-map=10:1010,20:1020.
# h2 runs the kernel: vxlan devices for VNI 1010 and 1020 (remote h1), each in
#   its own bridge with a veth to vm2 (VNI 1010) and vm4 (VNI 1020).
# All four VMs share one subnet, so only the VLAN/VNI mapping keeps them apart.
# Checks: vm1 <-> vm2 and vm3 <-> vm4 ping (also full-size with DF) and carry
# 2 s of iperf3 TCP (super-frames segmented, each segment moved to its VNI);
# vm1 cannot reach vm4 nor vm3 vm2; tcpdump on h2's underlay sees vm1's frames
# in VNI 1010 and vm3's in 1020, untagged inside; no drops on the uplink.
set -euo pipefail
TEST_TAG=vv
source "$(dirname "$0")/lib.sh"
need_root iperf3 ethtool tcpdump

U=10.200.62
V=10.62.0
u1="$(name u1)"; u2="$(name u2)"
make_ns h1; make_ns h2
for r in vm1 vm2 vm3 vm4; do make_ns "$r"; done
make_veth h1 "$u1" h2 "$u2"
addr_up h1 "$u1" "$U.1/24" 1600
addr_up h2 "$u2" "$U.2/24" 1600
# The kernel's vxlan leaves inner TCP checksums to the "hardware" of a veth
# (see kernel_vxlan_interop): done in software here.
ip netns exec "$(ns h2)" ethtool -K "$u2" tx off >/dev/null

check "h2: kernel vxlan VNI 1010 (vm2) and VNI 1020 (vm4), each in its own bridge"
H2="$(ns h2)"
for pair in "1010 vm2 $V.2" "1020 vm4 $V.4"; do
  read -r vni vm addr <<<"$pair"
  vx="$(name "x$vni")"; br="$(name "b$vni")"; g="$(name "g$vni")"; s="$(name "s$vni")"
  ip -n "$H2" link add "$vx" type vxlan id "$vni" remote "$U.1" local "$U.2" dstport 4789 dev "$u2"
  ip -n "$H2" link add "$br" type bridge
  make_veth "$vm" "$g" h2 "$s"
  ip -n "$H2" link set "$vx" master "$br"
  ip -n "$H2" link set "$s" master "$br"
  for i in "$vx" "$s" "$br"; do ip -n "$H2" link set "$i" up; done
  addr_up "$vm" "$g" "$addr/24"
done

check "h1: vswitchd, access VLAN 10 (vm1) and 20 (vm3), --uplink $U.2:4789,vni-map=10:1010,20:1020"
start_vswitchd h1 "$WORK/vswitchd-h1.log" --port "tap:$(name t1),vlan=10" --port "tap:$(name t3),vlan=20" \
  --uplink "$U.2:4789,vni-map=10:1010,20:1020"
pid="$VSW_PID"
tap_to_ns h1 "$(name t1)" vm1 "$V.1/24"
tap_to_ns h1 "$(name t3)" vm3 "$V.3/24"
grep -q "VLAN:VNI 10:1010 20:1020" "$WORK/vswitchd-h1.log" || fail "the uplink's description lacks the map"

check "each VLAN reaches its VNI, and only its VNI"
capture_start h2 "$u2" "$WORK/underlay.pcap" udp port 4789
dump_pid="$CAP_PID"
wait_ping vm1 "$V.2"
ping_ok vm1 "$V.2" 3
ping_ok vm2 "$V.1" 2
wait_ping vm3 "$V.4"
ping_ok vm3 "$V.4" 3
ping_ok vm1 "$V.2" 3 -s 1472 -M "do"
ping_ok vm4 "$V.3" 3 -s 1472 -M "do"
if in_ns vm1 ping -n -q -c 2 -i 0.2 -W 1 "$V.4" >/dev/null 2>&1; then fail "vm1 (VLAN 10) reached vm4 (VNI 1020)"; fi
if in_ns vm3 ping -n -q -c 2 -i 0.2 -W 1 "$V.2" >/dev/null 2>&1; then fail "vm3 (VLAN 20) reached vm2 (VNI 1010)"; fi
sleep 0.5
capture_stop "$dump_pid"
decoded="$(tcpdump -n -e -r "$WORK/underlay.pcap" 2>/dev/null || true)"
grep -qE "$U.1\.[0-9]+ > $U.2\.4789: VXLAN, flags \[I\] \(0x08\), vni 1010" <<<"$decoded" || fail "no VNI 1010 from h1: $(head -3 <<<"$decoded")"
grep -qE "$U.1\.[0-9]+ > $U.2\.4789: VXLAN, flags \[I\] \(0x08\), vni 1020" <<<"$decoded" || fail "no VNI 1020 from h1"
grep -A1 "vni 10[12]0" <<<"$decoded" | grep -q "802.1Q" && fail "a frame crossed tagged inside a mapped VNI"
pass "VLAN 10 <-> VNI 1010, VLAN 20 <-> VNI 1020, untagged inside; the VLANs stay apart"

check "iperf3 TCP 2 s vm1 -> vm2 and vm4 -> vm3"
iperf3_gbits vm1 vm2 "$V.2" 2
fwd="$GBITS"
iperf3_gbits vm4 vm3 "$V.3" 2
echo "RESULT vlan_vni: iperf3 TCP vm1->vm2 (VLAN 10/VNI 1010) $fwd Gbit/s, vm4->vm3 (VNI 1020/VLAN 20) $GBITS Gbit/s"

lines="$(counters "$pid" "$WORK/vswitchd-h1.log")"
line="$(port_line "$lines" "$U.2:4789")"
[ "$(rx_frames "$line")" -gt 1000 ] && [ "$(tx_frames "$line")" -gt 1000 ] || fail "the uplink carried too little: $line"
check_drops "$line"
stop_vswitchd "$pid" 1
pass "vlan_vni_interop: VLANs to per-VNI kernel vxlan devices and back"
