#!/usr/bin/env bash
# Hosts behind symmetric NATs: no direct path, so frames go through a relay,
# sealed end to end; a stranger cannot use the introducer.
#
# As nat_traversal, but both routers masquerade with "random" (a new public
# port for each destination, as a symmetric NAT): what the introducer lh sees
# of h1 and h2 is of no use to the other, and probes never pass. h3, on the
# internet, has an identity lh does not admit and names h1 by key alone.
# Checks:
#   1. vm1 and vm2 ping each other through lh; both sides show path `relay`
#      via lh (not direct after 10 s of probing); lh counts relayed datagrams;
#      iperf3 vm1 -> vm2 completes; the inner MTU is the relayed one.
#   2. What lh relays is sealed end to end: a capture on lh's underlay shows
#      no byte of a known payload (a ping pattern) in any datagram.
#   3. h3 asks lh about h1: its handshake is refused (not a peer), so it has
#      no session to ask on and is never introduced (its peer h1 has no path).
TEST_TAG=nr
source "$(dirname "$0")/lib.sh"
need_root iperf3 nft tcpdump
if ! sealed_mode; then
  skipped "nat_relay needs --identity (sealed uplinks)"
  exit 77
fi

U=10.200.73     # the internet: lh .1, r1 .2, r2 .3, h3 .4
V=10.75.0       # VMs: vm1 .1, vm2 .2, vm3 .3
SEALED=(--keepalive 1 --peer-timeout 3)

bridge_underlay "$U" 1700 lh r1 r2 h3
nat_router r1 "$(name u2)" h1 10.74.1 1700 masquerade random
nat_router r2 "$(name u3)" h2 10.74.2 1700 masquerade random
for k in 1 2 3; do make_ns "vm$k"; done

declare -A PID
identities lh h1 h2 h3
printf '%s h1\n%s h2\n' "${KEY[h1]}" "${KEY[h2]}" >"$WORK/allowed-lh"


check "h1 and h2 behind symmetric NATs: relayed by lh, sealed end to end"
start_vswitchd lh "$WORK/vswitchd-lh.log" --identity "$WORK/lh.id" --allowed-keys "$WORK/allowed-lh" \
  --listen 0.0.0.0:4789 "${SEALED[@]}"
PID[lh]="$VSW_PID"
for k in 1 2; do
  other=$((3 - k))
  start_vswitchd "h$k" "$WORK/vswitchd-h$k.log" --port "tap:$(name "t$k")" --identity "$WORK/h$k.id" \
    --uplink "$U.1:4789,key=${KEY[lh]},name=lh" --uplink "key=${KEY[h$other]},name=h$other" "${SEALED[@]}"
  PID[h$k]="$VSW_PID"
  tap_to_ns "h$k" "$(name "t$k")" "vm$k" "$V.$k/24"
done
wait_ping vm1 "$V.2"
ping_ok vm1 "$V.2" 5
ping_ok vm2 "$V.1" 3
sleep 8   # probing goes on meanwhile: none passes a symmetric NAT
for k in 1 2; do
  other=$((3 - k))
  [ "$(peer_field "${PID[h$k]}" "h$other" path)" = relay ] ||
    fail "h$k's peer h$other: path $(peer_field "${PID[h$k]}" "h$other" path), want relay"
  [ "$(peer_field "${PID[h$k]}" "h$other" relay)" = lh ] || fail "h$k's peer h$other is not relayed by lh"
done
mtu1="$(peer_field "${PID[h1]}" h2 mtu)"
mtu_lh="$(peer_field "${PID[h1]}" lh mtu)"
[ "$mtu1" = $((mtu_lh - 65)) ] || fail "h1's relayed peer h2 has MTU $mtu1, want lh's $mtu_lh less 65"
relayed="$(uplink_field "${PID[lh]}" relayed_datagrams)"
[ "$relayed" -ge 16 ] || fail "lh relayed only $relayed datagrams"
log "   h1 <-> h2 via lh (inner MTU $mtu1, lh's $mtu_lh); lh relayed $relayed datagrams"

capture_start lh "$(name u1)" "$WORK/lh.pcap" udp
cap="$CAP_PID"
in_ns vm1 ping -n -q -c 5 -i 0.2 -p 5ea1ed0ff1ce5ea1ed0ff1ce5ea1ed0f "$V.2" >/dev/null || fail "patterned ping failed"
capture_stop "$cap"
"$PYTHON" - "$WORK/lh.pcap" <<'PY' || fail "a relayed datagram carries the ping's pattern in the clear"
import sys
from scapy.all import rdpcap, UDP
pattern = bytes.fromhex("5ea1ed0ff1ce5ea1")
n = 0
for p in rdpcap(sys.argv[1]):
    if UDP in p:
        n += 1
        assert pattern not in bytes(p[UDP].payload), p.summary()
assert n >= 20, n
PY
log "   lh's underlay: no relayed datagram shows the ping's pattern"

iperf3_gbits vm1 vm2 "$V.2" 3
log "   iperf3 vm1 -> vm2 relayed: $GBITS Gbit/s"
echo "RESULT nat relayed: $GBITS Gbit/s"

check "h3, unknown to lh, asks lh about h1: refused, never introduced"
refused="$(uplink_field "${PID[lh]}" handshakes_refused)"
start_vswitchd h3 "$WORK/vswitchd-h3.log" --port "tap:$(name t3)" --identity "$WORK/h3.id" \
  --uplink "$U.1:4789,key=${KEY[lh]},name=lh" --uplink "key=${KEY[h1]},name=h1" "${SEALED[@]}"
PID[h3]="$VSW_PID"
tap_to_ns h3 "$(name t3)" vm3 "$V.3/24"
wait_log "$WORK/vswitchd-lh.log" 0 "with key ${KEY[h3]//+/\\+} refused: not a peer" 5 >/dev/null ||
  fail "lh did not refuse h3's handshake"
sleep 2
[ "$(uplink_field "${PID[lh]}" handshakes_refused)" -gt "$refused" ] || fail "lh counts no refused handshake"
grep -q "introduced by" "$WORK/vswitchd-h3.log" && fail "h3 was introduced: $(grep "introduced by" "$WORK/vswitchd-h3.log")"
[ "$(peer_field "${PID[h3]}" h1 path)" = none ] || fail "h3's peer h1 has a path: $(peer_field "${PID[h3]}" h1 path)"
if in_ns vm3 ping -n -q -c 2 -i 0.2 -W 1 "$V.1" >/dev/null 2>&1; then fail "vm3 reaches vm1"; fi
log "   h3 refused by lh; its peer h1 has no path; vm3 reaches nobody"

for h in h3 h1 h2 lh; do stop_vswitchd "${PID[$h]}" 2; done
pass "nat_relay: symmetric NATs on both sides, relayed by lh at $GBITS Gbit/s, sealed end to end; a stranger refused"
