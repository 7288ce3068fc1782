#!/usr/bin/env bash
# Stress: everything that changes the switch's state at once, under load; the
# daemon must neither crash nor lose the traffic that is not being changed.
# tests/run.sh also runs it against the AddressSanitizer + UBSan daemon
# (build-asan, ctest -L stress): a leak or a sanitizer report fails it.
#
# Namespace "sw" runs vswitchd (--config FILE) with TAPs into a, b, c and d
# (10.200.74.1 to .4). For 12 s, all at once:
#   - iperf3 TCP from a to b;
#   - c pings d every 20 ms;
#   - c and d both send frames from one made-up MAC (it moves between their
#     ports hundreds of times a second: move damping pins it);
#   - the control socket adds and removes a port (a TAP, then a veth's kernel
#     side), flushes the MAC table and reads the status in a loop;
#   - SIGHUP every 0.5 s, each time with another --mac-aging in the file.
# Then: the daemon is alive, iperf3 carried traffic, c's pings were >= 95 %
# answered, ping works between all four, the moving MAC was pinned, and
# SIGTERM ends the daemon with status 0 and no sanitizer report in its log.
TEST_TAG=st
source "$(dirname "$0")/lib.sh"
need_root iperf3 ss
V=10.200.74
SECS=12

make_ns sw
for r in a b c d; do make_ns "$r"; done
conf="$WORK/stress.conf"
printf 'mac-aging = 300\n' >"$conf"
start_vswitchd sw "$WORK/vswitchd.log" --config "$conf" --port "tap:$(name a)" --port "tap:$(name b)" \
  --port "tap:$(name c)" --port "tap:$(name d)"
pid="$VSW_PID"
ctl() { "$VSWITCHCTL" --control "$VSW_CTL" "$@"; }
i=0
for r in a b c d; do
  i=$((i + 1))
  tap_to_ns sw "$(name "$r")" "$r" "$V.$i/24"
done
wait_ping a "$V.2"
wait_ping c "$V.4"

check "under iperf3, pings, a moving MAC, port churn, flushes and reloads for $SECS s"
iperf3_server b "$V.2"
iperf3_client_start a "$V.2" "$SECS" "$WORK/iperf3.json"
in_ns c ping -n -q -i 0.02 -w "$SECS" "$V.4" >"$WORK/ping.txt" 2>&1 &
ping_pid=$!
T_PIDS+=("$ping_pid")
# mover ROLE: frames from the one moving MAC out of ROLE's TAP, 200/s, for SECS.
mover() {
  in_ns "$1" timeout "$((SECS + 5))" "$PYTHON" - "$(name "$1")" "$SECS" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
frame = bytes.fromhex("ffffffffffff" "020000740099" "88b5") + bytes(46)
end = time.time() + float(sys.argv[2])
while time.time() < end:
    s.send(frame)
    time.sleep(0.005)
PY
  T_PIDS+=($!)
}
mover c
mover d
extra="$(name x)"
# Every other round the extra port is the kernel side of a veth (dev:; with
# workers, a fanout group of sockets); the moving MAC's floods go out of it.
xdev="$(name xd)"
ip -n "$(ns sw)" link add "$xdev" type veth peer name "$(name xp)"
ip -n "$(ns sw)" link set "$(name xp)" up
end=$((SECONDS + SECS))
rounds=0 reloads=0
while [ "$SECONDS" -lt "$end" ]; do
  kill -0 "$pid" 2>/dev/null || fail "vswitchd died during the stress (round $rounds)"
  if [ $((rounds % 2)) -eq 0 ]; then port="tap:$extra" named="$extra"; else port="dev:$xdev" named="$xdev"; fi
  ctl port add "$port" >/dev/null || fail "port add $port failed in round $rounds"
  ctl --json show >/dev/null || fail "show failed in round $rounds"
  ctl fdb flush >/dev/null || fail "fdb flush failed in round $rounds"
  ctl port del "$named" >/dev/null || fail "port del $named failed in round $rounds"
  if [ $((rounds % 5)) -eq 0 ]; then
    printf 'mac-aging = %s\n' "$((reloads % 2 == 0 ? 60 : 300))" >"$conf.new"
    mv "$conf.new" "$conf"   # whole, never half-written under a reload
    kill -HUP "$pid"
    reloads=$((reloads + 1))
  fi
  rounds=$((rounds + 1))
  sleep 0.1
done
wait "$IPERF3_CLIENT_PID" || true
wait "$ping_pid" || true
log "   $rounds rounds of port add/show/flush/del, $reloads reloads"
# (At least 10: a sanitizer build under iperf3 manages about 20, a Release build 80.)
[ "$rounds" -ge 10 ] || fail "only $rounds control rounds in $SECS s"

check "the daemon is alive, the traffic went on"
kill -0 "$pid" 2>/dev/null || fail "vswitchd is not running after the stress"
read -r gap mbits <<<"$(iperf3_longest_gap "$WORK/iperf3.json")"
echo "RESULT stress: iperf3 $mbits Mbit/s, longest gap $gap s"
[ "$(calc "$mbits > 100")" = 1 ] || fail "iperf3 carried only $mbits Mbit/s during the stress"
[ "$(calc "$gap < 2")" = 1 ] || fail "iperf3 stalled for $gap s during the stress"
loss="$(sed -nE 's/.* ([0-9.]+)% packet loss.*/\1/p' "$WORK/ping.txt")"
[ -n "$loss" ] && [ "$(calc "$loss <= 5")" = 1 ] ||
  fail "c's pings to d: $(grep -E 'packet loss' "$WORK/ping.txt") (want <= 5 % loss)"
for last in 2 3 4; do ping_ok a "$V.$last" 3; done
flaps="$(show_json "$pid" | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["mac_table"]["flaps"])')"
[ "$flaps" -ge 1 ] || fail "the MAC moving between c and d was never pinned (mac_table.flaps = $flaps)"
log "   MAC table flaps (entries pinned for moving too often): $flaps"

check "SIGTERM: status 0, no sanitizer report"
stop_vswitchd "$pid" 5
if grep -nE 'AddressSanitizer|LeakSanitizer|runtime error|ThreadSanitizer' "$WORK/vswitchd.log"; then
  fail "a sanitizer reported a problem (above)"
fi
pass "stress: $rounds control rounds and $reloads reloads under load, no crash, no report"
