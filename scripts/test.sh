#!/usr/bin/env bash
# The README's test command: set up; run the unit tests under ASan/UBSan and every fuzz target
# briefly (one extra clang build, build-san/); then build, and run every test (unit and
# end-to-end against a real Synapse and a real Dendrite). The last lines are ctest's summary.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
start=$(date +%s)
TYR_REQUIRE_DENDRITE=1 bash "$ROOT/scripts/setup.sh"
t_setup=$(date +%s)
bash "$ROOT/scripts/sanitize.sh"
bash "$ROOT/scripts/fuzz.sh" "${TYR_CI_FUZZ_SECONDS:-15}"
t_hardening=$(date +%s)
bash "$ROOT/scripts/build.sh"
t_build=$(date +%s)
echo "setup $((t_setup - start)) s, sanitizers and fuzzing $((t_hardening - t_setup)) s," \
  "build $((t_build - t_hardening)) s"
cd "$ROOT/build"
export TYR_SYNAPSE_PYTHON="$ROOT/.venv/bin/python"
exec ctest --output-on-failure -j "$(nproc)" "$@"
