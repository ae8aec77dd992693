#!/usr/bin/env bash
# The performance figures of policy lists in one command (docs/performance.md).
#
#   scripts/bench.sh BUILD_DIR [WORK_DIR]
#
# Needs, built in BUILD_DIR: tyr, tyr_policy_load_bench (and tyr_rules_bench for the last
# line, skipped when absent):
#   ninja -C BUILD_DIR tyr tyr_policy_load_bench tyr_rules_bench
# Writes the workload once into WORK_DIR (default /tmp/tyr-bench; scripts/gen_policy_workload.py,
# fixed seed: 10^5 rules, 2*10^5 events) and prints each figure and its ratio to the floor, a
# simdjson parse of the same list file, so that figures taken on different days or machines
# compare.
set -euo pipefail

BUILD=${1:?usage: scripts/bench.sh BUILD_DIR [WORK_DIR]}
WORK=${2:-/tmp/tyr-bench}
HERE=$(cd "$(dirname "$0")" && pwd)
TYR="$BUILD/cli/tyr"
LOAD_BENCH="$BUILD/tests/tyr_policy_load_bench"
RULES_BENCH="$BUILD/tests/tyr_rules_bench"
for bin in "$TYR" "$LOAD_BENCH"; do
  [[ -x "$bin" ]] || { echo "missing $bin (ninja -C $BUILD tyr tyr_policy_load_bench)" >&2; exit 2; }
done
[[ -x /usr/bin/time ]] || { echo "missing /usr/bin/time (apt-get install time)" >&2; exit 2; }

if [[ ! -s "$WORK/list.json" || ! -s "$WORK/events.jsonl" ]]; then
  python3 "$HERE/gen_policy_workload.py" "$WORK"
fi
LIST="$WORK/list.json"
EVENTS="$WORK/events.jsonl"
N_EVENTS=$(wc -l < "$EVENTS")

echo "command: scripts/bench.sh $*"
echo "list: $LIST ($(wc -c < "$LIST") bytes), events: $EVENTS ($N_EVENTS events)"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

# Best of 3 runs of a command under /usr/bin/time: "seconds peak_kib".
best_time() {
  local best="" line
  for _ in 1 2 3; do
    line=$(/usr/bin/time -f "%e %M" "$@" 2>&1 >/dev/null | tail -1)
    if [[ -z "$best" ]] || awk -v a="${line% *}" -v b="${best% *}" 'BEGIN{exit !(a < b)}'; then
      best=$line
    fi
  done
  echo "$best"
}

bench_out=$("$LOAD_BENCH" "$LIST" "$EVENTS")
get() { awk -v k="$1" '$1 == k {print $2}' <<<"$bench_out"; }
FLOOR_MS=$(get floor_ms)

read -r LOAD_S LOAD_KIB < <(best_time "$TYR" check --list "$LIST" "$WORK/events_1.jsonl")
read -r FULL_S _ < <(best_time "$TYR" check --list "$LIST" "$EVENTS")

awk -v floor="$FLOOR_MS" -v load_s="$LOAD_S" -v kib="$LOAD_KIB" -v full_s="$FULL_S" \
    -v n="$N_EVENTS" -v bytes="$(wc -c < "$LIST")" -v rules="$(get rules)" \
    -v in_ms="$(get load_ms)" -v bpr="$(get index_bytes_per_rule)" -v cps="$(get checks_per_s)" '
BEGIN {
  floor_s = floor / 1000
  floor_rate = bytes / floor_s  # bytes/s of the floor; rules/s = floor_rate / (bytes / rules)
  printf "%-44s %14s %s\n", "figure", "value", "ratio to the floor"
  printf "%-44s %11.1f ms %s\n", "floor: simdjson parse of list.json", floor, "1"
  printf "%-44s %11.0f ms %.1fx the floor\n", "tyr check --list, load only (whole process)", \
    load_s * 1000, load_s / floor_s
  printf "%-44s %11.1f ms %.1fx the floor\n", "load in process (stream + index)", in_ms, \
    in_ms / floor
  printf "%-44s %10.0f MiB %.1fx the list file\n", "peak RSS, tyr check --list (load only)", \
    kib / 1024, kib * 1024 / bytes
  printf "%-44s %12.0f B %.2fx the list bytes per rule\n", "index per rule (" rules " rules)", \
    bpr, bpr / (bytes / rules)
  printf "%-44s %11.2f M/s %.2fx the rules/s of the floor\n", \
    "match_user checks, one thread", cps / 1e6, cps / (floor_rate / (bytes / rules))
  ev = (full_s > load_s) ? n / (full_s - load_s) : 0
  printf "%-44s %11.2f M/s %.2fx the rules/s of the floor\n", "tyr check --list events after load", \
    ev / 1e6, ev / (floor_rate / (bytes / rules))
}'
echo "load in process, of which: streaming into the list $(get read_ms) ms, index build $(get index_ms) ms"
echo "hits: $(get hits) (match_user senders); heap allocations per check: $(get allocations_per_check)"

# The rule engine's scoring throughput (its own corpus; see tests/bench/rules_bench.cpp).
if [[ -x "$RULES_BENCH" ]]; then
  rules_out=$(cd "$HERE/.." && "$RULES_BENCH" 2>/dev/null || true)
  score=$(awk '/^parse \+ score:/ {print $4; exit}' <<<"$rules_out")
  if [[ -n "$score" ]]; then
    awk -v eps="$score" -v floor="$FLOOR_MS" -v bytes="$(wc -c < "$LIST")" -v rules="$(get rules)" \
      'BEGIN { printf "%-44s %11.3f M/s %.3fx the rules/s of the floor\n",
               "rules bench: parse + score, one thread", eps / 1e6,
               eps / ((bytes / (floor / 1000)) / (bytes / rules)) }'
  fi
else
  echo "rules bench: not built (ninja -C $BUILD tyr_rules_bench)"
fi
