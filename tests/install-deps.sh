#!/usr/bin/env bash
# Installs the Debian 12 packages vswitchd needs, only those missing.
#   tests/install-deps.sh build   to build and run the daemon
#   tests/install-deps.sh test    to build and run the whole test suite
set -euo pipefail

build=(build-essential cmake libboost-dev libboost-program-options-dev libspdlog-dev nlohmann-json3-dev
       libsodium-dev libssl-dev liburing-dev pkg-config iproute2 iputils-ping)
test=("${build[@]}" curl libgtest-dev libgmock-dev iperf3 ethtool tcpdump procps psmisc python3 python3-nacl python3-scapy
      util-linux qemu-system-x86 busybox-static cpio kmod clang libclang-rt-14-dev nftables)

case "${1:-}" in
  build) wanted=("${build[@]}") ;;
  test) wanted=("${test[@]}") ;;
  *) echo "usage: $0 build|test" >&2; exit 2 ;;
esac

missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "$0: missing packages: ${missing[*]}" >&2
  echo "$0: run as root, or: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
