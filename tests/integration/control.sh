#!/usr/bin/env bash
# Operating a running switch: vswitchctl against the control socket, the
# Prometheus endpoint, packet capture, and configuration reload.
#
# Namespace "sw" runs vswitchd A from a --config file (TAPs into vm a and vm b,
# --listen on the underlay, --mac-aging 4, --metrics on sw's loopback). Namespace
# "h2" runs vswitchd B with a TAP into vm c and an uplink to A; A has no uplink
# to B until one is added at runtime. Checks:
#   1. show / stats / fdb show, human and --json (parsed): ports, kinds, counters,
#      every drop reason, the MAC table; a TAP's MTU as set in the namespace
#      it was moved into.
#   2. Static entries: fdb add pins vm a's MAC to tb (learning cannot move it:
#      a's pings die as reflections), fdb del frees it; a static entry for an
#      absent MAC survives aging while a learned one (from one injected frame)
#      expires; fdb flush.
#   3. Runtime ports: while a->b pings run (every 0.05 s), port add / port del
#      three times: every ping answered.
#   4. Runtime uplinks: uplink add B -> a reaches c; show lists the peer;
#      uplink del -> c unreachable.
#   5. Metrics: curl /metrics, parsed: per-port counters, drops by reason, MAC
#      table, peers; 404 elsewhere.
#   6. Capture: vswitchctl capture ta FILE --count 10 during pings -> tcpdump -r
#      reads 10 frames, ICMP both ways; --seconds 1 ends on its own.
#   7. Reload: while a->b pings run, the config gains a port and an uplink
#      (vswitchctl reload), then loses them (SIGHUP): each applied, every ping
#      answered; the port, reopened in between by a reload that changes its
#      options, keeps its static MAC entry; a bad config is refused with the
#      error and nothing changes.
#   8. log-level; errors: unknown port, bad MAC, usage errors (exit 2), no
#      daemon (exit 1).
#   9. Bad clients: garbage, a 10 MB line, a client that connects and stalls,
#      17 clients at once: each gets an error or is cut off; vswitchctl show is
#      answered all along and the stalled client is closed after ~10 s.
#  10. SIGTERM while a capture runs and a name lookup hangs (a name server
#      that never answers): the daemon exits 0 within 1 s, the capture ends
#      with "stopping" and its file is readable.
TEST_TAG=ct
source "$(dirname "$0")/lib.sh"
need_root curl tcpdump
[ -x "$VSWITCHCTL" ] || fail "no vswitchctl next to $VSWITCHD"

U=10.200.51     # underlay: sw .1, h2 .2
V=10.51.0       # VMs: a .1, b .2, c .3
METRICS=127.0.0.1:9351
CONF="$WORK/vswitchd.conf"
ta="$(name ta)"; tb="$(name tb)"; tc="$(name tc)"; td="$(name td)"; te="$(name te)"

make_ns sw; make_ns h2; make_ns a; make_ns b; make_ns c
# sw's name server is 127.0.0.1: nothing answers there (a lookup fails at
# once) until step 10 puts a silent one there (a lookup hangs).
etc_netns sw
printf 'nameserver 127.0.0.1\noptions timeout:5 attempts:2\n' >"$ETC_DIR/resolv.conf"
make_veth sw "$(name u1)" h2 "$(name u2)"
addr_up sw "$(name u1)" "$U.1/24" 1600
addr_up h2 "$(name u2)" "$U.2/24" 1600

write_conf() {  # write_conf EXTRA-LINES...: the config A runs from, plus lines
  {
    echo "# vswitchd A (control.sh)"
    echo "port = tap:$ta"
    echo "port = tap:$tb"
    echo "listen = $U.1:4789"
    echo "mac-aging = 4"
    echo "metrics = $METRICS"
    printf '%s\n' "$@"
  } >"$CONF.new"
  mv "$CONF.new" "$CONF"
}
write_conf
start_vswitchd sw "$WORK/a.log" --config "$CONF"
PIDA="$VSW_PID"; CTL="$VSW_CTL"
start_vswitchd h2 "$WORK/b.log" --port "tap:$tc" --uplink "$U.1:4789"
tap_to_ns sw "$ta" a "$V.1/24"
tap_to_ns sw "$tb" b "$V.2/24"
tap_to_ns h2 "$tc" c "$V.3/24"
mac_a="$(if_mac a "$ta")"; mac_b="$(if_mac b "$tb")"
ctl() { "$VSWITCHCTL" --control "$CTL" "$@"; }
# json EXPR: evaluate a Python expression over the JSON on stdin (as j).
json() { "$PYTHON" -c "import json,sys; j=json.load(sys.stdin); print($1)"; }
# ping_run FROM DEST COUNT: COUNT pings every 0.05 s in the background; PING_OUT gets the summary.
# (-w: ping waits for every answer up to the deadline, so one delayed by a
# busy moment at the end is not counted as lost.)
ping_run() {
  in_ns "$1" ping -n -q -c "$3" -i 0.05 -W 1 -w "$(($3 / 20 + 10))" "$2" >"$WORK/ping.out" 2>&1 &
  PING_PID=$!
  T_PIDS+=("$PING_PID")
}
ping_all_answered() {  # ping_all_answered COUNT WHAT
  wait "$PING_PID" || true
  grep -qE " $1 received" "$WORK/ping.out" || fail "$2: pings lost: $(cat "$WORK/ping.out")"
  log "   $2: $1/$1 pings answered"
}
wait_ping a "$V.2"

# A client that connects and sends nothing, started now and checked at the end.
"$PYTHON" - "$CTL" >"$WORK/stall.out" 2>&1 <<'EOF' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); t0 = time.time()
s.settimeout(30)
try:
    data = s.recv(100)
except Exception as e:
    data = repr(e).encode()
print("closed after %.1f s: %r" % (time.time() - t0, data))
EOF
STALL_PID=$!
T_PIDS+=("$STALL_PID")

check "1. show, stats, fdb show: tables and --json"
out="$(ctl show)" || fail "vswitchctl show failed: $out"
log "$out" | sed 's/^/   /'
grep -qE "^$ta +tap +up +1500 " <<<"$out" || fail "show lacks $ta as an up tap with MTU 1500: $out"
# The MTU of a TAP moved into vm a's namespace, as it is there now.
ip -n "$(ns a)" link set "$ta" mtu 1400
[ "$(ctl show --json | json '[p["mtu"] for p in j["ports"] if p["name"] == "'"$ta"'"]')" = "[1400]" ] ||
  fail "show --json: $ta's MTU is not the 1400 set in vm a's namespace: $(ctl show)"
ip -n "$(ns a)" link set "$ta" mtu 1500
grep -qF "mac table:" <<<"$out" || fail "show lacks the MAC table line: $out"
ctl show --json >"$WORK/show.json" || fail "show --json failed"
[ "$(json '",".join(p["name"] + "/" + p["kind"] for p in j["ports"])' <"$WORK/show.json")" = "$ta/tap,$tb/tap" ] ||
  fail "show --json ports: $(cat "$WORK/show.json")"
[ "$(json 'j["mac_table"]["entries"] >= 2 and j["mac_table"]["capacity"] == 8192 and j["mac_table"]["aging_s"] == 4' <"$WORK/show.json")" = True ] ||
  fail "show --json mac_table: $(json 'j["mac_table"]' <"$WORK/show.json")"
[ "$(json 'j["ports"][0]["rx_frames"] > 0 and j["uplink"]["local"] == "'"$U.1:4789"'"' <"$WORK/show.json")" = True ] ||
  fail "show --json counters/uplink: $(cat "$WORK/show.json")"
ctl stats --json >"$WORK/stats.json" || fail "stats --json failed"
[ "$(json 'len(j["ports"][0]["drops"])' <"$WORK/stats.json")" -ge 20 ] || fail "stats --json: not every drop reason listed"
ctl stats | grep -qE "learned|no drops|REASON" || fail "stats (human) says nothing useful: $(ctl stats)"
ctl fdb show --json >"$WORK/fdb.json" || fail "fdb show --json failed"
[ "$(json '[e["port"] for e in j["entries"] if e["mac"] == "'"$mac_a"'"]' <"$WORK/fdb.json")" = "['$ta']" ] ||
  fail "fdb show --json: $mac_a not on $ta: $(cat "$WORK/fdb.json")"
ctl fdb show --port "$tb" | grep -qF "$mac_b" || fail "fdb show --port $tb lacks $mac_b"
ctl fdb show --port "$tb" | grep -qF "$mac_a" && fail "fdb show --port $tb lists $mac_a of $ta"
pass "show, stats and fdb show answer, in tables and parseable JSON"

check "2. static entries override learning and survive aging"
ctl fdb add "$mac_a" "$tb" | grep -qF "added static entry $mac_a" || fail "fdb add $mac_a $tb"
# a's own frames cannot move it back to ta: b's answers go to tb, are dropped.
if in_ns a ping -n -q -c 3 -i 0.2 -W 1 "$V.2" >/dev/null 2>&1; then fail "a still reached b with its MAC pinned to tb"; fi
ctl fdb show --json | json '[e["type"] + "@" + e["port"] for e in j["entries"] if e["mac"] == "'"$mac_a"'"]' |
  grep -qF "static@$tb" || fail "fdb show: $mac_a is not static on $tb"
ctl fdb del "$mac_a" | grep -qF "removed static entry" || fail "fdb del $mac_a"
[ "$(ctl --json fdb add "$mac_a" "$ta" | json 'j["port"]')" = "$ta" ] || fail "fdb add --json"
[ "$(ctl --json fdb del "$mac_a" | json 'j["type"]')" = static ] || fail "fdb del --json"
ping_ok a "$V.2" 3
ctl fdb add 02:00:00:51:00:99 "$tb" --vlan 0 >/dev/null || fail "fdb add 02:00:00:51:00:99"
# One frame from a MAC that then falls silent: learned, then aged out.
in_ns a "$PYTHON" -c '
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind((sys.argv[1], 0))
s.send(bytes.fromhex("ffffffffffff" "020000510042" "88b5") + bytes(50))' "$ta"
ctl fdb show | grep -qF 02:00:00:51:00:42 || fail "the injected frame's source was not learned"
sleep 6   # --mac-aging 4 plus the 1 s sweep
ctl fdb show | grep -qF 02:00:00:51:00:42 && fail "a silent learned entry did not age out: $(ctl fdb show)"
ctl fdb show --json | json '[e["type"] for e in j["entries"] if e["mac"] == "02:00:00:51:00:99"]' |
  grep -qF "['static']" || fail "the static entry did not survive aging: $(ctl fdb show)"
ping_ok a "$V.2" 2
n="$(ctl fdb flush --port "$ta" --json | json 'j["flushed"]')"
[ "$n" -ge 1 ] || fail "fdb flush --port $ta flushed $n entries"
ctl fdb show | grep -qF 02:00:00:51:00:99 || fail "fdb flush removed the static entry"
ctl fdb del 02:00:00:51:00:99 >/dev/null
pass "a static entry pins a MAC against learning, outlives aging and flushes; del frees it"

check "3. ports added and removed at runtime, pings on the others unharmed"
ping_run a "$V.2" 100
for i in 1 2 3; do
  out="$(ctl port add "tap:$td,max-macs=2")" || fail "port add tap:$td: $out"
  exists sw "$td" || fail "port add did not create TAP $td"
  ctl show | grep -qE "^$td +tap" || fail "show lacks $td after port add"
  ctl port del "$td" >/dev/null || fail "port del $td"
  exists sw "$td" && fail "port del left TAP $td behind"
  sleep 0.5
done
ping_all_answered 100 "a->b during 3 port add/del rounds"
[ "$(ctl --json port add "tap:$td" | json 'j["name"] + "/" + j["kind"]')" = "$td/tap" ] || fail "port add --json"
[ "$(ctl --json port del "$td" | json 'j["name"]')" = "$td" ] || fail "port del --json"
out="$(ctl port add "tap:$ta" 2>&1)" && fail "port add of an existing port succeeded: $out"
grep -qF "already a port" <<<"$out" || fail "port add $ta: unclear error: $out"
pass "port add/del work while traffic flows, and refuse a duplicate"

check "4. uplinks added and removed at runtime"
if in_ns a ping -n -q -c 1 -W 1 "$V.3" >/dev/null 2>&1; then fail "a reached c before any uplink"; fi
ctl uplink add "$U.2:4789" | grep -qF "uplink $U.2:4789 added" || fail "uplink add $U.2:4789"
wait_ping a "$V.3"
ctl show --json | json '[p["peer"]["address"] for p in j["ports"] if p["peer"]]' | grep -qF "$U.2:4789" ||
  fail "show --json lacks the peer"
ctl show | grep -qE "^NAME +PATH +ON-PATH" || fail "show (human) has no peers table: $(ctl show)"
out="$(ctl uplink add "$U.2:4789" 2>&1)" && fail "a duplicate uplink add succeeded: $out"
[ "$(ctl uplink del "$U.2:4789" --json | json 'j["name"]')" = "$U.2:4789" ] || fail "uplink del --json"
[ "$(ctl uplink add "$U.2:4789" --json | json 'j["peer"]["address"]')" = "$U.2:4789" ] || fail "uplink add --json"
ctl uplink del "$U.2:4789" >/dev/null || fail "uplink del $U.2:4789"
if in_ns a ping -n -q -c 2 -i 0.2 -W 1 "$V.3" >/dev/null 2>&1; then fail "a reached c after uplink del"; fi
pass "uplink add/del at runtime"

check "5. metrics: Prometheus text over HTTP"
ctl uplink add "$U.2:4789" >/dev/null
ping_ok a "$V.3" 2
in_ns sw curl -sf "http://$METRICS/metrics" >"$WORK/metrics.txt" || fail "curl http://$METRICS/metrics failed"
"$PYTHON" - "$WORK/metrics.txt" "$ta" "$U.2:4789" <<'EOF' || fail "metrics: see above"
import re, sys
text = open(sys.argv[1]).read(); ta = sys.argv[2]; peer = sys.argv[3]
samples = {}
for line in text.splitlines():
    if not line or line.startswith("#"):
        continue
    m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)', line)
    if not m:
        sys.exit("not a sample line: " + line)
    samples[m.group(1) + (m.group(2) or "")] = float(m.group(3))
def get(key):
    if key not in samples:
        sys.exit("missing " + key)
    return samples[key]
assert get('vswitchd_port_rx_frames_total{port="%s",kind="tap"}' % ta) > 0
assert get('vswitchd_port_tx_bytes_total{port="%s",kind="tap"}' % ta) > 0
get('vswitchd_port_drops_total{port="%s",kind="tap",reason="runt"}' % ta)
assert get('vswitchd_mac_table_entries') >= 2 and get('vswitchd_mac_table_capacity') == 8192
get('vswitchd_mac_table_learned_total'); get('vswitchd_mac_table_expired_total')
assert get('vswitchd_peer_up{peer="%s",address="%s"}' % (peer, peer)) == 1
for family in ("vswitchd_port_rx_frames_total", "vswitchd_peer_up", "vswitchd_mac_table_moved_total"):
    assert "# TYPE " + family + " " in text, family
print("   %d samples; rx frames on %s: %d" % (len(samples), ta, get('vswitchd_port_rx_frames_total{port="%s",kind="tap"}' % ta)))
EOF
code="$(in_ns sw curl -s -o /dev/null -w '%{http_code}' "http://$METRICS/nothing")"
[ "$code" = 404 ] || fail "GET /nothing answered $code, want 404"
ctl uplink del "$U.2:4789" >/dev/null
pass "metrics parse, with per-port counters, drops by reason, the MAC table and the peer"

check "6. capture: a pcap file tcpdump reads"
ping_run a "$V.2" 40
ctl capture "$ta" "$WORK/ta.pcap" --count 10 2>"$WORK/capture.err" || fail "capture failed: $(cat "$WORK/capture.err")"
wait "$PING_PID" || true
log "   $(cat "$WORK/capture.err")"
frames="$(tcpdump -n -r "$WORK/ta.pcap" 2>/dev/null | wc -l)"
[ "$frames" -eq 10 ] || fail "tcpdump -r read $frames frames, want 10"
tcpdump -n -r "$WORK/ta.pcap" 2>/dev/null | grep -q "ICMP echo request" || fail "no echo request captured"
tcpdump -n -r "$WORK/ta.pcap" 2>/dev/null | grep -q "ICMP echo reply" || fail "no echo reply captured (frames leaving the port)"
ctl capture "$tb" "$WORK/tb.pcap" --seconds 1 2>"$WORK/capture2.err" || fail "capture --seconds 1 failed: $(cat "$WORK/capture2.err")"
tcpdump -n -r "$WORK/tb.pcap" >/dev/null 2>&1 || fail "tcpdump cannot read the --seconds capture"
grep -q "seconds" "$WORK/capture2.err" || fail "capture --seconds did not say it ended on time: $(cat "$WORK/capture2.err")"
pass "capture --count 10 gives 10 frames both ways; --seconds ends on its own"

check "7. reload: ports and uplinks follow the config; a running ping is untouched"
ping_run a "$V.2" 120
write_conf "port = tap:$te" "uplink = $U.2:4789"
out="$(ctl reload)" || fail "vswitchctl reload failed: $out"
[ "$(ctl --json reload | json 'j["unchanged"]')" -eq 4 ] || fail "a second reload (--json) changed something"
log "$out" | sed 's/^/   /'
grep -qF "$te" <<<"$out" || fail "reload did not report $te added"
exists sw "$te" || fail "reload did not create $te"
wait_ping a "$V.3"
# A port reopened because its options changed keeps its static entries.
ctl fdb add 02:00:00:61:00:ee "$te" >/dev/null || fail "fdb add on $te"
write_conf "port = tap:$te,max-macs=64" "uplink = $U.2:4789"
[ "$(ctl --json reload | json 'j["ports_changed"]')" = "['$te']" ] || fail "reload did not reopen $te with max-macs"
ctl --json fdb show --port "$te" | json '[e["type"] for e in j["entries"] if e["mac"] == "02:00:00:61:00:ee"]' |
  grep -qF "['static']" || fail "the static entry on $te was lost when the reload reopened it: $(ctl fdb show)"
write_conf
mark="$(log_lines "$WORK/a.log")"
kill -HUP "$PIDA"
wait_log "$WORK/a.log" "$mark" "reload: ports 0 added, 1 removed" 5 >/dev/null || fail "SIGHUP: no reload line"
exists sw "$te" && fail "reload did not remove $te"
ctl show --json | json '[p["name"] for p in j["ports"] if p["peer"]]' | grep -qF "$U.2" && fail "reload kept the removed uplink"
ping_all_answered 120 "a->b during two reloads"
cp "$CONF" "$WORK/good.conf"
write_conf "port = nope:$te"
out="$(ctl reload 2>&1)" && fail "a bad config was accepted: $out"
grep -qF "unknown port kind 'nope'" <<<"$out" || fail "bad reload: unclear error: $out"
grep -qF "running configuration stays" <<<"$out" || fail "bad reload: does not say the config stays: $out"
[ "$(ctl --json reload 2>/dev/null | json 'j["ok"]')" = False ] || fail "reload --json of a bad file: no ok:false"
[ "$(ctl show --json | json 'len(j["ports"])')" -eq 2 ] || fail "the bad reload changed the ports"
ping_ok a "$V.2" 2
mv "$WORK/good.conf" "$CONF"
pass "reload adds and removes ports and peers; a bad file is refused and changes nothing"

check "8. log-level and errors"
ctl log-level debug | grep -qF "log level debug" || fail "log-level debug"
wait_log "$WORK/a.log" 0 "log level debug" 2 >/dev/null || fail "no log line for the level change"
[ "$(ctl --json log-level info | json 'j["previous"] + ">" + j["level"]')" = "debug>info" ] || fail "log-level --json"
expect_ctl() {  # expect_ctl STATUS FRAGMENT ARGS...: vswitchctl ARGS exits STATUS, saying FRAGMENT
  local want="$1" frag="$2" rc=0 out
  shift 2
  out="$("$VSWITCHCTL" "$@" 2>&1)" || rc=$?
  [ "$rc" -eq "$want" ] || fail "vswitchctl $*: exit $rc, want $want: $out"
  grep -qF -- "$frag" <<<"$out" || fail "vswitchctl $*: output lacks '$frag': $out"
  log "   vswitchctl $* => $rc: $(head -n 1 <<<"$out")"
}
expect_ctl 1 "no port named nosuch" --control "$CTL" port del nosuch
expect_ctl 1 "no port named nosuch" --control "$CTL" fdb add 02:00:00:00:00:01 nosuch
expect_ctl 2 "MAC" --control "$CTL" fdb add 02:00:00:00:00 "$ta"
expect_ctl 1 "uplink add otherhost: no port; write HOST:PORT" --control "$CTL" uplink add otherhost
expect_ctl 1 "cannot resolve nosuchhost.invalid" --control "$CTL" uplink add nosuchhost.invalid:4789
expect_ctl 1 "unknown port option 'speed'" --control "$CTL" port add "tap:$td,speed=10"
expect_ctl 2 "" --control "$CTL" frobnicate
expect_ctl 2 "" --control "$CTL" log-level loud
expect_ctl 1 "cannot connect" --control "$WORK/no-such.ctl" show
pass "errors name the problem; usage errors exit 2, daemon errors 1"

check "9. bad clients: garbage, a 10 MB line, a flood of clients"
"$PYTHON" - "$CTL" <<'EOF' || fail "bad clients: see above"
import json, socket, sys, time
path = sys.argv[1]
def conn():
    s = socket.socket(socket.AF_UNIX); s.connect(path); s.settimeout(5); return s
s = conn(); f = s.makefile("rwb")
f.write(b"this is not json\n"); f.flush()
r = json.loads(f.readline()); assert r["ok"] is False and "not JSON" in r["error"], r
f.write(b'{"cmd":"show"}\n'); f.flush()
assert json.loads(f.readline())["ok"] is True
s = conn()
try:
    s.sendall(b"x" * (10 << 20))
except OSError:
    pass  # the daemon cut us off part way: fine
answer = s.recv(4096)
assert b"request longer than 65536 bytes" in answer, answer
clients = []
for i in range(20):
    try:
        clients.append(conn())
    except OSError:
        break
time.sleep(0.3)
closed = 0
for c in clients:
    c.settimeout(0.2)
    try:
        if c.recv(1) == b"":
            closed += 1
    except socket.timeout:
        pass
assert closed >= 3, "expected the clients beyond 16 to be closed, got %d closed" % closed
for c in clients:
    c.close()
print("   garbage answered, 10 MB line refused; of %d clients at once, %d closed (16 served)" % (len(clients), closed))
EOF
ctl show >/dev/null || fail "vswitchctl show failed after the bad clients"
ping_ok a "$V.2" 2
for _ in $(seq 150); do kill -0 "$STALL_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$STALL_PID" 2>/dev/null && fail "a client that stalled is still connected"
log "   stalled client: $(cat "$WORK/stall.out")"
grep -qE "closed after (9|1[0-2])\.[0-9] s: b''" "$WORK/stall.out" || fail "stalled client: $(cat "$WORK/stall.out")"
kill -0 "$PIDA" 2>/dev/null || fail "vswitchd died"
pass "bad clients get errors or are cut off; the daemon serves on"

check "10. SIGTERM while a capture runs and a name lookup hangs: out within 1 s, the capture ended cleanly"
in_ns sw "$PYTHON" -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 53))
end = time.time() + 30
while time.time() < end:
    s.settimeout(1)
    try: s.recv(512)   # and never answer
    except socket.timeout: pass' &
T_PIDS+=($!)
sleep 0.3
ctl capture "$ta" "$WORK/last.pcap" 2>"$WORK/last.err" &
CAP=$!
T_PIDS+=("$CAP")
out="$(ctl --timeout 1 uplink add slow.example:4789 2>&1)" && fail "uplink add of a name nobody answers for succeeded: $out"
ps -o nlwp= -p "$PIDA" | { read -r n; [ "$n" -ge 2 ] || fail "no lookup thread: the lookup is not pending"; }
stop_vswitchd "$PIDA" 1
rc=0; wait "$CAP" || rc=$?
[ "$rc" -eq 0 ] || fail "capture exited $rc at the daemon's stop: $(cat "$WORK/last.err")"
grep -q "stopping" "$WORK/last.err" || fail "capture did not say the daemon stopped it: $(cat "$WORK/last.err")"
log "   $(cat "$WORK/last.err")"
tcpdump -n -r "$WORK/last.pcap" >/dev/null 2>&1 || fail "the capture ended by the stop is not readable"
[ -e "$CTL" ] && fail "the control socket $CTL is left after exit"
pass "control: all checks"
