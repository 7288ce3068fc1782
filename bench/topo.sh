# shellcheck shell=bash
# The configurations of bench/run.sh. Each setup_NAME builds one, in namespaces
# of its own, and returns non-zero (FAIL_WHY set) when it could not. All of them
# give the same two "VMs": namespace NAME-a with 10.211.0.1/24 and NAME-b with
# 10.211.0.2/24, MTU 1500, the kernel's default offloads (no ethtool on the VM
# side), IPv6 off. S_PIDS[NAME] lists the switch processes whose CPU time is
# measured.
#
#   bridge  Linux bridge in NAME-sw, a veth from each VM to it
#   tapvsw  vswitchd --port tap:X --port tap:Y --workers 1 in NAME-sw (one thread),
#           the TAPs moved into the VMs (--mac-table-size 1200000, for frames/s at 1 Mi MACs)
#   tapw2   as tapvsw, with --workers 2 (two data-path threads: the default on 2 cores)
#   tapw4   as tapvsw, with --workers 4
#   tapbp   as tapvsw, with --busy-poll 200000 (one thread that polls instead of sleeping)
#   vde     vde_switch -t X -t Y in NAME-sw, the TAPs moved into the VMs
#   devvsw  vswitchd --port dev:X --port dev:Y --workers 1 on the switch ends of the veths
#   devw4   as devvsw, with --workers 4 (a PACKET_FANOUT group of 4 sockets per port)
#   tunkk   hosts h1, h2 on a veth underlay (MTU 1600, 10.212.0.1 / .2), each a
#           bridge with a kernel vxlan device (VNI 1, port 4789) and a veth to its VM
#   tunvv   the same hosts, each vswitchd --port tap:X --uplink <other>:4789 --workers 1
#   tunw2   as tunvv, with --workers 2 (the default on 2 cores)
#   tunvk   h1 as in tunvv, h2 as in tunkk
#   encvv   the same hosts, each vswitchd --port tap:X --uplink <other>:4789
#           --key-file KEY (sealed uplinks: encrypted and authenticated)
#   enctinc the same hosts, each tinc 1.0's tincd in switch mode (its TAP moved
#           into the VM), the encrypted anchor; tunkk is the plain one
#   encwg   the same hosts, each the kernel's vxlan and bridge (as tunkk) over a
#           wireguard-go device (userspace WireGuard): the second encrypted anchor
#   encid   the same hosts, each vswitchd --identity, the other named by address
#           and key: sealed with host identities, the direct path
#   encrelay hosts h1 and h2 that cannot reach each other, each on a veth to a
#           third host r (no forwarding there); r runs vswitchd --allowed-keys,
#           h1 and h2 name r by address and each other by key alone: r
#           introduces them and relays every frame (sealed end to end); the
#           measured CPU is all three daemons

VM_A=10.211.0.1
VM_B=10.211.0.2
UL_1=10.212.0.1
UL_2=10.212.0.2
declare -A S_PIDS=()

vms() { make_ns "$1-a" && make_ns "$1-b"; }

setup_bridge() {
  local s=bridge
  make_ns $s-sw && vms $s || return 1
  veth $s-a "$(ifn ba)" $s-sw "$(ifn bpa)" && veth $s-b "$(ifn bb)" $s-sw "$(ifn bpb)" || return 1
  try ip -n "$(ns $s-sw)" link add "$(ifn br)" type bridge || return 1
  local p
  for p in bpa bpb; do
    try ip -n "$(ns $s-sw)" link set "$(ifn $p)" master "$(ifn br)" || return 1
    try ip -n "$(ns $s-sw)" link set "$(ifn $p)" up || return 1
  done
  try ip -n "$(ns $s-sw)" link set "$(ifn br)" up || return 1
  addr_up $s-a "$(ifn ba)" $VM_A/24 1500 && addr_up $s-b "$(ifn bb)" $VM_B/24 1500
}

# tap_vswitchd SETUP CODE [OPTION...]: vswitchd with two TAPs moved into the VMs.
tap_vswitchd() {
  local s="$1" c="$2"
  shift 2
  make_ns $s-sw && vms $s || return 1
  start_vswitchd $s-sw $s --port "tap:$(ifn ${c}a)" --port "tap:$(ifn ${c}b)" "$@" || return 1
  S_PIDS[$s]="$SW_PID"
  move_to $s-sw "$(ifn ${c}a)" $s-a && move_to $s-sw "$(ifn ${c}b)" $s-b || return 1
  addr_up $s-a "$(ifn ${c}a)" $VM_A/24 1500 && addr_up $s-b "$(ifn ${c}b)" $VM_B/24 1500
}

# (A table of 1.2 M entries: the frames-per-second measurement learns 1 Mi MACs.)
setup_tapvsw() { tap_vswitchd tapvsw t --mac-table-size 1200000 --workers 1; }
setup_tapw2() { tap_vswitchd tapw2 w --workers 2; }
setup_tapw4() { tap_vswitchd tapw4 x --workers 4; }
setup_tapbp() { tap_vswitchd tapbp p --busy-poll 200000 --workers 1; }

setup_vde() {
  local s=vde
  make_ns $s-sw && vms $s || return 1
  start_vde $s-sw $s "$(ifn va)" "$(ifn vb)" || return 1
  S_PIDS[$s]="$SW_PID"
  move_to $s-sw "$(ifn va)" $s-a && move_to $s-sw "$(ifn vb)" $s-b || return 1
  addr_up $s-a "$(ifn va)" $VM_A/24 1500 && addr_up $s-b "$(ifn vb)" $VM_B/24 1500
}

# dev_vswitchd SETUP CODE [ARGS...]: vswitchd with dev: ports on the switch
# ends of two veths whose other ends are the VMs.
dev_vswitchd() {
  local s="$1" c="$2"
  shift 2
  make_ns $s-sw && vms $s || return 1
  veth $s-a "$(ifn ${c}a)" $s-sw "$(ifn ${c}pa)" && veth $s-b "$(ifn ${c}b)" $s-sw "$(ifn ${c}pb)" || return 1
  try ip -n "$(ns $s-sw)" link set "$(ifn ${c}pa)" up && try ip -n "$(ns $s-sw)" link set "$(ifn ${c}pb)" up || return 1
  start_vswitchd $s-sw $s --port "dev:$(ifn ${c}pa)" --port "dev:$(ifn ${c}pb)" "$@" || return 1
  S_PIDS[$s]="$SW_PID"
  addr_up $s-a "$(ifn ${c}a)" $VM_A/24 1500 && addr_up $s-b "$(ifn ${c}b)" $VM_B/24 1500
}
setup_devvsw() { dev_vswitchd devvsw d --workers 1; }
setup_devw4() { dev_vswitchd devw4 e --workers 4; }

# underlay SETUP CODE: hosts SETUP-h1 and SETUP-h2, a veth between them (MTU 1600:
# room for VXLAN's 50 bytes, so the VMs keep 1500), plus the two VM namespaces.
underlay() {
  local s="$1" c="$2"
  make_ns "$s-h1" && make_ns "$s-h2" && vms "$s" || return 1
  veth "$s-h1" "$(ifn "${c}u1")" "$s-h2" "$(ifn "${c}u2")" 1600 || return 1
  addr_up "$s-h1" "$(ifn "${c}u1")" $UL_1/24 1600 && addr_up "$s-h2" "$(ifn "${c}u2")" $UL_2/24 1600
}

# kernel_host SETUP CODE I VMROLE VMADDR [HERE REMOTE DEV]: on host I, bridge +
# vxlan (VNI 1, port 4789, remote the other host; or from HERE to REMOTE over
# DEV) + a veth to the VM.
kernel_host() {
  local s="$1" c="$2" i="$3" vm="$4" addr="$5" h here remote dev
  h="$s-h$i"
  if [ "$i" = 1 ]; then here=$UL_1; remote=$UL_2; else here=$UL_2; remote=$UL_1; fi
  dev="$(ifn "${c}u$i")"
  if [ "$#" -ge 8 ]; then here="$6"; remote="$7"; dev="$8"; fi
  try ip -n "$(ns "$h")" link add "$(ifn "${c}x$i")" type vxlan id 1 remote "$remote" \
    local "$here" dstport 4789 dev "$dev" || return 1
  try ip -n "$(ns "$h")" link add "$(ifn "${c}br$i")" type bridge || return 1
  veth "$vm" "$(ifn "${c}v$i")" "$h" "$(ifn "${c}p$i")" || return 1
  local p
  for p in "${c}x$i" "${c}p$i"; do
    try ip -n "$(ns "$h")" link set "$(ifn "$p")" master "$(ifn "${c}br$i")" || return 1
    try ip -n "$(ns "$h")" link set "$(ifn "$p")" up || return 1
  done
  try ip -n "$(ns "$h")" link set "$(ifn "${c}br$i")" up || return 1
  addr_up "$vm" "$(ifn "${c}v$i")" "$addr/24" 1500
}

# vswitchd_host SETUP CODE I VMROLE VMADDR [ARGS...]: on host I, vswitchd with a
# TAP into the VM and an uplink to the other host (UPLINK_SUFFIX appended to
# it, e.g. ",key=KEY"), and ARGS. Appends its pid to S_PIDS[SETUP].
vswitchd_host() {
  local s="$1" c="$2" i="$3" vm="$4" addr="$5" h remote t
  shift 5
  h="$s-h$i"; t="$(ifn "${c}t$i")"
  if [ "$i" = 1 ]; then remote=$UL_2; else remote=$UL_1; fi
  start_vswitchd "$h" "$s-h$i" --port "tap:$t" --uplink "$remote:4789${UPLINK_SUFFIX:-}" "$@" || return 1
  S_PIDS[$s]="${S_PIDS[$s]:-}${S_PIDS[$s]:+ }$SW_PID"
  move_to "$h" "$t" "$vm" && addr_up "$vm" "$t" "$addr/24" 1500
}

setup_tunkk() {
  underlay tunkk k || return 1
  kernel_host tunkk k 1 tunkk-a $VM_A && kernel_host tunkk k 2 tunkk-b $VM_B
}

setup_tunvv() {
  underlay tunvv w || return 1
  vswitchd_host tunvv w 1 tunvv-a $VM_A --workers 1 && vswitchd_host tunvv w 2 tunvv-b $VM_B --workers 1
}

setup_tunw2() {
  underlay tunw2 z || return 1
  vswitchd_host tunw2 z 1 tunw2-a $VM_A --workers 2 && vswitchd_host tunw2 z 2 tunw2-b $VM_B --workers 2
}

setup_tunvk() {
  underlay tunvk m || return 1
  # A veth hands the kernel vxlan's datagrams over with the inner checksums
  # still partial (checksum offload that a real NIC would complete on the
  # wire); vswitchd reads them from a UDP socket and cannot know. So h2's
  # underlay end computes checksums in software, as a NIC does. Host side
  # only: the VMs keep their default offloads.
  if [ "${BENCH_VK_UNDERLAY_TX_OFF:-1}" = 1 ]; then
    try ip netns exec "$(ns tunvk-h2)" ethtool -K "$(ifn mu2)" tx off || return 1
  fi
  vswitchd_host tunvk m 1 tunvk-a $VM_A --workers 1 && kernel_host tunvk m 2 tunvk-b $VM_B
}

# ---- encrypted tunnels ----------------------------------------------------------------

# key_file: KEY_FILE=$WORK/sealed.key, mode 0600 (vswitchd refuses a key file
# that group or others can read or write), one line of 64 hex digits (32
# random bytes); the same key on both hosts.
KEY_FILE=""
key_file() {
  local f="$WORK/sealed.key" k
  KEY_FILE=""
  k="$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
  [ "${#k}" -eq 64 ] || { FAIL_WHY="could not read 32 random bytes for the key file"; log "ERROR: $FAIL_WHY"; return 1; }
  (umask 077 && printf '%s\n' "$k" >"$f") || { FAIL_WHY="cannot write $f"; log "ERROR: $FAIL_WHY"; return 1; }
  try chmod 600 "$f" || return 1
  KEY_FILE="$f"
}

setup_encvv() {
  local s=encvv i vm addr
  underlay $s s && key_file || return 1
  for i in 1 2; do
    if [ "$i" = 1 ]; then vm=$s-a; addr=$VM_A; else vm=$s-b; addr=$VM_B; fi
    if ! vswitchd_host $s s "$i" "$vm" "$addr" --key-file "$KEY_FILE"; then
      # A build from before sealed uplinks: say so plainly.
      if grep -qiE "(unrecogni[sz]ed|unknown) option.*key-file" "$WORK/vswitchd-$s-h$i.log" 2>/dev/null; then
        FAIL_WHY="this vswitchd has no --key-file option (no sealed uplinks in this build): $(grep -m1 -iE 'key-file' "$WORK/vswitchd-$s-h$i.log")"
        log "ERROR: $FAIL_WHY"
      fi
      return 1
    fi
  done
}

# setup_encwg: the same two hosts (the underlay at MTU 1700), each with a
# wireguard-go device (userspace WireGuard; 10.213.0.I/24, listening on 51820,
# the other host as its peer) carrying a kernel vxlan device (VNI 1, from and
# to the WireGuard addresses) in a bridge with a veth to its VM: the kernel's
# VXLAN over userspace WireGuard, the second encrypted anchor. The measured
# CPU is both wireguard-go processes.
setup_encwg() {
  local s=encwg c=g i h here remote p k1 k2 vm addr
  command -v wireguard-go >/dev/null && command -v wg >/dev/null ||
    { FAIL_WHY="wireguard-go or wg is not installed (apt-get install wireguard-go wireguard-tools)"; log "ERROR: $FAIL_WHY"; return 1; }
  make_ns "$s-h1" && make_ns "$s-h2" && vms "$s" || return 1
  veth "$s-h1" "$(ifn "${c}u1")" "$s-h2" "$(ifn "${c}u2")" 1700 || return 1
  addr_up "$s-h1" "$(ifn "${c}u1")" $UL_1/24 1700 && addr_up "$s-h2" "$(ifn "${c}u2")" $UL_2/24 1700 || return 1
  (umask 077 && wg genkey >"$WORK/wg1.key" && wg genkey >"$WORK/wg2.key") ||
    { FAIL_WHY="wg genkey failed"; log "ERROR: $FAIL_WHY"; return 1; }
  k1="$(wg pubkey <"$WORK/wg1.key")" && k2="$(wg pubkey <"$WORK/wg2.key")" || return 1
  for i in 1 2; do
    h="$s-h$i"
    if [ "$i" = 1 ]; then here=$UL_1; remote=$UL_2; p="$k2"; else here=$UL_2; remote=$UL_1; p="$k1"; fi
    # (wireguard-go runs on Linux only when told that it is wanted there.)
    WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 ip netns exec "$(ns "$h")" \
      wireguard-go -f "$(ifn "${c}w$i")" >"$WORK/wireguard-go-$h.log" 2>&1 &
    B_PIDS+=($!)
    S_PIDS[$s]="${S_PIDS[$s]:-}${S_PIDS[$s]:+ }$!"
    local _
    for _ in $(seq 50); do
      ip -n "$(ns "$h")" link show "$(ifn "${c}w$i")" >/dev/null 2>&1 && break
      sleep 0.1
    done
    try ip netns exec "$(ns "$h")" wg set "$(ifn "${c}w$i")" private-key "$WORK/wg$i.key" listen-port 51820 \
      peer "$p" endpoint "$remote:51820" allowed-ips 10.213.0.0/24 || return 1
    addr_up "$h" "$(ifn "${c}w$i")" "10.213.0.$i/24" 1620 || return 1
    if [ "$i" = 1 ]; then vm=$s-a; addr=$VM_A; else vm=$s-b; addr=$VM_B; fi
    kernel_host $s $c "$i" "$vm" "$addr" "10.213.0.$i" "10.213.0.$((3 - i))" "$(ifn "${c}w$i")" || return 1
  done
}

# tinc_host SETUP CODE I: tinc 1.0 configuration of host I in $WORK/tinc-SETUP-hI:
# tinc.conf (Name hI, Mode switch, DeviceType tap, Interface <its TAP>,
# ConnectTo the other host; Cipher, Digest, MACLength, Compression and
# PMTUDiscovery at their defaults), a 2048-bit RSA key pair (tincd -K, stdin
# not a terminal: no questions, rsa_key.priv and the public key appended to
# hosts/hI), hosts/hI with Address (its underlay address) and Port 655.
tinc_host() {
  local s="$1" c="$2" i="$3" d other here
  d="$WORK/tinc-$s-h$i"
  if [ "$i" = 1 ]; then other=2; here=$UL_1; else other=1; here=$UL_2; fi
  mkdir -p "$d/hosts" || { FAIL_WHY="cannot create $d/hosts"; return 1; }
  printf 'Name = h%s\nMode = switch\nDeviceType = tap\nInterface = %s\nConnectTo = h%s\nAddressFamily = ipv4\n' \
    "$i" "$(ifn "${c}t$i")" "$other" >"$d/tinc.conf"
  printf 'Address = %s\nPort = 655\n' "$here" >"$d/hosts/h$i"
  try timeout 60 tincd -c "$d" -K2048 </dev/null || return 1
  grep -q 'BEGIN RSA PUBLIC KEY' "$d/hosts/h$i" ||
    { FAIL_WHY="tincd -c $d -K2048 wrote no public key into $d/hosts/h$i"; log "ERROR: $FAIL_WHY"; return 1; }
}

setup_enctinc() {
  local s=enctinc c=c i pid peer t0 ok lo hi pids=() mm=()
  command -v tincd >/dev/null || { FAIL_WHY="tincd is not installed (apt-get install tinc)"; log "ERROR: $FAIL_WHY"; return 1; }
  underlay $s $c || return 1
  tinc_host $s $c 1 && tinc_host $s $c 2 || return 1
  # Exchange the hosts files (address, port, public key).
  try cp "$WORK/tinc-$s-h1/hosts/h1" "$WORK/tinc-$s-h2/hosts/h1" || return 1
  try cp "$WORK/tinc-$s-h2/hosts/h2" "$WORK/tinc-$s-h1/hosts/h2" || return 1
  for i in 1 2; do
    start_tincd "$s-h$i" "$s-h$i" "$WORK/tinc-$s-h$i" "$(ifn "${c}t$i")" || return 1
    S_PIDS[$s]="${S_PIDS[$s]:-}${S_PIDS[$s]:+ }$SW_PID"
    # tincd keeps its /dev/net/tun file descriptor: the TAP can change namespace.
    move_to "$s-h$i" "$(ifn "${c}t$i")" "$s-$([ "$i" = 1 ] && echo a || echo b)" || return 1
  done
  addr_up $s-a "$(ifn ${c}t1)" $VM_A/24 1500 && addr_up $s-b "$(ifn ${c}t2)" $VM_B/24 1500 || return 1
  # Until tinc has discovered the path MTU (probes once a second, after the
  # first packet made it exchange keys), frames larger than what it has seen
  # pass go over its TCP meta connection: measure only once both ends have
  # min = max (<= 20 s; otherwise measured anyway, with a note in the log).
  wait_ping $s-a $VM_B || return 1
  read -r -a pids <<<"${S_PIDS[$s]}"
  t0="$(date +%s)"
  while :; do
    ok=1
    for i in 1 2; do
      pid="${pids[$((i - 1))]}"
      if [ "$i" = 1 ]; then peer=h2; else peer=h1; fi
      if ! kill -0 "$pid" 2>/dev/null; then
        FAIL_WHY="tincd of h$i exited: $(tail -n 3 "$WORK/tinc-$s-h$i.log" | tr '\n' ' ')"
        log "ERROR: $FAIL_WHY"
        return 1
      fi
      mm[i]="$(tinc_pmtu "$pid" "$s-h$i" "$peer")"
      read -r lo hi <<<"${mm[$i]}"
      [ -n "$lo" ] && [ "$lo" -gt 0 ] && [ "$lo" = "$hi" ] || ok=0
    done
    if [ "$ok" = 1 ]; then
      log "tinc: path MTU discovered after $(($(date +%s) - t0)) s (min max: h1 → h2 ${mm[1]}, h2 → h1 ${mm[2]})"
      break
    fi
    if [ $(($(date +%s) - t0)) -ge 20 ]; then
      log "WARNING: tinc: path MTU not discovered within 20 s (min max: h1 → h2 ${mm[1]:-?}, h2 → h1 ${mm[2]:-?}); measured anyway"
      break
    fi
    # A frame now and then, so that it keeps probing.
    in_ns $s-a ping -n -q -c 1 -W 0.5 "$VM_B" >/dev/null 2>&1
    sleep 0.3
  done
}

# ---- hosts that reach each other through a relay (NAT traversal) ------------------------

# identity SETUP HOST: $WORK/SETUP-HOST.id (vswitchd --generate-identity); sets PUB.
PUB=""
identity() {
  local f="$WORK/$1-$2.id"
  rm -f "$f"
  PUB="$("$VSWITCHD" --generate-identity "$f" 2>>"$LOG")" ||
    { FAIL_WHY="vswitchd --generate-identity $f failed (a build without host identities?)"; log "ERROR: $FAIL_WHY"; return 1; }
}

setup_encid() {
  local s=encid i vm addr other pub1 pub2
  underlay $s i || return 1
  identity $s h1 && pub1="$PUB" && identity $s h2 && pub2="$PUB" || return 1
  for i in 1 2; do
    if [ "$i" = 1 ]; then vm=$s-a; addr=$VM_A; other="$pub2"; else vm=$s-b; addr=$VM_B; other="$pub1"; fi
    UPLINK_SUFFIX=",key=$other" vswitchd_host $s i "$i" "$vm" "$addr" --identity "$WORK/$s-h$i.id" || return 1
  done
}

setup_encrelay() {
  local s=encrelay c=r i vm addr pubr pub1 pub2 t
  make_ns $s-h1 && make_ns $s-h2 && make_ns $s-r && vms $s || return 1
  # h1 -- r -- h2, no forwarding on r: h1 and h2 reach r but not each other.
  # MTU 1700: room for the relay's 65 bytes on top of sealing's, so the VMs keep 1500.
  veth $s-h1 "$(ifn ${c}u1)" $s-r "$(ifn ${c}r1)" 1700 && veth $s-h2 "$(ifn ${c}u2)" $s-r "$(ifn ${c}r2)" 1700 || return 1
  addr_up $s-h1 "$(ifn ${c}u1)" 10.213.1.1/24 1700 && addr_up $s-r "$(ifn ${c}r1)" 10.213.1.2/24 1700 || return 1
  addr_up $s-h2 "$(ifn ${c}u2)" 10.213.2.1/24 1700 && addr_up $s-r "$(ifn ${c}r2)" 10.213.2.2/24 1700 || return 1
  identity $s r && pubr="$PUB" && identity $s h1 && pub1="$PUB" && identity $s h2 && pub2="$PUB" || return 1
  printf '%s h1\n%s h2\n' "$pub1" "$pub2" >"$WORK/$s-allowed"
  start_vswitchd $s-r $s-r --identity "$WORK/$s-r.id" --allowed-keys "$WORK/$s-allowed" \
    --listen 0.0.0.0:4789 || return 1
  S_PIDS[$s]="$SW_PID"
  for i in 1 2; do
    t="$(ifn "${c}t$i")"
    if [ "$i" = 1 ]; then vm=$s-a; addr=$VM_A; other="$pub2"; else vm=$s-b; addr=$VM_B; other="$pub1"; fi
    start_vswitchd $s-h$i $s-h$i --port "tap:$t" --identity "$WORK/$s-h$i.id" \
      --uplink "10.213.$i.2:4789,key=$pubr,name=relay" --uplink "key=$other,name=other" || return 1
    S_PIDS[$s]="${S_PIDS[$s]} $SW_PID"
    move_to $s-h$i "$t" "$vm" && addr_up "$vm" "$t" "$addr/24" 1500 || return 1
  done
  wait_ping $s-a $VM_B
}
