#!/usr/bin/env bash
# Inner MTU, --clamp-mss and key rotation on sealed uplinks between two hosts.
#
# Hosts h1 and h2 are joined by a veth underlay with MTU 1500 (not 1600: the
# encapsulation does NOT fit behind a 1500-byte VM packet). Each runs vswitchd
# with a TAP into its VM namespace (MTU 1500) and an uplink to the other host.
#   1. Sealed, key A: the inner MTU is 1440 bytes (1500 - IPv4 20 - UDP 8 - 32).
#      A DF ping making a 1440-byte frame is answered; one byte more is dropped
#      by h1 as too_big (one per ping) and never answered; nothing is ever
#      fragmented on the underlay (tcpdump there; a fragmented ping from h1 to
#      h2 is the control that the capture sees fragments).
#   2. Key rotation without restarting (the file is watched each second): A,
#      then "A B" on both, "B A" on h1, "B A" on h2, "B" on both, while a ping
#      every 50 ms runs across all of it (>= 95% answered, no key drops). Key C
#      written over h1's file in place, SIGHUP sent at once: h1 logs the SIGHUP
#      reload of --key-file and loads C (the watcher would see the change too,
#      by its ctime, but only within a second); its sessions made under B end
#      within a second, its handshakes under C fail at h2 (sealed_forged), the
#      pings find no session at h1 (sealed_no_session) and fail; B back: works.
#      A key file replaced by a group-readable one (mode 0640) is refused with an
#      error and the keys in use stay (it holds key C: the ping still works).
#   3. Without --clamp-mss, TCP between the VMs (MSS 1460) cannot get its
#      full-size segments across: too_big grows (iperf3 bounded by a timeout).
#   4. --clamp-mss on both: iperf3 TCP works (> 0.1 Gbit/s), the SYN reaching
#      the server VM and the SYN-ACK reaching the client VM carry MSS 1386
#      (1440 - 14 - 20 - 20), and nothing is dropped as too_big.
#   5. Plain VXLAN (no --key-file): the inner MTU is 1464 (1500 - 20 - 8 - 8);
#      a 1464-byte DF frame gets through, a 1465-byte one is too_big.
# Each daemon pair gets fresh VM namespaces, so TCP sockets left over from
# step 3 (retransmitting segments that never fit) cannot disturb later steps.
set -euo pipefail
TEST_TAG=mk
source "$(dirname "$0")/lib.sh"
need_root iperf3 ss tcpdump dd touch
if plain_mode; then
  echo "SKIP (VSWITCHD_TEST_PLAIN=1): the binary predates --key-file and --clamp-mss"; exit 77
fi

U=10.200.50     # underlay: h1 .1, h2 .2 (MTU 1500)
V=10.50.0       # VMs: .1 behind h1, .2 behind h2
u1="$(name u1)"; u2="$(name u2)"
uplink1="$U.2:4789"   # h1's uplink port (its name in the counters)
uplink2="$U.1:4789"   # h2's uplink port

make_ns h1
make_ns h2
make_veth h1 "$u1" h2 "$u2"
addr_up h1 "$u1" "$U.1/24" 1500
addr_up h2 "$u2" "$U.2/24" 1500

# Keys, from the daemon itself.
KA="$("$VSWITCHD" --generate-key)"; KB="$("$VSWITCHD" --generate-key)"; KC="$("$VSWITCHD" --generate-key)"
for k in "$KA" "$KB" "$KC"; do
  [[ "$k" =~ ^[0-9a-f]{64}$ ]] || fail "vswitchd --generate-key printed '$k', want 64 hex digits"
done
K1="$WORK/h1.key"; K2="$WORK/h2.key"

# put_keys FILE KEY...: replace FILE (mode 0600) by one holding these keys, as
# an editor would: write a new file, rename it over the old one.
put_keys() {
  local f="$1"
  shift
  rm -f "$f.new"
  (umask 077 && printf '%s\n' "$@" >"$f.new")
  mv -f "$f.new" "$f"
}

# start_pair TAG VM1 VM2 [ARGS...]: vswitchd on h1 and h2 with ARGS, TAPs $(name
# TAG1) / $(name TAG2) moved into new namespaces VM1 / VM2 at $V.1 / $V.2.
# Sets PID1, PID2, LOG1, LOG2.
LOG1=""; LOG2=""
start_pair() {
  local tag="$1" vm1="$2" vm2="$3" k1=() k2=()
  shift 3
  if [ "${1:-}" = sealed ]; then
    shift
    k1=(--key-file "$K1"); k2=(--key-file "$K2")
  fi
  make_ns "$vm1"
  make_ns "$vm2"
  LOG1="$WORK/vswitchd-h1-$tag.log"; LOG2="$WORK/vswitchd-h2-$tag.log"
  start_vswitchd h1 "$LOG1" --port "tap:$(name "${tag}1")" --uplink "$uplink1" "${k1[@]}" "$@"
  PID1="$VSW_PID"
  start_vswitchd h2 "$LOG2" --port "tap:$(name "${tag}2")" --uplink "$uplink2" "${k2[@]}" "$@"
  PID2="$VSW_PID"
  tap_to_ns h1 "$(name "${tag}1")" "$vm1" "$V.1/24"
  tap_to_ns h2 "$(name "${tag}2")" "$vm2" "$V.2/24"
}

# uplink_line H: h1's or h2's counters line of its uplink port.
uplink_line() {
  local lines pid logf up
  if [ "$1" = 1 ]; then pid="$PID1"; logf="$LOG1"; up="$uplink1"
  else pid="$PID2"; logf="$LOG2"; up="$uplink2"; fi
  lines="$(counters "$pid" "$logf")"
  port_line "$lines" "$up"
}

# inner_mtu_line LOG MTU: the daemon described its uplink with that inner MTU.
inner_mtu_line() {
  local line
  line="$(grep -F "uplink " "$1" | grep -F "inner frames up to " | head -n 1 || true)"
  log "   $(sed -E 's/^[0-9-]+ [0-9:.]+ //' <<<"$line")"
  grep -qF "inner frames up to $2 bytes" <<<"$line" ||
    fail "$(basename "$1"): want 'inner frames up to $2 bytes' for the uplink, got: ${line:-nothing}"
}

# df_ping_fails FROM DEST SIZE COUNT: COUNT DF pings with payload SIZE, none answered.
df_ping_fails() {
  local out
  if out="$(in_ns "$1" ping -n -q -c "$4" -i 0.2 -W 1 -s "$3" -M "do" "$2" 2>&1)"; then
    fail "ping -s $3 -M do from $1 to $2 was answered: $out"
  fi
  grep -qE "$4 packets transmitted, 0 received" <<<"$out" || fail "ping -s $3 -M do from $1: $out"
  log "   ping $1 -> $2 -s $3 -M do: 0/$4 answered"
}

# wait_reload LOG MARK [HOW]: the next "key(s) loaded" line after line MARK (<= 5 s).
wait_reload() {
  wait_log "$1" "$2" 'key\(s\) loaded' 5 ||
    fail "$(basename "$1"): no 'key(s) loaded' line within 5 s${3:+ of $3}"
}
# key_id_of LINE: the "key id XXXXXXXX" a line names.
key_id_of() { sed -nE 's/.*key id ([0-9a-f]{8}).*/\1/p' <<<"$1"; }

###########################################################################
check "sealed (key A) on h1 and h2, underlay MTU 1500: the uplinks carry inner frames up to 1440 bytes"
put_keys "$K1" "$KA"
put_keys "$K2" "$KA"
start_pair s vm1 vm2 sealed
inner_mtu_line "$LOG1" 1440
inner_mtu_line "$LOG2" 1440
ID_A="$(key_id_of "$(grep -m 1 'uplinks: sealed' "$LOG1")")"
[ -n "$ID_A" ] || fail "h1 did not log 'uplinks: sealed (... key id ...)'"

capture_start h1 "$u1" "$WORK/frags.pcap" 'ip[6:2] & 0x3fff != 0'
cap_frags="$CAP_PID"

check "DF ping: 1398-byte payload (a 1440-byte frame) answered; 1399 (1441) dropped as too_big"
wait_ping vm1 "$V.2"
ping_ok vm1 "$V.2" 3 -s 1398 -M "do"
ping_ok vm2 "$V.1" 3 -s 1398 -M "do"
before="$(drop_count "$(uplink_line 1)" too_big)"
df_ping_fails vm1 "$V.2" 1399 5
sleep 0.2
after_line="$(uplink_line 1)"
after="$(drop_count "$after_line" too_big)"
log "   h1: $after_line"
[ $((after - before)) -eq 5 ] || fail "h1 counted $((after - before)) too_big drops for 5 oversized pings, want 5"

###########################################################################
check "key rotation A -> B without restart, a ping every 50 ms throughout"
l1="$(uplink_line 1)"; l2="$(uplink_line 2)"
# Not through in_ns (a function): $! must be ping itself, which prints its
# summary on SIGINT (a background subshell would ignore SIGINT).
timeout 60 ip netns exec "$(ns vm1)" ping -n -i 0.05 -W 1 "$V.2" >"$WORK/rotation-ping.txt" 2>&1 &
rot_ping=$!
T_PIDS+=("$rot_ping")
sleep 0.5

# step WHAT H1_KEYS H2_KEYS: write the files that change, wait for their reloads.
rot_step() {
  local what="$1" m1 m2 line
  log "   $what"
  m1="$(log_lines "$LOG1")"; m2="$(log_lines "$LOG2")"
  if [ -n "$2" ]; then
    # shellcheck disable=SC2086  # a list of keys
    put_keys "$K1" $2
  fi
  if [ -n "$3" ]; then
    # shellcheck disable=SC2086
    put_keys "$K2" $3
  fi
  if [ -n "$2" ]; then
    line="$(wait_reload "$LOG1" "$m1" "the change")"
    log "     h1: $(sed -E 's/^[0-9-]+ [0-9:.]+ //' <<<"$line")"
    RELOAD1="$line"
  fi
  if [ -n "$3" ]; then
    line="$(wait_reload "$LOG2" "$m2" "the change")"
    log "     h2: $(sed -E 's/^[0-9-]+ [0-9:.]+ //' <<<"$line")"
    RELOAD2="$line"
  fi
  ping_ok vm1 "$V.2" 3
}
RELOAD1=""; RELOAD2=""
rot_step "both files 'A B' (B added second)" "$KA $KB" "$KA $KB"
grep -q "2 key(s) loaded; handshakes use key id $ID_A" <<<"$RELOAD1" || fail "h1 after 'A B': $RELOAD1"
grep -q "2 key(s) loaded; handshakes use key id $ID_A" <<<"$RELOAD2" || fail "h2 after 'A B': $RELOAD2"
rot_step "h1 'B A': h1 seals with B, h2 still with A" "$KB $KA" ""
ID_B="$(key_id_of "$RELOAD1")"
if [ -z "$ID_B" ] || [ "$ID_B" = "$ID_A" ]; then
  fail "h1 after 'B A' seals with key id '$ID_B' (A is $ID_A)"
fi
rot_step "h2 'B A'" "" "$KB $KA"
grep -q "handshakes use key id $ID_B" <<<"$RELOAD2" || fail "h2 after 'B A': $RELOAD2"
rot_step "both files 'B' only (A dropped)" "$KB" "$KB"
grep -q "1 key(s) loaded; handshakes use key id $ID_B" <<<"$RELOAD1" || fail "h1 after 'B': $RELOAD1"
grep -q "1 key(s) loaded; handshakes use key id $ID_B" <<<"$RELOAD2" || fail "h2 after 'B': $RELOAD2"
sleep 0.5
kill -INT "$rot_ping"
for _ in $(seq 30); do kill -0 "$rot_ping" 2>/dev/null || break; sleep 0.1; done
kill -0 "$rot_ping" 2>/dev/null && fail "the rotation ping did not stop within 3 s of SIGINT"
wait "$rot_ping" 2>/dev/null || true
summary="$(grep 'packets transmitted' "$WORK/rotation-ping.txt" || true)"
sent="$(sed -nE 's/^([0-9]+) packets transmitted.*/\1/p' <<<"$summary")"
got="$(sed -nE 's/.* ([0-9]+) received.*/\1/p' <<<"$summary")"
if [ -z "$sent" ] || [ -z "$got" ]; then
  fail "no summary from the rotation ping: $(tail -n 5 "$WORK/rotation-ping.txt")"
fi
log "   ping across the rotation: $got/$sent answered"
if [ "$(calc "$got >= 0.95 * $sent")" != 1 ] || [ "$sent" -lt 40 ]; then
  fail "ping across the key rotation: $got of $sent answered, want >= 95% (of >= 40)"
fi
m1="$(uplink_line 1)"; m2="$(uplink_line 2)"
for r in sealed_unknown_key sealed_forged sealed_stale sealed_replayed; do
  d1=$(($(drop_count "$m1" "$r") - $(drop_count "$l1" "$r")))
  d2=$(($(drop_count "$m2" "$r") - $(drop_count "$l2" "$r")))
  if [ "$d1" -ne 0 ] || [ "$d2" -ne 0 ]; then
    fail "during the rotation $r grew by $d1 on h1, $d2 on h2: $m1 / $m2"
  fi
done
log "   no key drops on either host during the rotation"

###########################################################################
check "key C on h1, reloaded by SIGHUP: h2 refuses its handshakes, ping fails"
before="$(drop_count "$(uplink_line 1)" sealed_no_session)"
forged_before="$(drop_count "$(uplink_line 2)" sealed_forged)"
ino="$(stat -c %i "$K1")"
[ "${#KC}" -eq "${#KB}" ] || fail "keys of different lengths"
printf '%s\n' "$KC" | dd of="$K1" conv=notrunc status=none
[ "$(stat -c %i "$K1")" = "$ino" ] || fail "the key file changed inode"
mark="$(log_lines "$LOG1")"
kill -HUP "$PID1"
hup="$(wait_log "$LOG1" "$mark" 'SIGHUP: reloading .*--key-file' 3)" ||
  fail "h1 logged no 'SIGHUP: reloading ... --key-file' within 3 s of SIGHUP"
log "   h1: $(sed -E 's/^[0-9-]+ [0-9:.]+ //' <<<"$hup")"
hup_at="$(grep -nE 'SIGHUP: reloading .*--key-file' "$LOG1" | tail -n 1 | cut -d: -f1)"
line="$(wait_reload "$LOG1" "$hup_at" "SIGHUP")"
log "   h1: $(sed -E 's/^[0-9-]+ [0-9:.]+ //' <<<"$line")"
ID_C="$(key_id_of "$line")"
if ! grep -q '1 key(s) loaded' <<<"$line" || [ -z "$ID_C" ] || [ "$ID_C" = "$ID_A" ] || [ "$ID_C" = "$ID_B" ]; then
  fail "h1 after SIGHUP with key C: $line (A is $ID_A, B is $ID_B)"
fi
sleep 1.2   # the sessions made under B end within a second
out="$(in_ns vm1 ping -n -q -c 5 -i 0.2 -W 1 "$V.2" 2>&1)" && fail "ping answered with h1 on key C alone: $out"
grep -q '5 packets transmitted, 0 received' <<<"$out" || fail "ping with h1 on key C: $out"
log "   ping vm1 -> vm2: 0/5 answered"
after_line="$(uplink_line 1)"
after="$(drop_count "$after_line" sealed_no_session)"
log "   h1: $after_line"
[ $((after - before)) -ge 5 ] ||
  fail "h1's sealed_no_session grew by $((after - before)) with h1 on key C, want >= 5 (the pings)"
forged_line="$(uplink_line 2)"
log "   h2: $forged_line"
[ "$(drop_count "$forged_line" sealed_forged)" -gt "$forged_before" ] ||
  fail "h2 counted no sealed_forged for h1's handshakes under key C"

check "key B back on h1 (file watcher): ping works again"
mark="$(log_lines "$LOG1")"
put_keys "$K1" "$KB"
line="$(wait_reload "$LOG1" "$mark" "the change")"
grep -q "handshakes use key id $ID_B" <<<"$line" || fail "h1 after B again: $line"
wait_ping vm1 "$V.2"
ping_ok vm1 "$V.2" 3

check "a key file replaced by a group-readable one (0640, holding key C) is refused; key B stays"
mark="$(log_lines "$LOG1")"
rm -f "$K1.new"
(umask 027 && printf '%s\n' "$KC" >"$K1.new")
chmod 640 "$K1.new"
mv -f "$K1.new" "$K1"
line="$(wait_log "$LOG1" "$mark" ' error: ' 5)" || fail "h1 logged no error within 5 s for its key file at mode 0640"
log "   h1: $(sed -E 's/^[0-9-]+ [0-9:.]+ //' <<<"$line")"
for p in "--key-file $K1" "0640" "chmod 600 $K1" "keeping the keys in use"; do
  grep -qF -- "$p" <<<"$line" || fail "h1's error for a 0640 key file lacks '$p': $line"
done
sleep 1.2   # another watcher round: still nothing loaded
! tail -n "+$((mark + 1))" "$LOG1" | grep -q 'key(s) loaded' ||
  fail "h1 loaded the group-readable key file: $(tail -n "+$((mark + 1))" "$LOG1" | grep 'key(s) loaded')"
ping_ok vm1 "$V.2" 3
put_keys "$K1" "$KB"

###########################################################################
check "without --clamp-mss: TCP with MSS 1460 cannot get its segments across (too_big grows)"
before="$(drop_count "$(uplink_line 1)" too_big)"
in_ns vm2 timeout 10 iperf3 -s -1 -B "$V.2" -p 5201 >"$WORK/iperf3-noclamp-server.log" 2>&1 &
spid=$!
T_PIDS+=("$spid")
for _ in $(seq 50); do
  [ -n "$(in_ns vm2 ss -Htln "sport = :5201" 2>/dev/null)" ] && break
  sleep 0.1
done
rc=0
timeout 5 ip netns exec "$(ns vm1)" iperf3 -c "$V.2" -p 5201 -t 2 --connect-timeout 2000 \
  >"$WORK/iperf3-noclamp.log" 2>&1 || rc=$?
kill -TERM "$spid" 2>/dev/null || true
wait "$spid" 2>/dev/null || true
after_line="$(uplink_line 1)"
after="$(drop_count "$after_line" too_big)"
recv="$(grep -E 'receiver$' "$WORK/iperf3-noclamp.log" | tail -n 1 | sed -E 's/^\[ *[0-9]+\] +//; s/ +/ /g' || true)"
log "   iperf3 (bounded to 5 s): exit status $rc, receiver: ${recv:-no result}"
log "   h1: $after_line"
[ $((after - before)) -gt 0 ] || fail "too_big did not grow on h1 during TCP with MSS 1460"
log "   too_big on h1 grew by $((after - before))"

check "the underlay carried no IP fragments (control: a fragmented ping from h1 to h2 is seen)"
in_ns h1 ping -n -q -c 1 -W 1 -s 2000 -M dont "$U.2" >/dev/null 2>&1 || fail "h1 cannot ping h2 with 2000 bytes"
capture_stop "$cap_frags"
udp_frags="$(tcpdump -n -r "$WORK/frags.pcap" 'not ip proto 1' 2>/dev/null | wc -l)"
icmp_frags="$(tcpdump -n -r "$WORK/frags.pcap" 'ip proto 1' 2>/dev/null | wc -l)"
log "   fragments on the underlay: $udp_frags not ICMP, $icmp_frags of the control ping"
[ "$icmp_frags" -ge 2 ] || fail "the capture missed the control ping's fragments"
[ "$udp_frags" -eq 0 ] || fail "fragments on the underlay: $(tcpdump -n -r "$WORK/frags.pcap" 'not ip proto 1' 2>/dev/null | head)"
stop_vswitchd "$PID1" 1
stop_vswitchd "$PID2" 1

###########################################################################
check "--clamp-mss on both (sealed, key B): iperf3 TCP works, SYNs carry MSS 1386, no too_big"
start_pair c cv1 cv2 sealed --clamp-mss
wait_ping cv1 "$V.2"
capture_start cv2 "$(name c2)" "$WORK/syn-cv2.pcap" -Q in 'tcp[tcpflags] & tcp-syn != 0'
cap2="$CAP_PID"
capture_start cv1 "$(name c1)" "$WORK/syn-cv1.pcap" -Q in 'tcp[tcpflags] & tcp-syn != 0'
cap1="$CAP_PID"
iperf3_gbits cv1 cv2 "$V.2" 2
capture_stop "$cap2"
capture_stop "$cap1"
log "   iperf3 TCP with --clamp-mss: $GBITS Gbit/s"
for vm in cv2 cv1; do
  syns="$(tcpdump -n -v -r "$WORK/syn-$vm.pcap" 2>/dev/null | grep -oE 'mss [0-9]+' || true)"
  n="$(grep -c . <<<"$syns" || true)"
  log "   SYNs received in $vm: $n, $(sort -u <<<"$syns" | tr '\n' ' ')"
  [ "$n" -ge 2 ] || fail "$vm received $n SYNs with an MSS option, want >= 2 (iperf3's two connections)"
  [ "$(sort -u <<<"$syns")" = "mss 1386" ] || fail "$vm received SYNs with: $(sort -u <<<"$syns" | tr '\n' ' '), want only mss 1386"
done
for h in 1 2; do
  line="$(uplink_line "$h")"
  log "   h$h: $line"
  [ "$(drop_count "$line" too_big)" -eq 0 ] || fail "h$h dropped frames as too_big with --clamp-mss: $line"
done
stop_vswitchd "$PID1" 1
stop_vswitchd "$PID2" 1

###########################################################################
check "plain VXLAN (no --key-file): inner frames up to 1464 bytes; 1422-byte DF payload works, 1423 too_big"
start_pair p pv1 pv2
inner_mtu_line "$LOG1" 1464
inner_mtu_line "$LOG2" 1464
wait_ping pv1 "$V.2"
ping_ok pv1 "$V.2" 3 -s 1422 -M "do"
ping_ok pv2 "$V.1" 3 -s 1422 -M "do"
df_ping_fails pv1 "$V.2" 1423 3
sleep 0.2
line="$(uplink_line 1)"
log "   h1: $line"
[ "$(drop_count "$line" too_big)" -eq 3 ] || fail "h1 (plain) counted too_big $(drop_count "$line" too_big) times for 3 oversized pings, want 3"
stop_vswitchd "$PID1" 1
stop_vswitchd "$PID2" 1

pass "mtu_keys: inner MTU 1440 sealed / 1464 plain (too_big, no fragments), --clamp-mss to 1386 ($GBITS Gbit/s), key rotation A -> B with $got/$sent pings answered, SIGHUP reload, 0640 key file refused"
