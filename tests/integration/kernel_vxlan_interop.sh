#!/usr/bin/env bash
# e. Interoperability with the kernel's VXLAN: host h1 runs vswitchd (a TAP into
# vm1, --uplink to h2); host h2 runs the kernel: vx0 (type vxlan id 1, remote h1,
# dstport 4789) and a veth into vm2, both in bridge br0. Ping both ways VM1<->VM2,
# also larger payloads (-s 1400, and 1472 with DF = full 1500-byte packets), then
# 2 s of iperf3 TCP.
#
# MTU: the underlay veth has MTU 1600 so the 50 bytes of VXLAN encapsulation fit
# and both guests keep MTU 1500 (vx0 takes 1600 - 50 = 1550 from its lower device).
set -euo pipefail
TEST_TAG=kv
source "$(dirname "$0")/lib.sh"
need_root iperf3 ss ethtool

u1="$(name u1)"; u2="$(name u2)"; t1="$(name t1)"
g2="$(name g2)"; s2="$(name s2)"; vx="$(name vx)"; br="$(name br)"
two_hosts_underlay 10.200.5
# A veth hands the kernel vxlan's datagrams over with the inner TCP checksum still
# partial (checksum offload: a real NIC would complete it on the wire); vswitchd
# reads them from a UDP socket and cannot know, so vm1 drops them and TCP never
# connects. Checksums done in software on h2's underlay veth, as a NIC would.
ip netns exec "$(ns h2)" ethtool -K "$u2" tx off >/dev/null

check "h2: kernel vxlan $vx (VNI 1, remote 10.200.5.1) and a veth to vm2 in bridge $br"
H2="$(ns h2)"
ip -n "$H2" link add "$vx" type vxlan id 1 remote 10.200.5.1 local 10.200.5.2 dstport 4789 dev "$u2"
ip -n "$H2" link add "$br" type bridge
make_veth vm2 "$g2" h2 "$s2"
ip -n "$H2" link set "$vx" master "$br"
ip -n "$H2" link set "$s2" master "$br"
ip -n "$H2" link set "$vx" up
ip -n "$H2" link set "$s2" up
ip -n "$H2" link set "$br" up
addr_up vm2 "$g2" 10.15.0.2/24

check "h1: vswitchd with a TAP into vm1 and --uplink 10.200.5.2:4789"
start_vswitchd h1 "$WORK/vswitchd-h1.log" --port "tap:$t1" --uplink 10.200.5.2:4789
pid="$VSW_PID"
tap_to_ns h1 "$t1" vm1 10.15.0.1/24

check "ping both ways, also with -s 1400 and -s 1472 -M do"
wait_ping vm1 10.15.0.2
# (Drops are judged from here: a frame h2 sent while the TAP was being moved
# into vm1 and was still down is a port_down drop, as it should be.)
base="$(counters "$pid" "$WORK/vswitchd-h1.log")"
ping_ok vm1 10.15.0.2 5
ping_ok vm2 10.15.0.1 5
ping_ok vm1 10.15.0.2 3 -s 1400
ping_ok vm2 10.15.0.1 3 -s 1400
ping_ok vm1 10.15.0.2 3 -s 1472 -M "do"
ping_ok vm2 10.15.0.1 3 -s 1472 -M "do"

check "iperf3 TCP 2 s each way between vm1 and vm2"
iperf3_gbits vm1 vm2 10.15.0.2 2
fwd="$GBITS"
iperf3_gbits vm2 vm1 10.15.0.1 2
echo "RESULT e: iperf3 TCP vm1->vm2 $fwd Gbit/s, vm2->vm1 $GBITS Gbit/s (vswitchd <-> kernel vxlan)"

check "counters: the uplink port carried the traffic, no drops; the kernel's sources are the peer"
lines="$(counters "$pid" "$WORK/vswitchd-h1.log")"
printf '%s\n' "$lines" | grep 'counters: port'
for p in "$t1" 10.200.5.2:4789; do
  line="$(port_line "$lines" "$p")"
  [ -n "$line" ] || fail "no counters line for port $p"
  [ "$(rx_frames "$line")" -gt 1000 ] || fail "port $p received too few frames: $line"
  [ "$(tx_frames "$line")" -gt 1000 ] || fail "port $p sent too few frames: $line"
  check_drops_since "$(port_line "$base" "$p")" "$line"
done
# The kernel sends from varying UDP source ports: still the peer, not a stranger.
grep -q 'counters: udp endpoint: rx [0-9]* datagrams, dropped from non-peers 0$' <<<"$lines" ||
  fail "datagrams from the kernel vxlan counted as non-peer: $(grep 'udp endpoint' <<<"$lines")"
stop_vswitchd "$pid" 1

pass "kernel_vxlan_interop: ping both ways (1500-byte packets too) and iperf3 between vswitchd and the kernel's vxlan"
