#!/usr/bin/env bash
# Running as a service: --pid-file (written once started, removed at exit,
# refused while a live process holds it), --log-file, systemd's readiness
# protocol (READY=1 and STOPPING=1 on $NOTIFY_SOCKET), --user (privileges
# dropped after opening everything, verified in /proc), `cmake --install` of
# the binary and the unit (with the installed path), and the .deb CPack
# builds (its contents and its binary).
set -euo pipefail
TEST_TAG=sv
source "$(dirname "$0")/lib.sh"
need_root

BUILD="$(cd "$(dirname "$VSWITCHD")/.." && pwd)"
make_ns sw
tap="$(name t)"

check "--pid-file and --log-file; READY=1 and STOPPING=1 on \$NOTIFY_SOCKET"
sock="$WORK/notify.sock"
# A stand-in for systemd: records every datagram on the notify socket.
"$PYTHON" - "$sock" "$WORK/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(20)
with open(sys.argv[2], "w", buffering=1) as out:
    try:
        while True:
            out.write(s.recv(4096).decode() + "\n")
    except socket.timeout:
        pass
PY
T_PIDS+=($!)
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
pidf="$WORK/vswitchd.pid"
logf="$WORK/vswitchd-file.log"
NOTIFY_SOCKET="$sock" ip netns exec "$(ns sw)" "$VSWITCHD" --port "tap:$tap" --pid-file "$pidf" \
  --log-file "$logf" --control "$WORK/first.ctl" >"$WORK/stderr.log" 2>&1 &
pid=$!
T_PIDS+=("$pid")
T_LOGS+=("$logf" "$WORK/stderr.log")
for _ in $(seq 100); do grep -q 'READY=1' "$WORK/notify.log" 2>/dev/null && break; sleep 0.1; done
grep -qx 'READY=1' "$WORK/notify.log" || fail "no READY=1 on the notify socket: $(cat "$WORK/notify.log")"
grep -q 'vswitchd ready:' "$logf" || fail "the log file lacks 'vswitchd ready:'"
[ ! -s "$WORK/stderr.log" ] || fail "with --log-file, stderr should stay empty: $(cat "$WORK/stderr.log")"
[ "$(cat "$pidf")" = "$pid" ] || fail "pid file holds '$(cat "$pidf")', want $pid"
log "   READY=1 received; pid file $pid; log in the file"

check "a second daemon with the same --pid-file is refused, and the first keeps it"
rc=0
ip netns exec "$(ns sw)" "$VSWITCHD" --port "tap:$(name u)" --pid-file "$pidf" --control "$WORK/second.ctl" \
  >"$WORK/second.log" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "second daemon exited $rc, want 1: $(cat "$WORK/second.log")"
grep -q "process $pid (another vswitchd?) still runs with this pid file" "$WORK/second.log" ||
  fail "no clear error: $(cat "$WORK/second.log")"
exists sw "$(name u)" && fail "the refused daemon left its TAP behind"
[ "$(cat "$pidf")" = "$pid" ] || fail "the pid file changed"

check "SIGTERM: STOPPING=1, pid file removed, exit 0"
stop_vswitchd "$pid" 1
for _ in $(seq 20); do grep -q 'STOPPING=1' "$WORK/notify.log" && break; sleep 0.1; done
grep -qx 'STOPPING=1' "$WORK/notify.log" || fail "no STOPPING=1: $(cat "$WORK/notify.log")"
[ ! -e "$pidf" ] || fail "pid file still there after exit"

check "a stale pid file (no such process) is replaced; a --log-file that cannot be opened is named"
echo 999999 >"$pidf"
start_vswitchd sw "$WORK/stale.log" --port "tap:$tap" --pid-file "$pidf"
[ "$(cat "$pidf")" = "$VSW_PID" ] || fail "stale pid file not replaced"
stop_vswitchd "$VSW_PID" 1
rc=0
: >"$WORK/a-file"   # a file where the log's directory should be: it cannot be opened
timeout 10 ip netns exec "$(ns sw)" "$VSWITCHD" --port "tap:$tap" --log-file "$WORK/a-file/v.log" >"$WORK/bad.log" 2>&1 || rc=$?
[ "$rc" -eq 1 ] && grep -q -- "--log-file $WORK/a-file/v.log: cannot open it" "$WORK/bad.log" ||
  fail "bad --log-file: exit $rc: $(cat "$WORK/bad.log")"

check "--user nobody: runs as nobody with CAP_NET_ADMIN and CAP_NET_RAW only, and still switches"
make_ns a
make_ns b
start_vswitchd sw "$WORK/user.log" --port "tap:$(name a)" --port "tap:$(name b)" --user nobody
upid="$VSW_PID"; uctl="$VSW_CTL"
status="$(cat "/proc/$upid/status")"
nobody="$(id -u nobody)"
grep -qE "^Uid:\s+$nobody\s+$nobody\s+$nobody\s+$nobody$" <<<"$status" || fail "not running as nobody: $(grep ^Uid <<<"$status")"
grep -qE "^CapEff:\s+0000000000003000$" <<<"$status" || fail "effective capabilities: $(grep ^CapEff <<<"$status"), want 0x3000"
grep -qE "^CapPrm:\s+0000000000003000$" <<<"$status" || fail "permitted capabilities: $(grep ^CapPrm <<<"$status"), want 0x3000"
grep -q 'running as nobody' "$WORK/user.log" || fail "no 'running as nobody' log line"
tap_to_ns sw "$(name a)" a 10.93.0.1/24
tap_to_ns sw "$(name b)" b 10.93.0.2/24
wait_ping a 10.93.0.2
ping_ok a 10.93.0.2 3
# The control socket belongs to the user, 0600; runtime port changes still work.
[ "$(stat -c '%U %a' "$uctl")" = "nobody 600" ] || fail "control socket: $(stat -c '%U %a' "$uctl"), want nobody 600"
make_ns v
make_veth sw "$(name v1)" v "$(name v2)"
"$VSWITCHCTL" --control "$uctl" port add "dev:$(name v1)" >/dev/null || fail "port add dev: as nobody failed"
"$VSWITCHCTL" --control "$uctl" port del "$(name v1)" >/dev/null || fail "port del as nobody failed"
# A TAP's file side needs /dev/net/tun open to the user (0666 on Debian).
if out="$("$VSWITCHCTL" --control "$uctl" port add "tap:$(name c)" 2>&1)"; then
  exists sw "$(name c)" || fail "port add tap: as nobody made no TAP"
  "$VSWITCHCTL" --control "$uctl" port del "$(name c)" >/dev/null || fail "port del as nobody failed"
else
  [ "$(stat -c %a /dev/net/tun)" != 666 ] || fail "port add tap: as nobody failed: $out"
  grep -qF "chmod 0666 /dev/net/tun" <<<"$out" || fail "port add tap: as nobody: unclear error: $out"
  log "   (/dev/net/tun is $(stat -c %a /dev/net/tun) here: tap: ports need root; said so: ${out#*: port add: })"
fi
stop_vswitchd "$upid" 1
exists a "$(name a)" && fail "the TAP vswitchd created outlived it"
rc=0
ip netns exec "$(ns sw)" "$VSWITCHD" --port "tap:$tap" --user no-such-user-here >"$WORK/nouser.log" 2>&1 || rc=$?
[ "$rc" -eq 1 ] && grep -q -- '--user no-such-user-here: no such user' "$WORK/nouser.log" ||
  fail "unknown --user: exit $rc: $(cat "$WORK/nouser.log")"
exists sw "$tap" && fail "the refused daemon left its TAP behind"
log "   uid $nobody, CapEff 0x3000, control socket nobody/0600, port add/del at runtime, ping through,"
log "   clean exit; unknown user refused"

check "cmake --install: the binary and the unit with the installed path"
cmake --install "$BUILD" --prefix "$WORK/prefix" >"$WORK/install.log" 2>&1 || fail "cmake --install failed: $(tail "$WORK/install.log")"
[ -x "$WORK/prefix/sbin/vswitchd" ] || fail "no sbin/vswitchd installed"
[ -x "$WORK/prefix/bin/vswitchctl" ] || fail "no bin/vswitchctl installed"
grep -qx "ExecStart=$WORK/prefix/sbin/vswitchd --config /etc/vswitchd/vswitchd.conf --pid-file /run/vswitchd/vswitchd.pid" \
  "$WORK/prefix/lib/systemd/system/vswitchd.service" || fail "unit's ExecStart: $(grep ExecStart "$WORK/prefix/lib/systemd/system/vswitchd.service")"
grep -qx 'Type=notify' "$WORK/prefix/lib/systemd/system/vswitchd.service" || fail "unit is not Type=notify"
"$WORK/prefix/sbin/vswitchd" --version | grep -q '^vswitchd ' || fail "installed binary does not run"

check "cpack -G DEB: a .deb with the binary, the unit and the docs; its binary runs"
(cd "$BUILD" && cpack -G DEB -B "$WORK/pkg") >"$WORK/cpack.log" 2>&1 || fail "cpack failed: $(tail "$WORK/cpack.log")"
deb="$(ls "$WORK"/pkg/vswitchd_*.deb)"
contents="$(dpkg-deb -c "$deb")"
for f in ./usr/sbin/vswitchd ./usr/bin/vswitchctl ./usr/lib/systemd/system/vswitchd.service \
  ./usr/share/doc/vswitchd/README.md; do
  grep -q " $f\$" <<<"$contents" || fail "$f missing from $deb"
done
dpkg-deb -f "$deb" Depends | grep -q libsodium || fail "the .deb does not depend on libsodium: $(dpkg-deb -f "$deb" Depends)"
dpkg-deb -x "$deb" "$WORK/deb-root"
grep -qx 'ExecStart=/usr/sbin/vswitchd --config /etc/vswitchd/vswitchd.conf --pid-file /run/vswitchd/vswitchd.pid' \
  "$WORK/deb-root/usr/lib/systemd/system/vswitchd.service" || fail "the .deb's unit does not start /usr/sbin/vswitchd"
"$WORK/deb-root/usr/sbin/vswitchd" --version | grep -q '^vswitchd ' || fail "the .deb's binary does not run"
"$WORK/deb-root/usr/bin/vswitchctl" --help | grep -q 'vswitchctl' || fail "the .deb's vswitchctl does not run"
log "   $(basename "$deb"): $(dpkg-deb -f "$deb" Depends)"
# Installed for real (unless a vswitchd package is installed here already:
# that one is left alone): it runs from /usr, and is purged again.
if ! dpkg-query -W -f='${Status}' vswitchd 2>/dev/null | grep -q "install ok installed"; then
  purge_deb() { dpkg --purge vswitchd >/dev/null 2>&1 || true; }
  trap 'rc=$?; purge_deb; (exit "$rc"); cleanup' EXIT
  dpkg -i "$deb" >"$WORK/dpkg.log" 2>&1 || fail "dpkg -i $deb failed: $(tail -n 5 "$WORK/dpkg.log")"
  /usr/sbin/vswitchd --version | grep -q '^vswitchd ' || fail "the installed /usr/sbin/vswitchd does not run"
  VSWITCHD=/usr/sbin/vswitchd start_vswitchd sw "$WORK/installed.log" --port "tap:$(name i)"
  /usr/bin/vswitchctl --control "$VSW_CTL" show | grep -q "$(name i)" || fail "the installed vswitchctl cannot show"
  stop_vswitchd "$VSW_PID" 1
  purge_deb
  log "   dpkg -i: /usr/sbin/vswitchd and /usr/bin/vswitchctl run; purged"
fi

pass "service: pid file, log file, sd_notify readiness, --user, cmake --install and the .deb"
