#!/usr/bin/env bash
# Two hosts joined by vswitchd uplinks, all on one machine: each "host" is a
# network namespace on a shared veth underlay (10.78.0.1 and 10.78.0.2),
# runs its own vswitchd and has one "VM"
# namespace on a TAP. The VMs (10.79.0.1 and 10.79.0.2) share one Ethernet
# segment through a VXLAN tunnel between the two daemons; with --sealed, a
# sealed tunnel: each host makes its identity (vswitchd --generate-identity)
# and names the other by its public key (--uplink HOST:PORT,key=KEY).
#
#   host1 [vswitchd --port vm1tap --uplink 10.78.0.2:4789] --underlay-- host2 [...]
#     |                                                                    |
#    vm1 10.79.0.1                                                       vm2 10.79.0.2
#
# Run as root on Debian 12:  examples/two-hosts.sh [--sealed]     (cleans up on exit)
set -euo pipefail
cd "$(dirname "$0")/.."
sealed=0
case "${1:-}" in
  "") ;;
  --sealed) sealed=1 ;;
  *) echo "usage: $0 [--sealed]" >&2; exit 2 ;;
esac
[ "$(id -u)" -eq 0 ] || { echo "two-hosts: run as root: sudo $0 $*" >&2; exit 1; }

bash tests/install-deps.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" --target vswitchd vswitchctl >/dev/null
vswitchd="$PWD/build/switchd/vswitchd"
vswitchctl="$PWD/build/switchd/vswitchctl"

tag="th$$"
hosts=("$tag-h1" "$tag-h2")
vms=("$tag-vm1" "$tag-vm2")
logs=()
ctls=()
pids=()
keydir=""

cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  for ns in "${hosts[@]}" "${vms[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -f "${logs[@]}" "${ctls[@]}"
  [ -n "$keydir" ] && rm -rf "$keydir"
}
trap cleanup EXIT
trap 'echo "interrupted; cleaning up"; exit 130' INT TERM

for ns in "${hosts[@]}" "${vms[@]}"; do
  ip netns add "$ns"
  ip -n "$ns" link set lo up
done

echo "== underlay: ${hosts[0]} 10.78.0.1 <-> ${hosts[1]} 10.78.0.2 (MTU 1600: room for VXLAN's 50 bytes, or sealed's 74)"
ip link add "${tag}u1" netns "${hosts[0]}" mtu 1600 type veth peer name "${tag}u2" netns "${hosts[1]}" mtu 1600
ip -n "${hosts[0]}" addr add 10.78.0.1/24 dev "${tag}u1"
ip -n "${hosts[1]}" addr add 10.78.0.2/24 dev "${tag}u2"
ip -n "${hosts[0]}" link set "${tag}u1" up
ip -n "${hosts[1]}" link set "${tag}u2" up

pub=()
if [ "$sealed" -eq 1 ]; then
  keydir="$(mktemp -d /tmp/vswitchd-two-hosts.XXXXXX)"
  for i in 0 1; do
    # The private key stays in the file (mode 0600); the public key is printed.
    pub[$i]="$("$vswitchd" --generate-identity "$keydir/h$((i + 1)).identity")"
    echo "== sealed: ${hosts[$i]}'s identity in $keydir/h$((i + 1)).identity, public key ${pub[$i]}"
  done
fi

for i in 0 1; do
  host="${hosts[$i]}"; vm="${vms[$i]}"; tap="${tag}t$((i + 1))"
  peer="10.78.0.$((2 - i))"
  key_args=(); peer_opts=""
  if [ "$sealed" -eq 1 ]; then
    key_args=(--identity "$keydir/h$((i + 1)).identity")
    peer_opts=",key=${pub[$((1 - i))]}"
  fi
  log="$(mktemp /tmp/vswitchd-two-hosts.XXXXXX.log)"; logs+=("$log")
  ctl="${log%.log}.ctl"; ctls+=("$ctl")   # one control socket per daemon
  echo "== ${host}: vswitchd --port ${tap} --uplink ${peer}:4789${peer_opts} ${key_args[*]} --control $ctl"
  ip netns exec "$host" "$vswitchd" --port "$tap" --uplink "$peer:4789$peer_opts" "${key_args[@]}" \
    --control "$ctl" 2>"$log" &
  pids+=($!)
  for _ in $(seq 50); do grep -q "vswitchd ready" "$log" && break; sleep 0.1; done
  grep -q "vswitchd ready" "$log" || { cat "$log"; exit 1; }
  ip -n "$host" link set "$tap" netns "$vm"
  ip -n "$vm" addr add "10.79.0.$((i + 1))/24" dev "$tap"
  ip -n "$vm" link set "$tap" up
done

if [ "$sealed" -eq 1 ]; then
  # A sealed peer is down until the handshake (one round trip once both run).
  for log in "${logs[@]}"; do
    for _ in $(seq 50); do grep -q "peer .*: up" "$log" && break; sleep 0.1; done
    grep -q "peer .*: up" "$log" || { cat "$log"; exit 1; }
  done
  grep -h "peer .*: up" "${logs[@]}" | sed 's/^[0-9-]* [0-9:.]* info: /   /'
fi

echo "== ${vms[0]} -> ${vms[1]} across the tunnel"
ip netns exec "${vms[0]}" ping -c 3 -i 0.2 -W 2 10.79.0.2
echo "== ${vms[1]} -> ${vms[0]}, full-size frames"
ip netns exec "${vms[1]}" ping -c 3 -i 0.2 -W 2 -s 1472 -M do 10.79.0.1

for i in 0 1; do
  echo "== ${hosts[$i]}: vswitchctl --control ${ctls[$i]} show"
  "$vswitchctl" --control "${ctls[$i]}" show | sed 's/^/   /'
done
