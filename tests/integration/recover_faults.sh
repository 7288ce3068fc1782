#!/usr/bin/env bash
# Faults that end in a working switch, with the recovery time measured.
#   1. A TAP port's TAP is deleted, then made again with the same name (a
#      persistent TAP, as a restarted guest's would be): the port is attached
#      again within 2 s (logged), the guest behind it pings again, and a
#      static MAC entry made for it with vswitchctl is there again.
#   1b. The TAP's name comes back as a veth: "cannot attach it again",
#      retried; a reload leaves it so (unchanged); vswitchctl port del stops
#      the retries.
#   2. A dev: port's interface (a veth) disappears and comes back: likewise.
#   3. The underlay link of an uplink goes down for 2 s and comes back: the
#      VMs across it ping again within 3 s of the link's return.
#   4. SIGTERM during an iperf3 run: vswitchd exits 0 in under 1 s and the
#      TAPs it created are gone.
# RESULT lines give each recovery time.
TEST_TAG=rf
source "$(dirname "$0")/lib.sh"
need_root iperf3
V=10.65.0

# since_line LOG ERE: the time stamp (s) of the first line matching ERE.
stamp_of() { local line; line="$(grep -E -m 1 -- "$2" "$1")" || return 1; log_time "$line"; }
# until_ping FROM DEST SECONDS: seconds until FROM's first answered ping from DEST (fails after SECONDS).
until_ping() {
  local t0 now
  t0="$(date +%s.%N)"
  while :; do
    in_ns "$1" ping -n -q -c 1 -W 0.2 "$2" >/dev/null 2>&1 && break
    now="$(date +%s.%N)"
    [ "$(calc "$now - $t0 > $3")" = 0 ] || fail "no answer from $2 within $3 s"
  done
  calc "$(date +%s.%N) - $t0"
}

check "1. a TAP deleted and made again with the same name"
make_ns sw; make_ns a; make_ns b; make_ns d
make_veth sw "$(name v1)" d "$(name v2)"
start_vswitchd sw "$WORK/sw.log" --port "tap:$(name a)" --port "tap:$(name b)" --port "dev:$(name v1)"
pid="$VSW_PID"
tap_to_ns sw "$(name a)" a "$V.1/24"
tap_to_ns sw "$(name b)" b "$V.2/24"
addr_up d "$(name v2)" "$V.4/24"
wait_ping a "$V.2"
wait_ping a "$V.4"
STATIC_MAC=02:00:00:65:00:aa
"$VSWITCHCTL" --control "$VSW_CTL" fdb add "$STATIC_MAC" "$(name a)" >/dev/null || fail "fdb add $STATIC_MAC"
ip -n "$(ns a)" link del "$(name a)"
wait_log "$WORK/sw.log" 0 "port $(name a) \(tap\): down: the TAP was deleted" 5 >/dev/null ||
  fail "no log line for the deleted TAP"
mark="$(log_lines "$WORK/sw.log")"
t_made="$(date +%s.%3N)"
ip -n "$(ns sw)" tuntap add "$(name a)" mode tap   # persistent, as a guest's TAP
back="$(wait_log "$WORK/sw.log" "$mark" "port $(name a): the interface is back; attached again" 3)" ||
  fail "the TAP made again was not attached within 3 s"
reattach="$(calc "$(log_time "$back") - $t_made")"
[ "$(calc "$reattach <= 2")" = 1 ] || fail "re-attached after $reattach s (want <= 2 s)"
"$VSWITCHCTL" --control "$VSW_CTL" --json fdb show --port "$(name a)" |
  "$PYTHON" -c "import json,sys; sys.exit(0 if any(e['mac'] == '$STATIC_MAC' and e['type'] == 'static' for e in json.load(sys.stdin)['entries']) else 1)" ||
  fail "the static entry $STATIC_MAC on $(name a) did not come back with the port: $("$VSWITCHCTL" --control "$VSW_CTL" fdb show)"
tap_to_ns sw "$(name a)" a "$V.1/24"
t_ping="$(until_ping a "$V.2" 5)"
echo "RESULT recover-tap: attached again $reattach s after the TAP was made again; pinging $t_ping s after it was moved into the guest's namespace"

check "1b. the TAP's name comes back as a veth: retried each second; port del stops that"
mark="$(log_lines "$WORK/sw.log")"
ip -n "$(ns a)" link del "$(name a)"   # a persistent TAP: ours to remove
wait_log "$WORK/sw.log" "$mark" "port $(name a) \(tap\): down: the TAP was deleted" 5 >/dev/null ||
  fail "no log line for the deleted TAP"
make_veth sw "$(name a)" d "$(name ax)"
wait_log "$WORK/sw.log" "$mark" "port $(name a): cannot attach it again .*trying every second" 3 >/dev/null ||
  fail "no warning that $(name a) (now a veth) cannot be attached again"
# Not a port now; show names it as waited for.
shown="$("$VSWITCHCTL" --control "$VSW_CTL" --json show)"
[ "$("$PYTHON" -c 'import json,sys; j=json.loads(sys.argv[1]); print(sys.argv[2] in [p["name"] for p in j["ports"]], j["waiting"])' "$shown" "$(name a)")" = "False ['$(name a)']" ] ||
  fail "show --json: $(name a) should be waited for, not a port: $shown"
"$VSWITCHCTL" --control "$VSW_CTL" show | grep -qE "port del NAME stops it\): $(name a)\$" ||
  fail "show does not name $(name a) as waited for: $("$VSWITCHCTL" --control "$VSW_CTL" show)"
# A reload with the same options leaves it waited for: unchanged, no error.
out="$("$VSWITCHCTL" --control "$VSW_CTL" --json reload)" || fail "reload while $(name a) is waited for: $out"
[ "$("$PYTHON" -c 'import json,sys; j=json.loads(sys.argv[1]); print(len(j.get("failed", [])), len(j.get("ports_added", [])))' "$out")" = "0 0" ] ||
  fail "reload while $(name a) is waited for: $out"
# Its static entry is held for it meanwhile; fdb del reaches it there.
out="$("$VSWITCHCTL" --control "$VSW_CTL" fdb del "$STATIC_MAC")" || fail "fdb del $STATIC_MAC (held) failed: $out"
grep -qF "removed static entry $STATIC_MAC" <<<"$out" || fail "fdb del $STATIC_MAC (held): $out"
out="$("$VSWITCHCTL" --control "$VSW_CTL" port del "$(name a)")" || fail "port del $(name a) (waited for) failed"
grep -qF "no longer waited for" <<<"$out" || fail "port del $(name a): $out"
ip -n "$(ns sw)" link del "$(name a)"
tuntap_mark="$(log_lines "$WORK/sw.log")"
ip -n "$(ns sw)" tuntap add "$(name a)" mode tap
sleep 1.5
later="$(tail -n "+$((tuntap_mark + 1))" "$WORK/sw.log")"
grep -qF "port $(name a): the interface is back" <<<"$later" && fail "$(name a) was attached again after port del"
ip -n "$(ns sw)" link del "$(name a)"
pass "a name that cannot be attached is retried and logged once; port del ends the retries"

check "2. a dev: interface that disappears and comes back"
ip -n "$(ns sw)" link del "$(name v1)"
wait_log "$WORK/sw.log" "$mark" "port $(name v1) \(dev\): down: " 5 >/dev/null ||
  fail "no log line for the deleted veth"
mark="$(log_lines "$WORK/sw.log")"
t_made="$(date +%s.%3N)"
make_veth sw "$(name v1)" d "$(name v2)"
back="$(wait_log "$WORK/sw.log" "$mark" "port $(name v1): the interface is back; attached again" 3)" ||
  fail "the veth made again was not attached within 3 s"
reattach="$(calc "$(log_time "$back") - $t_made")"
[ "$(calc "$reattach <= 2")" = 1 ] || fail "re-attached after $reattach s (want <= 2 s)"
addr_up d "$(name v2)" "$V.4/24"
t_ping="$(until_ping b "$V.4" 5)"
echo "RESULT recover-dev: attached again $reattach s after the interface came back; pinging $t_ping s later"
kill -0 "$pid" 2>/dev/null || fail "vswitchd died"
stop_vswitchd "$pid" 1

check "3. an uplink's underlay link down for 2 s and up again"
two_hosts_underlay 10.200.65
vswitchd_on_hosts 10.200.65 10.66.0
wait_ping vm1 10.66.0.2
ip -n "$(ns h1)" link set "$(name u1)" down
sleep 2
if in_ns vm1 ping -n -q -c 1 -W 1 10.66.0.2 >/dev/null 2>&1; then fail "vm1 reached vm2 with the underlay down"; fi
ip -n "$(ns h1)" link set "$(name u1)" up
t_ping="$(until_ping vm1 10.66.0.2 10)"
[ "$(calc "$t_ping <= 3")" = 1 ] || fail "vm1 pinged vm2 again only $t_ping s after the link came back"
echo "RESULT recover-underlay: vm1 pings vm2 again $t_ping s after the underlay link came back"
kill -0 "$PID1" 2>/dev/null && kill -0 "$PID2" 2>/dev/null || fail "a vswitchd died"

check "4. SIGTERM during an iperf3 run: out within 1 s, TAPs gone"
in_ns vm2 iperf3 -s -1 -D -p 5265 >/dev/null 2>&1
for _ in $(seq 50); do
  [ -n "$(in_ns vm2 ss -Htln "sport = :5265" 2>/dev/null)" ] && break
  sleep 0.1
done
in_ns vm1 iperf3 -c 10.66.0.2 -p 5265 -t 10 >/dev/null 2>&1 &
T_PIDS+=($!)
sleep 2
[ -n "$(in_ns vm1 ss -Htn state established "dport = :5265" 2>/dev/null)" ] ||
  fail "no iperf3 connection from vm1 to vm2 to stop vswitchd under"
t0="$(date +%s.%N)"
stop_vswitchd "$PID1" 1
echo "RESULT sigterm: vswitchd exited $(calc "$(date +%s.%N) - $t0") s after SIGTERM under iperf3 load"
exists vm1 "$(name t1)" && fail "the TAP vswitchd created outlived it"
stop_vswitchd "$PID2" 1
pass "recover_faults: TAP and dev: ports attached again, underlay recovery, a quick clean exit under load"
