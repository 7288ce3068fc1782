#!/usr/bin/env bash
# MAC flood and broadcast storm from one guest; the others must not notice.
#
# Namespace "sw" runs vswitchd with TAPs into namespaces a (the attacker), b
# and c (10.64.0.2 and .3), --mac-table-size 4096; a has max-macs=1000 and
# bcast-limit=1000.
#   1. MAC flood: a sends 1,000,000 frames with random source MACs (a raw
#      socket, bounded to 60 s) while b pings c every 20 ms. The MAC table
#      never holds more than 4096 entries nor a more than 1000 (sampled with
#      vswitchctl during the flood and at the end), b's pings get >= 99%
#      answers, b's and c's entries survive, and the daemon's RSS stays under
#      RSS_LIMIT_MB (stated below).
#   2. The same flood into a switch with no per-port limit and a 1024-entry
#      table (--mac-table-full evict): the table stays full of the flooder's
#      addresses, b's and c's entries are never evicted (the flooder, holding
#      the most, loses its own), pings >= 99%.
#   3. Broadcast storm: a sends broadcasts as fast as it can for 5 s, over its
#      bcast-limit of 1000/s: b's pings are all answered, drops counted as
#      storm_broadcast, and b received at most what the limit lets through.
TEST_TAG=fs
source "$(dirname "$0")/lib.sh"
need_root
V=10.64.0
RSS_LIMIT_MB=64
FLOOD_FRAMES=1000000

# flood ROLE COUNT KIND SECONDS: KIND random-source (unicast to a fixed
# address from random sources) or broadcast; prints frames sent and seconds.
flood() {
  in_ns "$1" "$PYTHON" - "$(name "$1")" "$2" "$3" "$4" <<'EOF'
import os, socket, sys, time
ifname, count, kind, limit = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
payload = bytes(46)
start = time.time()
sent = 0
if kind == "broadcast":
    frame = bytes.fromhex("ffffffffffff" "020000640001" "88b5") + payload
    while sent < count and time.time() - start < limit:
        for _ in range(1000):
            try:
                s.send(frame); sent += 1
            except BlockingIOError:
                pass
else:
    dst = bytes.fromhex("020000640002")
    rnd = os.urandom(6 * 65536)
    while sent < count and time.time() - start < limit:
        block = os.urandom(6 * 4096)
        for i in range(4096):
            src = bytearray(block[6 * i:6 * i + 6])
            src[0] = (src[0] & 0xfe) | 0x02          # unicast, locally administered
            try:
                s.send(dst + bytes(src) + b"\x88\xb5" + payload); sent += 1
            except BlockingIOError:
                pass
print(sent, round(time.time() - start, 1))
EOF
}
mac_count() { "$VSWITCHCTL" --control "$1" show --json | "$PYTHON" -c "import json,sys; j=json.load(sys.stdin); print(j['mac_table']['entries'], next(p['mac_entries'] for p in j['ports'] if p['name']=='$(name a)'))"; }
rss_mb() { awk '/^VmRSS/ {print int($2 / 1024)}' "/proc/$1/status"; }
ping_run() {  # ping_run COUNT: b pings c every 20 ms in the background
  # (ip netns exec execs ping: $! is ping itself, which prints its summary on SIGINT)
  ip netns exec "$(ns b)" ping -n -q -c "$1" -i 0.02 -W 1 "$V.3" >"$WORK/ping.out" 2>&1 &
  PING_PID=$!
  T_PIDS+=("$PING_PID")
}
ping_stop() {  # ping_stop: stop b's pings; sets got and tx from ping's summary
  # (wait runs here, in the shell that started ping, not in a $(...) subshell
  # that cannot wait for it and would read the summary before ping wrote it)
  kill -INT "$PING_PID" 2>/dev/null || true
  wait "$PING_PID" || true
  got="$(sed -nE 's/.* ([0-9]+) received.*/\1/p' "$WORK/ping.out")"
  tx="$(sed -nE 's/^([0-9]+) packets transmitted.*/\1/p' "$WORK/ping.out")"
  [ -n "$got" ] && [ -n "$tx" ] || fail "no summary from ping: $(cat "$WORK/ping.out")"
  # Stopped mid-run, ping counts the request still on its way as sent: that
  # one is not judged.
  [ "$tx" -gt "$got" ] && tx=$((tx - 1))
  return 0
}

start_switch() {  # start_switch LOG ARGS...: vswitchd in sw with TAPs a, b, c moved into their namespaces
  local logf="$1"
  shift
  start_vswitchd sw "$logf" "$@"
  SW_PID="$VSW_PID"; CTL="$VSW_CTL"
  ip -n "$(ns sw)" link set "$(name a)" netns "$(ns a)"
  ip -n "$(ns a)" link set "$(name a)" up
  tap_to_ns sw "$(name b)" b "$V.2/24"
  tap_to_ns sw "$(name c)" c "$V.3/24"
  wait_ping b "$V.3"
}

make_ns sw; make_ns a; make_ns b; make_ns c
check "1. a MAC flood of $FLOOD_FRAMES random sources from a (max-macs=1000), b pinging c all along"
start_switch "$WORK/vswitchd1.log" --port "tap:$(name a),max-macs=1000,bcast-limit=1000" \
  --port "tap:$(name b)" --port "tap:$(name c)" --mac-table-size 4096
rss0="$(rss_mb "$SW_PID")"
ping_run 2500
flood a "$FLOOD_FRAMES" random 60 >"$WORK/flood1.out" &
FLOOD=$!
T_PIDS+=("$FLOOD")
max_total=0; max_a=0
while kill -0 "$FLOOD" 2>/dev/null; do
  read -r total on_a <<<"$(mac_count "$CTL")"
  [ "$total" -gt "$max_total" ] && max_total="$total"
  [ "$on_a" -gt "$max_a" ] && max_a="$on_a"
  sleep 0.5
done
wait "$FLOOD" || fail "the flooder failed: $(cat "$WORK/flood1.out")"
read -r sent secs <"$WORK/flood1.out"
ping_stop
rss1="$(rss_mb "$SW_PID")"
read -r total on_a <<<"$(mac_count "$CTL")"
log "   flood: $sent frames in $secs s; table max $max_total (cap 4096), a max $max_a (max-macs 1000); b->c $got/$tx pings; RSS ${rss0} -> ${rss1} MB"
[ "$sent" -ge "$FLOOD_FRAMES" ] || log "   (the flooder sent $sent of $FLOOD_FRAMES within its 60 s bound)"
[ "$max_total" -le 4096 ] && [ "$total" -le 4096 ] || fail "the table went over its cap: $max_total"
[ "$max_a" -le 1000 ] && [ "$on_a" -le 1000 ] || fail "a held more than its max-macs: $max_a"
[ "$on_a" -ge 900 ] || fail "a's limit was never reached ($on_a): did the flood arrive?"
[ "$((got * 100))" -ge "$((tx * 99))" ] || fail "b->c: $got of $tx pings answered during the flood (< 99%)"
[ "$rss1" -le "$RSS_LIMIT_MB" ] || fail "RSS $rss1 MB after the flood, over $RSS_LIMIT_MB MB"
refused="$("$VSWITCHCTL" --control "$CTL" show --json | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["mac_table"]["refused"])')"
echo "RESULT flood: $sent frames with random sources in $secs s; table <= $max_total/4096, port <= $max_a/1000, refused $refused; pings $got/$tx; RSS $rss0 -> $rss1 MB"
stop_vswitchd "$SW_PID" 1

check "2. the same flood into a 1024-entry table without a port limit (--mac-table-full evict)"
start_switch "$WORK/vswitchd2.log" --port "tap:$(name a)" --port "tap:$(name b)" --port "tap:$(name c)" \
  --mac-table-size 1024 --mac-table-full evict
mac_b="$(if_mac b "$(name b)")"; mac_c="$(if_mac c "$(name c)")"
ping_run 1500
flood a 300000 random 30 >"$WORK/flood2.out"
ping_stop
fdb="$("$VSWITCHCTL" --control "$CTL" fdb show)"
grep -qF "$mac_b" <<<"$fdb" || fail "b's entry was evicted by a's flood"
grep -qF "$mac_c" <<<"$fdb" || fail "c's entry was evicted by a's flood"
stats="$("$VSWITCHCTL" --control "$CTL" show --json | "$PYTHON" -c 'import json,sys; t=json.load(sys.stdin)["mac_table"]; print(t["entries"], t["evicted"])')"
read -r total evicted <<<"$stats"
[ "$total" -le 1024 ] || fail "the table went over its cap: $total"
[ "$evicted" -gt 1000 ] || fail "nothing was evicted ($evicted): was the table full?"
[ "$((got * 100))" -ge "$((tx * 99))" ] || fail "b->c: $got of $tx pings answered during the flood (< 99%)"
echo "RESULT flood-evict: $(cat "$WORK/flood2.out" | awk '{print $1" frames in "$2" s"}'); table $total/1024, evicted $evicted, b and c kept; pings $got/$tx"
stop_vswitchd "$SW_PID" 1

check "3. a broadcast storm from a, over its bcast-limit of 1000/s"
start_switch "$WORK/vswitchd3.log" --port "tap:$(name a),bcast-limit=1000" --port "tap:$(name b)" \
  --port "tap:$(name c)"
before="$(if_rx_packets b "$(name b)")"
ping_run 250
flood a 10000000 broadcast 5 >"$WORK/storm.out"
read -r sent secs <"$WORK/storm.out"
ping_stop
after="$(if_rx_packets b "$(name b)")"
drops="$("$VSWITCHCTL" --control "$CTL" stats --json | "$PYTHON" -c "import json,sys; j=json.load(sys.stdin); print(next(p['drops']['storm_broadcast'] for p in j['ports'] if p['name']=='$(name a)'))")"
reached=$((after - before))
allowed="$(calc "1000 * $secs + 100 + $tx * 2 + 50")"   # the limit over the storm, its burst, b's own traffic
log "   storm: a sent $sent broadcasts in $secs s; storm_broadcast drops $drops; b received $reached frames; pings $got/$tx"
[ "$drops" -gt 0 ] || fail "no storm_broadcast drops"
[ "$(calc "$reached <= $allowed")" = 1 ] || fail "b received $reached frames, more than the limit lets through ($allowed)"
[ "$got" -eq "$tx" ] || fail "b->c lost pings during the storm: $got of $tx"
echo "RESULT storm: $sent broadcasts in $secs s at a bcast-limit of 1000/s: $drops dropped (storm_broadcast), b got $reached frames; pings $got/$tx"
stop_vswitchd "$SW_PID" 1
pass "flood_storm: table and port caps hold, neighbours keep their entries and their pings"
