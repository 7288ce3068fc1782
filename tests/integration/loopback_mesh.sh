#!/usr/bin/env bash
# Three vswitchd daemons on one host, in a full mesh of uplinks over IPv6
# loopback ([::1]:4790, 4791, 4792): every peer of a daemon has the same
# address, so the daemons must tell their peers apart by UDP port. Each daemon
# has one TAP into its own VM namespace. Checks: every pair of VMs pings, no
# reply is duplicated (split horizon keeps the mesh loop-free), and when the
# mesh is idle the frame counters stay (nearly) flat: no frame circulates.
TEST_TAG=lm
source "$(dirname "$0")/lib.sh"
need_root

make_ns host
ip netns exec "$(ns host)" sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.lo.disable_ipv6=0
for i in 0 1 2; do make_ns "vm$i"; done

ports=(4790 4791 4792)
pids=()
for i in 0 1 2; do
  uplinks=()
  for j in 0 1 2; do
    [ "$i" -eq "$j" ] || uplinks+=(--uplink "[::1]:${ports[$j]}")
  done
  tap="$(name "t$i")"
  start_vswitchd host "$WORK/vswitchd-$i.log" --port "tap:$tap" --listen "[::1]:${ports[$i]}" "${uplinks[@]}"
  pids+=("$VSW_PID")
  tap_to_ns host "$tap" "vm$i" "10.62.0.$((i + 1))/24"
done

check "every pair of VMs pings, with no duplicated replies"
wait_ping vm0 10.62.0.2
for i in 0 1 2; do
  for j in 0 1 2; do
    [ "$i" -eq "$j" ] && continue
    out="$(in_ns "vm$i" ping -n -c 3 -i 0.2 -W 2 "10.62.0.$((j + 1))" 2>&1)" || fail "vm$i -> vm$j: $out"
    grep -q " 3 received" <<<"$out" || fail "vm$i -> vm$j lost replies: $out"
    grep -q "DUP!" <<<"$out" && fail "vm$i -> vm$j: duplicated replies (a loop?): $out"
    log "   vm$i -> vm$j: 3/3, no duplicates"
  done
done

check "each daemon learned the two remote VMs on two different uplinks"
lines="$(counters "${pids[0]}" "$WORK/vswitchd-0.log")"
grep -q "counters: port \[::1\]:4791 (uplink, up): rx [1-9]" <<<"$lines" || fail "nothing received from the peer on port 4791: $lines"
grep -q "counters: port \[::1\]:4792 (uplink, up): rx [1-9]" <<<"$lines" || fail "nothing received from the peer on port 4792: $lines"
n="$(grep -c "mac: .* on \[::1\]:479" <<<"$lines" || true)"
[ "$n" -ge 2 ] || fail "daemon 0 should list two MACs behind its uplinks"

check "idle mesh: counters stay (nearly) flat, no frame circulates"
# Idle VMs still send the odd ARP probe; a loop would move thousands of frames.
rx_sum() {
  local total=0 line
  while IFS= read -r line; do total=$((total + $(rx_frames "$line"))); done < <(grep 'counters: port' <<<"$1")
  printf '%s' "$total"
}
sleep 1
before="$(rx_sum "$(counters "${pids[0]}" "$WORK/vswitchd-0.log")")"
sleep 3
after="$(rx_sum "$(counters "${pids[0]}" "$WORK/vswitchd-0.log")")"
log "   daemon 0 received $((after - before)) frames in 3 idle seconds"
[ $((after - before)) -le 10 ] || fail "daemon 0 received $((after - before)) frames in 3 idle seconds: a loop?"

grep -q "dropped from non-peers 0$" <<<"$(counters "${pids[0]}")" ||
  fail "daemon 0 dropped datagrams from its peers as non-peers"
for pid in "${pids[@]}"; do stop_vswitchd "$pid"; done
pass "loopback mesh over IPv6: peers told apart by port, no loops"
