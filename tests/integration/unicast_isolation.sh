#!/usr/bin/env bash
# c. Three namespaces A, B, C on TAPs of one vswitchd. Once the switch has
# learned the three MAC addresses, unicast traffic between A and B (50 pings and
# 1 s of iperf3 TCP) must not reach C: neither the kernel's rx packet counter of
# C's interface nor the daemon's tx counter of C's port may grow.
set -euo pipefail
TEST_TAG=ui
source "$(dirname "$0")/lib.sh"
need_root iperf3 ss

ta="$(name a)"; tb="$(name b)"; tc="$(name c)"
tap_switch "$WORK/vswitchd.log" 10.13.0 a b c
pid="$VSW_PID"

check "learning: A and B ping each other, C pings A"
wait_ping a 10.13.0.2
ping_ok a 10.13.0.2 3
ping_ok b 10.13.0.1 3
ping_ok c 10.13.0.1 3
lines="$(counters "$pid" "$WORK/vswitchd.log")"
grep -q 'counters: mac table 3 of ' <<<"$lines" ||
  fail "the switch should have learned 3 MAC addresses: $(grep 'mac table' <<<"$lines")"

check "unicast A <-> B (50 pings, iperf3 TCP 1 s) does not reach C"
c_rx_before="$(if_rx_packets c "$tc")"
c_tx_before="$(tx_frames "$(port_line "$lines" "$tc")")"
b_tx_before="$(tx_frames "$(port_line "$lines" "$tb")")"
in_ns a ping -n -q -c 50 -i 0.01 -W 2 10.13.0.2 >/dev/null || fail "pings from A to B failed"
iperf3_gbits a b 10.13.0.2 1
log "   iperf3 A -> B: $GBITS Gbit/s"
c_rx_after="$(if_rx_packets c "$tc")"
lines="$(counters "$pid" "$WORK/vswitchd.log")"
c_tx_after="$(tx_frames "$(port_line "$lines" "$tc")")"
b_tx_after="$(tx_frames "$(port_line "$lines" "$tb")")"
log "   C's interface rx packets: $c_rx_before -> $c_rx_after; daemon tx to C: $c_tx_before -> $c_tx_after; tx to B: $b_tx_before -> $b_tx_after"
[ "$((b_tx_after - b_tx_before))" -ge 1000 ] || fail "B should have received the A->B traffic"
[ "$c_rx_after" -eq "$c_rx_before" ] ||
  fail "C's interface received $((c_rx_after - c_rx_before)) packets during A<->B unicast"
[ "$c_tx_after" -eq "$c_tx_before" ] ||
  fail "vswitchd sent $((c_tx_after - c_tx_before)) frames to C's port during A<->B unicast"
for p in "$ta" "$tb" "$tc"; do check_drops "$(port_line "$lines" "$p")"; done

check "control: traffic to C does reach it and is counted"
ping_ok a 10.13.0.3 3
c_rx_ctrl="$(if_rx_packets c "$tc")"
[ "$c_rx_ctrl" -gt "$c_rx_after" ] || fail "C's rx counter did not grow when A pinged C"

stop_vswitchd "$pid" 1
pass "unicast_isolation: A<->B unicast never reached C (rx $c_rx_before -> $c_rx_after)"
