# shellcheck shell=bash
# Shared helpers for the vswitchd integration tests. Source it from a test script
# after setting TEST_TAG (2-3 lowercase letters naming the test):
#
#   TEST_TAG=tp
#   source "$(dirname "$0")/lib.sh"     # reads the vswitchd path from $1 or $VSWITCHD
#   need_root
#
# Everything a test makes lives in namespaces it creates itself, named
# it-<tag><pid>-<role>; interfaces are named <tag><pid><suffix> (<= 15 chars).
# An EXIT trap kills every process the test started (TERM, then KILL) and deletes
# every namespace, even when the test fails halfway. Every wait is bounded.

set -euo pipefail

: "${TEST_TAG:?set TEST_TAG before sourcing lib.sh}"
VSWITCHD="${1:-${VSWITCHD:-}}"
VSWITCHCTL="$(dirname "$VSWITCHD")/vswitchctl"   # built next to vswitchd
ID="${TEST_TAG}$$"                      # prefix of every name this run makes
NS_PREFIX="it-${ID}"
PYTHON="$(command -v python3 || true)"
[ -x /usr/bin/python3 ] && PYTHON=/usr/bin/python3

WORK="$(mktemp -d "/tmp/vswitchd-it-${TEST_TAG}.XXXXXX")"
declare -a T_PIDS=()      # processes started in the background
declare -a T_NAMESPACES=() # namespaces made by make_ns
declare -a T_LOGS=()      # daemon logs, printed by fail
T_FAILED=0
VSW_PID=""                # set by start_vswitchd

log() { printf '%s\n' "$*"; }
check() { printf -- '-- %s\n' "$*"; }   # announces what the test checks next

print_logs() {
  local f
  for f in "${T_LOGS[@]}"; do
    [ -f "$f" ] || continue
    printf '===== %s =====\n' "$f"
    tail -n 200 "$f"
  done
}

# fail MSG: the test failed; say why, show the daemon logs, exit 1 (cleanup runs).
fail() {
  T_FAILED=1
  # In a command substitution: tell the main shell the logs were printed already.
  [ "$BASH_SUBSHELL" -gt 0 ] && : >"$WORK/failed"
  printf 'FAIL: %s\n' "$*" >&2
  print_logs >&2
  exit 1
}

pass() { printf 'PASS: %s\n' "$*"; }

# need_root: skip (exit 77) without root, /dev/net/tun or the tools we use.
need_root() {
  if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root (namespaces, TAPs, veths)"; exit 77; fi
  if [ ! -c /dev/net/tun ]; then echo "SKIP: /dev/net/tun is missing (modprobe tun)"; exit 77; fi
  if [ -z "$VSWITCHD" ] || [ ! -x "$VSWITCHD" ]; then
    T_FAILED=1
    echo "FAIL: no vswitchd binary at '$VSWITCHD': pass its path as the first argument or set VSWITCHD" >&2
    exit 1
  fi
  local tool
  for tool in ip ping timeout "$@"; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
  done
  if ! ip netns add "${NS_PREFIX}-probe" 2>/dev/null; then
    echo "SKIP: cannot create network namespaces"; exit 77
  fi
  ip netns del "${NS_PREFIX}-probe"
  reap_stale
}

# Namespaces left by an earlier run that was killed (e.g. by a ctest timeout)
# before its trap could run: their owner's pid is dead. Delete them.
reap_stale() {
  local ns pid
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^it-[a-z]+[0-9]+-' || true); do
    pid="$(sed -E 's/^it-[a-z]+([0-9]+)-.*/\1/' <<<"$ns")"
    if [ "$pid" != "$$" ] && ! kill -0 "$pid" 2>/dev/null; then
      kill_ns_pids "$ns"
      ip netns del "$ns" 2>/dev/null || true
    fi
  done
}

# kill_ns_pids NS: TERM then KILL every process still running in namespace NS.
kill_ns_pids() {
  local ns="$1" pids
  pids="$(ip netns pids "$ns" 2>/dev/null || true)"
  [ -n "$pids" ] || return 0
  kill -TERM $pids 2>/dev/null || true
  for _ in $(seq 20); do
    pids="$(ip netns pids "$ns" 2>/dev/null || true)"
    [ -n "$pids" ] || return 0
    sleep 0.1
  done
  kill -KILL $pids 2>/dev/null || true
}

# etc_netns ROLE: make /etc/netns/<namespace ROLE>/ and set ETC_DIR to it. Files
# put there (hosts, resolv.conf) are bind-mounted over /etc/<file> for every
# process later started in ROLE by `ip netns exec`. Removed at exit; those of
# killed runs are removed here. Skips (77) where /etc cannot be written.
T_ETC_DIRS=()
T_MADE_ETC_NETNS=0
ETC_DIR=""
etc_netns() {
  local d pid dir
  dir="/etc/netns/$(ns "$1")"
  [ -d /etc/netns ] || T_MADE_ETC_NETNS=1
  for d in /etc/netns/it-[a-z]*[0-9]-*; do
    [ -d "$d" ] || continue
    pid="$(sed -E 's/^.*it-[a-z]+([0-9]+)-.*/\1/' <<<"$d")"
    if [ "$pid" != "$$" ] && ! kill -0 "$pid" 2>/dev/null; then rm -rf "$d"; fi
  done
  mkdir -p "$dir" || { echo "SKIP: cannot create $dir (read-only /etc?)"; exit 77; }
  T_ETC_DIRS+=("$dir")
  ETC_DIR="$dir"
}

cleanup() {
  local rc=$? pid ns alive d
  set +e
  trap - EXIT INT TERM
  for d in "${T_ETC_DIRS[@]}"; do rm -rf "$d"; done
  [ "$T_MADE_ETC_NETNS" -eq 1 ] && rmdir /etc/netns 2>/dev/null
  # Our background processes first (TERM, up to 2 s, then KILL).
  for pid in "${T_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for _ in $(seq 20); do
    alive=0
    for pid in "${T_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" -eq 0 ] && break
    sleep 0.1
  done
  for pid in "${T_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  # Then anything else still running inside our namespaces, then the namespaces
  # (which deletes the veths, vxlans, bridges and TAPs in them).
  for ns in "${T_NAMESPACES[@]}"; do kill_ns_pids "$ns"; done
  for ns in "${T_NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null; done
  wait 2>/dev/null
  [ -e "$WORK/failed" ] && T_FAILED=1
  if [ "$rc" -ne 0 ] && [ "$T_FAILED" -eq 0 ] && [ "$rc" -ne 77 ]; then
    # set -e or an unexpected error stopped the script: show the logs too.
    printf 'FAIL: %s stopped with status %d (see the output above)\n' "$(basename "$0")" "$rc" >&2
    print_logs >&2
  fi
  if [ "$rc" -eq 0 ] || [ "$rc" -eq 77 ] || [ -z "$(ls -A "$WORK")" ]; then
    rm -rf "$WORK"
  else
    printf 'logs kept in %s\n' "$WORK" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# name SUFFIX: an interface name for this run (<= 15 characters).
name() {
  local n="${ID}$1"
  [ "${#n}" -le 15 ] || { echo "interface name $n is too long" >&2; exit 1; }
  printf '%s' "$n"
}

# ns ROLE: the name of this run's namespace ROLE.
# make_ns ROLE: create namespace ROLE (recorded for cleanup), lo up, IPv6 off.
ns() { printf '%s-%s' "$NS_PREFIX" "$1"; }
make_ns() {
  local n
  n="$(ns "$1")"
  ip netns add "$n"
  T_NAMESPACES+=("$n")
  ip -n "$n" link set lo up
  # No IPv6: no router solicitations, DAD or MLD reports flooding through the switch.
  ip netns exec "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
    net.ipv6.conf.default.disable_ipv6=1 2>/dev/null || true
}

# in_ns ROLE CMD...: run CMD in namespace ROLE.
in_ns() { local n; n="$(ns "$1")"; shift; ip netns exec "$n" "$@"; }

# start_vswitchd ROLE LOGFILE ARGS...: run the daemon in namespace ROLE in the
# background; wait (<= 10 s) for "vswitchd ready:". Sets VSW_PID, and VSW_CTL
# to its control socket (one of its own in $WORK unless ARGS give --control;
# empty for --control none), also recorded for counters. VSWITCHD_TEST_ARGS
# (words) go after ARGS: a whole test run in another mode, e.g. --busy-poll.
VSW_CTL=""
T_DAEMONS=0
declare -A T_CTL_OF=()    # control socket of each daemon, by pid (for counters)
start_vswitchd() {
  local role="$1" logf="$2" a given="" next=0
  shift 2
  T_LOGS+=("$logf")
  T_DAEMONS=$((T_DAEMONS + 1))
  for a in "$@"; do
    [ "$next" -eq 1 ] && { given="$a"; next=0; }
    [ "$a" = --control ] && next=1
  done
  VSW_CTL="$WORK/ctl-$role-$T_DAEMONS.sock"
  if [ -n "$given" ]; then
    VSW_CTL="$given"
    [ "$given" = none ] && VSW_CTL=""
  else
    set -- "$@" --control "$VSW_CTL"
  fi
  # shellcheck disable=SC2086  # words on purpose
  set -- "$@" ${VSWITCHD_TEST_ARGS:-}
  ip netns exec "$(ns "$role")" "$VSWITCHD" "$@" >"$logf" 2>&1 &
  VSW_PID=$!
  T_PIDS+=("$VSW_PID")
  T_CTL_OF[$VSW_PID]="$VSW_CTL"
  for _ in $(seq 100); do
    grep -q 'vswitchd ready:' "$logf" 2>/dev/null && return 0
    kill -0 "$VSW_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$VSW_PID" 2>/dev/null; then
    fail "vswitchd $* (in $role) did not log 'vswitchd ready:' within 10 s"
  fi
  local rc=0
  wait "$VSW_PID" || rc=$?
  fail "vswitchd $* (in $role) exited with status $rc before it was ready"
}

# counters PID [LOG]: the daemon's counters, read from its control socket
# (vswitchctl --json stats and fdb show; the state, not the log), printed as
# the lines SIGUSR1 logs them: "counters: udp endpoint: ...", "counters: peer
# NAME: ...", "counters: port NAME (KIND, STATE): rx N frames B bytes, tx ...,
# drops: reason=n ...|none", "counters: mac table ...", and "mac: ..." for the
# first 100 entries; each behind a time stamp and level as in the log.
counters() {
  local pid="$1" ctl stats fdb
  ctl="${T_CTL_OF[$pid]:-}"
  [ -n "$ctl" ] || fail "no control socket known for vswitchd pid $pid (started with --control none?)"
  kill -0 "$pid" 2>/dev/null || fail "vswitchd (pid $pid) is not running"
  stats="$("$VSWITCHCTL" --control "$ctl" --json stats 2>&1)" || fail "vswitchctl stats (pid $pid): $stats"
  fdb="$("$VSWITCHCTL" --control "$ctl" --json fdb show 2>&1)" || fail "vswitchctl fdb show (pid $pid): $fdb"
  "$PYTHON" - "$stats" "$fdb" "$(date '+%F %T.%3N')" <<'PY'
import json, sys
s, fdb, stamp = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
def say(text): print(f"{stamp} info: {text}")
def drops(d): return " ".join(f"{k}={v}" for k, v in d.items() if v) or "none"
if s.get("uplink"):
    u = s["uplink"]
    say(f"counters: udp endpoint: rx {u['rx_datagrams']} datagrams, dropped from non-peers {u['drops'].get('not_peer', 0)}")
    for p in s["ports"]:
        peer = p.get("peer")
        if not peer: continue
        where = {"relay": f"via {peer.get('relay')}", "none": "address not known yet (named by key)"}.get(
            peer.get("path"), f"address {peer['address']}")
        line = f"counters: peer {p['name']}: {peer['state']}, {where}, inner MTU {p['mtu'] + 14} bytes"
        if peer.get("sealed"):
            rtt = peer.get("rtt_ms")
            line += ", rtt " + (f"{rtt:.3f}" if rtt else "?") + " ms"
            seen = peer.get("last_seen_s")
            line += f", last heard {seen:.1f} s ago" if seen is not None else ", never heard"
            line += f", handshakes {peer['handshakes']} ({peer['handshakes_sent']} initiated), rekeys {peer['rekeys']}"
        say(line)
for p in s["ports"]:
    say(f"counters: port {p['name']} ({p['kind']}, {p['state']}): rx {p['rx_frames']} frames {p['rx_bytes']} bytes, "
        f"tx {p['tx_frames']} frames {p['tx_bytes']} bytes, drops: {drops(p['drops'])}")
t = s["mac_table"]
say(f"counters: mac table {t['entries']} of {t['capacity']} entries; learned {t['learned']}, moved {t['moved']}, "
    f"expired {t['expired']}, refused {t['refused']}")
for e in fdb["entries"][:100]:
    age = "static" if e["type"] == "static" else f"seen {e['age_s']} s ago"
    say(f"mac: {e['mac']} vlan {e['vlan']} on {e['port']} ({age})")
if len(fdb["entries"]) > 100: say(f"mac: ... and {len(fdb['entries']) - 100} more")
PY
}

# show_json PID: the daemon's status object (vswitchctl --json show): its
# ports, peers and counters as state, not as log lines.
show_json() {
  local ctl="${T_CTL_OF[$1]:-}" out
  [ -n "$ctl" ] || fail "no control socket known for vswitchd pid $1 (started with --control none?)"
  out="$("$VSWITCHCTL" --control "$ctl" --json show 2>&1)" || fail "vswitchctl show (pid $1): $out"
  printf '%s\n' "$out"
}

# uplink_field PID FIELD: a field of the uplink object in vswitchctl --json show.
uplink_field() {
  show_json "$1" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["uplink"][sys.argv[1]])' "$2"
}

# peer_field PID NAME FIELD: a field of the peer of the uplink port NAME in
# vswitchctl --json show (FIELD mtu: the port's MTU); None for null.
peer_field() {
  show_json "$1" | "$PYTHON" -c '
import json, sys
for p in json.load(sys.stdin)["ports"]:
    if p["name"] == sys.argv[1] and p.get("peer"):
        print(p["mtu"] if sys.argv[2] == "mtu" else p["peer"][sys.argv[2]])' "$2" "$3"
}

# peer_state PID ADDR: "up" or "down" for the uplink peer of daemon PID whose
# name or address contains ADDR ("" when there is none).
peer_state() {
  show_json "$1" | "$PYTHON" -c '
import json, sys
for p in json.load(sys.stdin)["ports"]:
    peer = p.get("peer")
    if peer and (sys.argv[1] in p["name"] or sys.argv[1] in peer["address"]):
        print(peer["state"]); break' "$2"
}

# peers_up PID: how many uplink peers daemon PID shows up.
peers_up() {
  show_json "$1" | "$PYTHON" -c '
import json, sys
print(sum(1 for p in json.load(sys.stdin)["ports"] if p.get("peer") and p["peer"]["state"] == "up"))'
}

# wait_peer_state PID ADDR STATE SECONDS: poll (every 0.1 s) until that peer
# is STATE; prints the seconds it took (the test's clock); returns 1 when it
# was not within SECONDS.
wait_peer_state() {
  local start now
  start="$(date +%s.%3N)"
  for _ in $(seq $(($4 * 10))); do
    if [ "$(peer_state "$1" "$2")" = "$3" ]; then
      now="$(date +%s.%3N)"
      calc "$now - $start"
      return 0
    fi
    sleep 0.1
  done
  return 1
}

# port_line LINES PORT: the counters line of PORT in LINES.
port_line() { grep -F "counters: port $2 (" <<<"$1" | tail -n 1 || true; }
# rx_frames LINE / tx_frames LINE: the frame counts of a port's counters line.
rx_frames() { sed -nE 's/.* rx ([0-9]+) frames.*/\1/p' <<<"$1"; }
tx_frames() { sed -nE 's/.* tx ([0-9]+) frames.*/\1/p' <<<"$1"; }
# drops_of LINE: "none" or the "reason=N ..." list of a port's counters line.
drops_of() { sed -nE 's/.*drops: (.*)$/\1/p' <<<"$1"; }
# drop_count LINE REASON: the count of REASON in LINE (0 when absent).
drop_count() {
  local n
  n="$(grep -oE "(^|[ ,])$2=[0-9]+" <<<"$(drops_of "$1")" | grep -oE '[0-9]+$' || true)"
  printf '%s' "${n:-0}"
}

# check_drops LINE ALLOWED...: fail if the line counts a drop reason not in ALLOWED.
check_drops() {
  local line="$1" d reason ok a
  shift
  for d in $(drops_of "$line"); do
    [ "$d" = none ] && continue
    reason="${d%%=*}"
    ok=0
    for a in "$@"; do [ "$a" = "$reason" ] && ok=1; done
    [ "$ok" -eq 1 ] || fail "unexpected drops ($d) in: $line"
  done
}

# check_drops_since BASE LINE ALLOWED...: as check_drops, for the drops counted
# since BASE (an earlier counters line of the same port), e.g. those of the
# measured traffic without a frame flooded to a TAP still being set up.
check_drops_since() {
  local base="$1" line="$2" d reason ok a
  shift 2
  for d in $(drops_of "$line"); do
    [ "$d" = none ] && continue
    reason="${d%%=*}"
    [ "${d#*=}" -gt "$(drop_count "$base" "$reason")" ] || continue
    ok=0
    for a in "$@"; do [ "$a" = "$reason" ] && ok=1; done
    [ "$ok" -eq 1 ] || fail "unexpected drops ($reason: $(drop_count "$base" "$reason") before, ${d#*=} now) in: $line"
  done
}

# stop_vswitchd PID [SECONDS]: SIGTERM; it must exit 0 within SECONDS (default 1).
stop_vswitchd() {
  local pid="$1" limit="${2:-1}" rc=0
  kill -TERM "$pid" || fail "vswitchd (pid $pid) was not running at SIGTERM"
  for _ in $(seq $((limit * 20))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -0 "$pid" 2>/dev/null && fail "vswitchd (pid $pid) still running ${limit} s after SIGTERM"
  wait "$pid" || rc=$?
  [ "$rc" -eq 0 ] || fail "vswitchd (pid $pid) exited with status $rc after SIGTERM (want 0)"
}

# tap_to_ns FROM_ROLE IFNAME TO_ROLE ADDR/PREFIX [MTU]: move an interface (e.g. a
# TAP vswitchd created in the switch namespace) into another namespace, address it
# and bring it up.
tap_to_ns() {
  local from="$1" ifn="$2" to="$3" addr="$4" mtu="${5:-}"
  ip -n "$(ns "$from")" link set "$ifn" netns "$(ns "$to")"
  addr_up "$to" "$ifn" "$addr" "$mtu"
}

# tap_switch LOGFILE SUBNET ROLE...: a switch namespace "sw" running vswitchd
# with one file-side TAP per ROLE; each ROLE becomes a namespace with its TAP
# (named $(name ROLE)) at SUBNET.1, SUBNET.2, ... /24. Sets VSW_PID.
tap_switch() {
  local logf="$1" subnet="$2" role i=0 ports=()
  shift 2
  make_ns sw
  for role in "$@"; do make_ns "$role"; ports+=(--port "tap:$(name "$role")"); done
  start_vswitchd sw "$logf" "${ports[@]}"
  for role in "$@"; do
    i=$((i + 1))
    tap_to_ns sw "$(name "$role")" "$role" "$subnet.$i/24"
  done
}

# two_hosts_underlay SUBNET: "hosts" h1 and h2 and VM namespaces vm1, vm2; h1
# and h2 joined by a veth underlay ($(name u1), $(name u2)) at SUBNET.1 and
# SUBNET.2 /24 with MTU 1600, room for VXLAN's 50 bytes so the VMs keep 1500.
two_hosts_underlay() {
  make_ns h1
  make_ns h2
  make_ns vm1
  make_ns vm2
  make_veth h1 "$(name u1)" h2 "$(name u2)"
  addr_up h1 "$(name u1)" "$1.1/24" 1600
  addr_up h2 "$(name u2)" "$1.2/24" 1600
}

# vswitchd_on_hosts UNDERLAY VMSUBNET: on h1 and h2 (two_hosts_underlay
# UNDERLAY), vswitchd with a TAP into vm1 / vm2 (at VMSUBNET.1 and .2) and an
# uplink to the other host. Logs in $WORK/vswitchd-h1.log, -h2.log; sets PID1, PID2.
PID1=""
PID2=""
vswitchd_on_hosts() {
  start_vswitchd h1 "$WORK/vswitchd-h1.log" --port "tap:$(name t1)" --uplink "$1.2:4789"
  PID1="$VSW_PID"
  start_vswitchd h2 "$WORK/vswitchd-h2.log" --port "tap:$(name t2)" --uplink "$1.1:4789"
  PID2="$VSW_PID"
  tap_to_ns h1 "$(name t1)" vm1 "$2.1/24"
  tap_to_ns h2 "$(name t2)" vm2 "$2.2/24"
}

# addr_up ROLE IFNAME ADDR/PREFIX [MTU]: address an interface and bring it up.
addr_up() {
  local n
  n="$(ns "$1")"
  [ -n "${4:-}" ] && ip -n "$n" link set "$2" mtu "$4"
  ip -n "$n" addr add "$3" dev "$2"
  ip -n "$n" link set "$2" up
}

# make_veth ROLE1 IF1 ROLE2 IF2: a veth pair with one end in each namespace (both down).
make_veth() {
  ip link add "$2" netns "$(ns "$1")" type veth peer name "$4" netns "$(ns "$3")"
}

# ping_ok FROM_ROLE DEST [COUNT] [EXTRA PING ARGS...]: COUNT pings (default 3), all answered.
# (-w: ping waits for every answer, up to the deadline, instead of giving the
# last one only two round trips; a late answer is not a lost one.)
ping_ok() {
  local from="$1" dst="$2" count="${3:-3}" out
  shift 3 2>/dev/null || shift $#
  if ! out="$(in_ns "$from" ping -n -q -c "$count" -i 0.2 -W 2 -w "$((count / 5 + 5))" "$@" "$dst" 2>&1)"; then
    fail "ping from $from to $dst $*: no answer: $out"
  fi
  grep -qE " $count received" <<<"$out" || fail "ping from $from to $dst $*: lost some: $out"
  log "   ping $from -> $dst${*:+ $*}: $count/$count answered"
}

# wait_ping FROM_ROLE DEST: up to 5 s until one ping is answered (links settling).
wait_ping() {
  local _
  for _ in $(seq 5); do
    in_ns "$1" ping -n -q -c 1 -W 1 "$2" >/dev/null 2>&1 && return 0
  done
  fail "no ping answer from $1 to $2 within 5 s"
}

# iperf3_server ROLE ADDR: a one-shot iperf3 server on ADDR port 5201 in the
# background, listening when this returns (<= 5 s). Sets IPERF3_SERVER_PID.
IPERF3_SERVER_PID=""
iperf3_server() {
  in_ns "$1" iperf3 -s -1 -B "$2" -p 5201 >"$WORK/iperf3-server.log" 2>&1 &
  IPERF3_SERVER_PID=$!
  T_PIDS+=("$IPERF3_SERVER_PID")
  for _ in $(seq 50); do
    [ -n "$(in_ns "$1" ss -Htln "sport = :5201" 2>/dev/null)" ] && return 0
    sleep 0.1
  done
  fail "iperf3 server in $1 did not listen on $2:5201"
}

# iperf3_client_start CLIENT_ROLE ADDR SECONDS JSON: a TCP iperf3 run to
# ADDR:5201 with 0.25 s intervals, in the background, its -J output in JSON
# (for iperf3_longest_gap). Sets IPERF3_CLIENT_PID; `wait` for it.
IPERF3_CLIENT_PID=""
iperf3_client_start() {
  timeout $(($3 + 25)) ip netns exec "$(ns "$1")" iperf3 -c "$2" -p 5201 -t "$3" -i 0.25 --connect-timeout 3000 -J \
    >"$4" 2>&1 &
  IPERF3_CLIENT_PID=$!
  T_PIDS+=("$IPERF3_CLIENT_PID")
}

# iperf3_longest_gap JSON: "GAP MBITS" of an iperf3 -J run with short
# intervals: the longest run of intervals that carried nothing, in seconds,
# and the receiver's rate over the whole run in Mbit/s.
iperf3_longest_gap() {
  "$PYTHON" - "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
longest = run = 0.0
for i in d["intervals"]:
    s = i["sum"]
    run = run + s["seconds"] if s["bytes"] == 0 else 0.0
    longest = max(longest, run)
print("%.2f %.2f" % (longest, d["end"]["sum_received"]["bits_per_second"] / 1e6))
PY
}

# iperf3_gbits CLIENT_ROLE SERVER_ROLE SERVER_ADDR SECONDS: a TCP iperf3 run;
# sets GBITS to the receiver's rate in Gbit/s; fails below $MIN_GBITS (default 0.1).
# shellcheck disable=SC2034  # GBITS is read by the test scripts
GBITS=""
iperf3_gbits() {
  local cl="$1" sv="$2" addr="$3" secs="$4" spid json rate port=5201
  iperf3_server "$sv" "$addr"
  spid="$IPERF3_SERVER_PID"
  # shellcheck disable=SC2086  # IPERF3_STREAMS: parallel streams (-P), one when unset
  if ! json="$(timeout $((secs + 15)) ip netns exec "$(ns "$cl")" \
                 iperf3 -c "$addr" -p "$port" -t "$secs" -P "${IPERF3_STREAMS:-1}" \
                 --connect-timeout 3000 -J 2>&1)"; then
    printf '%s\n' "$json" | tail -n 30 >&2
    fail "iperf3 from $cl to $addr failed"
  fi
  rate="$("$PYTHON" -c '
import json, sys
d = json.load(sys.stdin)
if "error" in d or "sum_received" not in d.get("end", {}):
    sys.exit("iperf3: " + d.get("error", "no result"))
print("%.2f" % (d["end"]["sum_received"]["bits_per_second"] / 1e9))' <<<"$json" 2>&1)" \
    || fail "iperf3 TCP from $cl to $addr failed: $rate"
  wait "$spid" 2>/dev/null || true
  # shellcheck disable=SC2034  # read by the test scripts
  GBITS="$rate"
  # A path that connects but loses most segments (e.g. super-frames the switch
  # cannot forward) shows as a rate near 0.
  "$PYTHON" -c 'import sys; sys.exit(float(sys.argv[1]) < float(sys.argv[2]))' "$rate" "${MIN_GBITS:-0.1}" ||
    fail "iperf3 TCP from $cl to $addr: $rate Gbit/s, below ${MIN_GBITS:-0.1} Gbit/s"
}

# worker_frames PID [FIELD]: the frames each worker thread of daemon PID has
# read (or another of its figures: cached, handed_over...), one number per
# line (nothing when it runs one thread).
worker_frames() {
  show_json "$1" | "$PYTHON" -c 'import json,sys
for w in json.load(sys.stdin).get("workers", []): print(w[sys.argv[1]])' "${2:-frames}"
}

# with_workers: the daemons run worker threads (VSWITCHD_TEST_ARGS has --workers N, N > 1).
with_workers() { [[ " ${VSWITCHD_TEST_ARGS:-} " =~ \ --workers[\ =]([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -gt 1 ]; }

# if_rx_packets ROLE IFNAME: the kernel's rx packet counter of an interface.
if_rx_packets() {
  ip -n "$(ns "$1")" -s -j link show "$2" |
    "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)[0]["stats64"]["rx"]["packets"])'
}

# exists ROLE IFNAME: does the interface exist in that namespace?
exists() { ip -n "$(ns "$1")" link show "$2" >/dev/null 2>&1; }

# ---------------------------------------------------------------------------
# Added for the sealed-uplink, recovery and mesh tests (issue 4): generic
# helpers; nothing above depends on them.

# Test modes, from the environment:
#   VSWITCHD_TEST_PLAIN=1   the binary predates --key-file, --peers-file and peer
#                           liveness: run plain VXLAN with --uplink and skip (saying
#                           so) the checks that need them.
#   VSWITCHD_TEST_SEALED=0  where a test allows it: the new options, but unsealed
#                           uplinks (no --key-file).
plain_mode() { [ "${VSWITCHD_TEST_PLAIN:-0}" = 1 ]; }
sealed_mode() { ! plain_mode && [ "${VSWITCHD_TEST_SEALED:-1}" = 1 ]; }
# skipped WHAT: say that a check was left out in this mode.
skipped() {
  if plain_mode; then printf -- '   SKIPPED (VSWITCHD_TEST_PLAIN=1): %s\n' "$*"
  else printf -- '   SKIPPED (VSWITCHD_TEST_SEALED=0): %s\n' "$*"; fi
}

# make_key_file PATH: a fresh random key line (64 hex digits) in PATH, mode 0600.
make_key_file() {
  (umask 077 && printf '# vswitchd test key\n%s\n' \
    "$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')" >"$1")
  chmod 600 "$1"
}

# bridge_underlay SUBNET MTU ROLE...: an underlay switch. Namespace "net" holds a
# Linux bridge $(name br) (no STP: ports forward at once); each ROLE is made here
# and joined to it by a veth: the i-th ROLE's end $(name "u$i") at SUBNET.i/24,
# the bridge's end $(name "b$i"); MTU on both ends.
bridge_underlay() {
  local subnet="$1" mtu="$2" role i=0 br
  shift 2
  make_ns net
  br="$(name br)"
  ip -n "$(ns net)" link add "$br" type bridge
  ip -n "$(ns net)" link set "$br" up
  for role in "$@"; do
    i=$((i + 1))
    make_ns "$role"
    make_veth "$role" "$(name "u$i")" net "$(name "b$i")"
    ip -n "$(ns net)" link set "$(name "b$i")" mtu "$mtu" master "$br" up
    addr_up "$role" "$(name "u$i")" "$subnet.$i/24" "$mtu"
  done
}

# identities NAME...: an identity for each NAME in $WORK/NAME.id (vswitchd
# --generate-identity); KEY[NAME] is its public key.
declare -A KEY=()
identities() {
  local n
  for n in "$@"; do
    KEY[$n]="$("$VSWITCHD" --generate-identity "$WORK/$n.id")" || fail "--generate-identity $n failed"
  done
}

# nat_router ROUTER WAN HOST SUBNET MTU NAT...: HOST's home network behind
# ROUTER, a NAT towards the internet on ROUTER's interface WAN: a veth ROUTER
# (SUBNET.1) - HOST (SUBNET.2), HOST's default route through ROUTER, and
# nftables on ROUTER: "oifname WAN NAT..." in postrouting (masquerade: Linux
# keeps the source port when it can, one mapping whatever the destination;
# masquerade random: a new port per destination, as a symmetric NAT), and new
# connections from the internet to the router itself dropped, as a home
# router's firewall does. The inside interface is named n<HOST>.
nat_router() {
  local router="$1" wan="$2" host="$3" subnet="$4" mtu="$5" lan inside
  shift 5
  lan="$(name "g$host")"
  inside="$(name "n$host")"
  make_ns "$host"
  make_veth "$router" "$lan" "$host" "$inside"
  addr_up "$router" "$lan" "$subnet.1/24" "$mtu"
  addr_up "$host" "$inside" "$subnet.2/24" "$mtu"
  ip -n "$(ns "$host")" route add default via "$subnet.1"
  in_ns "$router" sysctl -qw net.ipv4.ip_forward=1
  in_ns "$router" nft -f - <<EOF || fail "nftables on $router failed"
table ip nat {
  chain post { type nat hook postrouting priority 100; oifname "$wan" $*; }
}
table ip filter {
  chain input { type filter hook input priority 0; iifname "$wan" ct state new drop; }
}
EOF
}

# if_mac ROLE IFNAME: the MAC address of an interface.
if_mac() { ip -n "$(ns "$1")" link show "$2" | awk '/link\/ether/ {print $2; exit}'; }

# capture_start ROLE IFNAME FILE [TCPDUMP ARGS/FILTER...]: tcpdump -w FILE in the
# background (at most 300 s); waits (<= 5 s) until it listens. Sets CAP_PID.
# Stop it with capture_stop. Its messages go to FILE.err.
CAP_PID=""
capture_start() {
  local role="$1" ifn="$2" file="$3"
  shift 3
  ip netns exec "$(ns "$role")" timeout 300 tcpdump -i "$ifn" -n -U --immediate-mode -Z root -s 0 -w "$file" "$@" \
    2>"$file.err" &
  CAP_PID=$!
  T_PIDS+=("$CAP_PID")
  for _ in $(seq 50); do
    grep -q "listening on" "$file.err" 2>/dev/null && return 0
    kill -0 "$CAP_PID" 2>/dev/null || break
    sleep 0.1
  done
  fail "tcpdump on $ifn in $role did not start: $(cat "$file.err")"
}

# capture_stop PID: end a capture_start tcpdump (TERM; it must exit within 5 s).
capture_stop() {
  sleep 0.1   # let tcpdump write what it has just read
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$1" 2>/dev/null && fail "tcpdump (pid $1) did not stop within 5 s"
  wait "$1" 2>/dev/null || true
}

# poll SECONDS CMD...: run CMD every 0.1 s until it succeeds, for at most
# SECONDS; returns 0 once it did, 1 if it never did.
poll() {
  local tries=$(($1 * 10))
  shift
  while ! "$@"; do
    tries=$((tries - 1))
    [ "$tries" -gt 0 ] || return 1
    sleep 0.1
  done
}

# log_lines LOGFILE: how many lines LOGFILE has now (a mark for wait_log).
log_lines() { wc -l <"$1"; }

# wait_log LOGFILE FROM_LINE ERE SECONDS: wait (<= SECONDS) until a line after
# line FROM_LINE of LOGFILE matches ERE; print the first such line. Returns 1
# (printing nothing) when none appeared in time.
wait_log() {
  local logf="$1" from="$2" re="$3" secs="$4" line
  for _ in $(seq $((secs * 10))); do
    line="$(tail -n "+$((from + 1))" "$logf" | grep -E -m 1 -- "$re" || true)"
    [ -n "$line" ] && { printf '%s\n' "$line"; return 0; }
    sleep 0.1
  done
  return 1
}

# log_time LINE: the time stamp of a daemon log line ("YYYY-mm-dd HH:MM:SS.mmm ...")
# as seconds since the epoch, e.g. 1718000000.123.
log_time() { date -d "${1:0:23}" +%s.%3N; }

# calc EXPR: evaluate an arithmetic EXPR with decimals (awk); a comparison
# prints 1 or 0, anything else is printed with 2 decimals.
calc() { awk "BEGIN { x = ($1); if (\"$1\" ~ /[<>=]/) print x; else printf \"%.2f\n\", x }"; }
