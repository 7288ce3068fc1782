#!/usr/bin/env bash
# a. Two namespaces on file-side TAPs through one vswitchd (run in a "switch"
# namespace): ping both ways, iperf3 TCP for 3 s, the daemon's counters, and a
# clean SIGTERM (exit 0 within 1 s, the TAPs it created gone).
set -euo pipefail
TEST_TAG=tp
source "$(dirname "$0")/lib.sh"
need_root iperf3 ss

make_ns sw
make_ns a
make_ns b
ta="$(name a)"
tb="$(name b)"

check "vswitchd creates two TAPs (tap:$ta, bare $tb) in the switch namespace"
start_vswitchd sw "$WORK/vswitchd.log" --port "tap:$ta" --port "$tb"
pid="$VSW_PID"
exists sw "$ta" || fail "TAP $ta was not created"
exists sw "$tb" || fail "TAP $tb was not created"
tap_to_ns sw "$ta" a 10.11.0.1/24
tap_to_ns sw "$tb" b 10.11.0.2/24

check "ping both ways"
wait_ping a 10.11.0.2
ping_ok a 10.11.0.2 5
ping_ok b 10.11.0.1 5

check "iperf3 TCP 3 s from a to b"
iperf3_gbits a b 10.11.0.2 3
echo "RESULT a: iperf3 TCP $GBITS Gbit/s"

check "counters: both ports received and sent, no drops"
lines="$(counters "$pid" "$WORK/vswitchd.log")"
printf '%s\n' "$lines"
for p in "$ta" "$tb"; do
  line="$(port_line "$lines" "$p")"
  [ -n "$line" ] || fail "no counters line for port $p"
  grep -qF "port $p (tap, up):" <<<"$line" || fail "port $p is not reported (tap, up): $line"
  [ "$(rx_frames "$line")" -gt 1000 ] || fail "port $p received too few frames: $line"
  [ "$(tx_frames "$line")" -gt 1000 ] || fail "port $p sent too few frames: $line"
  # The TAPs are up before any traffic and IPv6 is off, so nothing should drop.
  check_drops "$line"
done
grep -q 'counters: mac table 2 of 8192 entries; learned 2,' <<<"$lines" ||
  fail "the MAC table should hold the two guests' addresses"

check "SIGTERM: exit 0 within 1 s, the TAPs it created are gone"
stop_vswitchd "$pid" 1
grep -q 'stopping' "$WORK/vswitchd.log" || fail "no 'stopping' line after SIGTERM"
for _ in $(seq 20); do
  exists a "$ta" || exists b "$tb" || break
  sleep 0.05
done
exists a "$ta" && fail "TAP $ta still exists after vswitchd stopped"
exists b "$tb" && fail "TAP $tb still exists after vswitchd stopped"

pass "tap_ping_iperf: ping both ways, iperf3 $GBITS Gbit/s, counters, clean stop"
