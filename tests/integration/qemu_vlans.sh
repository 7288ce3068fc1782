#!/usr/bin/env bash
# Real guests in VLANs (issue 6): three QEMU guests (TCG) on persistent TAPs
# attached with dev: as access ports, g1 and g2 in VLAN 10, g3 in VLAN 20, all
# three in one subnet. g1 pings g2 (5/5); g3 pings g1 and gets no answer within
# its 8 s: only the VLANs keep them apart. The switch learned g3's MAC in
# VLAN 20 only, and dropped nothing it should have carried.
#
# Skips (77) as qemu_guests does (no root, QEMU, build tools or kernel package).
set -euo pipefail
TEST_TAG=qv
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/guest_lib.sh"
need_root qemu-system-x86_64

check "the guest (cached after the first build)"
guest_build

make_ns sw
taps=()
for i in 1 2 3; do
  taps+=("$(name "q$i")")
  ip -n "$(ns sw)" tuntap add "$(name "q$i")" mode tap
done

check "vswitchd: dev:${taps[0]},vlan=10 dev:${taps[1]},vlan=10 dev:${taps[2]},vlan=20"
start_vswitchd sw "$WORK/vswitchd.log" --port "dev:${taps[0]},vlan=10" --port "dev:${taps[1]},vlan=10" \
  --port "dev:${taps[2]},vlan=20"
pid="$VSW_PID"; ctl_path="$VSW_CTL"

check "g1 and g2 (VLAN 10) ping each other; g3 (VLAN 20) cannot reach g1"
netdev() { printf 'tap,id=n0,ifname=%s,script=no,downscript=no' "$1"; }
guest_start g1 sw "$WORK/guest1.log" -netdev "$(netdev "${taps[0]}")" \
  -- vsw.ip=10.60.1.1/24 vsw.peer=10.60.1.2 vsw.count=5 vsw.wait=40 vsw.linger=12
guest_start g2 sw "$WORK/guest2.log" -netdev "$(netdev "${taps[1]}")" \
  -- vsw.ip=10.60.1.2/24 vsw.peer=10.60.1.1 vsw.count=5 vsw.wait=40 vsw.linger=8
guest_start g3 sw "$WORK/guest3.log" -netdev "$(netdev "${taps[2]}")" \
  -- vsw.ip=10.60.1.3/24 vsw.peer=10.60.1.1 vsw.count=3 vsw.wait=8 vsw.linger=1
guest_wait g1 60 || fail "g1 (VLAN 10) could not ping g2 (VLAN 10): $GUEST_RESULT"
g1_ping="$GUEST_PING_S"
guest_wait g2 60 || fail "g2 (VLAN 10) could not ping g1: $GUEST_RESULT"
g2_ping="$GUEST_PING_S"
if guest_wait g3 60; then fail "g3 (VLAN 20) reached g1 (VLAN 10): $GUEST_RESULT"; fi
grep -q "ping FAIL 0/3" <<<"$GUEST_RESULT" || fail "g3 did not fail for want of an answer: $GUEST_RESULT"
log "   g3: $GUEST_RESULT"
echo "RESULT guest_vlans: boot-to-ping g1 $g1_ping s, g2 $g2_ping s (VLAN 10); g3 in VLAN 20 got no answer"

check "the MAC table: g3 in VLAN 20 only, g1 and g2 in VLAN 10"
fdb="$("$VSWITCHCTL" --control "$ctl_path" fdb show --json)"
"$PYTHON" - "$fdb" "${GUEST_MAC[g1]}" "${GUEST_MAC[g2]}" "${GUEST_MAC[g3]}" <<'EOF' || fail "MAC table: $fdb"
import json, sys
entries = json.loads(sys.argv[1])["entries"]
where = {(e["mac"], e["vlan"]) for e in entries}
g1, g2, g3 = sys.argv[2:5]
assert (g1, 10) in where and (g2, 10) in where, where
assert (g3, 20) in where and (g3, 10) not in where, where
EOF

guest_wait_exit g1 30
guest_wait_exit g2 30
guest_wait_exit g3 30
stop_vswitchd "$pid" 1
pass "qemu_vlans: guests in one VLAN talk, a guest in another VLAN on the same subnet does not reach them"
