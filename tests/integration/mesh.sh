#!/usr/bin/env bash
# A full mesh of 8 hosts: every VM reaches every other, with no loops, and
# peers come and go by --peers-file.
#
# Hosts h1..h8 share one underlay, a Linux bridge in namespace "net" (a veth
# per host, MTU 1600). Each host runs vswitchd with two file-side TAPs moved
# into VM namespaces (v1..v16 at 10.42.0.1..16/24; v(2i-1) and v(2i) on hi) and
# a --peers-file listing the 7 other hosts, sealed with --key-file. Checks:
#   - all 240 ordered VM pairs ping (one ping each, in parallel per source), none
#     lost, none duplicated; a broadcast ping reaches each other VM exactly once;
#   - idle for 3 s (after 2 s of settling), the uplinks of all daemons send
#     next to no frames: nothing circulates (split horizon; keepalive probes
#     are not frames);
#   - h8 is removed from every other host's peers file and they get SIGHUP:
#     each logs the removed peer, all pairs among h1..h7 still ping, and the
#     VMs of h8 are cut off.
# Whole test well under 2 minutes.
# Modes: VSWITCHD_TEST_SEALED=0: --peers-file without --key-file;
# VSWITCHD_TEST_PLAIN=1: --uplink lists, plain VXLAN, no removal part.
TEST_TAG=ms
source "$(dirname "$0")/lib.sh"
need_root

U=10.200.42
V=10.42.0
HOSTS=8
hosts=(); for i in $(seq "$HOSTS"); do hosts+=("h$i"); done
EVENT='^[^ ]+ [^ ]+ [a-z]+: '   # a log line's time stamp and level (not "counters: peer ...")
host_of() { echo $(( ($1 + 1) / 2 )); }   # VM k lives on host h((k+1)/2)

bridge_underlay "$U" 1600 "${hosts[@]}"
for k in $(seq $((2 * HOSTS))); do
  make_ns "v$k"
  # Broadcast pings get answers (the exactly-once check below).
  in_ns "v$k" sysctl -qw net.ipv4.icmp_echo_ignore_broadcasts=0
done

# write_peers I SKIP...: host I's peers file, every other host but SKIP ones.
# Both spellings of the format: HOST:PORT (odd hosts) and HOST (even, port 4789).
write_peers() {
  local i="$1" j f="$WORK/peers-h$1"
  shift
  {
    echo "# peers of h$i"
    echo
    for j in $(seq "$HOSTS"); do
      [ "$j" -eq "$i" ] && continue
      [[ " $* " == *" $j "* ]] && continue
      if [ $((j % 2)) -eq 1 ]; then echo "$U.$j:4789"; else echo "$U.$j"; fi
    done
  } >"$f.new"
  mv "$f.new" "$f"   # atomic: a reload never sees half a file
}

if plain_mode; then mode="plain VXLAN, --uplink"
elif sealed_mode; then mode="sealed, --peers-file"; make_key_file "$WORK/key"
else mode="plain VXLAN, --peers-file"; fi

check "vswitchd ($mode) on h1..h$HOSTS, two VMs each"
pids=()
for i in $(seq "$HOSTS"); do
  args=(--port "tap:$(name "t$((2 * i - 1))")" --port "tap:$(name "t$((2 * i))")")
  if plain_mode; then
    for j in $(seq "$HOSTS"); do [ "$j" -eq "$i" ] || args+=(--uplink "$U.$j:4789"); done
  else
    write_peers "$i"
    args+=(--peers-file "$WORK/peers-h$i")
    if sealed_mode; then
      cp -p "$WORK/key" "$WORK/h$i.key"
      args+=(--key-file "$WORK/h$i.key")
    fi
  fi
  start_vswitchd "h$i" "$WORK/vswitchd-h$i.log" "${args[@]}"
  pids+=("$VSW_PID")
done
for k in $(seq $((2 * HOSTS))); do
  tap_to_ns "h$(host_of "$k")" "$(name "t$k")" "v$k" "$V.$k/24"
  # Quiet neighbours: a VM that answered a ping re-checks the asker's MAC by a
  # unicast ARP 5 s later (after all pairs, ~240 frames in one wave, right in
  # the idle window below). Not within this test's life.
  in_ns "v$k" sysctl -qw "net.ipv4.neigh.$(name "t$k").delay_first_probe_time=120" \
    "net.ipv4.neigh.$(name "t$k").base_reachable_time_ms=120000"
done

if sealed_mode; then
  check "every daemon shows its 7 peers up (vswitchctl show)"
  for _ in $(seq 50); do
    all=1
    for i in $(seq "$HOSTS"); do
      [ "$(peers_up "${pids[$((i - 1))]}")" -ge $((HOSTS - 1)) ] || { all=0; break; }
    done
    [ "$all" -eq 1 ] && break
    sleep 0.2
  done
  for i in $(seq "$HOSTS"); do
    n="$(peers_up "${pids[$((i - 1))]}")"
    [ "$n" -ge $((HOSTS - 1)) ] || fail "h$i shows $n peers up within 10 s, want $((HOSTS - 1))"
  done
  log "   all $HOSTS daemons: $((HOSTS - 1)) peers up"
else
  skipped "peers up (liveness)"
fi

check "warm-up: v1 reaches a VM on every other host"
for i in $(seq 2 "$HOSTS"); do wait_ping v1 "$V.$((2 * i - 1))"; done

PINGS=0
# all_pairs K...: every ordered pair of the VMs K... pings once (-c 1 -W 3: a first
# contact may need a second ARP request, sent after 1 s), the
# sources in parallel; fails on any loss or duplicate. Adds to PINGS.
all_pairs() {
  local s d pids_ap=() out bad n=0 start
  start="$(date +%s.%3N)"
  for s in "$@"; do
    (
      for d in "$@"; do
        [ "$s" -eq "$d" ] && continue
        if ! out="$(in_ns "v$s" ping -n -c 1 -W 3 "$V.$d" 2>&1)"; then
          echo "LOSS v$s -> v$d: $(tail -n 2 <<<"$out" | head -n 1)"
        elif grep -q "DUP!" <<<"$out"; then
          echo "DUP v$s -> v$d"
        else
          echo "OK v$s -> v$d"
        fi
      done >"$WORK/pairs-$s.txt"
    ) &
    pids_ap+=($!)
    T_PIDS+=($!)
  done
  for s in "${pids_ap[@]}"; do wait "$s" || true; done
  bad="$(for s in "$@"; do grep -vE '^OK ' "$WORK/pairs-$s.txt" || true; done)"
  n="$(for s in "$@"; do cat "$WORK/pairs-$s.txt"; done | grep -c '^OK ' || true)"
  [ -z "$bad" ] || fail "all pairs of VMs $*: $(wc -l <<<"$bad") failed:
$bad"
  [ "$n" -eq $(($# * ($# - 1))) ] || fail "all pairs: only $n of $(($# * ($# - 1))) pings ran"
  PINGS=$((PINGS + n))
  log "   $n pings answered, no duplicates, in $(calc "$(date +%s.%3N) - $start") s"
}

check "all pairs of the $((2 * HOSTS)) VMs ping, none lost or duplicated"
vms=(); for k in $(seq $((2 * HOSTS))); do vms+=("$k"); done
t0="$(date +%s.%3N)"
all_pairs "${vms[@]}"
pairs_secs="$(calc "$(date +%s.%3N) - $t0")"

check "a broadcast ping from v1 reaches each other VM exactly once"
out="$(in_ns v1 ping -n -b -c 2 -i 1 -W 1 "$V.255" 2>&1 || true)"
got="$(grep -E "icmp_seq=1 " <<<"$out" | grep -v "from $V.1:" | sed -nE 's/.* from ([0-9.]+):.*/\1/p' | sort)"
n="$(grep -c . <<<"$got" || true)"
distinct="$(sort -u <<<"$got" | grep -c . || true)"
if [ "$n" -ne $((2 * HOSTS - 1)) ] || [ "$distinct" -ne $((2 * HOSTS - 1)) ]; then
  fail "broadcast ping from v1: $n answers from $distinct VMs, want $((2 * HOSTS - 1)) from $((2 * HOSTS - 1)): $out"
fi
log "   $n answers from $distinct VMs"

# uplink_tx_sum: frames sent on all uplinks of all daemons so far.
uplink_tx_sum() {
  local i lines line total=0
  for i in $(seq "$HOSTS"); do
    lines="$(counters "${pids[$((i - 1))]}" "$WORK/vswitchd-h$i.log")"
    while IFS= read -r line; do
      total=$((total + $(tx_frames "$line")))
    done < <(grep -E 'counters: port .* \(uplink' <<<"$lines")
  done
  printf '%s' "$total"
}

check "idle mesh: the uplinks carry next to no frames for 3 s (no loop)"
IDLE_LIMIT=40   # frames over all 56 uplinks; a loop moves thousands
sleep 2
before="$(uplink_tx_sum)"
sleep 3
after="$(uplink_tx_sum)"
log "   all uplinks sent $((after - before)) frames in 3 idle seconds"
[ $((after - before)) -le "$IDLE_LIMIT" ] ||
  fail "the uplinks sent $((after - before)) frames in 3 idle seconds (limit $IDLE_LIMIT): a loop?"

if plain_mode; then
  skipped "removing h$HOSTS by --peers-file and SIGHUP"
else
  check "remove h$HOSTS from the peers files of h1..h$((HOSTS - 1)); SIGHUP them"
  gone="$U.$HOSTS"
  if sealed_mode; then
    np_before="$(counters "${pids[0]}" "$WORK/vswitchd-h1.log" | sed -nE 's/.*dropped from non-peers ([0-9]+).*/\1/p')"
  fi
  marks=()
  for i in $(seq $((HOSTS - 1))); do marks+=("$(log_lines "$WORK/vswitchd-h$i.log")"); done
  for i in $(seq $((HOSTS - 1))); do write_peers "$i" "$HOSTS"; done
  for i in $(seq $((HOSTS - 1))); do kill -HUP "${pids[$((i - 1))]}"; done
  for i in $(seq $((HOSTS - 1))); do
    line="$(wait_log "$WORK/vswitchd-h$i.log" "${marks[$((i - 1))]}" "${EVENT}peer [^ ]*${gone//./\\.}[]:]" 5)" ||
      fail "h$i did not log the removed peer $gone within 5 s of SIGHUP"
    [ "$i" -eq 1 ] && log "   h1: ${line:24}"
    lines="$(counters "${pids[$((i - 1))]}" "$WORK/vswitchd-h$i.log")"
    grep -qE "counters: port [^ ]*${gone//./\\.}[]:]?[^ ]* \(uplink, up\)" <<<"$lines" &&
      fail "h$i still has an uplink to $gone up after SIGHUP: $(grep "$gone" <<<"$lines")"
    kill -0 "${pids[$((i - 1))]}" || fail "h$i died on SIGHUP"
  done
  log "   h1..h$((HOSTS - 1)) logged the removal"

  check "all pairs among the VMs of h1..h$((HOSTS - 1)) still ping"
  all_pairs $(seq $((2 * (HOSTS - 1))))

  check "the VMs of h$HOSTS are cut off"
  if in_ns v1 ping -n -q -c 2 -i 0.2 -W 1 "$V.$((2 * HOSTS - 1))" >/dev/null 2>&1; then
    fail "v1 still reaches v$((2 * HOSTS - 1)) on the removed host h$HOSTS"
  fi
  log "   v1 -> v$((2 * HOSTS - 1)): no answer"
  if sealed_mode; then
    # h8 still has h1 as a peer and keeps up its session and handshakes: h1 now drops that as from a non-peer.
    np_after="$np_before"
    for _ in $(seq 30); do
      np_after="$(counters "${pids[0]}" "$WORK/vswitchd-h1.log" | sed -nE 's/.*dropped from non-peers ([0-9]+).*/\1/p')"
      [ "$np_after" -gt "$np_before" ] && break
      sleep 0.1
    done
    [ "$np_after" -gt "$np_before" ] || fail "h1 does not count h$HOSTS's datagrams as from a non-peer"
    log "   h1: dropped from non-peers $np_before -> $np_after (h$HOSTS's datagrams)"
  fi
fi

for pid in "${pids[@]}"; do stop_vswitchd "$pid" 2; done
echo "RESULT mesh: $HOSTS hosts, $((2 * HOSTS)) VMs, $PINGS pings; all pairs in $pairs_secs s; test $SECONDS s"
pass "mesh ($mode): $HOSTS hosts, $((2 * HOSTS)) VMs, all pairs ping, no duplicates, no loop"
