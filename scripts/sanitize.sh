#!/usr/bin/env bash
# The unit tests under AddressSanitizer (+LeakSanitizer) and UndefinedBehaviorSanitizer, from
# one clang build in build-san/ that also holds the libFuzzer targets (scripts/fuzz.sh), so CI
# compiles the project only once more. The e2e tests and the tyr binary are not built here.
#
#   bash scripts/sanitize.sh                # configure, build, run the unit tests
#   bash scripts/sanitize.sh --build-only   # configure and build (scripts/fuzz.sh uses this)
#   bash scripts/sanitize.sh -R policy      # extra ctest arguments: only these unit tests
#
# ccache is used when present (local rebuilds); CCACHE_DISABLE=1 measures a cold build.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${TYR_SAN_BUILD:-$ROOT/build-san}  # another directory: e.g. to time a cold build
CXX_BIN=${TYR_SAN_CXX:-clang++-14}

build_only=0
if [ "${1:-}" = "--build-only" ]; then
  build_only=1
  shift
fi

# Where the sanitizers write their reports, and what counts as a failure: any UB (the build
# has -fno-sanitize-recover=undefined), any ASan error, any leak at exit.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if command -v llvm-symbolizer-14 >/dev/null; then
  export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-$(command -v llvm-symbolizer-14)}
fi

start=$(date +%s)
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
# -O1 -g without NDEBUG: fast enough to fuzz, readable stacks, assertions kept.
cmake -S "$ROOT" -B "$BUILD" -G Ninja \
  -DCMAKE_CXX_COMPILER="$CXX_BIN" "${launcher[@]}" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
  -DTYR_SANITIZE=ON -DTYR_FUZZ=ON -DTYR_BUILD_TESTS=ON >/dev/null
cmake --build "$BUILD" -j "$(nproc)" --target tyr_unit_tests tyr_fuzzers
t_build=$(date +%s)
echo "sanitize: build-san built in $((t_build - start)) s"
if [ "$build_only" = 1 ]; then exit 0; fi

log="$BUILD/unit-tests.log"
# One process per test case (as in build/): a sanitizer report aborts only its own test, so one
# run lists every failing test.
set +e
(cd "$BUILD" && ctest -L unit -j "$(nproc)" --timeout 300 --output-on-failure "$@") >"$log" 2>&1
status=$?
set -e
t_run=$(date +%s)
summary=$(grep -E "tests passed, [0-9]+ tests? failed out of [0-9]+" "$log" | tail -n 1 || true)
if [ "$status" -ne 0 ]; then
  # The failing tests and the first sanitizer reports, not the whole (long) log.
  sed -n '/The following tests FAILED:/,$p' "$log" | head -n 40
  grep -E -A25 "ERROR: (Address|Leak)Sanitizer|runtime error:" "$log" | head -n 80 || true
  echo "sanitize: unit tests under ASan+UBSan FAILED in $((t_run - t_build)) s:" \
    "${summary:-no summary}; full log: $log"
  exit 1
fi
echo "sanitize: unit tests under ASan+UBSan passed in $((t_run - t_build)) s: $summary"
