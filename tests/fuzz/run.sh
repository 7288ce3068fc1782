#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/CMakeLists.txt, clang, in
# build-fuzz/) and runs each for SECONDS (default 30) on a copy of its seed
# corpus (tests/fuzz/corpus/<target>/ is never changed), with the dictionary
# tests/fuzz/<target>.dict where there is one. Stops at the first
# crash, leak, timeout or failed invariant with a non-zero exit and the path
# of the reproducer; otherwise prints one line per target:
#   FUZZ <target>: <execs> executions in <S> s (<execs/s>/s), no crash
# Without clang or libFuzzer it says SKIPPED and exits 0.
#
#   tests/fuzz/run.sh [SECONDS]
#   FUZZ_TARGETS="sealed_open tcp_mss" tests/fuzz/run.sh 60    only these
#
# Reproduce a crash: build-fuzz/<target> <reproducer>; minimise it:
#   build-fuzz/<target> -minimize_crash=1 -runs=10000 <reproducer>
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-30}"
case "$seconds" in
  ''|*[!0-9]*|0) echo "tests/fuzz/run.sh: SECONDS must be a whole number above 0, not '$seconds'" >&2; exit 2 ;;
esac
all_targets=(frame_forward vxlan_decap sealed_open vnet_segment stream_reassembly control_request config_parse tcp_mss)
read -r -a targets <<< "${FUZZ_TARGETS:-${all_targets[*]}}"

skip() {
  echo "##########################################################################"
  echo "## FUZZ SKIPPED: $*"
  echo "## (apt-get install clang libclang-rt-14-dev, or: tests/install-deps.sh test)"
  echo "##########################################################################"
  exit 0
}

echo "== fuzzing: ${targets[*]} (${seconds} s each)"
command -v clang++ >/dev/null || skip "clang++ not found"
probe="$(mktemp -d)"
trap 'rm -rf "$probe"' EXIT
printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' > "$probe/probe.cpp"
clang++ -fsanitize=fuzzer,address,undefined "$probe/probe.cpp" -o "$probe/probe" 2>/dev/null ||
  skip "clang++ cannot link -fsanitize=fuzzer,address,undefined (libFuzzer missing)"

if ! { cmake -S tests/fuzz -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ &&
        cmake --build build-fuzz -j "$(nproc)"; } >"$probe/build.log" 2>&1; then
  cat "$probe/build.log"
  echo "tests/fuzz/run.sh: building the fuzz targets failed (above)" >&2
  exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$probe" "$work"' EXIT
crashes="build-fuzz/crashes"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"
for t in "${targets[@]}"; do
  [ -x "build-fuzz/$t" ] || { echo "tests/fuzz/run.sh: no target '$t'; the targets are ${all_targets[*]}" >&2; exit 2; }
  mkdir -p "$work/$t/corpus" "$crashes/$t"
  cp -r "tests/fuzz/corpus/$t/." "$work/$t/corpus/"
  log="$work/$t/log"
  dict=()
  [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  start=$SECONDS
  if ! "build-fuzz/$t" -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 -timeout=10 \
       "${dict[@]}" -artifact_prefix="$crashes/$t/" "$work/$t/corpus" >"$log" 2>&1; then
    tail -n 60 "$log"
    reproducer="$(grep -o "Test unit written to .*" "$log" | tail -n 1 | sed 's/Test unit written to //')"
    echo "##########################################################################"
    echo "## FUZZ $t: CRASH after $((SECONDS - start)) s"
    echo "## reproducer: ${reproducer:-(none written; see the log above)}"
    echo "## reproduce:  build-fuzz/$t ${reproducer:-}"
    echo "## minimise:   build-fuzz/$t -minimize_crash=1 -runs=10000 ${reproducer:-}"
    echo "##########################################################################"
    exit 1
  fi
  elapsed=$((SECONDS - start))
  execs="$(awk '/stat::number_of_executed_units:/ {print $2}' "$log")"
  rate="$(awk '/stat::average_exec_per_sec:/ {print $2}' "$log")"
  echo "FUZZ $t: ${execs:-?} executions in ${elapsed} s (${rate:-?}/s), no crash"
done
