#!/usr/bin/env bash
# A QEMU-style guest: another process holds the file side of a persistent TAP,
# and vswitchd switches it from the kernel side (dev:). The "QEMU" here is a
# second vswitchd that moves frames between the TAP's file side and a "guest"
# namespace, exactly QEMU's role with -netdev tap. Checks: the switch can
# attach before the guest opens the TAP; the guest's traffic flows; the guest
# closing and reopening its TAP needs nothing on the switch's side; a bare
# --port NAME on a held TAP falls back to the kernel side and says so; and
# the persistent TAP is left in place when the switch exits.
TEST_TAG=ht
source "$(dirname "$0")/lib.sh"
need_root

make_ns sw      # the host: vswitchd, the persistent TAP, the "QEMU" process
make_ns guest   # the guest behind the TAP
make_ns b       # a namespace on an ordinary file-side port

qt="$(name q)"   # the guest's persistent TAP (QEMU's ifname=)
gn="$(name g)"   # the guest's NIC (inside "QEMU")
tb="$(name b)"

ip -n "$(ns sw)" tuntap add "$qt" mode tap

check "the switch attaches the kernel side of $qt before the guest has opened it"
start_vswitchd sw "$WORK/switch.log" --port "dev:$qt" --port "tap:$tb"
switch_pid="$VSW_PID"
grep -q "dev $qt (kernel side" "$WORK/switch.log" || fail "$qt not attached by its kernel side"
tap_to_ns sw "$tb" b 10.61.0.2/24

start_qemu() {  # the "QEMU" opens the file side of $qt and has a guest NIC $gn
  start_vswitchd sw "$WORK/qemu-$1.log" --port "$qt" --port "tap:$gn"
  qemu_pid="$VSW_PID"
  grep -q "attached a persistent TAP" "$WORK/qemu-$1.log" || fail "\"QEMU\" did not get the file side of $qt"
  tap_to_ns sw "$gn" guest 10.61.0.1/24
}

check "the guest's traffic crosses the switch"
start_qemu 1
wait_ping guest 10.61.0.2
ping_ok guest 10.61.0.2 5
ping_ok b 10.61.0.1 5

check "a bare --port $qt while the guest holds it falls back to the kernel side"
start_vswitchd sw "$WORK/third.log" --port "$qt"
grep -q "held by another process" "$WORK/third.log" || fail "no log line about the held TAP"
grep -q "dev $qt (kernel side" "$WORK/third.log" || fail "the held TAP was not attached by its kernel side"
stop_vswitchd "$VSW_PID"

check "the guest closes its TAP and reopens it: the switch needs nothing"
stop_vswitchd "$qemu_pid"
exists guest "$gn" && fail "the guest NIC should be gone with its \"QEMU\""
start_qemu 2
wait_ping guest 10.61.0.2
ping_ok guest 10.61.0.2 5
ping_ok b 10.61.0.1 5
kill -0 "$switch_pid" || fail "the switch died"

lines="$(counters "$switch_pid" "$WORK/switch.log")"
line="$(port_line "$lines" "$qt")"
log "   $line"
grep -q "(dev, up)" <<<"$line" || fail "$qt should be an up dev port: $line"
check_drops "$line" port_down tx_error

check "on exit the switch leaves the persistent TAP in place"
stop_vswitchd "$qemu_pid"
stop_vswitchd "$switch_pid"
exists sw "$qt" || fail "the persistent TAP $qt was removed by the switch"
exists sw "$tb" && fail "the TAP $tb the switch created should be gone"

pass "QEMU-style held TAP on a dev: port"
