#!/usr/bin/env bash
# Admission by an overlay certificate authority.
#
# Hosts h1..h4 share one underlay (a bridge in "net", MTU 1600). A CA is made
# with vswitchd --ca-init; h1, h2 and h3 get certificates (vswitchd --ca-sign).
# h1 lists no peer at all: it runs with --ca and admits whoever presents a
# valid certificate. h2 names h1 and h3 (by address and key); h3 names only
# h1, and admits h2 by its certificate. Checks:
#   1. --ca-init makes DIR/ca.key (0600) and DIR/ca.pub; --ca-sign prints a
#      certificate; each daemon logs its certificate's name.
#   2. Every pair of vm1, vm2, vm3 pings: h1 admitted h2 and h3, h3 admitted
#      h2, each by certificate (logged with the certificate's fingerprint).
#   3. h4 with a certificate of another CA names h1: refused ("signed by
#      another CA" in h1's log), vm4 reaches no VM.
#   4. h4 with a certificate for VLAN 10 only: admitted as a trunk of VLAN
#      10; its untagged frames are dropped (vlan_not_allowed).
#   5. h3 revoked at h1 (its key written into h1's --revoked file): h1 removes
#      it within 2 s, vm1 no longer reaches vm3, vm2 still does, and h3's next
#      handshake is refused as revoked.
TEST_TAG=ca
source "$(dirname "$0")/lib.sh"
need_root
if ! sealed_mode; then
  skipped "sealed_ca needs --identity (sealed uplinks)"
  exit 77
fi

U=10.200.71     # underlay: hK .K
V=10.71.0       # VMs: vmK .K
SEALED=(--keepalive 1 --peer-timeout 3)

bridge_underlay "$U" 1600 h1 h2 h3 h4
for k in 1 2 3 4; do make_ns "vm$k"; done

check "--ca-init, --generate-identity and --ca-sign for h1..h3 (and h4 from another CA)"
CA_PUB="$("$VSWITCHD" --ca-init "$WORK/ca")" || fail "--ca-init failed"
[ "$(stat -c %a "$WORK/ca/ca.key")" = 600 ] || fail "ca.key has mode $(stat -c %a "$WORK/ca/ca.key")"
[ "$(cat "$WORK/ca/ca.pub")" = "$CA_PUB" ] || fail "ca.pub differs from what --ca-init printed"
"$VSWITCHD" --ca-init "$WORK/other-ca" >/dev/null || fail "--ca-init (other CA) failed"
declare -A KEY
for k in 1 2 3 4; do
  KEY[$k]="$("$VSWITCHD" --generate-identity "$WORK/h$k.id")" || fail "--generate-identity h$k"
  ca="$WORK/ca"; [ "$k" = 4 ] && ca="$WORK/other-ca"
  "$VSWITCHD" --ca-sign "$ca" --name "host$k.lab" --public-key "${KEY[$k]}" --valid 30 >"$WORK/h$k.crt" ||
    fail "--ca-sign h$k"
done
log "   CA $CA_PUB; certificates for host1..host3.lab (and host4.lab from another CA)"

check "h1 (no peers, --ca) admits h2 and h3; h3 admits h2; every pair of VMs pings"
: >"$WORK/revoked-h1"
start_vswitchd h1 "$WORK/vswitchd-h1.log" --port "tap:$(name t1)" --identity "$WORK/h1.id" \
  --ca "$WORK/ca/ca.pub" --certificate "$WORK/h1.crt" --revoked "$WORK/revoked-h1" "${SEALED[@]}"
pid1="$VSW_PID"
start_vswitchd h3 "$WORK/vswitchd-h3.log" --port "tap:$(name t3)" --identity "$WORK/h3.id" \
  --ca "$CA_PUB" --certificate "$WORK/h3.crt" --uplink "$U.1:4789,key=${KEY[1]}" "${SEALED[@]}"
pid3="$VSW_PID"
start_vswitchd h2 "$WORK/vswitchd-h2.log" --port "tap:$(name t2)" --identity "$WORK/h2.id" \
  --certificate "$WORK/h2.crt" --uplink "$U.1:4789,key=${KEY[1]}" --uplink "$U.3:4789,key=${KEY[3]}" "${SEALED[@]}"
pid2="$VSW_PID"
for k in 1 2 3; do tap_to_ns "h$k" "$(name "t$k")" "vm$k" "$V.$k/24"; done
grep -q -- "--certificate .*h1.crt: host1.lab" "$WORK/vswitchd-h1.log" || fail "h1 did not log its certificate"
wait_ping vm2 "$V.1"
wait_ping vm3 "$V.1"
for a in 1 2 3; do
  for b in 1 2 3; do [ "$a" = "$b" ] || ping_ok "vm$a" "$V.$b" 2; done
done
for who in host2.lab host3.lab; do
  grep -qE "peer $who: admitted from .*\(--ca, certificate [0-9a-f]{32}" "$WORK/vswitchd-h1.log" ||
    fail "h1 did not log $who's admission by certificate"
done
grep -qE "peer host2.lab: admitted from .*--ca" "$WORK/vswitchd-h3.log" || fail "h3 did not admit h2 by certificate"

check "h4 (certificate of another CA) names h1: refused, vm4 reaches no VM"
start_vswitchd h4 "$WORK/vswitchd-h4.log" --port "tap:$(name t4)" --identity "$WORK/h4.id" \
  --certificate "$WORK/h4.crt" --uplink "$U.1:4789,key=${KEY[1]}" "${SEALED[@]}"
pid4="$VSW_PID"
tap_to_ns h4 "$(name t4)" vm4 "$V.4/24"
if in_ns vm4 ping -n -q -c 3 -i 0.2 -W 1 "$V.1" >/dev/null 2>&1; then fail "vm4 reaches vm1"; fi
wait_log "$WORK/vswitchd-h1.log" 0 "with key ${KEY[4]//+/\\+} refused: its certificate is not accepted: signed by another CA" 3 \
  >/dev/null || fail "h1 did not log h4's refusal (signed by another CA): $(grep refused "$WORK/vswitchd-h1.log" | tail -n 2)"
log "   h1 refused h4: signed by another CA"
stop_vswitchd "$pid4" 2

check "h4 again, certified by the CA for VLAN 10 only: admitted as a trunk of VLAN 10, its untagged frames dropped"
"$VSWITCHD" --ca-sign "$WORK/ca" --name host4.lab --public-key "${KEY[4]}" --vlans 10 >"$WORK/h4-v10.crt" ||
  fail "--ca-sign --vlans 10"
start_vswitchd h4 "$WORK/vswitchd-h4b.log" --port "tap:$(name t4b)" --identity "$WORK/h4.id" \
  --certificate "$WORK/h4-v10.crt" --uplink "$U.1:4789,key=${KEY[1]}" "${SEALED[@]}"
pid4="$VSW_PID"
tap_to_ns h4 "$(name t4b)" vm4 "$V.4/24"
wait_log "$WORK/vswitchd-h1.log" 0 'peer host4.lab: admitted from .*VLANs 1' 5 >/dev/null || fail "h1 did not admit host4.lab for VLAN 10"
if in_ns vm4 ping -n -q -c 3 -i 0.2 -W 1 "$V.1" >/dev/null 2>&1; then fail "vm4's untagged frames reach vm1"; fi
line="$(port_line "$(counters "$pid1")" host4.lab)"
[ "$(drop_count "$line" vlan_not_allowed)" -gt 0 ] || fail "h1 did not drop host4.lab's untagged frames: $line"
log "   h1: $line"
stop_vswitchd "$pid4" 2

check "h3 revoked at h1: removed within 2 s, vm1 cut off from vm3, vm2 still reaches vm3"
mark="$(log_lines "$WORK/vswitchd-h1.log")"
t0="$(date +%s.%3N)"
printf '%s  # host3, lost laptop\n' "${KEY[3]}" >"$WORK/revoked-h1.new" && mv "$WORK/revoked-h1.new" "$WORK/revoked-h1"
line="$(wait_log "$WORK/vswitchd-h1.log" "$mark" 'peer host3.lab: removed \(revoked\)' 5)" ||
  fail "h1 did not remove host3.lab within 5 s of the revocation"
took="$(calc "$(log_time "$line") - $t0")"
log "   h1 removed host3.lab $took s after the revocation"
[ "$(calc "$took <= 2.0")" = 1 ] || fail "the revocation took $took s, want <= 2 s"
if in_ns vm1 ping -n -q -c 3 -i 0.2 -W 1 "$V.3" >/dev/null 2>&1; then fail "vm1 still reaches vm3 after the revocation"; fi
ping_ok vm2 "$V.3" 3
# h3 still thinks its session is up; after --peer-timeout it handshakes
# again, and h1 refuses that too.
wait_log "$WORK/vswitchd-h1.log" "$mark" "with key ${KEY[3]//+/\\+} refused: revoked" 8 >/dev/null ||
  fail "h1 did not refuse h3's next handshake as revoked"
log "   h3's next handshake refused: revoked"
echo "RESULT revoke by CA list: $took s"

for pid in "$pid1" "$pid2" "$pid3"; do stop_vswitchd "$pid" 2; done
pass "sealed_ca: h1 with no peer list admits certified hosts, every pair pings; another CA refused; revocation cut h3 off in $took s"
