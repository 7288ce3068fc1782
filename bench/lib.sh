# shellcheck shell=bash
# Helpers of bench/run.sh: names, namespaces, processes (vswitchd, vde_switch,
# tincd), cleanup, and the four measurements (TCP rate, ping RTT, CPU per frame
# and loss at a fixed UDP load).
#
# Everything a run makes lives in namespaces named vbench-<pid>-<setup>-<role>;
# interfaces are named vb<pid><code> (<= 15 characters). The EXIT trap (also
# taken on INT and TERM) stops every process the run started (TERM, then KILL),
# anything else left in its namespaces, and deletes the namespaces, which
# deletes the veths, TAPs, bridges and vxlan devices in them. Every wait is
# bounded, every load has a duration and runs under `timeout`.
#
# No `set -e`: a failing step makes one cell (or one configuration) "fail",
# with the reason in the log, and the run goes on.

BENCH_PID=$$
NS_PREFIX="vbench-${BENCH_PID}"
IF_PREFIX="vb${BENCH_PID}"
WORK="$(mktemp -d "/tmp/vswitchd-bench.${BENCH_PID}.XXXXXX")"
RESULTS="$WORK/results.tsv"       # setup <TAB> metric <TAB> value ("fail" or a number)
: >"$RESULTS"
: >"$WORK/reasons.tsv"            # setup <TAB> metric <TAB> why, for each failure
declare -a B_PIDS=()              # processes we started (killed by cleanup)
declare -a B_NS=()                # namespaces we made (deleted by cleanup)
LOG="${LOG:-$WORK/bench.log}"     # run.sh points this at the results' .log
T_START="$(date +%s.%N)"
CLK_TCK="$(getconf CLK_TCK 2>/dev/null || echo 100)"
PYTHON="$(command -v python3 || true)"
FAIL_WHY=""                       # the reason of the last failure (try, measurements)

# ---- logging -----------------------------------------------------------------

log() { printf '%s %s\n' "$(date +%T.%3N)" "$*" >>"$LOG"; }
# say MSG: progress on stderr (stdout is kept for the table) and in the log.
say() { printf '%s\n' "$*" >&2; log "$*"; }
elapsed() { awk -v s="$T_START" -v n="$(date +%s.%N)" 'BEGIN { printf "%.0f", n - s }'; }

# try CMD...: run CMD; on failure log it with its output and set FAIL_WHY.
try() {
  local out rc
  out="$("$@" 2>&1)"
  rc=$?
  if [ "$rc" -ne 0 ]; then
    FAIL_WHY="\`$*\` failed (status $rc): $(tr '\n' ' ' <<<"$out" | cut -c1-300)"
    log "ERROR: $FAIL_WHY"
  else
    [ -n "$out" ] && log "$* : $out"
  fi
  return "$rc"
}

# record SETUP METRIC VALUE [REASON]: one figure; VALUE "fail" needs a REASON.
record() {
  printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"
  if [ "$3" = fail ]; then
    log "RESULT $1 $2: fail: ${4:-no reason given}"
    printf '%s\t%s\t%s\n' "$1" "$2" "${4:-no reason given}" >>"$WORK/reasons.tsv"
  else
    log "RESULT $1 $2: $3"
  fi
}

# ---- names, namespaces, processes ---------------------------------------------

ns() { printf '%s-%s' "$NS_PREFIX" "$1"; }          # ns ROLE: a namespace name
ifn() { printf '%s%s' "$IF_PREFIX" "$1"; }           # ifn CODE: an interface name

# make_ns ROLE: a namespace with lo up and IPv6 off (no RS/DAD/MLD chatter in
# the figures). Same for every configuration.
make_ns() {
  local n
  n="$(ns "$1")"
  try ip netns add "$n" || return 1
  B_NS+=("$n")
  try ip -n "$n" link set lo up || return 1
  ip netns exec "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
    net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1 || true
}

# in_ns ROLE CMD...: run CMD in namespace ROLE.
in_ns() { local n; n="$(ns "$1")"; shift; ip netns exec "$n" "$@"; }

# kill_ns_pids NSNAME: TERM then KILL whatever still runs in one of our namespaces.
kill_ns_pids() {
  local n="$1" pids _
  pids="$(ip netns pids "$n" 2>/dev/null || true)"
  [ -n "$pids" ] || return 0
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null
  for _ in $(seq 20); do
    pids="$(ip netns pids "$n" 2>/dev/null || true)"
    [ -n "$pids" ] || return 0
    sleep 0.1
  done
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null
}

# stop_pids PID...: TERM, up to 2 s, then KILL.
stop_pids() {
  local pid alive _
  [ "$#" -gt 0 ] || return 0
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null; done
  for _ in $(seq 20); do
    alive=0
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" -eq 0 ] && return 0
    sleep 0.1
  done
  for pid in "$@"; do kill -KILL "$pid" 2>/dev/null; done
}

# Namespaces (and scratch directories) of an earlier run that was killed
# before its trap ran (its pid is dead): stop what runs in them, delete them.
reap_stale() {
  local n pid d
  for d in /tmp/vswitchd-bench.[0-9]*.*; do
    [ -d "$d" ] || continue
    pid="$(sed -E 's|^/tmp/vswitchd-bench\.([0-9]+)\..*|\1|' <<<"$d")"
    if [ "$pid" != "$BENCH_PID" ] && ! kill -0 "$pid" 2>/dev/null; then
      log "deleting stale scratch directory $d of dead run $pid"
      rm -rf "$d"
    fi
  done
  for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^vbench-[0-9]+-' || true); do
    pid="$(sed -E 's/^vbench-([0-9]+)-.*/\1/' <<<"$n")"
    if [ "$pid" != "$BENCH_PID" ] && ! kill -0 "$pid" 2>/dev/null; then
      log "deleting stale namespace $n of dead run $pid"
      kill_ns_pids "$n"
      ip netns del "$n" 2>/dev/null
    fi
  done
}

cleanup() {
  local rc=$? n
  trap - EXIT INT TERM
  log "cleanup (status $rc)"
  stop_pids "${B_PIDS[@]}"
  for n in "${B_NS[@]}"; do kill_ns_pids "$n"; done
  for n in "${B_NS[@]}"; do ip netns del "$n" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted: cleaning up"; exit 130' INT
trap 'say "terminated: cleaning up"; exit 143' TERM

# ---- switch processes ----------------------------------------------------------

# start_vswitchd ROLE NAME ARGS...: vswitchd in namespace ROLE, log in
# $WORK/vswitchd-NAME.log; waits (<= 10 s) for "vswitchd ready:". Sets SW_PID.
SW_PID=""
start_vswitchd() {
  local role="$1" name="$2" logf _ rc
  shift 2
  logf="$WORK/vswitchd-$name.log"
  SW_PID=""
  if [ -z "${VSWITCHD:-}" ] || [ ! -x "$VSWITCHD" ]; then
    FAIL_WHY="no vswitchd binary (${VSWITCHD_WHY:-not built})"
    log "ERROR: $FAIL_WHY"
    return 1
  fi
  log "start in $(ns "$role"): vswitchd $*"
  ip netns exec "$(ns "$role")" "$VSWITCHD" "$@" --control "$WORK/ctl-$name.sock" >"$logf" 2>&1 &
  SW_PID=$!
  B_PIDS+=("$SW_PID")
  for _ in $(seq 100); do
    grep -q 'vswitchd ready:' "$logf" 2>/dev/null && return 0
    kill -0 "$SW_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$SW_PID" 2>/dev/null; then
    FAIL_WHY="vswitchd $* did not log 'vswitchd ready:' within 10 s"
  else
    rc=0; wait "$SW_PID" 2>/dev/null || rc=$?
    FAIL_WHY="vswitchd $* exited with status $rc: $(tail -n 3 "$logf" | tr '\n' ' ')"
  fi
  log "ERROR: $FAIL_WHY"
  return 1
}

# start_vde ROLE NAME TAP...: vde_switch in namespace ROLE with one TAP port per
# -t (vde2 2.3.2 takes several); daemonized (-d: in the foreground it exits on
# EOF of its console on stdin), pid from its pidfile. Sets SW_PID.
start_vde() {
  local role="$1" name="$2" args=() t _ ok
  shift 2
  SW_PID=""
  command -v vde_switch >/dev/null || { FAIL_WHY="vde_switch is not installed (apt-get install vde2)"; log "ERROR: $FAIL_WHY"; return 1; }
  for t in "$@"; do args+=(-t "$t"); done
  try timeout 10 ip netns exec "$(ns "$role")" vde_switch -d -p "$WORK/vde-$name.pid" \
    -s "$WORK/vde-$name.ctl" "${args[@]}" || return 1
  for _ in $(seq 50); do
    SW_PID="$(cat "$WORK/vde-$name.pid" 2>/dev/null || true)"
    [ -n "$SW_PID" ] && break
    sleep 0.1
  done
  [ -n "$SW_PID" ] || { FAIL_WHY="vde_switch wrote no pidfile within 5 s"; log "ERROR: $FAIL_WHY"; return 1; }
  B_PIDS+=("$SW_PID")
  for _ in $(seq 50); do
    ok=1
    for t in "$@"; do ip -n "$(ns "$role")" link show "$t" >/dev/null 2>&1 || ok=0; done
    [ "$ok" -eq 1 ] && { log "vde_switch pid $SW_PID: $(tr '\0' ' ' </proc/"$SW_PID"/cmdline)"; return 0; }
    sleep 0.1
  done
  FAIL_WHY="vde_switch made no TAPs $* within 5 s"
  log "ERROR: $FAIL_WHY"
  return 1
}

# start_tincd ROLE NAME CONFDIR TAP: tinc 1.0's tincd -c CONFDIR in the
# foreground (-D, log on stderr into $WORK/tinc-NAME.log, -d1: connections)
# in namespace ROLE; waits (<= 5 s) for the TAP it creates (tinc.conf's
# Interface). Sets SW_PID.
start_tincd() {
  local role="$1" name="$2" dir="$3" tap="$4" logf _ rc
  logf="$WORK/tinc-$name.log"
  SW_PID=""
  command -v tincd >/dev/null || { FAIL_WHY="tincd is not installed (apt-get install tinc)"; log "ERROR: $FAIL_WHY"; return 1; }
  log "start in $(ns "$role"): tincd -c $dir -D -d1 --pidfile=$WORK/tinc-$name.pid"
  ip netns exec "$(ns "$role")" tincd -c "$dir" -D -d1 --pidfile="$WORK/tinc-$name.pid" \
    </dev/null >"$logf" 2>&1 &
  SW_PID=$!
  B_PIDS+=("$SW_PID")
  for _ in $(seq 50); do
    ip -n "$(ns "$role")" link show "$tap" >/dev/null 2>&1 && return 0
    kill -0 "$SW_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$SW_PID" 2>/dev/null; then
    FAIL_WHY="tincd -c $dir made no TAP $tap within 5 s: $(tail -n 3 "$logf" | tr '\n' ' ')"
  else
    rc=0; wait "$SW_PID" 2>/dev/null || rc=$?
    FAIL_WHY="tincd -c $dir exited with status $rc: $(tail -n 3 "$logf" | tr '\n' ' ')"
  fi
  log "ERROR: $FAIL_WHY"
  return 1
}

# tinc_pmtu PID NAME PEER: ask tincd PID for its node list (SIGUSR2, into
# $WORK/tinc-NAME.log) and print the "min max" of its path MTU discovery
# towards PEER ("0 1518" at first, "1518 1518" once discovered), or nothing.
tinc_pmtu() {
  local pid="$1" logf="$WORK/tinc-$2.log" peer="$3"
  kill -USR2 "$pid" 2>/dev/null || return 1
  sleep 0.2
  sed -nE "s/^ *$peer at .* \(min ([0-9]+) max ([0-9]+)\)$/\1 \2/p" "$logf" | tail -n 1
}

# cpu_ticks PID...: utime + stime (clock ticks) of the processes, summed.
cpu_ticks() {
  local pid sum=0 st f
  for pid in "$@"; do
    st="$(cat "/proc/$pid/stat" 2>/dev/null)" || { echo "-1"; return 1; }
    st="${st##*) }"                      # the fields after "(comm) "
    read -r -a f <<<"$st"
    # f[0] is the state (field 3), so utime (field 14) = f[11], stime (15) = f[12]
    sum=$((sum + f[11] + f[12]))
  done
  echo "$sum"
}

# ---- addresses and link helpers --------------------------------------------------

# addr_up ROLE IFNAME ADDR/PREFIX MTU: address and bring up an interface.
addr_up() {
  try ip -n "$(ns "$1")" link set "$2" mtu "$4" || return 1
  try ip -n "$(ns "$1")" addr add "$3" dev "$2" || return 1
  try ip -n "$(ns "$1")" link set "$2" up
}

# move_to ROLE_FROM IFNAME ROLE_TO: move an interface to another namespace.
move_to() { try ip -n "$(ns "$1")" link set "$2" netns "$(ns "$3")"; }

# veth ROLE1 IF1 ROLE2 IF2 [MTU]: a veth pair, one end in each namespace, default offloads.
veth() {
  try ip link add "$2" netns "$(ns "$1")" mtu "${5:-1500}" type veth \
    peer name "$4" netns "$(ns "$3")" mtu "${5:-1500}"
}

# wait_ping ROLE DEST: up to ~5 s until one ping is answered (links settling, ARP).
wait_ping() {
  local _
  for _ in $(seq 10); do
    in_ns "$1" ping -n -q -c 1 -W 0.5 "$2" >/dev/null 2>&1 && return 0
  done
  FAIL_WHY="no ping answer from $(ns "$1") to $2 within 5 s"
  log "ERROR: $FAIL_WHY"
  return 1
}

# ---- measurements -----------------------------------------------------------------

# ping_stats OUT: "avg p50 p99" in µs of the "time=" lines of ping's output OUT.
ping_stats() {
  grep -oE 'time=[0-9.]+' <<<"$1" | cut -d= -f2 | sort -g |
    awk '{ v[NR] = $1; s += $1 } END {
      if (NR == 0) exit 1
      p50 = v[int((NR + 1) * 0.5)]; i = int(NR * 0.99 + 0.999); if (i > NR) i = NR
      printf "%.1f %.1f %.1f\n", s / NR * 1000, p50 * 1000, v[i] * 1000 }'
}

# ping_rtt SETUP CLIENT_ROLE DEST: warm-up, then $PING_COUNT pings at 0.01 s;
# records "rtt" (average), "rtt50" and "rtt99" (median and 99th percentile), µs.
ping_rtt() {
  local setup="$1" cl="$2" dst="$3" out rx st avg p50 p99
  in_ns "$cl" ping -n -q -c 10 -i 0.05 -W 1 -w 5 "$dst" >/dev/null 2>&1
  out="$(timeout 15 ip netns exec "$(ns "$cl")" ping -n -c "$PING_COUNT" -i 0.01 -W 1 -w 10 "$dst" 2>&1)"
  log "ping $setup: $(tail -n 2 <<<"$out" | tr '\n' ' ')"
  rx="$(sed -nE 's/.* ([0-9]+) received.*/\1/p' <<<"$out")"
  if [ "${rx:-0}" -eq 0 ] || ! st="$(ping_stats "$out")"; then
    record "$setup" rtt fail "ping from $(ns "$cl") to $dst: no answer: $(tail -n 3 <<<"$out" | tr '\n' ' ' | cut -c1-200)"
    return
  fi
  [ "$rx" -lt "$PING_COUNT" ] && log "WARNING: ping $setup: only $rx of $PING_COUNT answered"
  read -r avg p50 p99 <<<"$st"
  record "$setup" rtt "$avg"
  record "$setup" rtt50 "$p50"
  record "$setup" rtt99 "$p99"
}

# loaded_rtt SETUP CLIENT_ROLE SERVER_ROLE DEST: $PING_COUNT pings at 0.01 s
# beside a one-stream iperf3 TCP from CLIENT to SERVER; records "lrtt50" and
# "lrtt99" (µs): what a latency-sensitive flow sees next to a bulk one.
loaded_rtt() {
  local setup="$1" cl="$2" sv="$3" dst="$4" out st bg secs p50 p99 load why=""
  secs=$(( PING_COUNT / 100 + 3 ))
  load="$WORK/iperf-$setup-loaded.json"
  iperf_run "$cl" "$sv" "$dst" "$secs" "$load" &
  bg=$!
  sleep 1
  out="$(timeout 15 ip netns exec "$(ns "$cl")" ping -n -c "$PING_COUNT" -i 0.01 -W 1 -w 10 "$dst" 2>&1)"
  log "ping under load $setup: $(tail -n 2 <<<"$out" | tr '\n' ' ')"
  # Pings beside a load that did not run are no figure under load.
  if ! wait "$bg"; then
    why="the iperf3 load did not run"
  elif ! iperf_json tcp "$load" >/dev/null; then
    why="the iperf3 load failed: $(iperf_json tcp "$load")"
  elif ! st="$(ping_stats "$out")"; then
    why="ping beside iperf3 from $(ns "$cl") to $dst: no answer"
  fi
  if [ -n "$why" ]; then
    record "$setup" lrtt50 fail "$why"
    record "$setup" lrtt99 fail "$why"
    return
  fi
  read -r _ p50 p99 <<<"$st"
  record "$setup" lrtt50 "$p50"
  record "$setup" lrtt99 "$p99"
}

# machine_ticks: the whole machine's busy time (user, nice, system, irq and
# softirq of all CPUs, not steal) from /proc/stat, in CLK_TCK ticks.
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8; exit }' /proc/stat; }

# cpu_per_gb SETUP CLIENT_ROLE SERVER_ROLE DEST: one-stream TCP at a fixed
# rate (iperf3 --fq-rate $EFF_RATE -t $EFF_SECS: the kernel paces the flow;
# iperf3's own -b spins in a loop, which swung the figure fourfold between
# runs); records "cpugb": the whole
# machine's CPU-seconds (switch, both VMs' stacks, iperf3) per GB received.
# The same offered load through each switch: what moving it costs.
cpu_per_gb() {
  local setup="$1" cl="$2" sv="$3" dst="$4" f t0 t1 bytes
  f="$WORK/iperf-$setup-eff.json"
  t0="$(machine_ticks)"
  if ! iperf_run "$cl" "$sv" "$dst" "$EFF_SECS" "$f" --fq-rate "$EFF_RATE"; then
    record "$setup" cpugb fail "$FAIL_WHY"
    return 1
  fi
  t1="$(machine_ticks)"
  if ! bytes="$(iperf_json bytes "$f")" || [ "$bytes" -le 0 ]; then
    record "$setup" cpugb fail "iperf3 --fq-rate $EFF_RATE to $dst: ${bytes:-no result}"
    return 1
  fi
  log "efficiency $setup: $((t1 - t0)) machine ticks for $bytes bytes at $EFF_RATE"
  record "$setup" cpugb "$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v b="$bytes" 'BEGIN { printf "%.3f", t / hz / (b / 1e9) }')"
}

# iperf_run CLIENT_ROLE SERVER_ROLE DEST SECONDS OUTFILE IPERF_ARGS...: one iperf3
# run (server -s -1 in SERVER_ROLE); the client's JSON in OUTFILE. Returns
# non-zero (FAIL_WHY set) when it did not run; the JSON is parsed by the caller.
iperf_run() {
  local cl="$1" sv="$2" dst="$3" secs="$4" out="$5" spid _ rc=0
  shift 5
  command -v iperf3 >/dev/null || { FAIL_WHY="iperf3 is not installed"; log "ERROR: $FAIL_WHY"; return 1; }
  timeout $((secs + 25)) ip netns exec "$(ns "$sv")" iperf3 -s -1 -B "$dst" -p 5201 \
    >"$out.server" 2>&1 &
  spid=$!
  B_PIDS+=("$spid")
  for _ in $(seq 50); do
    [ -n "$(in_ns "$sv" ss -Htln "sport = :5201" 2>/dev/null)" ] && break
    sleep 0.1
  done
  timeout $((secs + 15)) ip netns exec "$(ns "$cl")" iperf3 -c "$dst" -p 5201 -t "$secs" \
    --connect-timeout 3000 -J "$@" >"$out" 2>&1 || rc=$?
  # The server exits after its one test; bounded wait, then stop it.
  for _ in $(seq 30); do kill -0 "$spid" 2>/dev/null || break; sleep 0.1; done
  stop_pids "$spid"
  wait "$spid" 2>/dev/null
  if [ "$rc" -eq 124 ]; then
    FAIL_WHY="iperf3 -c $dst -t $secs $* timed out after $((secs + 15)) s"
    log "ERROR: $FAIL_WHY"
    return 1
  fi
  return 0
}

# iperf_json MODE FILE [EXTRA]: parse the client's JSON (bench/iperf_json.py).
# shellcheck disable=SC2153  # BENCH_DIR is set by run.sh
iperf_json() { "$PYTHON" "$BENCH_DIR/iperf_json.py" "$@" 2>&1; }

# tcp_rate SETUP METRIC CLIENT SERVER DEST STREAMS: one TCP run; records METRIC
# (receiver's Gbit/s) or fail.
tcp_rate() {
  local setup="$1" metric="$2" cl="$3" sv="$4" dst="$5" p="$6" f v
  f="$WORK/iperf-$setup-$metric-$(date +%s%N).json"
  if ! iperf_run "$cl" "$sv" "$dst" "$TCP_SECS" "$f" -P "$p"; then
    record "$setup" "$metric" fail "$FAIL_WHY"
    return 1
  fi
  if v="$(iperf_json tcp "$f")"; then
    record "$setup" "$metric" "$v"
  else
    record "$setup" "$metric" fail "iperf3 TCP -P $p to $dst: $v"
    return 1
  fi
}

# udp_cpu SETUP CLIENT SERVER DEST [PID...]: the fixed 64-byte UDP load; records
# "loss" (%) and, given the switch processes' PIDs, "cpu" (µs of their
# utime+stime per datagram received).
udp_cpu() {
  local setup="$1" cl="$2" sv="$3" dst="$4" f t0=0 t1=0 v rx loss
  shift 4
  f="$WORK/iperf-$setup-udp.json"
  if [ "$#" -gt 0 ]; then
    t0="$(cpu_ticks "$@")" || { udp_fail "$setup" "$#" "switch process $* is gone"; return 1; }
  fi
  if ! iperf_run "$cl" "$sv" "$dst" "$UDP_SECS" "$f" -u -l 64 -b "$UDP_RATE"; then
    udp_fail "$setup" "$#" "$FAIL_WHY"
    return 1
  fi
  if [ "$#" -gt 0 ]; then
    t1="$(cpu_ticks "$@")" || { udp_fail "$setup" "$#" "switch process $* exited during the UDP run"; return 1; }
  fi
  if ! v="$(iperf_json udp "$f" 64)"; then
    udp_fail "$setup" "$#" "iperf3 UDP to $dst: $v"
    return 1
  fi
  read -r rx loss <<<"$v"
  log "udp $setup: switch cpu $((t1 - t0)) ticks (CLK_TCK $CLK_TCK, pids: ${*:-none}), $rx datagrams received, loss $loss %"
  record "$setup" loss "$loss"
  if [ "$#" -eq 0 ]; then
    return 0
  elif [ "$rx" -le 0 ]; then
    record "$setup" cpu fail "no datagram received (loss $loss %)"
  else
    record "$setup" cpu "$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$rx" 'BEGIN { printf "%.3f", t / hz * 1e6 / n }')"
  fi
}

# mac_fps SETUP IFA IFB: frames per second the switch forwards from A to B at
# 1 Ki, then 1 Mi MAC addresses learned on B's port (bench/macload.c: learns
# them from B, then A sends 64-byte frames to them in a random order for 3 s,
# as fast as A's interface takes them). Forwarded = what B's interface
# received. Records fps1k and fps1m (and macs1m: entries the table held).
mac_fps() {
  local s="$1" ifa="$2" ifb="$3" n m before after entries ctl
  # vswitchctl: beside the measured vswitchd, else the work tree's build.
  ctl="$(dirname "$VSWITCHD")/vswitchctl"
  [ -x "$ctl" ] || ctl="$REPO/build/switchd/vswitchctl"
  if [ ! -x "$ctl" ]; then
    record "$s" fps1k fail "no vswitchctl beside $VSWITCHD or in $REPO/build/switchd (copy it beside the binary)"
    return 1
  fi
  for n in 1024 1048576; do
    m=fps1k; [ "$n" -gt 1024 ] && m=fps1m
    if ! in_ns "$s-b" "$WORK/macload" "$ifb" learn "$n" >>"$LOG" 2>&1; then
      record "$s" "$m" fail "macload learn $n failed (see the log)"; return 1
    fi
    entries="$("$ctl" --control "$WORK/ctl-$s.sock" --json show 2>>"$LOG" |
               "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["mac_table"]["entries"])' 2>>"$LOG")"
    log "mac_fps $s: $n sent to learn, the table holds ${entries:-?}"
    [ "$n" -gt 1024 ] && record "$s" macs1m "${entries:-fail}"
    before="$(in_ns "$s-b" cat "/sys/class/net/$ifb/statistics/rx_packets")"
    if ! in_ns "$s-a" "$WORK/macload" "$ifa" hit "$n" 3 >>"$LOG" 2>&1; then
      record "$s" "$m" fail "macload hit $n failed (see the log)"; return 1
    fi
    sleep 0.2
    after="$(in_ns "$s-b" cat "/sys/class/net/$ifb/statistics/rx_packets")"
    record "$s" "$m" "$(awk -v a="$after" -v b="$before" 'BEGIN { printf "%.0f", (a - b) / 3 }')"
  done
}

# udp_fail SETUP NPIDS WHY: the UDP figures of SETUP failed (its CPU too when
# it has switch processes).
udp_fail() {
  record "$1" loss fail "$3"
  [ "$2" -gt 0 ] && record "$1" cpu fail "$3"
  return 0
}
