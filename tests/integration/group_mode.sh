#!/usr/bin/env bash
# VXLAN multicast group mode (--group, --group-dev), against the kernel's own
# `vxlan group` on the same underlay.
#
# Hosts h1, h2, h3 share one underlay: a Linux bridge in namespace "net" (a veth
# per host at 10.200.61.i/24, MTU 1600), its multicast snooping off so multicast
# floods to every port whatever IGMP says. h1 and h2 run
#   vswitchd --group 239.1.1.1 --group-dev <underlay veth> --port tap:...
# with the TAP moved into vm1 / vm2 (10.61.0.1, .2); h3 has the kernel's vxlan
# (id 1, group 239.1.1.1, dev <underlay veth>, dstport 4789) addressed 10.61.0.3.
# No --uplink anywhere: every peer is learned from its traffic. Checks:
#   - a stranger's non-VXLAN / wrong-VNI / flagless datagrams to h1 are counted as
#     from a non-peer and learn no peer;
#   - all ordered pairs of vm1, vm2, h3 ping, none lost or duplicated; a broadcast
#     ping from each of the three is answered by each other one exactly once;
#   - each daemon logged each of the two other hosts as a learned peer, once;
#   - after that, a second round of 10 pings per pair goes by unicast only: on the
#     underlay, no ICMP-bearing datagram to 239.1.1.1, every one to the host of
#     its destination;
#   - h1's `group 239.1.1.1:4789` port sent frames; its learned peers are ports;
#   - the same garbage from a new source (h3's second address) still learns nothing.
set -euo pipefail
TEST_TAG=gm
source "$(dirname "$0")/lib.sh"
need_root tcpdump ethtool

U=10.200.61
V=10.61.0
G=239.1.1.1
u1="$(name u1)"; u2="$(name u2)"; u3="$(name u3)"
t1="$(name t1)"; t2="$(name t2)"; vx="$(name vx)"
EVENT='^[^ ]+ [^ ]+ [a-z]+: '   # a log line's time stamp and level
LEARNED=': learned from --group traffic'

check "underlay: bridge (multicast snooping off) joining h1, h2, h3"
bridge_underlay "$U" 1600 h1 h2 h3
ip -n "$(ns net)" link set "$(name br)" type bridge mcast_snooping 0
make_ns vm1
make_ns vm2

check "h3: kernel vxlan $vx (VNI 1, group $G, dev $u3, dstport 4789) at $V.3"
# A veth hands the kernel's vxlan datagrams over with inner checksums still
# partial (offload); vswitchd cannot know. Checksums in software, as a NIC would
# (harmless for the pings here; see kernel_vxlan_interop.sh).
in_ns h3 ethtool -K "$u3" tx off >/dev/null
ip -n "$(ns h3)" link add "$vx" type vxlan id 1 group "$G" dev "$u3" dstport 4789
addr_up h3 "$vx" "$V.3/24"
for r in vm1 vm2 h3; do in_ns "$r" sysctl -qw net.ipv4.icmp_echo_ignore_broadcasts=0; done

check "h1, h2: vswitchd --group $G --group-dev <underlay veth>, a TAP into vm1 / vm2"
start_vswitchd h1 "$WORK/vswitchd-h1.log" --group "$G" --group-dev "$u1" --port "tap:$t1"
pid1="$VSW_PID"
start_vswitchd h2 "$WORK/vswitchd-h2.log" --group "$G" --group-dev "$u2" --port "tap:$t2"
pid2="$VSW_PID"
tap_to_ns h1 "$t1" vm1 "$V.1/24"
tap_to_ns h2 "$t2" vm2 "$V.2/24"
for h in 1 2; do
  in_ns "h$h" ip maddr show dev "$(name "u$h")" | grep -qw "$G" ||
    fail "h$h: vswitchd did not join $G on $(name "u$h"): $(in_ns "h$h" ip maddr show dev "$(name "u$h")")"
done
in_ns h3 ip maddr show dev "$u3" | grep -qw "$G" || fail "h3: the kernel vxlan did not join $G on $u3"

# not_peer PID LOG: the udp endpoint's "dropped from non-peers" count now.
not_peer() {
  counters "$1" "$2" | sed -nE 's/.*udp endpoint: .*dropped from non-peers ([0-9]+).*/\1/p'
}
# send_garbage ROLE SRC: from SRC (in ROLE) to h1's port 4789, four datagrams
# that are not VXLAN of VNI 1: text, 2 bytes, a header without the I flag (and
# an inner frame), a valid header of VNI 2 (and an inner frame).
send_garbage() {
  in_ns "$1" "$PYTHON" - "$2" "$U.1" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 0))
frame = bytes.fromhex("ffffffffffff" "02000000bad1" "0806") + bytes(28)
for d in (b"not vxlan at all, just garbage", b"\x08\x00",
          bytes(8) + frame, b"\x08\x00\x00\x00\x00\x00\x02\x00" + frame):
    s.sendto(d, (sys.argv[2], 4789))
EOF
}
# garbage_learns_nothing ROLE SRC: send_garbage; h1 counts them as from a
# non-peer (>= 4 more) and logs no new learned peer.
garbage_learns_nothing() {
  local before after mark line
  mark="$(log_lines "$WORK/vswitchd-h1.log")"
  before="$(not_peer "$pid1" "$WORK/vswitchd-h1.log")"
  send_garbage "$1" "$2"
  after="$before"
  for _ in $(seq 30); do
    after="$(not_peer "$pid1" "$WORK/vswitchd-h1.log")"
    [ "$after" -ge $((before + 4)) ] && break
    sleep 0.1
  done
  [ "$after" -ge $((before + 4)) ] ||
    fail "h1: 4 garbage datagrams from $2: dropped from non-peers $before -> $after, want +4"
  sleep 0.3
  if line="$(wait_log "$WORK/vswitchd-h1.log" "$mark" "$LEARNED" 1)"; then
    fail "h1 learned a peer from garbage sent from $2: $line"
  fi
  kill -0 "$pid1" || fail "h1's vswitchd died of the garbage"
  log "   h1: dropped from non-peers $before -> $after; no peer learned"
}

check "garbage UDP from h3 ($U.3, not yet a peer) to h1:4789 learns no peer"
garbage_learns_nothing h3 "$U.3"

# ping_nodup FROM DEST COUNT [ARGS...]: COUNT pings all answered, no duplicate.
ping_nodup() {
  local from="$1" dst="$2" count="$3" out
  shift 3
  out="$(in_ns "$from" ping -n -c "$count" -i 0.2 -W 2 -w "$((count / 5 + 5))" "$@" "$dst" 2>&1)" ||
    fail "ping from $from to $dst: not all answered: $(tail -n 3 <<<"$out")"
  grep -qE " $count received" <<<"$out" || fail "ping from $from to $dst: lost some: $(tail -n 3 <<<"$out")"
  if grep -qE 'DUP!|duplicates' <<<"$out"; then
    fail "ping from $from to $dst: duplicates: $(grep -E 'DUP!|duplicates' <<<"$out")"
  fi
}
NODES=(vm1 vm2 h3)
ADDR=([0]="$V.1" [1]="$V.2" [2]="$V.3")

check "all ordered pairs of vm1, vm2, h3 ping (3 each), none lost or duplicated"
wait_ping vm1 "$V.3"
wait_ping vm2 "$V.1"
wait_ping h3 "$V.2"
for s in 0 1 2; do
  for d in 0 1 2; do
    [ "$s" -eq "$d" ] && continue
    ping_nodup "${NODES[$s]}" "${ADDR[$d]}" 3
  done
done
log "   6 pairs x 3 pings: all answered, no duplicates"

check "a broadcast ping from each reaches each other one exactly once"
for s in 0 1 2; do
  out="$(in_ns "${NODES[$s]}" ping -n -b -c 2 -i 0.5 -W 1 "$V.255" 2>&1 || true)"
  got="$(grep -E 'icmp_seq=1 ' <<<"$out" | sed -nE 's/.* from ([0-9.]+):.*/\1/p' |
         grep -vx "${ADDR[$s]}" | sort || true)"
  want="$(for d in 0 1 2; do [ "$d" -eq "$s" ] || echo "${ADDR[$d]}"; done | sort)"
  [ "$got" = "$want" ] ||
    fail "broadcast ping from ${NODES[$s]}: answers to the first from [$(tr '\n' ' ' <<<"$got")], want [$(tr '\n' ' ' <<<"$want")] once each: $out"
done
log "   each broadcast answered once by each of the two others"

check "the group port takes --group-dev's MTU (1600): a 1500-byte broadcast from vm1 reaches both"
grep -q 'uplink group 239.1.1.1:4789 (VXLAN to 239.1.1.1:4789, VNI 1, inner frames up to 1564 bytes)' \
  "$WORK/vswitchd-h1.log" || fail "h1's group port does not have the inner MTU of --group-dev: $(grep 'uplink group' "$WORK/vswitchd-h1.log")"
out="$(in_ns vm1 ping -n -b -s 1472 -M do -c 2 -i 0.5 -W 1 "$V.255" 2>&1 || true)"
got="$(grep -E 'icmp_seq=1 ' <<<"$out" | sed -nE 's/.* from ([0-9.]+):.*/\1/p' | grep -vx "${ADDR[0]}" | sort || true)"
want="$(printf '%s\n' "${ADDR[1]}" "${ADDR[2]}" | sort)"
[ "$got" = "$want" ] || fail "1500-byte broadcast from vm1: answers from [$(tr '\n' ' ' <<<"$got")], want [$(tr '\n' ' ' <<<"$want")]: $out"
log "   1500-byte broadcast from vm1 answered by vm2 and h3"

check "each vswitchd learned the two other hosts as peers, once each"
for h in 1 2; do
  logf="$WORK/vswitchd-h$h.log"
  for o in 1 2 3; do
    [ "$o" -eq "$h" ] && continue
    n="$(grep -cE "${EVENT}peer ${U//./\\.}\.$o:4789${LEARNED}" "$logf" || true)"
    [ "$n" -eq 1 ] || fail "h$h logged peer $U.$o:4789 as learned $n times, want 1"
  done
  n="$(grep -c -- "$LEARNED" "$logf" || true)"
  [ "$n" -eq 2 ] || fail "h$h logged $n learned peers, want 2: $(grep -- "$LEARNED" "$logf")"
  log "   h$h: $(grep -- "$LEARNED" "$logf" | sed -E 's/^[^ ]+ [^ ]+ [a-z]+: //' | tr '\n' ';')"
done

check "second round (10 pings per pair, all at once) goes unicast: nothing with ICMP to $G"
caps=()
for h in 1 2 3; do
  capture_start "h$h" "$(name "u$h")" "$WORK/u$h.pcap" udp dst port 4789 and src host "$U.$h"
  caps+=("$CAP_PID")
done
pp=()
for s in 0 1 2; do
  for d in 0 1 2; do
    [ "$s" -eq "$d" ] && continue
    ( ping_nodup "${NODES[$s]}" "${ADDR[$d]}" 10 ) &
    pp+=($!)
    T_PIDS+=($!)
  done
done
bad=0
for p in "${pp[@]}"; do wait "$p" || bad=1; done
for p in "${caps[@]}"; do capture_stop "$p"; done
[ "$bad" -eq 0 ] || fail "second round: some pings failed (see above)"
# With port 4789 tcpdump decodes VXLAN: a line for the outer packet, one for the
# inner; joined here into one line per datagram ("outer | inner").
for h in 1 2 3; do
  tcpdump -n -r "$WORK/u$h.pcap" 2>/dev/null >"$WORK/u$h.txt" || true
done
awk '/^[0-9:.]+ IP / { if (o != "") print o; o = $0; next } { o = o " | " $0 }
     END { if (o != "") print o }' "$WORK"/u[123].txt >"$WORK/all.txt"
icmp="$(grep -c 'ICMP echo' "$WORK/all.txt" || true)"
to_group="$(grep -c "> ${G//./\\.}\.4789:" "$WORK/all.txt" || true)"
icmp_group="$(grep "> ${G//./\\.}\.4789:" "$WORK/all.txt" | grep -c 'ICMP' || true)"
log "   underlay: $icmp ICMP-bearing datagrams, $to_group datagrams to $G ($icmp_group with ICMP)"
[ "$icmp_group" -eq 0 ] ||
  fail "after learning, ICMP went to the group $G: $(grep "> ${G//./\\.}\.4789:" "$WORK/all.txt" | grep ICMP | head -n 5)"
[ "$icmp" -eq 120 ] ||
  fail "the second round should carry 6 x 10 requests + replies = 120 ICMP datagrams on the underlay, saw $icmp"
[ "$to_group" -le 6 ] || fail "$to_group datagrams to $G during the second round (ARP refreshes only, want <= 6):
$(grep "> ${G//./\\.}\.4789:" "$WORK/all.txt" | head -n 10)"
# Each ICMP datagram goes to the host of its inner destination.
wrong="$(awk -v U="$U." -v V="$V." '/ICMP echo/ {
    o = $5; sub(/\.4789:$/, "", o); d = ""               # outer destination
    for (i = 1; i < NF; i++) if ($i == ">" && index($(i + 1), V) == 1) d = $(i + 1)
    sub(/:$/, "", d); n = substr(d, length(V) + 1)
    if (o != U n) print
  }' "$WORK/all.txt")"
[ -z "$wrong" ] || fail "ICMP datagrams sent to the wrong host: $(head -n 5 <<<"$wrong")"
log "   every ICMP datagram went to the unicast address of its destination's host"

check "h1's counters: the group port sent frames; the learned peers are ports"
lines="$(counters "$pid1" "$WORK/vswitchd-h1.log")"
printf '%s\n' "$lines" | grep -E 'counters: (port|peer|udp)'
line="$(port_line "$lines" "group $G:4789")"
[ -n "$line" ] || fail "h1: no counters line for port 'group $G:4789'"
[ "$(tx_frames "$line")" -gt 0 ] || fail "h1: the group port sent no frames: $line"
for o in 2 3; do
  line="$(port_line "$lines" "$U.$o:4789")"
  [ -n "$line" ] || fail "h1: no counters line for the learned peer $U.$o:4789"
  [ "$(tx_frames "$line")" -ge 20 ] || fail "h1: learned peer $U.$o:4789 sent too few frames: $line"
  [ "$(rx_frames "$line")" -ge 20 ] || fail "h1: learned peer $U.$o:4789 received too few frames: $line"
done

check "the same garbage from a new source ($U.33 on h3) still learns no peer"
ip -n "$(ns h3)" addr add "$U.33/24" dev "$u3"
garbage_learns_nothing h3 "$U.33"
ping_nodup vm1 "$V.3" 3
ping_nodup vm1 "$V.2" 3

stop_vswitchd "$pid1" 1
stop_vswitchd "$pid2" 1
echo "RESULT group_mode: vswitchd x2 + kernel vxlan in group $G; $icmp unicast ICMP datagrams, $to_group to the group in round 2; test $SECONDS s"
pass "group_mode: --group interoperates with the kernel's vxlan group; peers learned (not from garbage), known unicast direct"
