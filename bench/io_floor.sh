#!/usr/bin/env bash
# The I/O floor: CPU per 64-byte frame between two TAPs, for vswitchd (one
# thread and --workers 2) and for bench/io_floor.c, a forwarder that does
# nothing but the I/O, in its ways of reading and writing. Each: two TAPs the
# forwarder creates, moved into namespaces A and B; iperf3 -u -l 64 -b 40M
# from A to B for 6 s; over 3 s of it, the forwarder's utime+stime
# (/proc/PID/stat) per frame B received, and B's loss. Before that, at idle,
# the median of 200 pings 20 ms apart, and the same through a Linux bridge
# (veths), the anchor: what a thread's wake-ups cost a round trip.
#   sudo bench/io_floor.sh [path/to/vswitchd]     (default: build/switchd/vswitchd)
# Needs root, gcc, liburing-dev, iperf3. Not part of bench/run.sh: it
# explains one of its figures (docs/performance.md).
set -euo pipefail
cd "$(dirname "$0")/.."
VSWITCHD="${1:-build/switchd/vswitchd}"
[ -x "$VSWITCHD" ] || { echo "io_floor.sh: no vswitchd at $VSWITCHD (build it, or name it)" >&2; exit 1; }
OUT="$(mktemp -d)"
gcc -O2 -Wall -o "$OUT/io_floor" bench/io_floor.c -luring
NA=iofa-$$ NB=iofb-$$ TA=iofq0 TB=iofq1
NS=iofs-$$
cleanup() {
  ip netns del "$NA" 2>/dev/null || true; ip netns del "$NB" 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true; rm -rf "$OUT"
}
trap cleanup EXIT
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# The median round trip of 200 pings from A to B, in µs.
ping_p50() {
  ip netns exec "$NA" ping -c 200 -i 0.02 10.97.0.2 |
    awk -F'time=' '/time=/ { split($2, a, " "); print a[1] * 1000 }' | sort -n |
    awk '{ v[NR] = $1 } END { printf "%.0f", NR ? v[int((NR + 1) / 2)] : -1 }'
}
measure() {  # NAME COMMAND...
  local name="$1"; shift
  ip netns add "$NA"; ip netns add "$NB"
  "$@" >"$OUT/fwd.log" 2>&1 &
  local pid=$!
  for _ in $(seq 50); do ip link show "$TB" >/dev/null 2>&1 && break; sleep 0.1; done
  ip link set "$TA" netns "$NA"; ip link set "$TB" netns "$NB"
  ip -n "$NA" addr add 10.97.0.1/24 dev "$TA"; ip -n "$NA" link set "$TA" up
  ip -n "$NB" addr add 10.97.0.2/24 dev "$TB"; ip -n "$NB" link set "$TB" up
  ip netns exec "$NA" ping -c 3 -i 0.2 -q 10.97.0.2 >/dev/null || echo "$name: no ping" >&2
  local rtt
  rtt=$(ping_p50)
  ip netns exec "$NB" iperf3 -s -1 -D -p 5299 >/dev/null 2>&1; sleep 0.5
  ip netns exec "$NA" iperf3 -c 10.97.0.2 -p 5299 -u -l 64 -b 40M -t 6 --json >"$OUT/iperf.json" 2>/dev/null &
  local client=$!
  sleep 1.5
  local t0 r0 t1 r1
  t0=$(ticks "$pid"); r0=$(ip -n "$NB" -s -j link show "$TB" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["stats64"]["rx"]["packets"])')
  sleep 3
  t1=$(ticks "$pid"); r1=$(ip -n "$NB" -s -j link show "$TB" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["stats64"]["rx"]["packets"])')
  wait "$client" || true
  local loss
  loss=$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["end"]["sum"]["lost_percent"], 2))' "$OUT/iperf.json" 2>/dev/null || echo "?")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  ip netns del "$NA"; ip netns del "$NB"
  python3 -c 'import sys; t, n = int(sys.argv[2]), int(sys.argv[3]); print(f"{sys.argv[1]:<40} {t * 10000 / max(n, 1):6.2f} µs/frame  loss {sys.argv[4]} %  idle ping p50 {sys.argv[5]} µs")' \
    "$name" "$((t1 - t0))" "$((r1 - r0))" "$loss" "$rtt"
}
# The anchor's idle ping: A and B on veths to a Linux bridge in namespace NS.
bridge_ping() {
  ip netns add "$NA"; ip netns add "$NB"; ip netns add "$NS"
  ip link add "$TA" netns "$NA" type veth peer name iofpa netns "$NS"
  ip link add "$TB" netns "$NB" type veth peer name iofpb netns "$NS"
  ip -n "$NS" link add iofbr type bridge
  for p in iofpa iofpb; do ip -n "$NS" link set "$p" master iofbr; ip -n "$NS" link set "$p" up; done
  ip -n "$NS" link set iofbr up
  ip -n "$NA" addr add 10.97.0.1/24 dev "$TA"; ip -n "$NA" link set "$TA" up
  ip -n "$NB" addr add 10.97.0.2/24 dev "$TB"; ip -n "$NB" link set "$TB" up
  ip netns exec "$NA" ping -c 3 -i 0.2 -q 10.97.0.2 >/dev/null || echo "bridge: no ping" >&2
  printf '%-40s %s\n' "Linux bridge (anchor)" "idle ping p50 $(ping_p50) µs"
  ip netns del "$NA"; ip netns del "$NB"; ip netns del "$NS"
}
bridge_ping
measure "vswitchd, one thread" "$VSWITCHD" --port "tap:$TA" --port "tap:$TB"
measure "vswitchd --workers 2" "$VSWITCHD" --port "tap:$TA" --port "tap:$TB" --workers 2
for mode in epoll epoll-batch epoll-uwrite; do
  measure "io_floor $mode" "$OUT/io_floor" "$mode" "$TA" "$TB"
done
