#!/usr/bin/env bash
# f. Faults the daemon must survive.
#  1. Three TAP guests; C's TAP is deleted while vswitchd runs: the daemon stays
#     up, logs "down: the TAP was deleted", A<->B still ping.
#  2. Two hosts with uplinks, plus a "stranger" namespace on h1's underlay. The
#     stranger sends junk and well-formed VXLAN to h1's port 4789 (counted as
#     from non-peers); the peer host's address sends malformed VXLAN (empty or
#     too short, I flag clear, wrong VNI), counted by reason on h1's uplink port.
#     Exact counts are checked; the daemon stays up and the VMs still ping.
set -euo pipefail
TEST_TAG=fl
source "$(dirname "$0")/lib.sh"
need_root

# ---- 1. a TAP deleted under the daemon -------------------------------------
check "1. three TAP guests A, B, C on one vswitchd"
ta="$(name a)"; tb="$(name b)"; tc="$(name c)"
tap_switch "$WORK/vswitchd-taps.log" 10.16.0 a b c
pid="$VSW_PID"
wait_ping a 10.16.0.3
ping_ok a 10.16.0.2 2

check "1. delete C's TAP while vswitchd runs: it logs the deletion and keeps serving A and B"
ip -n "$(ns c)" link del "$tc"
for _ in $(seq 50); do
  grep -q "port $tc (tap): down: the TAP was deleted" "$WORK/vswitchd-taps.log" && break
  sleep 0.1
done
grep -q "port $tc (tap): down: the TAP was deleted" "$WORK/vswitchd-taps.log" ||
  fail "no 'down: the TAP was deleted' warning for $tc within 5 s"
kill -0 "$pid" 2>/dev/null || fail "vswitchd died when a TAP was deleted"
# Flush the guests' ARP caches so that broadcasts meet the dead port too.
in_ns a ip neigh flush all
in_ns b ip neigh flush all
ping_ok a 10.16.0.2 5
ping_ok b 10.16.0.1 5
lines="$(counters "$pid" "$WORK/vswitchd-taps.log")"
printf '%s\n' "$lines" | grep 'counters: port'
grep -qF "port $tc (tap, down):" <<<"$(port_line "$lines" "$tc")" ||
  fail "the deleted TAP's port is not reported down"
for p in "$ta" "$tb"; do
  grep -qF "port $p (tap, up):" <<<"$(port_line "$lines" "$p")" || fail "port $p should still be up"
  check_drops "$(port_line "$lines" "$p")"
done
check_drops "$(port_line "$lines" "$tc")" port_down
stop_vswitchd "$pid" 1

# ---- 2. junk from a stranger, malformed VXLAN from the peer -----------------
x1="$(name x1)"; xs="$(name xs)"; t1="$(name t1)"; t2="$(name t2)"
two_hosts_underlay 10.200.6
make_ns st
make_veth h1 "$x1" st "$xs"                   # the stranger's link to h1
addr_up h1 "$x1" 10.201.6.1/24
addr_up st "$xs" 10.201.6.3/24
vswitchd_on_hosts 10.200.6 10.17.0
pid1="$PID1"; pid2="$PID2"
wait_ping vm1 10.17.0.2
ping_ok vm1 10.17.0.2 2

# send.py DEST KIND COUNT: COUNT datagrams of one kind to DEST:4789.
cat >"$WORK/send.py" <<'EOF'
import socket, sys, time
dest, kind, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
frame = bytes.fromhex("ffffffffffff" "02000000aa01" "0806") + bytes(46)  # a broadcast
vxlan = lambda flags, vni: bytes([flags, 0, 0, 0, vni >> 16, (vni >> 8) & 0xff, vni & 0xff, 0])
payload = {
    "junk": b"not a VXLAN datagram",
    "valid": vxlan(0x08, 1) + frame,        # well-formed, but not from a peer
    "empty": b"",
    "short4": vxlan(0x08, 1)[:4],           # shorter than the VXLAN header
    "short12": vxlan(0x08, 1) + frame[:4],  # header, but no whole inner Ethernet header
    "flags": vxlan(0x00, 1) + frame,        # I flag clear
    "vni": vxlan(0x08, 2) + frame,          # VNI 2, the daemon runs VNI 1
}[kind]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(count):
    s.sendto(payload, (dest, 4789))
    time.sleep(0.002)
EOF
# send ROLE KIND COUNT: from the stranger to h1's address on its link, from h2 over the underlay.
send() {
  local dest=10.200.6.1
  [ "$1" = st ] && dest=10.201.6.1
  in_ns "$1" timeout 10 "$PYTHON" "$WORK/send.py" "$dest" "$2" "$3"
}

check "2. stranger 10.201.6.3 sends 9 junk + 4 well-formed VXLAN datagrams to h1 (10.201.6.1:4789)"
send st junk 9
send st valid 4
check "   peer 10.200.6.2 sends 1 empty + 3 4-byte + 2 12-byte, 6 with the I flag clear, 7 with VNI 2"
send h2 empty 1
send h2 short4 3
send h2 short12 2
send h2 flags 6
send h2 vni 7
up="10.200.6.2:4789"
for _ in $(seq 25); do
  lines="$(counters "$pid1" "$WORK/vswitchd-h1.log")"
  line="$(port_line "$lines" "$up")"
  [ "$(drop_count "$line" vxlan_wrong_vni)" -ge 7 ] && break
  sleep 0.2
done
printf '%s\n' "$lines" | grep 'counters: port'
[ "$(drop_count "$line" vxlan_short)" -eq 6 ] || fail "want vxlan_short=6 on $up: $line"
[ "$(drop_count "$line" vxlan_bad_flags)" -eq 6 ] || fail "want vxlan_bad_flags=6 on $up: $line"
[ "$(drop_count "$line" vxlan_wrong_vni)" -eq 7 ] || fail "want vxlan_wrong_vni=7 on $up: $line"
check_drops "$line" vxlan_short vxlan_bad_flags vxlan_wrong_vni
check_drops "$(port_line "$lines" "$t1")"
# The stranger's well-formed broadcast must not have reached vm1 (nor its MAC the table).
grep -q 'mac: 02:00:00:00:aa:01' <<<"$lines" && fail "a stranger's frame was learned"
kill -0 "$pid1" 2>/dev/null || fail "vswitchd on h1 died"

check "   afterwards the VMs still ping both ways"
ping_ok vm1 10.17.0.2 3
ping_ok vm2 10.17.0.1 3

check "   h1 counts exactly 13 datagrams dropped from non-peers; both stop on SIGTERM"
ep="$(counters "$pid1" | grep 'counters: udp endpoint:')"
log "   ${ep#* info: }"
grep -q 'dropped from non-peers 13$' <<<"$ep" || fail "want 13 datagrams dropped from non-peers: $ep"
stop_vswitchd "$pid1" 1
stop_vswitchd "$pid2" 1

pass "faults: a deleted TAP and junk/malformed datagrams were counted and survived"
