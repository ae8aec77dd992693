#!/usr/bin/env bash
# Builds the Debian package of Tyr (docs/install.md) from a configured build directory and prints
# the .deb's path as the only line on stdout; CPack's progress goes to stderr.
#
#   bash scripts/package.sh                       # build/ (scripts/build.sh) -> build/tyr_*.deb
#   bash scripts/package.sh BUILD_DIR [OUT_DIR]   # another build directory or output directory
#   bash scripts/package.sh --no-build ...        # package the tyr binary as it is (ctest uses it)
#
# Without --no-build the tyr target is brought up to date first (nothing else: `package` does not
# need the tests), so the package never holds a binary older than the sources.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

build=1
if [ "${1:-}" = "--no-build" ]; then
  build=0
  shift
fi
BUILD=$(realpath -m "${1:-$ROOT/build}")
OUT=$(realpath -m "${2:-$BUILD}")

fail() {
  echo "package.sh: $*" >&2
  exit 1
}

[ -f "$BUILD/CPackConfig.cmake" ] ||
  fail "$BUILD is not a configured build directory (no CPackConfig.cmake); run scripts/build.sh" \
    "or: cmake -S $ROOT -B $BUILD -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo"
command -v cpack >/dev/null || fail "cpack not found; install cmake (scripts/setup.sh)"
command -v dpkg-shlibdeps >/dev/null ||
  fail "dpkg-shlibdeps not found: it computes the package's dependencies; install dpkg-dev" \
    "(scripts/setup.sh)"

if [ "$build" = 1 ]; then
  cmake --build "$BUILD" --target tyr >&2
elif [ ! -x "$BUILD/cli/tyr" ]; then
  fail "$BUILD/cli/tyr does not exist; build it first: cmake --build $BUILD --target tyr"
fi

mkdir -p "$OUT"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# cpack resolves the build directory's install scripts from its working directory.
if ! (cd "$BUILD" && cpack --config "$BUILD/CPackConfig.cmake" -G DEB -B "$OUT") >"$log" 2>&1; then
  cat "$log" >&2
  fail "cpack failed (output above)"
fi
cat "$log" >&2
deb=$(sed -n 's/^CPack: - package: \(.*\.deb\) generated\.$/\1/p' "$log" | tail -n 1)
[ -n "$deb" ] && [ -f "$deb" ] || fail "cpack reported no .deb (output above)"
echo "$deb"
