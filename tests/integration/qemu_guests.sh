#!/usr/bin/env bash
# q. Real guests (issue 6): two QEMU guests (TCG, no KVM needed) on persistent
# TAPs that vswitchd attaches with dev: (QEMU holds each TAP's file side,
# vswitchd its kernel side, as in docs/ports-and-guests.md, "QEMU guests"). Each guest boots a
# Debian kernel with a busybox initramfs (guest/build.sh, cached), brings its
# virtio-net NIC up and pings the other (5 answers out of 5). Checks both
# guests' results, their boot-to-ping times, the switch's counters (both ports
# carried frames, both guests' MACs learned) and that both guests power off
# cleanly.
#
# Skips (77) without root, /dev/net/tun, QEMU or the guest's build tools, or
# when the kernel package cannot be downloaded (first run, no network).
set -euo pipefail
TEST_TAG=qg
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/guest_lib.sh"
need_root qemu-system-x86_64
t_start="$(date +%s.%N)"

check "the guest: a Debian kernel and a busybox initramfs (cached after the first build)"
guest_build

make_ns sw
t1="$(name q1)"
t2="$(name q2)"
# Persistent TAPs that nobody holds yet: QEMU opens their file side later.
ip -n "$(ns sw)" tuntap add "$t1" mode tap
ip -n "$(ns sw)" tuntap add "$t2" mode tap

check "vswitchd attaches the kernel side of both TAPs (dev:$t1, dev:$t2)"
start_vswitchd sw "$WORK/vswitchd.log" --port "dev:$t1" --port "dev:$t2"
pid="$VSW_PID"

check "two guests boot on the TAPs' file side and ping each other"
# vsw.wait: a guest that is up first retries until the other answers.
# vsw.linger: each stays up 8 s after its result so the other's pings (which
# start within ~1 s of its own) are still answered, then powers off.
guest_args=(vsw.count=5 vsw.wait=40 vsw.linger=8)
guest_start g1 sw "$WORK/guest1.log" -netdev "tap,id=n0,ifname=$t1,script=no,downscript=no" \
  -- vsw.ip=10.60.0.1/24 vsw.peer=10.60.0.2 "${guest_args[@]}"
guest_start g2 sw "$WORK/guest2.log" -netdev "tap,id=n0,ifname=$t2,script=no,downscript=no" \
  -- vsw.ip=10.60.0.2/24 vsw.peer=10.60.0.1 "${guest_args[@]}"
# Both boot at once; each wait is bounded by 60 s from that guest's start.
guest_wait g1 60 || fail "guest g1 could not ping g2: $GUEST_RESULT"
g1_ping="$GUEST_PING_S" g1_kernel="$GUEST_PING_MS" g1_ready="$GUEST_READY"
guest_wait g2 60 || fail "guest g2 could not ping g1: $GUEST_RESULT"
g2_ping="$GUEST_PING_S" g2_kernel="$GUEST_PING_MS" g2_ready="$GUEST_READY"
for r in "$g1_ready" "$g2_ready"; do log "   $r"; done
grep -qF "mac=${GUEST_MAC[g1]}" <<<"$g1_ready" || fail "g1 reports a MAC other than ${GUEST_MAC[g1]}: $g1_ready"
grep -qF "mac=${GUEST_MAC[g2]}" <<<"$g2_ready" || fail "g2 reports a MAC other than ${GUEST_MAC[g2]}: $g2_ready"
# Boot-to-ping: from QEMU's start to the first answer from the other guest (the
# one up first waits for the other); of that, the guest kernel's own share.
echo "RESULT guests: boot-to-ping g1 $g1_ping s, g2 $g2_ping s (QEMU start to first answer, TCG)"
echo "RESULT guests: kernel start to first answer g1 $(secs1 "$g1_kernel / 1000") s, g2 $(secs1 "$g2_kernel / 1000") s"

check "counters: both dev: ports carried frames, the switch learned both guests' MACs"
lines="$(counters "$pid" "$WORK/vswitchd.log")"
printf '%s\n' "$lines"
for p in "$t1" "$t2"; do
  line="$(port_line "$lines" "$p")"
  [ -n "$line" ] || fail "no counters line for port $p"
  grep -qF "port $p (dev, up):" <<<"$line" || fail "port $p is not reported (dev, up): $line"
  # 1 + 5 echo requests and replies each way at least, plus ARP.
  [ "$(rx_frames "$line")" -ge 12 ] || fail "port $p received too few frames: $line"
  [ "$(tx_frames "$line")" -ge 12 ] || fail "port $p sent too few frames: $line"
  # A guest up first floods its ARP requests towards the other TAP, which is
  # down until QEMU opens it: those may be dropped there, nothing else.
  check_drops "$line" no_egress port_down
done
grep -qE 'counters: mac table 2 of [0-9]+ entries' <<<"$lines" ||
  fail "the MAC table should hold the two guests' addresses"

check "both guests power off by themselves after their linger (QEMU exits 0)"
guest_wait_exit g1 20
guest_wait_exit g2 20
tr -d '\r' <"$WORK/guest1.log" | grep -q '^VSW-POWEROFF' || fail "g1 did not reach its poweroff"

check "SIGTERM: vswitchd exits 0 within 1 s"
stop_vswitchd "$pid" 1

echo "RESULT guests: whole test $(secs1 "$(date +%s.%N) - $t_start") s"
pass "qemu_guests: two TCG guests on dev: TAPs pinged each other (boot-to-ping g1 $g1_ping s, g2 $g2_ping s)"
