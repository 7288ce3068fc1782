#!/usr/bin/env bash
# Builds vswitchd and runs the whole test suite with ctest: unit tests and the
# daemon's wiring tests (also under AddressSanitizer + UndefinedBehaviorSanitizer,
# and the daemon's under ThreadSanitizer), then the integration tests (each
# also with --workers 4) on real TAPs, veths, namespaces and the kernel's
# vxlan. Installs what it needs with apt-get on Debian 12 (run as root; the
# integration tests skip, loudly, without root or /dev/net/tun).
#
#   tests/run.sh            everything
#   tests/run.sh unit       unit and wiring tests only (also the ASan/UBSan build)
#   tests/run.sh integration
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"

bash tests/install-deps.sh test

jobs="$(nproc)"
status=0

if [ "$what" = all ] || [ "$what" = unit ]; then
  echo "== unit and wiring tests under ASan+UBSan"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DVSWITCHD_SANITIZE=ON >/dev/null
  cmake --build build-asan -j "$jobs"
  ctest --test-dir build-asan -L unit --output-on-failure -j "$jobs" || status=1
  if [ "$what" = all ]; then
    echo "== stress test against the ASan+UBSan daemon (the default threads, one thread, four workers)"
    ctest --test-dir build-asan -L stress --output-on-failure || status=1
  fi
  echo "== the data-path workers under ThreadSanitizer"
  cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVSWITCHD_TSAN=ON >/dev/null
  cmake --build build-tsan -j "$jobs" --target switchd_tests vswitchd vswitchctl
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" build-tsan/tests/switchd/switchd_tests \
    --gtest_brief=1 || status=1
  if [ "$what" = all ]; then
    echo "== stress test against the ThreadSanitizer daemon, --workers 4"
    ctest --test-dir build-tsan -L stress -R 'workers4' --output-on-failure || status=1
  fi
  bash tests/fuzz/run.sh "${FUZZ_SECONDS:-30}" || status=1
fi

echo "== build (Release)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$jobs"

case "$what" in
  all) echo "== all tests"; ctest --test-dir build --output-on-failure || status=1 ;;
  unit) ctest --test-dir build -L unit --output-on-failure -j "$jobs" || status=1 ;;
  integration) ctest --test-dir build -L integration --output-on-failure || status=1 ;;
  *) echo "tests/run.sh: unknown argument '$what'; use all, unit or integration" >&2; exit 2 ;;
esac
# The figures the integration tests measured (iperf3 rates).
grep -h '^RESULT' build/Testing/Temporary/LastTest.log 2>/dev/null || true
exit "$status"
