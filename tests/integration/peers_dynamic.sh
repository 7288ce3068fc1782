#!/usr/bin/env bash
# Peers that change while the daemons run: a name that moves, a peer that dies,
# a peer added by the peers file.
#
# Hosts h1..h4 share one underlay, a Linux bridge in namespace "net" (MTU 1600).
# Every host runs vswitchd sealed with the same key (--key-file, --keepalive 1
# --peer-timeout 3 --resolve-interval 2) and a TAP into its VM namespace.
# h1 knows its first peer only by a name, `--uplink peerhost:4789`: `ip netns
# exec` bind-mounts /etc/netns/<ns>/hosts over /etc/hosts, so h1's hosts file
# (made here, removed on exit) maps peerhost to h2. h1 also has a --peers-file,
# at first listing no one. Checks:
#   1. vm1 pings vm2 through the peer named peerhost.
#   2. Peer death flushes its MACs: h2's vswitchd stops; after --peer-timeout h1
#      logs peerhost down (flushing >= 1 MAC entry), its counters (vswitchctl) show
#      the uplink and the peer down, and no MAC entry on that uplink (vm2's MAC,
#      listed there before, is gone).
#   3. The name moves: vm2 "migrates" to h3 (vm3 has vm2's MAC and address,
#      behind h3's vswitchd), and h1's hosts file (rewritten in place: the bind
#      mount holds the inode) now maps peerhost to h3. Within 10 s h1 logs
#      `peerhost now resolves to <h3>:4789`, the peer comes up and vm1's pings
#      (every 0.1 s all along) are answered; RESULT resolve: seconds from the
#      hosts change to the first answer.
#   4. A peer added by the peers file: h4 (with vm4) lists h1 in its peers file,
#      but h1 does not list h4: vm1 cannot reach vm4 and h1 drops h4's handshakes
#      as from a non-peer. h4 is appended to h1's peers file (temp file + mv,
#      no SIGHUP: the daemon's 1 s watcher must notice); within 5 s h1 logs
#      `added from --peers-file`, the peer comes up and vm1's pings to vm4 are
#      answered; RESULT peers-file: seconds from the mv to the first answer.
#   5. A garbage line in h1's peers file is logged as an error ("keeping the
#      current peers"), nothing is removed, both peers stay up and reachable;
#      the repaired file reloads with nothing to add or remove.
# Needs the issue-4 options (--key-file, --peers-file, --resolve-interval):
# skipped with VSWITCHD_TEST_PLAIN=1 or VSWITCHD_TEST_SEALED=0.
TEST_TAG=pd
source "$(dirname "$0")/lib.sh"
need_root
if ! sealed_mode; then
  skipped "peers_dynamic needs sealed uplinks (liveness, name re-resolution while down)"
  exit 77
fi

U=10.200.43     # underlay: h1 .1, h2 .2, h3 .3, h4 .4
V=10.43.0       # VMs: vm1 .1, vm2 and then vm3 .2 (the "migrated" VM), vm4 .4
RESOLVE_LIMIT=10  # seconds from the hosts file change to the first answer
ADD_LIMIT=5       # seconds from the peers file change to the first answer
SEALED=(--keepalive 1 --peer-timeout 3 --resolve-interval 2)
EVENT='^[^ ]+ [^ ]+ [a-z]+: '   # a log line's time stamp and level (not "counters: ...")
H1LOG="$WORK/vswitchd-h1.log"
PEERS1="$WORK/peers-h1"
uplink_name="peerhost:4789"     # h1's uplink port for the name
h4_entry="$U.4:4789"            # h4's line in h1's peers file (and its port name)
peerhost_ev="${EVENT}peer peerhost:4789: "
h4_ev="${EVENT}peer ${h4_entry//./\\.}: "

# h1's hosts file, seen by everything started by `ip netns exec` in h1
# (lib.sh removes it on exit).
etc_netns h1
ETC_NS="$ETC_DIR"

# set_peerhost ADDR: peerhost is ADDR for h1. Rewritten in place (one write):
# the bind mount over /etc/hosts keeps the inode, a mv would not be seen.
set_peerhost() {
  local text
  text="$(printf '127.0.0.1 localhost\n%s peerhost\n' "$1")"
  printf '%s\n' "$text" >"$ETC_NS/hosts"
}

# write_file PATH LINE...: replace PATH atomically (temp file + mv) by LINEs.
write_file() { local f="$1"; shift; printf '%s\n' "$@" >"$f.new"; mv "$f.new" "$f"; }

# pinger_start ROLE DEST FILE: in the background, one time-stamped ping (-D)
# every 0.05-0.2 s until the first answer (at most 200 tries). One ping per
# process: a single `ping -c 1 -w N` would give up at the first "Destination
# Host Unreachable" (a failed ARP). Sets PINGER.
PINGER=""
pinger_start() {
  (
    for _ in $(seq 200); do
      in_ns "$1" ping -n -D -c 1 -W 0.15 "$2" >>"$3" 2>&1 && exit 0
      sleep 0.05
    done
    exit 1
  ) &
  PINGER=$!
  T_PIDS+=("$PINGER")
}

# pinger_first PID FILE SINCE LIMIT WHAT: wait for the pinger (a child of this
# shell: not in a command substitution); set FIRST_SECS to the seconds from SINCE
# (epoch) to its first answer; fail beyond LIMIT.
FIRST_SECS=""
pinger_first() {
  local pid="$1" out="$2" since="$3" limit="$4" what="$5" first secs
  for _ in $(seq $(((limit + 1) * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && fail "$what: no answer within $((limit + 1)) s: $(tail -n 3 "$out")"
  wait "$pid" || fail "$what: no answer: $(tail -n 3 "$out")"
  first="$(grep -m 1 "bytes from" "$out" | sed -nE 's/^\[([0-9.]+)\].*/\1/p')"
  [ -n "$first" ] || fail "$what: no time stamped answer in: $(tail -n 3 "$out")"
  secs="$(calc "$first - $since")"
  [ "$(calc "$secs <= $limit")" = 1 ] || fail "$what: first answer after $secs s (limit $limit s)"
  FIRST_SECS="$secs"
}

bridge_underlay "$U" 1600 h1 h2 h3 h4
for v in vm1 vm2 vm3 vm4; do make_ns "$v"; done
make_key_file "$WORK/key"
for h in h1 h2 h3 h4; do cp -p "$WORK/key" "$WORK/$h.key"; done
set_peerhost "$U.2"
printf '# peers of h1 (h4 comes later)\n' >"$PEERS1"
printf '# peers of h4\n%s\n' "$U.1" >"$WORK/peers-h4"

check "h1 (--uplink peerhost:4789, peerhost = h2 in its hosts file) and h2; vm1 pings vm2"
in_ns h1 getent hosts peerhost | grep -q "^$U\\.2 " ||
  fail "h1 does not see its hosts file: peerhost is '$(in_ns h1 getent hosts peerhost || true)'"
start_vswitchd h1 "$H1LOG" --port "tap:$(name t1)" --uplink "$uplink_name" \
  --peers-file "$PEERS1" --key-file "$WORK/h1.key" "${SEALED[@]}"
pid1="$VSW_PID"
start_vswitchd h2 "$WORK/vswitchd-h2.log" --port "tap:$(name t2)" --uplink "$U.1:4789" \
  --key-file "$WORK/h2.key" "${SEALED[@]}"
pid2="$VSW_PID"
tap_to_ns h1 "$(name t1)" vm1 "$V.1/24"
# vm1 retries ARP every 0.1 s (not 1 s): the times measured below are the
# daemon's, not those of vm1's ARP retries.
in_ns vm1 sysctl -qw "net.ipv4.neigh.$(name t1).retrans_time_ms=100"
tap_to_ns h2 "$(name t2)" vm2 "$V.2/24"
vm2_mac="$(if_mac vm2 "$(name t2)")"
wait_peer_state "$pid1" peerhost up 5 >/dev/null || fail "h1 does not show peer peerhost up within 5 s"
log "   h1: peer peerhost up"
wait_ping vm1 "$V.2"
ping_ok vm1 "$V.2" 3
lines="$(counters "$pid1")"
grep -qiE " mac: $vm2_mac .* on $uplink_name " <<<"$lines" ||
  fail "h1 has no MAC entry of vm2 ($vm2_mac) on $uplink_name: $(grep ' mac: ' <<<"$lines")"
log "   h1: $(grep -m 1 -iE " mac: $vm2_mac " <<<"$lines" | cut -c25-)"

check "h2's vswitchd stops; after --peer-timeout (3 s) h1 has peerhost down and its MACs flushed"
mark="$(log_lines "$H1LOG")"
stop_vswitchd "$pid2" 1
stopped="$(date +%s.%3N)"
line="$(wait_log "$H1LOG" "$mark" "${peerhost_ev}down" 6)" ||
  fail "h1 did not log peerhost down within 6 s of h2's stop"
log "   h1: ${line:24} ($(calc "$(log_time "$line") - $stopped") s after the stop)"
flushed="$(sed -nE 's/.*flushed ([0-9]+) MAC entr.*/\1/p' <<<"$line")"
[ "${flushed:-0}" -ge 1 ] || fail "h1's down line does not say it flushed vm2's MAC entry: $line"
lines="$(counters "$pid1")"
grep -qF "counters: port $uplink_name (uplink, down)" <<<"$lines" ||
  fail "h1's counters do not show the uplink $uplink_name down: $(grep -F "$uplink_name" <<<"$lines")"
grep -qF "counters: peer $uplink_name: down," <<<"$lines" ||
  fail "h1's counters do not show the peer $uplink_name down: $(grep -F "$uplink_name" <<<"$lines")"
on_peer="$(grep -E " mac: .* on $uplink_name " <<<"$lines" || true)"
[ -z "$on_peer" ] || fail "h1 still has MAC entries on the dead peer $uplink_name: $on_peer"
grep -qi " mac: $vm2_mac " <<<"$lines" && fail "h1 still lists vm2's MAC $vm2_mac: $(grep -i " mac: $vm2_mac " <<<"$lines")"
log "   h1: $(grep -F "counters: peer $uplink_name" <<<"$lines" | cut -c25-)"
log "   h1: $(grep -F "counters: mac table" <<<"$lines" | cut -c25-); none on $uplink_name"

check "vm2 moves to h3 (same MAC and address); peerhost now names h3 in h1's hosts file"
start_vswitchd h3 "$WORK/vswitchd-h3.log" --port "tap:$(name t3)" --uplink "$U.1:4789" \
  --key-file "$WORK/h3.key" "${SEALED[@]}"
pid3="$VSW_PID"
ip -n "$(ns h3)" link set "$(name t3)" netns "$(ns vm3)"
ip -n "$(ns vm3)" link set "$(name t3)" address "$vm2_mac"
addr_up vm3 "$(name t3)" "$V.2/24"
mark="$(log_lines "$H1LOG")"
pinger_start vm1 "$V.2" "$WORK/ping-resolve.out"
sleep 0.5
grep -q "bytes from" "$WORK/ping-resolve.out" &&
  fail "vm1 got an answer from $V.2 before peerhost moved: $(cat "$WORK/ping-resolve.out")"
changed="$(date +%s.%3N)"
set_peerhost "$U.3"
line="$(wait_log "$H1LOG" "$mark" "${peerhost_ev}peerhost now resolves to ${U//./\\.}\\.3:4789" "$RESOLVE_LIMIT")" ||
  fail "h1 did not log 'peerhost now resolves to $U.3:4789' within $RESOLVE_LIMIT s of the hosts change"
log "   h1: ${line:24} ($(calc "$(log_time "$line") - $changed") s after the change)"
grep -qF "(was $U.2:4789)" <<<"$line" || fail "h1's resolve line does not name the old address $U.2:4789: $line"
pinger_first "$PINGER" "$WORK/ping-resolve.out" "$changed" "$RESOLVE_LIMIT" "vm1 -> $V.2 (behind h3)"
secs="$FIRST_SECS"
wait_peer_state "$pid1" peerhost up 2 >/dev/null || fail "h1 does not show peerhost up after it moved to h3"
log "   h1: peer peerhost up ($(calc "$(date +%s.%3N) - $changed") s after the change)"
echo "RESULT resolve: $secs s from the hosts change to the first answer"
ping_ok vm1 "$V.2" 3
lines="$(counters "$pid1")"
grep -qF "counters: peer $uplink_name: up, address $U.3:4789," <<<"$lines" ||
  fail "h1's counters do not show $uplink_name up at $U.3:4789: $(grep -F "counters: peer $uplink_name" <<<"$lines")"
resolve_secs="$secs"

check "h4 (peers file: h1) with vm4; h1 does not list h4: vm1 cannot reach vm4"
start_vswitchd h4 "$WORK/vswitchd-h4.log" --port "tap:$(name t4)" --peers-file "$WORK/peers-h4" \
  --key-file "$WORK/h4.key" "${SEALED[@]}"
pid4="$VSW_PID"
tap_to_ns h4 "$(name t4)" vm4 "$V.4/24"
np_before="$(counters "$pid1" | sed -nE 's/.*dropped from non-peers ([0-9]+).*/\1/p')"
if in_ns vm1 ping -n -q -c 2 -i 0.2 -W 1 "$V.4" >/dev/null 2>&1; then
  fail "vm1 reaches vm4 although h1 does not list h4"
fi
log "   vm1 -> vm4: no answer"
# h4 retries its handshake with h1 (1 s, then 2 s ...): within 3 s one more is dropped.
for _ in $(seq 15); do
  np_after="$(counters "$pid1" | sed -nE 's/.*dropped from non-peers ([0-9]+).*/\1/p')"
  [ "$np_after" -gt "$np_before" ] && break
  sleep 0.2
done
[ "$np_after" -gt "$np_before" ] || fail "h1 does not drop h4's handshakes as from a non-peer ($np_before -> $np_after)"
log "   h1: dropped from non-peers $np_before -> $np_after (h4's handshakes)"

check "h4 appended to h1's peers file (temp + mv, no SIGHUP): added, up, vm4 answers (limit $ADD_LIMIT s)"
mark="$(log_lines "$H1LOG")"
pinger_start vm1 "$V.4" "$WORK/ping-add.out"
sleep 0.3
changed="$(date +%s.%3N)"
write_file "$PEERS1" "# peers of h1" "$h4_entry"
line="$(wait_log "$H1LOG" "$mark" "${h4_ev}added from --peers-file" "$ADD_LIMIT")" ||
  fail "h1 did not log 'peer $h4_entry: added from --peers-file' within $ADD_LIMIT s of the change"
log "   h1: ${line:24} ($(calc "$(log_time "$line") - $changed") s after the change)"
pinger_first "$PINGER" "$WORK/ping-add.out" "$changed" "$ADD_LIMIT" "vm1 -> vm4 ($V.4)"
secs="$FIRST_SECS"
line="$(wait_log "$H1LOG" "$mark" "${h4_ev}up" 2)" || fail "h1 did not log peer $h4_entry up"
log "   h1: ${line:24} ($(calc "$(log_time "$line") - $changed") s after the change)"
echo "RESULT peers-file: $secs s from the peers file change to the first answer"
add_secs="$secs"
ping_ok vm1 "$V.4" 3
ping_ok vm1 "$V.2" 3

check "a garbage line in h1's peers file: logged as an error, both peers stay"
mark="$(log_lines "$H1LOG")"
write_file "$PEERS1" "# peers of h1" "$h4_entry" "this is not a peer"
line="$(wait_log "$H1LOG" "$mark" "^[^ ]+ [^ ]+ error: --peers-file .*keeping the current peers" 5)" ||
  fail "h1 did not log an error for the garbage line within 5 s"
log "   h1: ${line:24}"
grep -q "line 3" <<<"$line" || fail "the error does not name line 3 (the garbage): $line"
sleep 1.2   # one more watcher round: the bad file must not be retried into a removal
removed="$(tail -n "+$((mark + 1))" "$H1LOG" | grep -E "${EVENT}peer .*: (removed|down)" || true)"
[ -z "$removed" ] || fail "h1 removed or lost a peer after the bad edit: $removed"
lines="$(counters "$pid1")"
grep -qF "counters: peer $uplink_name: up," <<<"$lines" || fail "peer $uplink_name not up after the bad edit"
grep -qF "counters: peer $h4_entry: up," <<<"$lines" || fail "peer $h4_entry not up after the bad edit"
kill -0 "$pid1" || fail "h1 died on the bad peers file"
ping_ok vm1 "$V.2" 3
ping_ok vm1 "$V.4" 3

check "the repaired peers file reloads: nothing to add, nothing removed"
mark="$(log_lines "$H1LOG")"
write_file "$PEERS1" "# peers of h1" "$h4_entry"
line="$(wait_log "$H1LOG" "$mark" "--peers-file .*: 1 peer\\(s\\) listed, 0 to add, 0 removed" 5)" ||
  fail "h1 did not reload the repaired peers file within 5 s"
log "   h1: ${line:24}"

stop_vswitchd "$pid1" 1
stop_vswitchd "$pid3" 1
stop_vswitchd "$pid4" 1
echo "RESULT peers_dynamic: resolve $resolve_secs s, peers-file add $add_secs s; test $SECONDS s"
pass "peers_dynamic: name moved in $resolve_secs s, dead peer flushed, peer added by file in $add_secs s, bad file kept the peers"
