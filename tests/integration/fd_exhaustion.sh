#!/usr/bin/env bash
# Out of file descriptors: the daemon pauses accepting instead of spinning.
#
# vswitchd (namespace sw) switches TAPs into c and d and serves a control
# socket and metrics. Its descriptor limit is lowered (prlimit) to what it has
# open plus 4, and 24 idle clients connect to the control socket: 4 are
# taken, then accept4 fails with EMFILE while the rest wait in the backlog.
# Checked while that lasts (3 s):
#   - the daemon uses under 5 % of a core (a spinning accept loop uses 100 %);
#   - it logs a handful of lines (not hundreds of thousands);
#   - c and d still ping each other through it;
# and once the clients go away, vswitchctl and metrics are answered again.
TEST_TAG=fx
source "$(dirname "$0")/lib.sh"
need_root prlimit curl
V=10.68.0
MPORT=9368

[ -x "$VSWITCHCTL" ] || fail "no vswitchctl next to $VSWITCHD"
make_ns sw; make_ns c; make_ns d
start_vswitchd sw "$WORK/vswitchd.log" --port "tap:$(name c)" --port "tap:$(name d)" \
  --metrics "127.0.0.1:$MPORT"
pid="$VSW_PID"; CTL="$VSW_CTL"; LOG="$WORK/vswitchd.log"
tap_to_ns sw "$(name c)" c "$V.1/24"
tap_to_ns sw "$(name d)" d "$V.2/24"
wait_ping c "$V.2"

open_fds() { ls "/proc/$1/fd" | wc -l; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # utime + stime, in clock ticks

check "the descriptor limit is what is open plus 4; 24 idle control clients connect"
limit=$(( $(open_fds "$pid") + 4 ))
prlimit --pid "$pid" --nofile="$limit:" || fail "prlimit --pid $pid failed"
"$PYTHON" - "$CTL" >"$WORK/clients.out" 2>&1 <<'PY' &
import socket, sys, time
held = []
for _ in range(24):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect(sys.argv[1])
    except (BlockingIOError, InterruptedError):
        pass            # in the backlog, or beyond it: it waits
    except OSError as e:
        print("connect:", e)
    held.append(s)
print("connected", flush=True)
time.sleep(60)      # idle; killed by the test
PY
CLIENTS=$!
T_PIDS+=("$CLIENTS")
poll 5 grep -q connected "$WORK/clients.out" || fail "the clients did not connect: $(cat "$WORK/clients.out")"
at_limit() { [ "$(open_fds "$pid")" -ge "$limit" ]; }
poll 5 at_limit || fail "the daemon never ran out of descriptors (limit $limit, $(open_fds "$pid") open)"
sleep 0.5   # (it has met EMFILE by now: 20 clients wait in the backlog)
log "   limit $limit descriptors, $(open_fds "$pid") open"

check "while out of descriptors (3 s): under 5 % of a core, a handful of log lines, forwarding goes on"
lines0=$(log_lines "$LOG")
ticks0=$(cpu_ticks "$pid")
ping_ok c "$V.2" 10
sleep 1
ticks1=$(cpu_ticks "$pid")
lines1=$(log_lines "$LOG")
hz=$(getconf CLK_TCK)
elapsed=3   # ping_ok's 10 pings at 0.2 s, and the second after them: about 3 s
cpu_pct=$(calc "100 * ($ticks1 - $ticks0) / $hz / $elapsed")
new_lines=$((lines1 - lines0))
log "   cpu ${cpu_pct} % of a core, ${new_lines} log lines"
[ "$(calc "$cpu_pct < 5")" = 1 ] || fail "vswitchd used ${cpu_pct} % of a core while out of descriptors (spinning?)"
[ "$new_lines" -le 5 ] || fail "vswitchd logged $new_lines lines in 3 s while out of descriptors: $(tail -n 5 "$LOG")"
total_lines=$(grep -c "accept" "$LOG" || true)
[ "$total_lines" -le 5 ] || fail "$total_lines accept lines in the log"
echo "RESULT fd_exhaustion: cpu ${cpu_pct} % of a core, ${new_lines} log lines in 3 s, ${total_lines} accept lines in all"

check "the clients go away (the limit stays): vswitchctl and metrics are answered again"
kill "$CLIENTS"; wait "$CLIENTS" 2>/dev/null || true
poll 5 "$VSWITCHCTL" --control "$CTL" show >/dev/null || fail "vswitchctl show failed after the clients went away"
# (The control socket accepts its dead clients' backlog first, one at a
# time, so descriptors may stay short for a moment: metrics within seconds.)
metrics_up() { in_ns sw curl -sf --max-time 1 "http://127.0.0.1:$MPORT/metrics" | grep -q '^vswitchd_port_up'; }
poll 3 metrics_up || fail "no metrics after the clients went away: $(in_ns sw curl -s --max-time 2 -w ' (HTTP %{http_code})' "http://127.0.0.1:$MPORT/metrics" | tail -c 300)"
poll 5 grep -q "accepting connections again" "$LOG" || fail "no 'accepting connections again' line"
ping_ok c "$V.2" 3
stop_vswitchd "$pid"
pass "out of descriptors, vswitchd paused accepting and kept forwarding"
