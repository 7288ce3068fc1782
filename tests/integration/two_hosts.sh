#!/usr/bin/env bash
# d. Two "hosts" (namespaces h1, h2) joined by a veth underlay, each running
# vswitchd with a TAP into its own VM namespace (vm1, vm2) and a VXLAN --uplink
# to the other host. VM-to-VM ping both ways (also full 1500-byte packets) and
# iperf3 TCP for 3 s; counters on the uplink ports. With worker threads
# (VSWITCHD_TEST_ARGS=--workers 4): 8 streams are read by more than one worker.
#
# MTU: VXLAN adds 50 bytes (outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14),
# so the underlay veth gets MTU 1600 and the guests keep their 1500.
set -euo pipefail
TEST_TAG=th
source "$(dirname "$0")/lib.sh"
need_root iperf3 ss

t1="$(name t1)"; t2="$(name t2)"
two_hosts_underlay 10.200.4

check "vswitchd on each host: a TAP and an uplink to the other host"
vswitchd_on_hosts 10.200.4 10.14.0
pid1="$PID1"; pid2="$PID2"

check "VM-to-VM ping both ways, also 1472-byte payloads with DF (1500-byte packets)"
wait_ping vm1 10.14.0.2
ping_ok vm1 10.14.0.2 5
ping_ok vm2 10.14.0.1 5
ping_ok vm1 10.14.0.2 3 -s 1472 -M "do"
ping_ok vm2 10.14.0.1 3 -s 1472 -M "do"

check "iperf3 TCP 3 s from vm1 to vm2"
iperf3_gbits vm1 vm2 10.14.0.2 3
echo "RESULT d: iperf3 TCP $GBITS Gbit/s"

check "counters: TAP and uplink ports carried the traffic, no drops"
for h in 1 2; do
  pidv="pid$h"; tv="t$h"
  peer="10.200.4.$((3 - h)):4789"
  lines="$(counters "${!pidv}" "$WORK/vswitchd-h$h.log")"
  printf '%s\n' "$lines" | grep 'counters: port'
  for p in "${!tv}" "$peer"; do
    line="$(port_line "$lines" "$p")"
    [ -n "$line" ] || fail "h$h: no counters line for port $p"
    grep -q ', up): ' <<<"$line" || fail "h$h: port $p is not up: $line"
    [ "$(rx_frames "$line")" -gt 1000 ] || fail "h$h: port $p received too few frames: $line"
    [ "$(tx_frames "$line")" -gt 1000 ] || fail "h$h: port $p sent too few frames: $line"
    check_drops "$line"
  done
done

if with_workers; then
  check "with worker threads: 8 TCP streams for 2 s are read by more than one worker on each host"
  # Frames from the uplink go out on the TAP queue of their flow; the kernel
  # sends a flow's frames back on the queue it was last written from. (After
  # the counters' check: 4 workers can hand the main thread's uplink more than
  # it sends, and a full handoff ring drops as a full queue would.)
  before1="$(worker_frames "$pid1")"; before2="$(worker_frames "$pid2")"
  IPERF3_STREAMS=8 iperf3_gbits vm1 vm2 10.14.0.2 2
  echo "RESULT d: iperf3 TCP 8 streams $GBITS Gbit/s"
  for h in 1 2; do
    pidv="pid$h"; beforev="before$h"
    busy="$(paste <(printf '%s\n' "${!beforev}") <(worker_frames "${!pidv}") |
            awk '$2 - $1 >= 200 { n++ } END { print n + 0 }')"
    show_json "${!pidv}" | "$PYTHON" -c 'import json,sys
for w in json.load(sys.stdin)["workers"]: print("worker", w["index"], "read", w["frames"], "frames,",
    w["handoff_full"], "dropped for a full ring:", " ".join(q["port"] + "/q" + str(q["queue"]) for q in w["queues"]))'
    [ "$busy" -ge 2 ] || fail "h$h: $busy worker(s) read the 8 streams, want at least 2"
  done
fi

check "no datagram came from a non-peer; SIGTERM: both exit 0 within 1 s"
for pid in "$pid1" "$pid2"; do
  ep="$(counters "$pid" | grep 'counters: udp endpoint:')"
  grep -q 'dropped from non-peers 0$' <<<"$ep" || fail "vswitchd $pid: datagrams dropped from non-peers: $ep"
done
stop_vswitchd "$pid1" 1
stop_vswitchd "$pid2" 1

pass "two_hosts: VM ping both ways over VXLAN (1500-byte packets too), iperf3 $GBITS Gbit/s"
