#!/usr/bin/env bash
# The README's run command: set up, build, and run Tyr. With no config (no --config and no
# ./tyr.yaml) Tyr starts a throwaway local Synapse sandbox and moderates it.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$ROOT/scripts/setup.sh"
bash "$ROOT/scripts/build.sh"
export TYR_SYNAPSE_PYTHON="$ROOT/.venv/bin/python"
exec "$ROOT/build/cli/tyr" run "$@"
