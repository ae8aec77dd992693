#!/usr/bin/env bash
# Configures and builds Tyr into build/. Warnings are errors under CI.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WERROR=OFF
if [ -n "${CI:-}" ]; then WERROR=ON; fi
cmake -S "$ROOT" -B "$ROOT/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTYR_WERROR="$WERROR" >/dev/null
cmake --build "$ROOT/build" -j "$(nproc)"
