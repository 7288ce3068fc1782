# shellcheck shell=bash
# shellcheck disable=SC2034  # the GUEST_* variables set here are read by the tests
# Real QEMU guests for the integration tests (issue 6). Source it after lib.sh:
#
#   TEST_TAG=qg
#   source "$(dirname "$0")/lib.sh"
#   source "$(dirname "$0")/guest_lib.sh"
#   need_root
#   guest_build                                   # or SKIP (exit 77) saying why
#   guest_start g1 sw "$WORK/g1.log" -netdev tap,id=n0,ifname=TAP,script=no,downscript=no \
#     -- vsw.ip=10.60.0.1/24 vsw.peer=10.60.0.2
#   guest_wait g1 60 || fail "g1: $GUEST_RESULT"
#
# The guest (guest/init, built by guest/build.sh into a cache) is a Debian
# kernel with a busybox initramfs: it brings eth0 up at vsw.ip, pings vsw.peer
# and prints "VSW-RESULT ..." on its serial console, which goes to its log.
# QEMU runs under TCG (no KVM needed): 256 MB, one vCPU, a virtio-net-pci NIC.

GUEST_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/guest"
GUEST_KERNEL=""
GUEST_INITRD=""
GUEST_KERNEL_PKG=""        # the Debian package and version the kernel came from
GUEST_KERNEL_VERSION=""
GUEST_BUILT=""             # what guest_build had to build ("none": all cached)
GUEST_WAIT_MAX=60          # guest_wait never waits longer than this per guest
GUEST_LIFETIME=180         # a QEMU left behind (e.g. the test was SIGKILLed) dies after this
GUEST_ACCEL="${VSWITCHD_GUEST_ACCEL:-tcg}"   # TCG runs anywhere; kvm where /dev/kvm is usable
declare -A GUEST_PID=()    # NAME -> pid of the QEMU (its `timeout` wrapper)
declare -A GUEST_LOG=()    # NAME -> serial console log
declare -A GUEST_T0=()     # NAME -> when guest_start launched it (s since the epoch)
declare -A GUEST_MAC=()    # NAME -> its NIC's MAC address
GUEST_COUNT=0
# Set by guest_wait:
GUEST_RESULT=""            # the guest's VSW-RESULT line (without "VSW-RESULT ")
GUEST_READY=""             # its VSW-READY line, if any
GUEST_SECS=""              # seconds from guest_start to the result line (host clock, 0.1 s steps)
GUEST_PING_MS=""           # boot_to_ping_ms of the result: guest uptime at the first answer
GUEST_PING_S=""            # boot-to-ping on the host clock: seconds from guest_start to the
                           # first answer (QEMU, firmware and kernel loading included)

# guest_build: make sure the guest's kernel and initramfs are cached (building
# them on first use takes ~15 s and downloads ~70 MB); sets GUEST_KERNEL and
# GUEST_INITRD. Skips the test (exit 77) when QEMU or a build tool is missing
# or the kernel package cannot be downloaded, saying what to do.
guest_build() {
  local out rc=0 line t0
  command -v qemu-system-x86_64 >/dev/null ||
    { echo "SKIP: qemu-system-x86_64 is not installed (tests/install-deps.sh test, or apt-get install qemu-system-x86)"; exit 77; }
  t0="$(date +%s.%N)"
  out="$(bash "$GUEST_DIR/build.sh" 2>"$WORK/guest-build.log")" || rc=$?
  if [ "$rc" -eq 77 ]; then
    echo "SKIP: cannot build the QEMU test guest: $(grep -v '^ ' "$WORK/guest-build.log" | tail -n 1)"
    exit 77
  fi
  [ "$rc" -eq 0 ] || fail "building the QEMU test guest failed (status $rc): $(cat "$WORK/guest-build.log")"
  while IFS= read -r line; do
    case "$line" in
      GUEST_KERNEL=*) GUEST_KERNEL="${line#*=}" ;;
      GUEST_INITRD=*) GUEST_INITRD="${line#*=}" ;;
      GUEST_KERNEL_PKG=* | GUEST_KERNEL_VERSION=* | GUEST_BUILT=*) printf -v "${line%%=*}" '%s' "${line#*=}" ;;
    esac
  done <<<"$out"
  if [ ! -f "$GUEST_KERNEL" ] || [ ! -f "$GUEST_INITRD" ]; then
    fail "guest/build.sh printed no kernel or initramfs: $out"
  fi
  log "   guest: $GUEST_KERNEL_PKG $GUEST_KERNEL_VERSION; built now: $GUEST_BUILT ($(calc "$(date +%s.%N) - $t0") s)"
}

# guest_start NAME ROLE LOGFILE QEMU_ARGS... [-- KERNEL_ARGS...]
# Boot guest NAME in namespace ROLE ("-": the test's own namespace) in the
# background; its serial console goes to LOGFILE (printed by fail).
#   QEMU_ARGS    the backend of its NIC, free-form, with id=n0, e.g.
#                  -netdev tap,id=n0,ifname=TAP,script=no,downscript=no
#                  -netdev stream,id=n0,server=off,addr.type=unix,addr.path=SOCK
#                and any other QEMU options.
#   KERNEL_ARGS  the guest's settings (see guest/init): vsw.ip=ADDR/PREFIX (eth0,
#                untagged), vsw.peer=ADDR, vsw.count=N, vsw.wait=S, vsw.linger=S.
# The NIC is virtio-net-pci on n0 with a MAC unique to this run and guest
# (52:54:00:PID-high:PID-low:N), in GUEST_MAC[NAME]. The QEMU's pid joins T_PIDS,
# so lib.sh's cleanup kills it even when the test fails.
guest_start() {
  local name="$1" role="$2" logf="$3" qemu_args=() kargs=() mac pid
  shift 3
  while [ $# -gt 0 ] && [ "$1" != -- ]; do qemu_args+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  kargs=("$@")
  [ -n "$GUEST_KERNEL" ] || fail "guest_start $name: call guest_build first"
  [ -z "${GUEST_PID[$name]:-}" ] || fail "guest_start: guest $name was started already"
  GUEST_COUNT=$((GUEST_COUNT + 1))
  mac="$(printf '52:54:00:%02x:%02x:%02x' $((($$ >> 8) & 255)) $(($$ & 255)) "$GUEST_COUNT")"
  # GUEST_RUN_AS (e.g. "setpriv --reuid=65534 --regid=65534 --clear-groups")
  # runs QEMU unprivileged, as VM users without root do.
  local run_as=()
  [ -n "${GUEST_RUN_AS:-}" ] && read -ra run_as <<<"$GUEST_RUN_AS"
  local cmd=(timeout "$GUEST_LIFETIME" "${run_as[@]}"
    qemu-system-x86_64 -name "vsw-$ID-$name" -machine pc -accel "$GUEST_ACCEL" -m 256 -smp 1
    # No default devices (VGA, parallel port, a default NIC, a monitor on stdio):
    # the serial port is the console, on stdout. (-nographic would put a monitor
    # on stdin and set a terminal to raw mode.)
    -nodefaults -display none -serial stdio -monitor none
    -no-reboot   # a guest that powers off, or panics (panic=1), ends QEMU
    -kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD"
    -append "console=ttyS0 quiet panic=1 ${kargs[*]}"
    "${qemu_args[@]}"
    -device "virtio-net-pci,netdev=n0,mac=$mac")
  [ "$role" = - ] || cmd=(ip netns exec "$(ns "$role")" "${cmd[@]}")
  T_LOGS+=("$logf")
  GUEST_LOG[$name]="$logf"
  GUEST_MAC[$name]="$mac"
  GUEST_T0[$name]="$(date +%s.%N)"
  "${cmd[@]}" </dev/null >"$logf" 2>&1 &
  pid=$!
  T_PIDS+=("$pid")
  GUEST_PID[$name]="$pid"
  log "   guest $name: QEMU pid $pid in ${role/#-/this namespace}, mac $mac, ${kargs[*]}"
}

# guest_wait NAME [SECONDS]: wait until guest NAME prints its result line, at
# most SECONDS (default and cap: GUEST_WAIT_MAX) counted from its guest_start.
# Sets GUEST_RESULT, GUEST_READY, GUEST_SECS, GUEST_PING_MS, GUEST_PING_S. Returns 0 when the
# result is "... ok ...", 1 for any other result (the test decides: a guest may
# be meant to fail). Calls fail when no result came in time or QEMU exited first.
guest_wait() {
  local name="$1" secs="${2:-$GUEST_WAIT_MAX}" logf t0 now line rc up_ms
  logf="${GUEST_LOG[$name]:?guest_wait: no guest $name}"
  t0="${GUEST_T0[$name]}"
  [ "$secs" -le "$GUEST_WAIT_MAX" ] || secs="$GUEST_WAIT_MAX"
  GUEST_RESULT="" GUEST_READY="" GUEST_SECS="" GUEST_PING_MS=""
  while :; do
    # The serial console ends lines with \r\n.
    line="$(tr -d '\r' <"$logf" | grep -m 1 '^VSW-RESULT ' || true)"
    now="$(date +%s.%N)"
    [ -n "$line" ] && break
    if ! kill -0 "${GUEST_PID[$name]}" 2>/dev/null; then
      rc=0
      wait "${GUEST_PID[$name]}" 2>/dev/null || rc=$?
      fail "guest $name: QEMU exited (status $rc) before the guest printed VSW-RESULT"
    fi
    [ "$(calc "$now - $t0 > $secs")" = 0 ] ||
      fail "guest $name: no VSW-RESULT within $secs s of its start$(guest_last_line "$logf")"
    sleep 0.1
  done
  GUEST_RESULT="${line#VSW-RESULT }"
  GUEST_READY="$(tr -d '\r' <"$logf" | grep -m 1 '^VSW-READY ' || true)"
  GUEST_SECS="$(secs1 "$now - $t0")"
  GUEST_PING_MS="$(sed -nE 's/.*boot_to_ping_ms=([0-9]+).*/\1/p' <<<"$GUEST_RESULT")"
  up_ms="$(sed -nE 's/.*uptime_ms=([0-9]+).*/\1/p' <<<"$GUEST_RESULT")"
  # The guest's clock starts with its kernel: its uptime at the result line,
  # against our clock, dates the kernel's start, hence the first answer.
  GUEST_PING_S=""
  if [ -n "$GUEST_PING_MS" ] && [ -n "$up_ms" ]; then
    GUEST_PING_S="$(secs1 "$now - $t0 - $up_ms / 1000 + $GUEST_PING_MS / 1000")"
  fi
  log "   guest $name after ${GUEST_SECS} s: $GUEST_RESULT${GUEST_PING_S:+ (boot-to-ping $GUEST_PING_S s from QEMU start)}"
  grep -qE '^[a-z-]+ ok( |$)' <<<"$GUEST_RESULT"
}

# secs1 EXPR: an arithmetic EXPR (decimals allowed) printed with one decimal.
secs1() { awk "BEGIN { printf \"%.1f\", $1 }"; }

# guest_last_line LOGFILE: ", last console line: ..." (or nothing), for messages.
guest_last_line() {
  local l
  l="$(tr -d '\r' <"$1" | grep -v '^$' | tail -n 1 || true)"
  [ -z "$l" ] || printf ', last console line: %s' "$l"
}

# guest_stop NAME: stop guest NAME's QEMU (TERM, then KILL after 5 s) and reap it.
guest_stop() {
  local pid="${GUEST_PID[$1]:?guest_stop: no guest $1}"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# guest_wait_exit NAME SECONDS: wait (<= SECONDS) for guest NAME to power off by
# itself (after its vsw.linger); fail unless QEMU then exits with status 0.
guest_wait_exit() {
  local name="$1" secs="$2" pid rc=0
  pid="${GUEST_PID[$name]:?guest_wait_exit: no guest $name}"
  for _ in $(seq $((secs * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && fail "guest $name did not power off within $secs s$(guest_last_line "${GUEST_LOG[$name]}")"
  wait "$pid" || rc=$?
  [ "$rc" -eq 0 ] || fail "guest $name: QEMU exited with status $rc (want 0: the guest powered off)"
}
