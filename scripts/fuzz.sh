#!/usr/bin/env bash
# Runs every libFuzzer target (those tests/fuzz/CMakeLists.txt registers) for SECONDS each
# (default 60), one after the other, each on a scratch copy of its committed corpus and with its
# dictionary (tests/fuzz/<target>.dict) when there is one: new interesting inputs stay in
# build-san/fuzz/<target>/corpus, never in the repo. Builds build-san first if needed (through
# scripts/sanitize.sh --build-only).
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Prints per target the executions, exec/s and the outcome. Exits non-zero when any target
# crashed, hung (-timeout=5), leaked, ran out of memory (-rss_limit_mb=2048) or hit UB, after
# printing the reproducer's path; rerun it with build-san/tests/fuzz/<target> <reproducer>.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${TYR_SAN_BUILD:-$ROOT/build-san}  # another directory: e.g. to time a cold build
SECONDS_PER_TARGET=${1:-60}
shift || true

bash "$ROOT/scripts/sanitize.sh" --build-only

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  # Every target tests/fuzz/CMakeLists.txt registers.
  mapfile -t targets < "$BUILD/tests/fuzz/fuzz_targets.txt"
fi

# The same sanitizer settings as the unit tests; libFuzzer turns each report into a failure.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:malloc_context_size=10}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if command -v llvm-symbolizer-14 >/dev/null; then
  export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-$(command -v llvm-symbolizer-14)}
fi

failed=0
report=()
for t in "${targets[@]}"; do
  bin="$BUILD/tests/fuzz/$t"
  seeds="$ROOT/tests/fuzz/corpus/$t"
  work="$BUILD/fuzz/$t"
  if [ ! -x "$bin" ] || [ ! -d "$seeds" ]; then
    echo "fuzz: $t: no binary ($bin) or no seed corpus ($seeds)" >&2
    exit 2
  fi
  mkdir -p "$work/corpus" "$work/artifacts"
  cp -R "$seeds/." "$work/corpus/"
  log="$work/last-run.log"
  echo "fuzz: $t for ${SECONDS_PER_TARGET} s"
  set +e
  dict=()
  if [ -f "$ROOT/tests/fuzz/$t.dict" ]; then dict=(-dict="$ROOT/tests/fuzz/$t.dict"); fi
  "$bin" -max_total_time="$SECONDS_PER_TARGET" -timeout=5 -rss_limit_mb=2048 "${dict[@]}" \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$work/corpus" >"$log" 2>&1
  status=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  corpus=$(find "$work/corpus" -type f | wc -l)
  if [ "$status" -eq 0 ]; then
    outcome="nothing found"
  else
    failed=1
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    kind=$(grep -o -m 1 -E "ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer): [a-z-]+|runtime error: .*|fuzz_[a-z_]+: .*" "$log" || true)
    grep -E -A30 "==ERROR|runtime error:|ALARM|^fuzz_" "$log" | head -n 60 >&2 || true
    outcome="FOUND (exit $status) ${kind:-see $log}; reproducer: ${artifact:-none written, see $log}"
  fi
  report+=("$(printf '%-18s %10s execs %7s exec/s  corpus %4s  %s' "$t" "${execs:-?}" "${rate:-?}" "$corpus" "$outcome")")
done

echo "fuzz: ${SECONDS_PER_TARGET} s per target"
printf '  %s\n' "${report[@]}"
if [ "$failed" -ne 0 ]; then
  echo "fuzz: FAILED: rerun a reproducer with build-san/tests/fuzz/<target> <file>"
  exit 1
fi
