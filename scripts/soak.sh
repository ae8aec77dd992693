#!/usr/bin/env bash
# Load-and-faults soak of Tyr against a throwaway Synapse on loopback (not part of ctest).
#
#   scripts/soak.sh [DURATION_SECONDS] [RATE_EVENTS_PER_SECOND] [soak.py options...]
#
# Defaults: 180 s at 20 events/s. Everything runs in a fresh /tmp/tyr-soak-* directory, which
# is kept (logs, soak-summary.json, sends.jsonl). Exit status 0 = PASS, 1 = FAIL, other = the
# soak could not run. The driver is scripts/soak.py; docs/soak.md explains what it measures.
# Needs a built build/cli/tyr and the venv (.venv) that scripts/setup.sh creates.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=${1:-180}
RATE=${2:-20}
[[ $# -gt 0 ]] && shift
[[ $# -gt 0 ]] && shift
if ! [[ $DURATION =~ ^[0-9]+$ ]] || ! [[ $RATE =~ ^[0-9]+([.][0-9]+)?$ ]]; then
  echo "usage: $0 [DURATION_SECONDS] [RATE_EVENTS_PER_SECOND] [soak.py options...]" >&2
  exit 2
fi
PY=${TYR_SOAK_PYTHON:-$ROOT/.venv/bin/python}
TYR=${TYR_BINARY:-$ROOT/build/cli/tyr}
[[ -x $PY ]] || { echo "soak: no python at $PY (run scripts/setup.sh)" >&2; exit 2; }
[[ -x $TYR ]] || { echo "soak: no tyr binary at $TYR (build it first)" >&2; exit 2; }

DIR=$(mktemp -d /tmp/tyr-soak-XXXXXX)

# The driver stops its processes itself (atexit, Ctrl-C, SIGTERM). If it is killed outright,
# this stops whatever it left: the pids it recorded, checked against their command lines so
# a recycled pid is never hit. Each child leads its own process group.
cleanup() {
  local f pid
  for f in "$DIR"/*.pid; do
    [[ -f $f ]] || continue
    pid=$(<"$f")
    [[ $pid =~ ^[0-9]+$ ]] || continue
    if [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$DIR"; then
      echo "soak.sh: stopping leftover pid $pid ($(basename "$f" .pid))" >&2
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
      sleep 5
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
    fi
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# Hard bound: the load, 180 s of drain, setup and verification; the driver has its own
# watchdog below this one. --foreground keeps the driver in this process group, so Ctrl-C
# reaches it (it then stops Synapse and Tyr itself).
LIMIT=$((DURATION + 900))
rc=0
timeout --foreground -s INT -k 60 "$LIMIT" "$PY" "$ROOT/scripts/soak.py" --dir "$DIR" --duration "$DURATION" \
  --rate "$RATE" --tyr "$TYR" "$@" || rc=$?
echo "soak.sh: exit $rc; results in $DIR (soak-summary.json, sends.jsonl, tyr.log, synapse/)"
exit "$rc"
