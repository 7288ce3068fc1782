#!/usr/bin/env bash
# Quick start: builds vswitchd, makes two network namespaces ("VMs"), starts
# vswitchd with one TAP into each, pings across, prints what the switch
# learned and its counters, and cleans everything up on exit (Ctrl-C too).
# Run as root on Debian 12:   examples/quickstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "quickstart: run as root (it creates TAPs and namespaces): sudo $0" >&2
  exit 1
fi

echo "== installing build dependencies (if missing)"
bash tests/install-deps.sh build
echo "== building"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" --target vswitchd vswitchctl
vswitchd=build/switchd/vswitchd
vswitchctl=build/switchd/vswitchctl

# Names unique to this run, so two quick starts never collide.
tag="qs$$"
ns_a="${tag}-a"; ns_b="${tag}-b"
tap_a="${tag}a"; tap_b="${tag}b"
log="$(mktemp /tmp/vswitchd-quickstart.XXXXXX.log)"
ctl="${log%.log}.ctl"   # its own control socket: another vswitchd may own the default
pid=""

cleanup() {
  trap - EXIT INT TERM
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  ip netns del "$ns_a" 2>/dev/null || true
  ip netns del "$ns_b" 2>/dev/null || true
  rm -f "$log" "$ctl"
}
trap cleanup EXIT
trap 'echo; echo "interrupted; cleaning up"; exit 130' INT TERM

echo "== starting: vswitchd --port $tap_a --port $tap_b --control $ctl"
"$vswitchd" --port "$tap_a" --port "$tap_b" --control "$ctl" 2>"$log" &
pid=$!
for _ in $(seq 50); do
  grep -q "vswitchd ready" "$log" && break
  kill -0 "$pid" 2>/dev/null || { cat "$log"; echo "quickstart: vswitchd did not start" >&2; exit 1; }
  sleep 0.1
done
grep -q "vswitchd ready" "$log" || { cat "$log"; echo "quickstart: vswitchd not ready after 5 s" >&2; exit 1; }

echo "== two namespaces, each with one of the switch's TAPs: 10.77.0.1 and 10.77.0.2"
for side in a b; do
  ns="${tag}-${side}"; tap="${tag}${side}"
  ip netns add "$ns"
  ip link set "$tap" netns "$ns"
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "10.77.0.$([ "$side" = a ] && echo 1 || echo 2)/24" dev "$tap"
  ip -n "$ns" link set "$tap" up
done

echo "== ping from $ns_a to $ns_b"
ip netns exec "$ns_a" ping -c 3 -i 0.2 -W 2 10.77.0.2
echo "== ping from $ns_b to $ns_a"
ip netns exec "$ns_b" ping -c 3 -i 0.2 -W 2 10.77.0.1

echo "== what the switch sees: vswitchctl --control $ctl show"
echo "   (${ns_a} has MAC $(ip -n "$ns_a" -br link show "$tap_a" | awk '{print $3}'), ${ns_b} has $(ip -n "$ns_b" -br link show "$tap_b" | awk '{print $3}'))"
"$vswitchctl" --control "$ctl" show | sed 's/^/   /'
echo "== the MAC table: vswitchctl --control $ctl fdb show"
"$vswitchctl" --control "$ctl" fdb show | sed 's/^/   /'
echo "   (a port_down drop or two is normal here: frames flooded before the other"
echo "    namespace had brought its end of the TAP up; see vswitchctl stats)"
echo "== done; stopping vswitchd and removing the namespaces"
