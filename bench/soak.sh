#!/usr/bin/env bash
# Soak: mixed traffic for a long time, the daemons' memory sampled. Not a CI
# test (it takes 10 minutes); run it by hand after a change to the data path:
#
#   sudo bench/soak.sh [PATH/TO/vswitchd]      (default build/switchd/vswitchd)
#   SOAK_SECONDS=600 SOAK_RATE=300M            (the defaults)
#
# Host h1 runs vswitchd A with a TAP's file side (vm1), an interface's kernel
# side (dev:, a veth to vm3) and an uplink to host h2, whose vswitchd B has a
# TAP into vm2. For SOAK_SECONDS: iperf3 TCP vm1 -> vm2 across the uplink and
# vm3 -> vm1 across A, each at SOAK_RATE, in 30 s rounds; UDP vm2 -> vm3; pings
# all ways; bursts of frames from 500 random MACs every 20 s (learning,
# aging, flooding); `vswitchctl show` and a metrics scrape every 10 s (the
# control path). VmRSS of A and B every 10 s. Prints the samples and the
# growth after the first minute (warm-up); exits 1 if either grew by 1 MB or
# more after it.
set -uo pipefail
TEST_TAG=sk
REPO="$(cd "$(dirname "$0")/.." && pwd)"
VSWITCHD="${1:-$REPO/build/switchd/vswitchd}"
source "$REPO/tests/integration/lib.sh" "$VSWITCHD"
need_root iperf3 curl
SECONDS_TOTAL="${SOAK_SECONDS:-600}"
RATE="${SOAK_RATE:-300M}"
U=10.200.70
V=10.70.0

two_hosts_underlay "$U"
make_ns vm3
make_veth h1 "$(name v1)" vm3 "$(name v3)"
ip -n "$(ns h1)" link set "$(name v1)" up
start_vswitchd h1 "$WORK/a.log" --port "tap:$(name t1)" --port "dev:$(name v1)" --uplink "$U.2:4789" \
  --mac-aging 15 --metrics 127.0.0.1:9370
PIDA="$VSW_PID"; CTLA="$VSW_CTL"
start_vswitchd h2 "$WORK/b.log" --port "tap:$(name t2)" --uplink "$U.1:4789" --mac-aging 15
PIDB="$VSW_PID"
tap_to_ns h1 "$(name t1)" vm1 "$V.1/24"
tap_to_ns h2 "$(name t2)" vm2 "$V.2/24"
addr_up vm3 "$(name v3)" "$V.3/24"
wait_ping vm1 "$V.2"
wait_ping vm3 "$V.1"

end=$(( $(date +%s) + SECONDS_TOTAL ))
# Traffic loops, each until the end.
loop() { while [ "$(date +%s)" -lt "$end" ]; do "$@" >/dev/null 2>&1 || sleep 1; done; }
in_ns vm2 iperf3 -s -p 5270 -D; in_ns vm1 iperf3 -s -p 5271 -D; in_ns vm3 iperf3 -s -p 5272 -D
sleep 0.5
loop in_ns vm1 iperf3 -c "$V.2" -p 5270 -t 30 -b "$RATE" & T_PIDS+=($!)
loop in_ns vm3 iperf3 -c "$V.1" -p 5271 -t 30 -b "$RATE" & T_PIDS+=($!)
loop in_ns vm2 iperf3 -c "$V.3" -p 5272 -u -t 30 -b 50M & T_PIDS+=($!)
loop in_ns vm1 ping -q -c 100 -i 0.1 "$V.3" & T_PIDS+=($!)
loop in_ns vm3 ping -q -c 100 -i 0.1 "$V.2" & T_PIDS+=($!)
burst() {
  in_ns vm3 "$PYTHON" -c '
import os, socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind((sys.argv[1], 0))
for i in range(500):
    src = bytearray(os.urandom(6)); src[0] = (src[0] & 0xfe) | 2
    s.send(b"\xff" * 6 + bytes(src) + b"\x88\xb5" + bytes(46))' "$(name v3)"
  sleep 20
}
loop burst & T_PIDS+=($!)

log "soak: $SECONDS_TOTAL s; RSS (MB) of A and B every 10 s"
samples_a=(); samples_b=()
t0="$(date +%s)"
while [ "$(date +%s)" -lt "$end" ]; do
  "$VSWITCHCTL" --control "$CTLA" show >/dev/null || fail "vswitchctl show failed during the soak"
  in_ns h1 curl -sf "http://127.0.0.1:9370/metrics" >/dev/null || fail "metrics scrape failed during the soak"
  kill -0 "$PIDA" 2>/dev/null && kill -0 "$PIDB" 2>/dev/null || fail "a vswitchd died during the soak"
  a="$(awk '/^VmRSS/ {print $2}' "/proc/$PIDA/status")"; b="$(awk '/^VmRSS/ {print $2}' "/proc/$PIDB/status")"
  samples_a+=("$a"); samples_b+=("$b")
  printf '   t=%4ds  A %6.1f MB  B %6.1f MB\n' "$(( $(date +%s) - t0 ))" "$(calc "$a / 1024")" "$(calc "$b / 1024")"
  sleep 10
done
lines="$(counters "$PIDA" "$WORK/a.log")"
printf '%s\n' "$lines" | grep -E 'counters: (port|mac table)'
# Growth after the warm-up (the first minute: 6 samples).
growth() {
  local -a s=("$@")
  local base="${s[6]:-${s[-1]}}" max v
  max="$base"
  for v in "${s[@]:6}"; do [ "$v" -gt "$max" ] && max="$v"; done
  echo $(( max - base ))
}
ga="$(growth "${samples_a[@]}")"; gb="$(growth "${samples_b[@]}")"
echo "RESULT soak: $SECONDS_TOTAL s; RSS A ${samples_a[0]} -> ${samples_a[-1]} kB (growth after warm-up $ga kB), B ${samples_b[0]} -> ${samples_b[-1]} kB (growth $gb kB)"
echo "RESULT soak samples A (kB): ${samples_a[*]}"
echo "RESULT soak samples B (kB): ${samples_b[*]}"
stop_vswitchd "$PIDA" 1
stop_vswitchd "$PIDB" 1
[ "$ga" -lt 1024 ] && [ "$gb" -lt 1024 ] || fail "RSS grew by 1 MB or more after the warm-up (A $ga kB, B $gb kB)"
pass "soak: $SECONDS_TOTAL s of mixed traffic; RSS flat after the warm-up"
