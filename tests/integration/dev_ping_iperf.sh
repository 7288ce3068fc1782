#!/usr/bin/env bash
# b. Kernel-side ports: two veth pairs, one end in each guest namespace, the other
# end in the switch namespace attached with dev:. Ping both ways, iperf3 TCP for 3 s,
# the daemon's counters, clean SIGTERM (the veths it attached stay). With worker
# threads (VSWITCHD_TEST_ARGS=--workers 4): each port's sockets form a fanout
# group and 8 streams are read by more than one worker.
#
# Offloads: the guest-side veths keep the kernel's defaults (checksum offload,
# TSO, GSO), so the switch gets 64 KB super-frames with partial checksums and
# must pass them on with their virtio-net header (PACKET_VNET_HDR). The switch
# turns GRO off on the ends it attaches while it holds them; the test sets
# GRO on there first (DEV_GRO=on) to check that. DEV_TX_OFF=1 turns the guest
# side's offloads off, for comparison with plain 1500-byte frames.

# The switch-side veths are left down: vswitchd brings them up itself. The test
# fails if the daemon then reports them down: a spurious "down: link is down"
# right after "ready" (the daemon binds its packet socket while the interface is
# down, which leaves ENETDOWN pending on the socket). It runs every other check
# first.
set -euo pipefail
TEST_TAG=dv
source "$(dirname "$0")/lib.sh"
need_root iperf3 ss ethtool tcpdump

make_ns sw
make_ns a
make_ns b
ga="$(name ga)"; sa="$(name sa)"   # guest end in a, switch end
gb="$(name gb)"; sb="$(name sb)"
make_veth a "$ga" sw "$sa"
make_veth b "$gb" sw "$sb"
if [ "${DEV_TX_OFF:-0}" = 1 ]; then
  in_ns a ethtool -K "$ga" tx off >/dev/null
  in_ns b ethtool -K "$gb" tx off >/dev/null
fi
if [ "${DEV_GRO:-on}" != default ]; then
  in_ns sw ethtool -K "$sa" gro "${DEV_GRO:-on}" >/dev/null
  in_ns sw ethtool -K "$sb" gro "${DEV_GRO:-on}" >/dev/null
fi
addr_up a "$ga" 10.12.0.1/24
addr_up b "$gb" 10.12.0.2/24

check "vswitchd attaches dev:$sa and dev:$sb (brings them up)"
start_vswitchd sw "$WORK/vswitchd.log" --port "dev:$sa" --port "dev:$sb"
pid="$VSW_PID"

check "ping both ways"
wait_ping a 10.12.0.2
ping_ok a 10.12.0.2 5
ping_ok b 10.12.0.1 5

check "802.1Q-tagged frames keep their tag across dev: ports (the kernel strips it into metadata)"
# A raw tagged broadcast (VLAN 7, priority 5, ethertype 0x88b5) from a; tcpdump in b must see the tag.
in_ns b timeout 10 tcpdump -i "$gb" -e -n -c 1 'vlan 7 and ether proto 0x88b5' >"$WORK/tagged.txt" 2>"$WORK/tcpdump.err" &
tcpdump_pid=$!
T_PIDS+=("$tcpdump_pid")
for _ in $(seq 50); do grep -q "listening on" "$WORK/tcpdump.err" 2>/dev/null && break; sleep 0.1; done
in_ns a "$PYTHON" -c '
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
frame = bytes.fromhex("ffffffffffff" "020000000001" "8100" "a007" "88b5") + b"tagged" * 10
for _ in range(3): s.send(frame)
' "$ga"
wait "$tcpdump_pid" || fail "tcpdump in b saw no frame tagged with VLAN 7: $(cat "$WORK/tcpdump.err")"
grep -q "vlan 7, p 5" "$WORK/tagged.txt" || fail "the tag did not survive: $(cat "$WORK/tagged.txt")"
log "   $(head -n 1 "$WORK/tagged.txt")"

check "iperf3 TCP 3 s from a to b"
iperf3_gbits a b 10.12.0.2 3
echo "RESULT b: iperf3 TCP $GBITS Gbit/s"

# A port the daemon reported down after "ready" (nothing here takes one down).
spurious="$(grep -E "port ($sa|$sb) \(dev\): down:" "$WORK/vswitchd.log" || true)"
allowed=()
# The frames that met the spuriously down port were dropped for that reason only.
[ -n "$spurious" ] && allowed=(no_egress port_down)

check "counters: both ports received and sent, no drops"
lines="$(counters "$pid" "$WORK/vswitchd.log")"
printf '%s\n' "$lines"
for p in "$sa" "$sb"; do
  line="$(port_line "$lines" "$p")"
  [ -n "$line" ] || fail "no counters line for port $p"
  grep -qF "port $p (dev, up):" <<<"$line" || fail "port $p is not reported (dev, up): $line"
  [ "$(rx_frames "$line")" -gt 1000 ] || fail "port $p received too few frames: $line"
  [ "$(tx_frames "$line")" -gt 1000 ] || fail "port $p sent too few frames: $line"
  check_drops "$line" "${allowed[@]}"
done

if with_workers; then
  check "with worker threads: a fanout group of sockets per port; 8 streams read by more than one worker"
  grep -qE "port [0-9]+: dev $sa \(kernel side, AF_PACKET, [0-9]+ sockets in a fanout group" "$WORK/vswitchd.log" ||
    fail "dev:$sa is not read through a fanout group: $(grep -E "port [0-9]+: dev $sa" "$WORK/vswitchd.log")"
  before="$(worker_frames "$pid")"
  cached_before="$(worker_frames "$pid" cached)"
  IPERF3_STREAMS=8 iperf3_gbits a b 10.12.0.2 2
  echo "RESULT b: iperf3 TCP 8 streams $GBITS Gbit/s"
  after="$(worker_frames "$pid")"
  busy="$(paste <(printf '%s\n' "$before") <(printf '%s\n' "$after") | awk '$2 - $1 >= 200 { n++ } END { print n + 0 }')"
  [ "$busy" -ge 2 ] || fail "$busy worker(s) read the 8 streams, want at least 2"
  # Known unicast flows: nearly every frame goes out by a remembered decision, without the lock.
  read -r read_n cached_n < <(paste <(printf '%s\n' "$before") <(printf '%s\n' "$after") \
      <(printf '%s\n' "$cached_before") <(worker_frames "$pid" cached) |
    awk '{ r += $2 - $1; c += $4 - $3 } END { print r + 0, c + 0 }')
  echo "RESULT workers read $read_n frames, $cached_n forwarded by a remembered decision"
  [ "$cached_n" -ge $((read_n / 2)) ] || fail "only $cached_n of $read_n frames were forwarded by a remembered decision"
  lines="$(counters "$pid" "$WORK/vswitchd.log")"
  for p in "$sa" "$sb"; do check_drops "$(port_line "$lines" "$p")" "${allowed[@]}"; done
fi

check "the link of dev:$sb goes down and comes back: the port follows, ping works again"
mark="$(log_lines "$WORK/vswitchd.log")"
ip -n "$(ns sw)" link set "$sb" down
wait_log "$WORK/vswitchd.log" "$mark" "port $sb \(dev\): down: link is down" 5 >/dev/null ||
  fail "no 'port $sb (dev): down: link is down' after its link went down"
ip -n "$(ns sw)" link set "$sb" up
wait_ping a 10.12.0.2
wait_log "$WORK/vswitchd.log" "$mark" "port $sb \(dev\): up: link is up again" 5 >/dev/null ||
  fail "no 'port $sb (dev): up: link is up again' after its link came back"
ping_ok a 10.12.0.2 3

check "SIGTERM: exit 0 within 1 s; the attached veths are left in place"
stop_vswitchd "$pid" 1
exists sw "$sa" || fail "veth $sa vanished after vswitchd stopped"
exists sw "$sb" || fail "veth $sb vanished after vswitchd stopped"
if [ "${DEV_GRO:-on}" = on ]; then
  for p in "$sa" "$sb"; do
    in_ns sw ethtool -k "$p" | grep -q "generic-receive-offload: on" ||
      fail "GRO on $p was not restored when vswitchd stopped"
  done
fi

check "the attached ports were not reported down after 'ready'"
[ -z "$spurious" ] || fail "daemon bug: a dev: port it brought up itself was reported down right after ready (frames to it were dropped until it saw traffic or its 1 s link timer fired):
$spurious"

pass "dev_ping_iperf: ping both ways, iperf3 $GBITS Gbit/s, counters, clean stop"
