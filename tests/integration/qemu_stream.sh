#!/usr/bin/env bash
# Real guests on QEMU stream sockets (issue 6): no TAP, no root for QEMU.
#
# h1 runs vswitchd A: --stream-listen unix:SOCK (mode 0666), a dev: TAP with
#   guest g2, and an uplink to h2. h2 runs vswitchd B: a dev: TAP with guest
#   g3, and an uplink to h1.
# g1 connects to SOCK with `-netdev stream` as user nobody and pings g2 (on a
# TAP on the same switch); g4 connects to the same SOCK (a second connection,
# a second port) and pings g3 behind the uplink on h2; g5 is a `-netdev dgram`
# guest (A has --port dgram:unix:D1=unix:D2) and pings g2 as well. Checks:
# the pings (5/5), the boot-to-ping times, two stream ports while they run, and
# when the guests power off (closing their sockets) the stream ports are
# removed with their MAC entries.
set -euo pipefail
TEST_TAG=qs
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/guest_lib.sh"
need_root qemu-system-x86_64 setpriv
U=10.200.63
V=10.63.0

check "the guest (cached after the first build)"
guest_build

make_ns h1; make_ns h2
make_veth h1 "$(name u1)" h2 "$(name u2)"
addr_up h1 "$(name u1)" "$U.1/24" 1600
addr_up h2 "$(name u2)" "$U.2/24" 1600
tg2="$(name t2)"; tg3="$(name t3)"
ip -n "$(ns h1)" tuntap add "$tg2" mode tap
ip -n "$(ns h2)" tuntap add "$tg3" mode tap
# The socket's directory must be reachable by the unprivileged QEMU.
chmod 711 "$WORK"
mkdir -m 755 "$WORK/run"
SOCK="$WORK/run/vm.sock"
D1="$WORK/run/switch.dgram"; D2="$WORK/run/g5.dgram"

check "vswitchd A: --stream-listen unix:$SOCK --stream-mode 0666, dev:$tg2, uplink to h2; B: dev:$tg3, uplink to h1"
start_vswitchd h1 "$WORK/a.log" --stream-listen "unix:$SOCK" --stream-listen "unix:$WORK/run/v10.sock,vlan=10" \
  --stream-mode 0666 --port "dev:$tg2" \
  --uplink "$U.2:4789" --port "dgram:unix:$D1=unix:$D2"
PIDA="$VSW_PID"; CTLA="$VSW_CTL"
start_vswitchd h2 "$WORK/b.log" --port "dev:$tg3" --uplink "$U.1:4789"
PIDB="$VSW_PID"
[ "$(stat -c %a "$SOCK")" = 666 ] || fail "$SOCK has mode $(stat -c %a "$SOCK"), want 666"

check "g1 (stream, QEMU as nobody) pings g2 (TAP); g4 (stream) pings g3 (TAP behind the uplink)"
stream=(-netdev "stream,id=n0,server=off,addr.type=unix,addr.path=$SOCK")
tap() { printf 'tap,id=n0,ifname=%s,script=no,downscript=no' "$1"; }
common=(vsw.count=5 vsw.wait=45 vsw.linger=10)
GUEST_RUN_AS="setpriv --reuid=65534 --regid=65534 --clear-groups" \
  guest_start g1 h1 "$WORK/g1.log" "${stream[@]}" -- vsw.ip="$V.1/24" vsw.peer="$V.2" "${common[@]}"
guest_start g2 h1 "$WORK/g2.log" -netdev "$(tap "$tg2")" -- vsw.ip="$V.2/24" vsw.peer="$V.1" "${common[@]}"
guest_start g3 h2 "$WORK/g3.log" -netdev "$(tap "$tg3")" -- vsw.ip="$V.3/24" vsw.peer="$V.4" "${common[@]}"
guest_start g4 h1 "$WORK/g4.log" "${stream[@]}" -- vsw.ip="$V.4/24" vsw.peer="$V.3" "${common[@]}"
guest_start g5 h1 "$WORK/g5.log" \
  -netdev "dgram,id=n0,local.type=unix,local.path=$D2,remote.type=unix,remote.path=$D1" \
  -- vsw.ip="$V.5/24" vsw.peer="$V.2" "${common[@]}"
guest_wait g1 60 || fail "g1 (stream) could not ping g2 (TAP): $GUEST_RESULT"
g1_ping="$GUEST_PING_S"
# While they run: two stream ports on A.
streams="$("$VSWITCHCTL" --control "$CTLA" show --json | "$PYTHON" -c 'import json,sys; print(sum(p["kind"] == "stream" for p in json.load(sys.stdin)["ports"]))')"
[ "$streams" -eq 2 ] || fail "A has $streams stream ports while two guests are connected, want 2"
guest_wait g4 60 || fail "g4 (stream) could not ping g3 behind the uplink: $GUEST_RESULT"
g4_ping="$GUEST_PING_S"
guest_wait g2 60 || fail "g2 (TAP) could not ping g1 (stream): $GUEST_RESULT"
guest_wait g3 60 || fail "g3 (behind the uplink) could not ping g4 (stream): $GUEST_RESULT"
guest_wait g5 60 || fail "g5 (dgram) could not ping g2 (TAP): $GUEST_RESULT"
g5_ping="$GUEST_PING_S"
echo "RESULT stream_guests: boot-to-ping g1 (stream, as nobody -> TAP) $g1_ping s, g4 (stream -> uplink -> TAP) $g4_ping s, g5 (dgram -> TAP) $g5_ping s"
"$VSWITCHCTL" --control "$CTLA" show | sed 's/^/   /'

check "the guests power off: their stream ports go, with their MAC entries"
for g in g1 g2 g3 g4 g5; do guest_wait_exit "$g" 40; done
stream_ports() { "$VSWITCHCTL" --control "$CTLA" show --json | "$PYTHON" -c 'import json,sys; print(sum(p["kind"] == "stream" for p in json.load(sys.stdin)["ports"]))'; }
no_stream_ports() { [ "$(stream_ports)" -eq 0 ]; }
poll 5 no_stream_ports || fail "$(stream_ports) stream ports left after the guests disconnected"
fdb="$("$VSWITCHCTL" --control "$CTLA" fdb show)"
for g in g1 g4; do
  grep -qF "${GUEST_MAC[$g]}" <<<"$fdb" && fail "$g's MAC outlived its port: $fdb"
done
grep -q "the guest went away" "$WORK/a.log" || fail "A did not log the disconnects"

check "a client that reconnects gets a new port; a length over 69,632 closes only that connection"
in_ns h1 "$PYTHON" - "$SOCK" <<'EOF' || fail "stream clients: see above"
import socket, struct, sys, time
path = sys.argv[1]
frame = bytes.fromhex("ffffffffffff" "020000630042" "88b5") + bytes(50)
def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(path); return s
for round in range(2):                        # a guest that goes and comes back
    s = connect()
    s.sendall(struct.pack(">I", len(frame)) + frame)
    time.sleep(0.3)
    s.close()
    time.sleep(0.3)
bad = connect()                               # a protocol error: closed by the switch
bad.sendall(struct.pack(">I", 69633) + bytes(100))
bad.settimeout(3)
assert bad.recv(1) == b"", "the switch did not close a connection that sent length 69633"
print("   two connections one after the other, then one with length 69633: closed")
EOF
# A client on the ,vlan=10 listener: its frames are in VLAN 10 (it stays connected 5 s).
in_ns h1 "$PYTHON" -c '
import socket, struct, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(sys.argv[1])
frame = bytes.fromhex("ffffffffffff" "020000630010" "88b5") + bytes(50)
s.sendall(struct.pack(">I", len(frame)) + frame)
time.sleep(5)' "$WORK/run/v10.sock" &
T_PIDS+=($!)
for _ in $(seq 30); do
  "$VSWITCHCTL" --control "$CTLA" fdb show --vlan 10 | grep -qF 02:00:00:63:00:10 && break
  sleep 0.1
done
"$VSWITCHCTL" --control "$CTLA" fdb show --vlan 10 | grep -qF 02:00:00:63:00:10 ||
  fail "a guest on the ,vlan=10 listener was not learned in VLAN 10: $("$VSWITCHCTL" --control "$CTLA" fdb show)"
log "   a client of the ,vlan=10 listener is learned in VLAN 10"
sleep 0.3
n="$(grep -c "stream:unix:$SOCK#.*: the guest went away" "$WORK/a.log" || true)"
[ "$n" -ge 5 ] || fail "only $n stream disconnects logged"
grep -q "69633" "$WORK/a.log" || fail "the oversized length was not logged: $(grep 'went away' "$WORK/a.log" | tail -2)"
log "   $(grep '69633' "$WORK/a.log" | tail -1 | sed -E 's/^[0-9-]+ [0-9:.]+ //')"
stop_vswitchd "$PIDA" 1
stop_vswitchd "$PIDB" 1
[ -e "$SOCK" ] && fail "the stream socket $SOCK is left after exit"
pass "qemu_stream: guests on a stream socket (one as nobody) and a dgram socket reach a TAP guest and a guest across an uplink"
