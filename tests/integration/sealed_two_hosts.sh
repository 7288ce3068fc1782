#!/usr/bin/env bash
# Sealed uplinks between two hosts, and an attacker on their underlay.
#
# Hosts h1 and h2 and the attacker ev share one underlay: a Linux bridge in
# namespace "net" (MTU 1600: the sealed overhead is 32 + 28 bytes, so the VMs
# keep 1500). Each host runs vswitchd with --key-file (the same key, generated
# here, mode 0600) and a TAP into its VM namespace (vm1, vm2). Checks:
#   - VM-to-VM ping both ways (also 1500-byte packets with DF) and iperf3 TCP;
#   - ev, spoofing h1's address and source port towards h2:4789 (scapy, see
#     sealed_forge.py for the steps), replays, flips, forges, truncates and
#     mislabels datagrams: h2 counts each on h2's uplink port under its exact
#     drop reason, vm2 (tcpdump on its NIC) sees none of them, and h2 never
#     sends anything to ev (tcpdump on ev's NIC);
#   - controls, so that "vm2 saw nothing" means something: withheld originals
#     delivered late by ev reach vm2 exactly once each (even the overlay key
#     cannot seal a frame into a session: its keys come from the handshake);
#   - ping still works afterwards.
# VSWITCHD_TEST_PLAIN=1: plain VXLAN (no --key-file); the same steps run and
# the test checks what plain VXLAN does with them (replays reach vm2).
TEST_TAG=sl
source "$(dirname "$0")/lib.sh"
need_root iperf3 ss tcpdump tc
HERE="$(cd "$(dirname "$0")" && pwd)"
"$PYTHON" -c 'import scapy.all' 2>/dev/null ||
  { echo "SKIP: $PYTHON lacks scapy (python3-scapy)"; exit 77; }

U=10.200.40     # underlay: h1 .1, h2 .2, ev .3
V=10.40.0       # VMs: vm1 .1, vm2 .2
t1="$(name t1)"; t2="$(name t2)"
u1="$(name u1)"; u2="$(name u2)"; u3="$(name u3)"; b2="$(name b2)"
uplink1="$U.2:4789"   # h1's uplink port (its name in the counters)
uplink2="$U.1:4789"   # h2's uplink port: where h2 counts what ev sends as h1
SIZE_A=333            # ping -s of the delivered datagrams ev replays (marker A)
SIZE_B=444            # ping -s of the withheld ones (marker B)
MARK_A=de57a7e0a0a0a0a0
MARK_B=de57a7e0b0b0b0b0

bridge_underlay "$U" 1600 h1 h2 ev
make_ns vm1
make_ns vm2

sealed_args1=(); sealed_args2=()
if sealed_mode; then
  make_key_file "$WORK/h1.key"
  cp -p "$WORK/h1.key" "$WORK/h2.key"
  sealed_args1=(--key-file "$WORK/h1.key")
  sealed_args2=(--key-file "$WORK/h2.key")
  mode=sealed
else
  mode="plain VXLAN"
fi

check "vswitchd ($mode) on h1 and h2: a TAP into vm1 / vm2 and an uplink to the other host"
start_vswitchd h1 "$WORK/vswitchd-h1.log" --port "tap:$t1" --uplink "$uplink1" "${sealed_args1[@]}"
pid1="$VSW_PID"
start_vswitchd h2 "$WORK/vswitchd-h2.log" --port "tap:$t2" --uplink "$uplink2" "${sealed_args2[@]}"
pid2="$VSW_PID"
tap_to_ns h1 "$t1" vm1 "$V.1/24"
tap_to_ns h2 "$t2" vm2 "$V.2/24"

check "VM-to-VM ping both ways, also 1472-byte payloads with DF (1500-byte packets)"
wait_ping vm1 "$V.2"
ping_ok vm1 "$V.2" 5
ping_ok vm2 "$V.1" 5
ping_ok vm1 "$V.2" 3 -s 1472 -M "do"
ping_ok vm2 "$V.1" 3 -s 1472 -M "do"

check "iperf3 TCP 3 s from vm1 to vm2"
iperf3_gbits vm1 vm2 "$V.2" 3
if sealed_mode; then echo "RESULT sealed: iperf3 TCP $GBITS Gbit/s"
else echo "RESULT sealed (plain VXLAN mode): iperf3 TCP $GBITS Gbit/s"; fi

check "capture genuine h1 -> h2 datagrams on h2 (ping with marker A), delivered"
capture_start h2 "$u2" "$WORK/genuine.pcap" "udp and src host $U.1 and dst host $U.2 and dst port 4789"
cap="$CAP_PID"
ping_ok vm1 "$V.2" 3 -s "$SIZE_A" -p "$MARK_A"
capture_stop "$cap"

check "capture h1 -> h2 datagrams that never reach h2 (bridge port to h2 drops all; marker B)"
ip netns exec "$(ns net)" tc qdisc add dev "$b2" root blackhole
capture_start h1 "$u1" "$WORK/withheld.pcap" "udp and src host $U.1 and dst host $U.2 and dst port 4789"
cap="$CAP_PID"
in_ns vm1 ping -n -q -c 6 -i 0.2 -W 1 -s "$SIZE_B" -p "$MARK_B" "$V.2" >/dev/null 2>&1 || true
capture_stop "$cap"
ip netns exec "$(ns net)" tc qdisc del dev "$b2" root
wait_ping vm1 "$V.2"

# Each step of sealed_forge.py and what h2 must count for it (see its docstring).
# The delta of every drop reason on h2's uplink port must be exactly this.
if sealed_mode; then
  want_drops="sealed_bad_version=3 sealed_forged=5 sealed_replayed=8 sealed_short=3 sealed_unknown_key=2"
  want_vm2="A=0 B=2 C=0 D=0 fake_c=0"   # B: w0 and w1 late, once each
else
  # Plain VXLAN accepts every replay and flip; sealed-looking datagrams have the I flag clear.
  want_drops="vxlan_bad_flags=6 vxlan_short=2"
  want_vm2="A=5 B=8 C=0 D=1 fake_c=0"
fi
want_strangers=3

# drop_map LINE: "reason=N" per line, every reason of a counters line.
drop_map() { drops_of "$1" | tr ' ' '\n' | grep '=' || true; }
# drop_deltas BEFORE AFTER: the reasons that grew, "reason=delta" sorted on one line.
drop_deltas() {
  local r n b grew=()
  while IFS='=' read -r r n; do
    b="$(drop_count "$1" "$r")"
    [ "$n" -gt "$b" ] && grew+=("$r=$((n - b))")
  done < <(drop_map "$2")
  printf '%s\n' "${grew[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
}
non_peers() { sed -nE 's/.*dropped from non-peers ([0-9]+).*/\1/p' <<<"$1" | tail -n 1; }

lines="$(counters "$pid2" "$WORK/vswitchd-h2.log")"
before="$(port_line "$lines" "$uplink2")"
[ -n "$before" ] || fail "h2: no counters line for its uplink $uplink2: $lines"
np_before="$(non_peers "$lines")"
log "   h2 before: $before"

check "ev forges and replays datagrams to h2:4789 as h1; vm2 and ev capture meanwhile"
capture_start vm2 "$t2" "$WORK/vm2.pcap" -Q in
cap_vm2="$CAP_PID"
capture_start ev "$u3" "$WORK/ev.pcap" "src host $U.2 and dst host $U.3"
cap_ev="$CAP_PID"
sealed_flag=0; sealed_mode && sealed_flag=1
if ! out="$(SEALED="$sealed_flag" IFACE="$u3" DST_MAC="$(if_mac h2 "$u2")" H1="$U.1" H2="$U.2" EV="$U.3" \
    VM2_MAC="$(if_mac vm2 "$t2")" VM2_IP="$V.2" \
    FAKE_IP="$V.99" GENUINE="$WORK/genuine.pcap" WITHHELD="$WORK/withheld.pcap" \
    SIZE_A="$SIZE_A" SIZE_B="$SIZE_B" \
    ip netns exec "$(ns ev)" timeout 60 "$PYTHON" "$HERE/sealed_forge.py" 2>&1)"; then
  fail "sealed_forge.py failed: $out"
fi
# shellcheck disable=SC2001  # (indent every line)
sed 's/^/   /' <<<"$out"
sleep 0.5
lines="$(counters "$pid2" "$WORK/vswitchd-h2.log")"
after="$(port_line "$lines" "$uplink2")"
np_after="$(non_peers "$lines")"
log "   h2 after:  $after"
# Control for ev's capture: h2's kernel answers ev's ping, and the capture sees it.
in_ns ev ping -n -q -c 1 -W 1 "$U.2" >/dev/null 2>&1 || fail "ev cannot ping h2's underlay address"
sleep 0.2
capture_stop "$cap_vm2"
capture_stop "$cap_ev"

check "h2 counted every forged datagram under its drop reason, and the strangers"
got="$(drop_deltas "$before" "$after")"
log "   drops grew by: $got"
[ "$got" = "$want_drops" ] || fail "h2's drops on $uplink2 grew by '$got', want '$want_drops'"
[ $((np_after - np_before)) -eq "$want_strangers" ] ||
  fail "h2 dropped $((np_after - np_before)) datagrams from non-peers, want $want_strangers"
log "   dropped from non-peers: +$((np_after - np_before))"

check "vm2 saw no forged or replayed frame (only the controls: $want_vm2)"
got="$("$PYTHON" - "$WORK/vm2.pcap" <<'PY'
import sys
from scapy.all import Ether, rdpcap
marks = {k: bytes.fromhex("de57a7e0" + v * 4) for k, v in
         (("A", "a0"), ("B", "b0"), ("C", "c0"), ("D", "d0"))}
frames = [bytes(p) for p in rdpcap(sys.argv[1])]
counts = {k: sum(m in f for f in frames) for k, m in marks.items()}
counts["fake_c"] = sum(f[6:12] == bytes.fromhex("02e50000000c") for f in frames)
print(" ".join("%s=%d" % kv for kv in counts.items()))
PY
)"
log "   vm2 received: $got"
[ "$got" = "$want_vm2" ] || fail "vm2 received '$got', want '$want_vm2'"

check "h2 never answered ev (tcpdump on ev: nothing from h2 but the control ping's reply)"
got="$("$PYTHON" - "$WORK/ev.pcap" <<'PY'
import sys
from scapy.all import ICMP, IP, UDP, rdpcap
pkts = [p for p in rdpcap(sys.argv[1]) if IP in p]
answers = [p for p in pkts if UDP in p or (ICMP in p and p[ICMP].type != 0)]
replies = [p for p in pkts if ICMP in p and p[ICMP].type == 0]
print("answers=%d control_replies=%d" % (len(answers), len(replies)))
PY
)"
log "   ev received from h2: $got"
[[ "$got" == "answers=0 control_replies="[1-9]* ]] || fail "ev received from h2: $got"

check "ping still works after the attack, both ways"
ping_ok vm1 "$V.2" 5
ping_ok vm2 "$V.1" 5
ping_ok vm1 "$V.2" 3 -s 1472 -M "do"

check "SIGTERM: both exit 0; h1 dropped nothing"
lines="$(counters "$pid1" "$WORK/vswitchd-h1.log")"
line="$(port_line "$lines" "$uplink1")"
log "   h1: $line"
check_drops "$line"
stop_vswitchd "$pid1" 1
stop_vswitchd "$pid2" 1

pass "sealed_two_hosts ($mode): ping, iperf3 $GBITS Gbit/s; replays, forgeries, wrong keys, unknown sessions, strangers, runts and bad versions dropped and counted, none reached vm2"
