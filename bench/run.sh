#!/usr/bin/env bash
# vswitchd side by side with the Linux bridge, vde_switch, the kernel's vxlan
# and tinc, on identical namespaces, in one run; prints a Markdown table with
# the figures and the ratios the project targets. See bench/README.md.
#
#   sudo bench/run.sh [--quick] [--only SECTIONS] [--out FILE.md] [--vswitchd PATH]
#
#   --quick, BENCH_QUICK=1   one try per TCP figure, shorter loads (about 1.2 minutes)
#   --only SECTIONS, BENCH_ONLY=SECTIONS   only these sections, comma-separated:
#                            local (bridge, vswitchd tap: (also with --busy-poll)
#                            and dev:, vde_switch),
#                            tunnel (kernel vxlan, vswitchd plain uplinks),
#                            encrypted (kernel vxlan, vswitchd sealed, tinc),
#                            reach (vswitchd with host identities: direct, and
#                            through a relay);
#                            configuration names (tunkk, encvv, ...) work too
#   --out FILE.md, BENCH_OUT where the report goes (default
#                            bench/results/<timestamp>.md); the chart is written
#                            next to it as .png, the detailed log as .log
#   --vswitchd PATH, BENCH_VSWITCHD=PATH   measure this binary instead of
#                            building the work tree in Release (the default)
#
# Tuning (environment): BENCH_REPS (3), BENCH_TCP_SECS (2), BENCH_UDP_SECS (3),
# BENCH_UDP_RATE (40M), BENCH_EFF_RATE (2G: the offered TCP rate of the
# efficiency figure), BENCH_BUDGET (330: seconds after which no further round
# of TCP tries starts), BENCH_VK_UNDERLAY_TX_OFF (1, see bench/topo.sh).
#
# Needs root (namespaces, TAPs). Installs what is missing with apt-get. Exits 0
# whatever the figures: this is a measurement, not a test; it never runs in CI.
set -uo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$BENCH_DIR")"

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
OUT="${BENCH_OUT:-}"
QUICK="${BENCH_QUICK:-0}"
VSWITCHD="${BENCH_VSWITCHD:-}"   # not $VSWITCHD, which the integration tests use
ONLY="${BENCH_ONLY:-}"
while [ "$#" -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --out) [ "$#" -ge 2 ] || { usage >&2; exit 2; }; OUT="$2"; shift ;;
    --out=*) OUT="${1#--out=}" ;;
    --vswitchd) [ "$#" -ge 2 ] || { usage >&2; exit 2; }; VSWITCHD="$2"; shift ;;
    --vswitchd=*) VSWITCHD="${1#--vswitchd=}" ;;
    --only) [ "$#" -ge 2 ] || { usage >&2; exit 2; }; ONLY="$2"; shift ;;
    --only=*) ONLY="${1#--only=}" ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench/run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

# The configurations, in measurement order (bench/topo.sh), and the sections.
ALL_SETUPS=(bridge tapvsw tapw2 tapw4 tapbp vde devvsw devw4 tunkk tunvv tunw2 tunvk encvv enctinc encwg encid encrelay)
declare -A SECTION=([local]="bridge tapvsw tapw2 tapw4 tapbp vde devvsw devw4" [tunnel]="tunkk tunvv tunw2 tunvk"
                    [encrypted]="tunkk encvv enctinc encwg" [reach]="encid encrelay")
SETUPS=()
if [ -z "$ONLY" ] || [ "$ONLY" = all ]; then
  SETUPS=("${ALL_SETUPS[@]}")
else
  declare -A want=()
  for w in ${ONLY//,/ }; do
    if [ -n "${SECTION[$w]:-}" ]; then
      for x in ${SECTION[$w]}; do want[$x]=1; done
    elif [[ " ${ALL_SETUPS[*]} " == *" $w "* ]]; then
      want[$w]=1
    else
      echo "bench/run.sh: --only: unknown section or configuration '$w' (sections: local, tunnel, encrypted; configurations: ${ALL_SETUPS[*]})" >&2
      exit 2
    fi
  done
  for x in "${ALL_SETUPS[@]}"; do [ -n "${want[$x]:-}" ] && SETUPS+=("$x"); done
  unset want
  [ "${#SETUPS[@]}" -gt 0 ] || { echo "bench/run.sh: --only '$ONLY' names nothing" >&2; exit 2; }
fi
# needs_vswitchd: does a chosen configuration run vswitchd?
needs_vswitchd() {
  local x
  for x in "${SETUPS[@]}"; do
    case "$x" in tapvsw | tapw2 | tapw4 | tapbp | devvsw | devw4 | tunvv | tunw2 | tunvk | encvv | encid | encrelay) return 0 ;; esac
  done
  return 1
}

if [ "$(id -u)" -ne 0 ]; then
  echo "bench/run.sh: needs root (network namespaces, TAPs, veths): sudo $0" >&2
  exit 1
fi

STAMP="$(date +%Y%m%d-%H%M%S)"
[ -n "$OUT" ] || OUT="$BENCH_DIR/results/$STAMP.md"
case "$OUT" in *.md) ;; *) OUT="$OUT.md" ;; esac
mkdir -p "$(dirname "$OUT")" || { echo "bench/run.sh: cannot create $(dirname "$OUT")" >&2; exit 1; }
OUT="$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")"
PNG="${OUT%.md}.png"
LOG="${OUT%.md}.log"
: >"$LOG" || { echo "bench/run.sh: cannot write $LOG" >&2; exit 1; }

if [ "$QUICK" = 1 ]; then
  REPS="${BENCH_REPS:-1}"; TCP_SECS="${BENCH_TCP_SECS:-1}"; UDP_SECS="${BENCH_UDP_SECS:-2}"
else
  REPS="${BENCH_REPS:-3}"; TCP_SECS="${BENCH_TCP_SECS:-2}"; UDP_SECS="${BENCH_UDP_SECS:-3}"
fi
UDP_RATE="${BENCH_UDP_RATE:-40M}"
BUDGET="${BENCH_BUDGET:-330}"
PING_COUNT=200
EFF_RATE="${BENCH_EFF_RATE:-2G}"
EFF_SECS=4
[ "$QUICK" = 1 ] && EFF_SECS=2
# The local configurations: also latency under load, efficiency, 16 streams.
LOCAL_SETUPS=(bridge tapvsw tapw2 tapw4 tapbp devvsw devw4)

# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
# shellcheck source=bench/topo.sh
source "$BENCH_DIR/topo.sh"

say "bench: report $OUT, log $LOG"

# ---- 1. what it needs ------------------------------------------------------------

PACKAGES=(iperf3 vde2 tinc wireguard-go wireguard-tools gnuplot-nox iproute2 ethtool procps python3 iputils-ping coreutils
          build-essential cmake pkg-config libboost-dev libboost-program-options-dev libspdlog-dev
          libsodium-dev libssl-dev nlohmann-json3-dev)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  { timeout 300 apt-get update -qq && timeout 600 apt-get install -y -qq "${missing[@]}"; } >>"$LOG" 2>&1 ||
    say "WARNING: apt-get could not install everything (see $LOG); what needs it will fail"
fi
PYTHON="$(command -v python3 || true)"
if [ -z "$PYTHON" ]; then
  say "bench/run.sh: python3 is needed to read iperf3's JSON and write the report; apt-get install python3"
  exit 1
fi

# ---- 2. build vswitchd (Release) -------------------------------------------------

VSWITCHD_WHY=""
BUILD_NOTE=""
T_BUILD0="$(date +%s)"
# build DIR [CMAKE ARGS...]: configure and build the vswitchd target; 0 if it built.
build() {
  local dir="$1"
  shift
  log "build: cmake -S . -B $dir -DCMAKE_BUILD_TYPE=Release -DVSWITCHD_TESTS=OFF $*"
  (cd "$REPO" &&
    timeout 600 cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DVSWITCHD_TESTS=OFF "$@" &&
    timeout 900 cmake --build "$dir" -j --target vswitchd) >"$WORK/build-$(basename "$dir").log" 2>&1
  local rc=$?
  cat "$WORK/build-$(basename "$dir").log" >>"$LOG"
  return "$rc"
}
# first_error BUILDLOG: the first compiler error, short: "FILE.cpp: HEADER:LINE: what".
first_error() {
  local line unit loc what
  line="$(grep -m1 -E 'error:' "$1")"
  [ -n "$line" ] || line="$(grep -m1 -E 'Error|error' "$1")"
  unit="$(grep -m1 -oE '[A-Za-z0-9_.-]+\.(cpp|cc)\.o\] Error' "$1" | sed -E 's/\.o\] Error//')"
  loc="$(grep -oE '^[^ :]+:[0-9]+' <<<"$line" | head -n 1)"
  what="$(grep -oE '\[-Werror=[a-z0-9-]+\]' <<<"$line" | head -n 1)"
  [ -n "$what" ] || what="$(sed -E 's/.*error: //' <<<"$line" | cut -c1-160)"
  printf '%s%s%s' "${unit:+$unit: }" "${loc:+$(basename "${loc%:*}"):${loc##*:}: }" "$what"
}
if ! needs_vswitchd; then
  VSWITCHD=""
  BUILD_NOTE="not needed (--only $ONLY)"
elif [ -n "${VSWITCHD:-}" ]; then
  if [ -x "$VSWITCHD" ]; then
    VSWITCHD="$(cd "$(dirname "$VSWITCHD")" && pwd)/$(basename "$VSWITCHD")"
    BUILD_NOTE="given binary $VSWITCHD (not rebuilt)"
  else
    VSWITCHD_WHY="--vswitchd $VSWITCHD is not an executable"
    VSWITCHD=""
    BUILD_NOTE="none: $VSWITCHD_WHY"
  fi
else
  say "building vswitchd (Release) in build-release"
  if build build-release -DCMAKE_CXX_FLAGS=; then
    VSWITCHD="$REPO/build-release/switchd/vswitchd"
    BUILD_NOTE="Release (\`cmake -DCMAKE_BUILD_TYPE=Release\`, GCC $(gcc -dumpversion 2>/dev/null))"
  else
    # A Release build that fails is a bug (tests/run.sh builds Release with -Werror too).
    VSWITCHD=""
    VSWITCHD_WHY="the Release build failed: $(first_error "$WORK/build-build-release.log")"
    BUILD_NOTE="**failed**: $VSWITCHD_WHY (see the log)"
  fi
  if [ -n "$VSWITCHD" ] && [ ! -x "$VSWITCHD" ]; then
    VSWITCHD_WHY="built, but there is no $VSWITCHD"
    BUILD_NOTE="**failed**: $VSWITCHD_WHY"
    VSWITCHD=""
  fi
fi
[ -n "$VSWITCHD_WHY" ] && say "WARNING: no vswitchd to measure: $VSWITCHD_WHY; its cells will read fail"
BUILD_SECS=$(($(date +%s) - T_BUILD0))

# ---- 3. the system -----------------------------------------------------------------

SYSTEM="$WORK/system.tsv"
sys() { printf '%s\t%s\n' "$1" "$2" >>"$SYSTEM"; }
commit="$(git -C "$REPO" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
subject="$(git -C "$REPO" log -1 --format=%s 2>/dev/null | cut -c1-80 | tr '|' '/')"
# --no-optional-locks: read only, never refresh the index.
if [ -n "$(git -C "$REPO" --no-optional-locks status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  dirty=" + uncommitted changes in the work tree (measured as built)"
else
  dirty=""
fi
[ -n "${VSWITCHD:-}" ] && [[ "$BUILD_NOTE" == given* ]] && dirty=" (the given binary may be from another tree)"
sys date "$(date '+%Y-%m-%d %H:%M:%S %Z')"
sys commit "git \`$commit\` \"$subject\"$dirty"
sys build "$BUILD_NOTE"
sys kernel "$(uname -srm)"
cpu="$(sed -nE 's/^model name\s*:\s*//p' /proc/cpuinfo | head -n 1)"
sys cpu "${cpu:-unknown}, $(nproc) CPUs online; load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
sys tools "$(iperf3 --version 2>/dev/null | head -n 1 | cut -d' ' -f1-2 || echo 'iperf3 missing'), vde2 $(dpkg-query -W -f='${Version}' vde2 2>/dev/null || echo missing), tinc $(dpkg-query -W -f='${Version}' tinc 2>/dev/null || echo missing), $(ip -V 2>/dev/null | sed 's/, libbpf.*//')"
sys method "TCP: iperf3 -t $TCP_SECS (1 stream, -P 4; local also -P 16), receiver rate, best of up to $REPS tries interleaved over the configurations; ping: $PING_COUNT at 0.01 s after 10 warm-up, idle and (local) beside a 1-stream iperf3; efficiency (local): iperf3 TCP --fq-rate $EFF_RATE -t $EFF_SECS, the whole machine's user+system+irq+softirq time (/proc/stat) / GB received; CPU: iperf3 -u -l 64 -b $UDP_RATE -t $UDP_SECS, utime+stime delta of the switch process (/proc/PID/stat, $CLK_TCK Hz ticks) / datagrams received"
sys setups "${SETUPS[*]}"
[ -n "$ONLY" ] && [ "$ONLY" != all ] && sys only "$ONLY: ${SETUPS[*]}"
for k in kernel cpu; do log "system $k: $(grep "^$k" "$SYSTEM" | cut -f2)"; done

# ---- 4. the configurations ------------------------------------------------------------

reap_stale
declare -A S_OK=() S_WHY=() SKIP=()
T_MEAS0="$(date +%s)"
for s in "${SETUPS[@]}"; do
  say "setting up $s"
  FAIL_WHY=""
  if "setup_$s"; then
    S_OK[$s]=1
  else
    S_OK[$s]=0; S_WHY[$s]="setup failed: ${FAIL_WHY:-see the log}"
    say "  $s: ${S_WHY[$s]}"
  fi
done
for s in "${SETUPS[@]}"; do
  [ "${S_OK[$s]}" = 1 ] || continue
  if ! wait_ping "$s-a" "$VM_B"; then
    S_OK[$s]=0; S_WHY[$s]="$FAIL_WHY"
    say "  $s: $FAIL_WHY"
  fi
done

# alive SETUP: are its switch processes still running? (sets FAIL_WHY)
alive() {
  local pid
  for pid in ${S_PIDS[$1]:-}; do
    if ! kill -0 "$pid" 2>/dev/null; then
      FAIL_WHY="the switch process $pid exited"
      return 1
    fi
  done
  return 0
}

# measure SETUP METRIC CMD...: run one measurement unless the setup failed, its
# switch died, or an earlier try of the same cell could not even connect.
measure() {
  local s="$1" m="$2"
  shift 2
  if [ "${S_OK[$s]}" != 1 ]; then record "$s" "$m" fail "${S_WHY[$s]}"; return; fi
  if [ -n "${SKIP[$s.$m]:-}" ]; then log "skip $s $m: ${SKIP[$s.$m]}"; return; fi
  if ! alive "$s"; then record "$s" "$m" fail "$FAIL_WHY"; return; fi
  FAIL_WHY=""
  "$@"
}

# shellcheck disable=SC2317  # called through measure
# tcp SETUP METRIC STREAMS: one TCP try; a try that could not connect or hung is
# not repeated (it costs its timeouts every time).
tcp() {
  local s="$1" m="$2" n before
  before="$(wc -l <"$WORK/reasons.tsv" 2>/dev/null || echo 0)"
  tcp_rate "$s" "$m" "$s-a" "$s-b" "$VM_B" "$3" && return 0
  n="$(tail -n "+$((before + 1))" "$WORK/reasons.tsv" 2>/dev/null)"
  if grep -qE 'unable to connect|timed out|Connection refused|No route' <<<"$n"; then
    SKIP[$s.$m]="an earlier try failed: $(cut -f3 <<<"$n" | head -n 1)"
  fi
}

say "ping RTT ($PING_COUNT pings at 0.01 s)"
for s in "${SETUPS[@]}"; do
  measure "$s" rtt ping_rtt "$s" "$s-a" "$VM_B"
done

# in_local SETUP: is SETUP one of the local configurations?
in_local() { [[ " ${LOCAL_SETUPS[*]} " == *" $1 "* ]]; }

say "ping RTT beside a 1-stream iperf3, local configurations"
for s in "${SETUPS[@]}"; do
  in_local "$s" && measure "$s" lrtt50 loaded_rtt "$s" "$s-a" "$s-b" "$VM_B"
done

say "efficiency: whole-machine CPU per GB at iperf3 --fq-rate $EFF_RATE, local configurations"
for s in "${SETUPS[@]}"; do
  in_local "$s" && measure "$s" cpugb cpu_per_gb "$s" "$s-a" "$s-b" "$VM_B"
done

# has_switch SETUP: does SETUP have a switch process, whose CPU time is measured?
has_switch() { case "$1" in tapvsw | tapw2 | tapw4 | tapbp | vde | devvsw | devw4 | tunvv | tunw2 | tunvk | encvv | enctinc | encwg | encid | encrelay) return 0 ;; esac; return 1; }

# The kernel anchors too, for their loss: what the machine loses at that load
# without a switch process (the iperf3 server not scheduled in time, ...).
say "switch CPU per 64-byte frame and loss (iperf3 -u -l 64 -b $UDP_RATE -t $UDP_SECS)"
for s in "${SETUPS[@]}"; do
  n=0; has_switch "$s" && n=1
  if [ "${S_OK[$s]}" != 1 ]; then udp_fail "$s" "$n" "${S_WHY[$s]}"; continue; fi
  if ! alive "$s"; then udp_fail "$s" "$n" "$FAIL_WHY"; continue; fi
  # shellcheck disable=SC2086  # S_PIDS holds a list of pids
  udp_cpu "$s" "$s-a" "$s-b" "$VM_B" ${S_PIDS[$s]:-}
done

round_secs=0
for ((r = 1; r <= REPS; r++)); do
  now="$(elapsed)"
  if [ "$r" -gt 1 ] && [ $((now + round_secs + 10)) -gt "$BUDGET" ]; then
    say "time budget: stopping after $((r - 1)) of $REPS TCP tries (${now} s elapsed, a round takes ${round_secs} s)"
    sys notes "TCP figures are the best of $((r - 1)) tries, not $REPS: the time budget (BENCH_BUDGET=$BUDGET s) was reached."
    break
  fi
  t0="$(date +%s)"
  say "TCP try $r of $REPS (iperf3 -t $TCP_SECS, 1 stream then -P 4 every configuration, -P 16 the local ones)"
  for s in "${SETUPS[@]}"; do measure "$s" tcp1 tcp "$s" tcp1 1; done
  for s in "${SETUPS[@]}"; do measure "$s" tcp4 tcp "$s" tcp4 4; done
  for s in "${SETUPS[@]}"; do in_local "$s" && measure "$s" tcp16 tcp "$s" tcp16 16; done
  round_secs=$(($(date +%s) - t0))
done

# Last (it leaves a million MACs in tapvsw's table): frames/s against the MAC table size.
if [[ " ${SETUPS[*]} " == *" tapvsw "* ]]; then
  say "frames per second through vswitchd tap: at 1 Ki and 1 Mi learned MACs (bench/macload.c)"
  if gcc -O2 -o "$WORK/macload" "$BENCH_DIR/macload.c" >>"$LOG" 2>&1; then
    measure tapvsw fps1k mac_fps tapvsw "$(ifn ta)" "$(ifn tb)"
  else
    record tapvsw fps1k fail "bench/macload.c did not build (see the log)"
  fi
fi
MEAS_SECS=$(($(date +%s) - T_MEAS0))

# The daemons' counters (SIGUSR1) and logs into the log, for the curious.
# tincd: SIGUSR2 dumps its device statistics and nodes.
for s in tapvsw tapw2 tapw4 tapbp devvsw devw4 tunvv tunw2 tunvk encvv encid encrelay; do
  for pid in ${S_PIDS[$s]:-}; do kill -USR1 "$pid" 2>/dev/null; done
done
for pid in ${S_PIDS[enctinc]:-}; do kill -USR2 "$pid" 2>/dev/null; done
sleep 0.3
for f in "$WORK"/vswitchd-*.log "$WORK"/tinc-*.log; do
  [ -f "$f" ] || continue
  { echo "===== $(basename "$f") (last 60 lines) ====="; tail -n 60 "$f"; } >>"$LOG"
done

# ---- 5. the report --------------------------------------------------------------------

TOTAL="$(elapsed)"
sys time "$TOTAL s (dependencies and build $BUILD_SECS s, measurements $MEAS_SECS s)"
"$PYTHON" "$BENCH_DIR/report.py" "$RESULTS" "$WORK/reasons.tsv" "$SYSTEM" "$OUT" "$WORK/plot.dat" \
  "$WORK/scaling.dat" >>"$LOG" 2>&1 ||
  say "WARNING: report.py failed (see $LOG)"
if command -v gnuplot >/dev/null; then
  if timeout 60 gnuplot -e "datafile='$WORK/plot.dat'; outfile='$PNG'; subtitle='$STAMP, git $commit'" \
       "$BENCH_DIR/plot.gp" >>"$LOG" 2>&1; then
    printf '\n![chart](%s)\n' "$(basename "$PNG")" >>"$OUT"
  else
    say "WARNING: gnuplot failed (see $LOG): no chart"
  fi
  if [ -s "$WORK/scaling.dat" ]; then
    if timeout 60 gnuplot -e "datafile='$WORK/scaling.dat'; outfile='${OUT%.md}-scaling.png'; subtitle='$STAMP'" \
         "$BENCH_DIR/scaling.gp" >>"$LOG" 2>&1; then
      printf '\n![TCP against streams](%s)\n' "$(basename "${OUT%.md}-scaling.png")" >>"$OUT"
    else
      say "WARNING: gnuplot failed on the streams chart (see $LOG)"
    fi
  fi
else
  say "WARNING: gnuplot is not installed: no chart"
fi
cp "$WORK/plot.dat" "${OUT%.md}.dat" 2>/dev/null
cp "$WORK/scaling.dat" "${OUT%.md}-scaling.dat" 2>/dev/null

cat "$OUT"
echo
say "report: $OUT"
say "chart:  $PNG"
say "log:    $LOG"
say "total time: $(elapsed) s (dependencies and build $BUILD_SECS s, measurements $MEAS_SECS s)"
exit 0
