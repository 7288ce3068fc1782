#!/usr/bin/env bash
# 802.1Q on real TAPs: access ports, trunks, a native VLAN.
#
# Namespace "sw" runs vswitchd with TAPs into namespaces:
#   a  access VLAN 10 (10.61.0.1)     b  access VLAN 10 (10.61.0.2)
#   c  access VLAN 20 (10.61.0.3, the same subnet: only the VLAN parts it)
#   t1 trunk 10,20 (no address; frames sent and seen raw, scapy and tcpdump)
#   t2 trunk 10,20 with native VLAN 1
# Checks:
#   1. a and b (VLAN 10) ping each other; a cannot reach c (VLAN 20), and no
#      frame of VLAN 10 reaches c's TAP; the MAC table is per VLAN.
#   2. A tagged ARP request (VLAN 10, priority 5) sent on t1 is answered by a
#      (untagged on a's side), the answer leaves t1 tagged VLAN 10; the
#      request, flooded to t2, keeps VLAN 10 and priority 5; c never sees it.
#   3. VLAN 20 from t1 reaches c and not a.
#   4. An untagged frame on t2 belongs to its native VLAN 1: learned there,
#      seen by nobody else (no other port carries VLAN 1).
#   5. Dropped and counted (vlan_not_allowed): VLAN 30 on t1, a tagged frame
#      on access port a, an untagged frame on t1 (no native VLAN).
TEST_TAG=vl
source "$(dirname "$0")/lib.sh"
need_root tcpdump
"$PYTHON" -c 'import scapy.all' 2>/dev/null || { echo "SKIP: python3-scapy is not installed"; exit 77; }
V=10.61.0

make_ns sw
for r in a b c t1 t2; do make_ns "$r"; done
start_vswitchd sw "$WORK/vswitchd.log" \
  --port "tap:$(name a),vlan=10" --port "tap:$(name b),vlan=10" --port "tap:$(name c),vlan=20" \
  --port "tap:$(name t1),trunk=10,20" --port "tap:$(name t2),trunk=10,20,native=1"
CTL="$VSW_CTL"
ctl() { "$VSWITCHCTL" --control "$CTL" "$@"; }
tap_to_ns sw "$(name a)" a "$V.1/24"
tap_to_ns sw "$(name b)" b "$V.2/24"
tap_to_ns sw "$(name c)" c "$V.3/24"
for t in t1 t2; do
  ip -n "$(ns sw)" link set "$(name "$t")" netns "$(ns "$t")"
  ip -n "$(ns "$t")" link set "$(name "$t")" up
done
mac_a="$(if_mac a "$(name a)")"

# sniff ROLE FILE: tcpdump (link-level headers, tags included) on ROLE's TAP
# into FILE; returns once tcpdump listens.
sniff() {
  ip netns exec "$(ns "$1")" tcpdump -i "$(name "$1")" -n -e -U -w "$2" 2>"$2.err" &
  T_PIDS+=($!)
  SNIFF_PIDS+=($!)
  for _ in $(seq 50); do grep -q "listening on" "$2.err" 2>/dev/null && return 0; sleep 0.05; done
  fail "tcpdump on $1 did not start: $(cat "$2.err")"
}
SNIFF_PIDS=()
stop_sniffing() {
  sleep 1
  kill "${SNIFF_PIDS[@]}" 2>/dev/null || true
  wait "${SNIFF_PIDS[@]}" 2>/dev/null || true
  SNIFF_PIDS=()
}
show() { tcpdump -n -e -r "$1" 2>/dev/null || true; }
# send ROLE HEX: one raw frame (hex) out of ROLE's TAP.
send() {
  in_ns "$1" "$PYTHON" -c '
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind((sys.argv[1], 0))
s.send(bytes.fromhex(sys.argv[2]))' "$(name "$1")" "$2"
}
# arp_request SRC_MAC SRC_IP DST_IP [VID PCP]: an ARP who-has frame, tagged when VID is given.
arp_request() {
  "$PYTHON" - "$@" <<'EOF'
import sys
from scapy.all import ARP, Dot1Q, Ether, raw
src, psrc, pdst = sys.argv[1:4]
frame = Ether(src=src, dst="ff:ff:ff:ff:ff:ff")
if len(sys.argv) > 4:
    frame = frame / Dot1Q(vlan=int(sys.argv[4]), prio=int(sys.argv[5]))
frame = frame / ARP(op=1, hwsrc=src, psrc=psrc, pdst=pdst)
print(raw(frame).hex())
EOF
}
drops() { ctl stats --json | "$PYTHON" -c "import json,sys; j=json.load(sys.stdin); print(next(p['drops']['vlan_not_allowed'] for p in j['ports'] if p['name'] == sys.argv[1]))" "$1"; }

check "1. access ports: VLAN 10 talks, VLAN 20 is apart"
sniff c "$WORK/c1.pcap"
wait_ping a "$V.2"
ping_ok a "$V.2" 3
ping_ok b "$V.1" 2
if in_ns a ping -n -q -c 2 -i 0.2 -W 1 "$V.3" >/dev/null 2>&1; then fail "a (VLAN 10) reached c (VLAN 20)"; fi
stop_sniffing
show "$WORK/c1.pcap" | grep -qF "$mac_a" && fail "c's TAP saw a frame from a: $(show "$WORK/c1.pcap" | head -3)"
ctl fdb show --vlan 10 | grep -qF "$mac_a" || fail "fdb show --vlan 10 lacks a's MAC: $(ctl fdb show)"
ctl fdb show --vlan 20 | grep -qF "$mac_a" && fail "a's MAC was learned in VLAN 20"
pass "access ports of one VLAN talk; another VLAN on the same subnet sees nothing of them"

check "2. a tagged ARP request on trunk t1: answered through VLAN 10, priority kept where the tag is"
m1=02:00:00:61:00:01
sniff t1 "$WORK/t1.pcap"; sniff t2 "$WORK/t2.pcap"; sniff c "$WORK/c2.pcap"; sniff a "$WORK/a2.pcap"
send t1 "$(arp_request $m1 $V.101 $V.1 10 5)"
stop_sniffing
log "   t1: $(show "$WORK/t1.pcap" | grep -i 'reply' | head -1 | cut -c 17-)"
show "$WORK/t1.pcap" | grep -qE "$mac_a > $m1, .*vlan 10, p 0, .*Reply $V.1 is-at $mac_a" ||
  fail "no tagged ARP reply from a on t1: $(show "$WORK/t1.pcap")"
show "$WORK/a2.pcap" | grep -E "$m1 > ff:ff:ff:ff:ff:ff" | grep -q vlan && fail "a got the request tagged"
show "$WORK/a2.pcap" | grep -qE "$m1 > ff:ff:ff:ff:ff:ff.*Request who-has $V.1" || fail "a did not get the request"
log "   t2: $(show "$WORK/t2.pcap" | grep "$m1" | head -1 | cut -c 17-)"
show "$WORK/t2.pcap" | grep -qE "$m1 > ff:ff:ff:ff:ff:ff, .*vlan 10, p 5," ||
  fail "the request did not reach t2 with VLAN 10 priority 5: $(show "$WORK/t2.pcap")"
show "$WORK/c2.pcap" | grep -qF "$m1" && fail "c (VLAN 20) saw the VLAN 10 request"
pass "tag stripped toward the access port, added toward the trunk, priority kept trunk to trunk"

check "3. VLAN 20 from t1 reaches c, not a"
mac_c="$(if_mac c "$(name c)")"
sniff a "$WORK/a3.pcap"; sniff t1 "$WORK/t1b.pcap"
send t1 "$(arp_request $m1 $V.102 $V.3 20 0)"
stop_sniffing
show "$WORK/t1b.pcap" | grep -qE "$mac_c > $m1, .*vlan 20, .*Reply $V.3 is-at" || fail "c did not answer on VLAN 20: $(show "$WORK/t1b.pcap")"
show "$WORK/a3.pcap" | grep -qF "$V.102" && fail "a saw VLAN 20's request"
pass "VLAN 20 over the trunk reaches its access port only"

check "4. an untagged frame on t2 is in its native VLAN 1"
m2=02:00:00:61:00:02
sniff t1 "$WORK/t1c.pcap"; sniff a "$WORK/a4.pcap"
send t2 "$(arp_request $m2 $V.103 $V.1)"
stop_sniffing
ctl fdb show --json | "$PYTHON" -c "import json,sys; j=json.load(sys.stdin); e=[x for x in j['entries'] if x['mac']=='$m2']; assert e and e[0]['vlan']==1, e" ||
  fail "t2's untagged sender was not learned in VLAN 1: $(ctl fdb show)"
show "$WORK/t1c.pcap" | grep -qF "$m2" && fail "t1 (no VLAN 1) saw the native-VLAN frame"
show "$WORK/a4.pcap" | grep -qF "$m2" && fail "a (VLAN 10) saw the native-VLAN frame"
pass "untagged on the trunk with native=1: VLAN 1, carried by no other port here"

check "5. frames a port does not take: dropped and counted"
t1_before="$(drops "$(name t1)")"; a_before="$(drops "$(name a)")"
send t1 "$(arp_request $m1 $V.104 $V.1 30 0)"   # VLAN 30: not on t1
send t1 "$(arp_request $m1 $V.105 $V.1)"        # untagged on a trunk without native
send a "$(arp_request "$mac_a" $V.1 $V.2 10 0)" # tagged on an access port
counted() { [ "$(drops "$(name t1)")" -ge $((t1_before + 2)) ] && [ "$(drops "$(name a)")" -ge $((a_before + 1)) ]; }
poll 5 counted || true  # counted within 5 s (then exactly: nothing else is dropped)
sleep 0.2
[ "$(drops "$(name t1)")" -eq $((t1_before + 2)) ] || fail "t1: vlan_not_allowed $(drops "$(name t1)"), want $((t1_before + 2))"
[ "$(drops "$(name a)")" -eq $((a_before + 1)) ] || fail "a: vlan_not_allowed $(drops "$(name a)"), want $((a_before + 1))"
ping_ok a "$V.2" 2
pass "VLAN 30 on a 10,20 trunk, untagged on a trunk without native, tagged on an access port: counted drops"
stop_vswitchd "$VSW_PID" 1
pass "vlans: all checks"
