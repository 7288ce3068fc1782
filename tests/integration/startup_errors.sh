#!/usr/bin/env bash
# g. Start-up errors: each exits non-zero (2 for bad options, 1 for things that
# fail to open) with a message naming the option and the fix, and leaves nothing
# behind: a TAP created for an earlier --port of the same command line is gone,
# an interface it brought up is down again. All runs happen in a namespace of the
# test ("sw").
set -euo pipefail
TEST_TAG=se
source "$(dirname "$0")/lib.sh"
need_root setpriv

make_ns sw
SW="$(ns sw)"
lt="$(name l)"      # the TAP named first on most command lines: must not survive
tun="$(name tun)"; va="$(name va)"; vb="$(name vb)"; held="$(name h)"
ip -n "$SW" tuntap add "$tun" mode tun
ip link add "$va" netns "$SW" type veth peer name "$vb" netns "$SW"

# expect_fail RC PATTERN... -- ARGS...: vswitchd ARGS exits with RC within 10 s and
# its output contains every PATTERN (fixed strings); nothing is left behind.
n=0
expect_fail() {
  local want="$1" rc=0 out p
  shift
  local -a pats=()
  while [ "$1" != -- ]; do pats+=("$1"); shift; done
  shift
  n=$((n + 1))
  # No control socket unless the case is about it (unprivileged runs could not make /run/vswitchd).
  local a ctl=(--control none)
  for a in "$@"; do [ "$a" = --control ] && ctl=(); done
  out="$(ip netns exec "$SW" timeout 10 ${AS_USER:-} "$VSWITCHD" "$@" "${ctl[@]}" 2>&1)" || rc=$?
  printf -- '   %s => exit %d: %s\n' "vswitchd $*" "$rc" "$(grep -v 'nothing was left behind' <<<"$out" | head -n 1 | sed -E 's/^[0-9-]+ [0-9:.]+ //')"
  [ "$rc" -ne 124 ] || fail "vswitchd $* did not exit within 10 s"
  [ "$rc" -eq "$want" ] || fail "vswitchd $*: exit status $rc, want $want; output: $out"
  for p in "${pats[@]}"; do
    grep -qF -- "$p" <<<"$out" || fail "vswitchd $*: output lacks '$p': $out"
  done
  if [ "$want" -eq 2 ]; then
    grep -q '^vswitchd: ' <<<"$out" || fail "vswitchd $*: a bad option's message must start 'vswitchd: ': $out"
  else
    grep -q ' error: ' <<<"$out" || fail "vswitchd $*: the failure must be logged at error level: $out"
    grep -qF 'not started; nothing was left behind' <<<"$out" || fail "vswitchd $*: no 'not started' line: $out"
  fi
  ! exists sw "$lt" || fail "vswitchd $*: left TAP $lt behind"
  grep -q '[<,]UP[,>]' <<<"$(ip -n "$SW" link show "$va")" && fail "vswitchd $*: left $va up"
  return 0
}

check "bad options: exit 2, message 'vswitchd: ' naming the option"
expect_fail 2 "--bogus" "vswitchd --help" -- --port "tap:$lt" --bogus
expect_fail 2 "--uplink 10.0.0.2" "HOST:PORT" -- --port "tap:$lt" --uplink 10.0.0.2
expect_fail 2 "--uplink :4789" "no host or address" -- --port "tap:$lt" --uplink :4789
expect_fail 2 "--listen nonsense" "HOST:PORT" -- --port "tap:$lt" --listen nonsense
expect_fail 2 "--uplink 10.0.0.2:70000" "out of range" "65535" -- --port "tap:$lt" --uplink 10.0.0.2:70000
expect_fail 2 "--uplink 10.0.0.2:0" "out of range" -- --port "tap:$lt" --uplink 10.0.0.2:0
expect_fail 2 "--vni 16777216" "out of range" "16777215" -- --port "tap:$lt" --vni 16777216
expect_fail 2 "--vni -1" -- --port "tap:$lt" --vni -1
expect_fail 2 "--port $lt" "named twice" -- --port "tap:$lt" --port "$lt"
expect_fail 2 "--port tap:$va" "named twice" -- --port "dev:$va" --port "tap:$va"
expect_fail 2 "--uplink 10.0.0.2:4789" "given twice" -- --port "tap:$lt" --uplink 10.0.0.2:4789 --uplink 10.0.0.2:4789
expect_fail 2 "--port foo:bar" "unknown port kind" -- --port "tap:$lt" --port foo:bar
expect_fail 2 "--port tap:waytoolongname16" "15 characters" -- --port "tap:$lt" --port tap:waytoolongname16
expect_fail 2 "--log-level" -- --port "tap:$lt" --log-level loud

check "failures to open: exit 1, logged at error level, naming the option and the fix"
expect_fail 1 "--port $tun: is a TUN (layer 3) device" "ip tuntap add $tun mode tap" -- --port "tap:$lt" --port "$tun"
expect_fail 1 "--port tap:$tun: is a TUN (layer 3) device" -- --port "tap:$lt" --port "tap:$tun"
expect_fail 1 "--port dev:$tun: is a TUN (layer 3) device" -- --port "tap:$lt" --port "dev:$tun"
expect_fail 1 "--port dev:$(name no): no such interface" "--port tap:$(name no)" -- --port "tap:$lt" --port "dev:$(name no)"
# A dev: port it brought up, then a later port fails: the veth must be down again.
expect_fail 1 "--port dev:$(name no): no such interface" -- --port "dev:$va" --port "tap:$lt" --port "dev:$(name no)"
expect_fail 1 "--uplink nosuchhost.invalid:4789: cannot resolve" -- --port "tap:$lt" --uplink nosuchhost.invalid:4789
expect_fail 1 "--listen 10.9.9.9:4789: cannot bind" -- --port "tap:$lt" --listen 10.9.9.9:4789 --uplink 10.0.0.2:4789

check "an address in use: another vswitchd holds UDP 4789 (and TAP $held) in the namespace"
start_vswitchd sw "$WORK/holder.log" --port "tap:$held" --uplink 10.0.0.9:4789
holder="$VSW_PID"
expect_fail 1 "--listen 0.0.0.0:4789 (the default): cannot bind (Address already in use)" "--listen ADDR:PORT" \
  -- --port "tap:$lt" --uplink 10.0.0.2:4789
expect_fail 1 "--listen 0.0.0.0:4789: cannot bind (Address already in use)" \
  -- --port "tap:$lt" --listen 0.0.0.0:4789 --uplink 10.0.0.2:4789
expect_fail 1 "--port tap:$held: the TAP is held by another process" "--port dev:$held" -- --port "tap:$lt" --port "tap:$held"
check "the control socket and the metrics port: taken, or not a socket"
expect_fail 1 "--control $VSW_CTL: a running process serves this socket (another vswitchd?)" \
  -- --port "tap:$lt" --control "$VSW_CTL"
: >"$WORK/not-a-socket"
expect_fail 1 "--control $WORK/not-a-socket: exists and is not a socket" -- --port "tap:$lt" --control "$WORK/not-a-socket"
expect_fail 2 "--metrics 9100: write ADDR:PORT" "127.0.0.1:9100" -- --port "tap:$lt" --metrics 9100
ip -n "$SW" link set lo up
in_ns sw "$PYTHON" -c 'import socket,time; s=socket.socket(); s.bind(("127.0.0.1", 9319)); s.listen(); time.sleep(30)' &
T_PIDS+=($!)
sleep 0.3
expect_fail 1 "--metrics 127.0.0.1:9319: cannot listen (Address already in use)" "choose another port" \
  -- --port "tap:$lt" --metrics 127.0.0.1:9319
kill -0 "$holder" 2>/dev/null || fail "the holding vswitchd died"
exists sw "$held" || fail "a failed start removed the other daemon's TAP $held"
stop_vswitchd "$holder" 1

check "no permission: an unprivileged user is told to run as root"
bin="$VSWITCHD"
if ! setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$bin"; then
  # The build tree is not reachable by nobody: run a copy.
  mkdir -p "$WORK/bin" && cp "$VSWITCHD" "$WORK/bin/vswitchd" && chmod 755 "$WORK" "$WORK/bin"
  bin="$WORK/bin/vswitchd"
fi
AS_USER="setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all"
VSWITCHD_SAVED="$VSWITCHD"; VSWITCHD="$bin"
expect_fail 1 "--port tap:$lt:" "run vswitchd as root" -- --port "tap:$lt"
expect_fail 1 "--port dev:$va:" "run vswitchd as root" -- --port "dev:$va"
VSWITCHD="$VSWITCHD_SAVED"; AS_USER=""

check "key and peer files, liveness timers: the file, the line and the fix named"
up=(--port "tap:$lt" --uplink 10.0.0.2:4789)
ka="$("$VSWITCHD" --generate-key)"; kb="$("$VSWITCHD" --generate-key)"; kc="$("$VSWITCHD" --generate-key)"
# key_file NAME MODE LINE...: $WORK/NAME holding LINE... with MODE; prints its path.
key_file() {
  local f="$WORK/$1" mode="$2"
  shift 2
  (umask 077 && printf '%s\n' "$@" >"$f")
  chmod "$mode" "$f"
  printf '%s' "$f"
}
f="$(key_file k644 644 "$ka")"
expect_fail 1 "--key-file $f: is readable or writable by group or others (mode 0644)" "chmod 600 $f" \
  -- "${up[@]}" --key-file "$f"
f="$(key_file k604 604 "$ka")"
expect_fail 1 "--key-file $f:" "(mode 0604)" "chmod 600 $f" -- "${up[@]}" --key-file "$f"
expect_fail 1 "--key-file $WORK/nokey: cannot read it" "vswitchd --generate-key > $WORK/nokey && chmod 600 $WORK/nokey" \
  -- "${up[@]}" --key-file "$WORK/nokey"
f="$(key_file kshort 600 "# overlay key" "" "$ka" "${kb:0:63}")"
expect_fail 1 "--key-file $f: line 4: not a key: expected 64 hex digits (32 bytes), found 63 characters" \
  -- "${up[@]}" --key-file "$f"
f="$(key_file khex 600 "  ${ka:0:10}g${ka:11}")"
expect_fail 1 "--key-file $f: line 1: not a key: column 13 is not a hex digit" -- "${up[@]}" --key-file "$f"
f="$(key_file k3 600 "$ka" "$kb" "# the next one is too many" "$kc")"
expect_fail 1 "--key-file $f: line 4: a third key" "1 or 2 keys" -- "${up[@]}" --key-file "$f"
f="$(key_file kdup 600 "$ka" "$ka")"
expect_fail 1 "--key-file $f: line 2: the same key as line 1" -- "${up[@]}" --key-file "$f"
f="$(key_file knone 600 "# no key yet" "")"
expect_fail 1 "--key-file $f: no key in the file" "vswitchd --generate-key" -- "${up[@]}" --key-file "$f"
expect_fail 1 "--peers-file $WORK/nopeers: cannot read it" -- --port "tap:$lt" --peers-file "$WORK/nopeers"
printf '# peers\n10.0.0.2:4789\n10.0.0.3 10.0.0.4\n' >"$WORK/peers-bad"
expect_fail 1 "--peers-file $WORK/peers-bad line 3:" "one peer per line" -- --port "tap:$lt" --peers-file "$WORK/peers-bad"
printf '10.0.0.2\n\n10.0.0.3:99999\n' >"$WORK/peers-port"
expect_fail 1 "--peers-file $WORK/peers-port line 3:" "65535" -- --port "tap:$lt" --peers-file "$WORK/peers-port"
expect_fail 2 "--peer-timeout 3: must be longer than --keepalive 3" "--peer-timeout 12" \
  -- "${up[@]}" --keepalive 3 --peer-timeout 3
expect_fail 2 "--peer-timeout 2: must be longer than --keepalive 5" -- "${up[@]}" --keepalive 5 --peer-timeout 2

check "nothing left behind in the namespace"
left="$(ip -n "$SW" -br link | awk '{print $1}' | sed 's/@.*//' | sort | tr '\n' ' ')"
want="$(printf '%s\n' lo "$tun" "$va" "$vb" | sort | tr '\n' ' ')"
[ "$left" = "$want" ] || fail "interfaces in the namespace: '$left', want '$want'"

pass "startup_errors: $n failing start-ups exited with the right status and message, nothing left behind"
