#!/usr/bin/env bash
# Formats Tyr's C++ sources with the tree's .clang-format (clang-format 14, installed by
# scripts/setup.sh). `--check` changes nothing and fails, naming the files, when one is not
# formatted; the test suite runs it ("format: sources follow .clang-format").
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
CF=${CLANG_FORMAT:-clang-format-14}
# Tracked files, and new ones git does not ignore.
mapfile -t files < <(git ls-files --cached --others --exclude-standard 'engine/*.[ch]pp' 'rules/*.[ch]pp' 'plugins/*.[ch]pp' \
  'cli/*.[ch]pp' 'tests/*.[ch]pp' | grep -v '/fixtures/')
if [ "${1:-}" = "--check" ]; then
  bad=()
  for f in "${files[@]}"; do
    if ! "$CF" --dry-run -Werror "$f" >/dev/null 2>&1; then bad+=("$f"); fi
  done
  if [ ${#bad[@]} -gt 0 ]; then
    printf 'not formatted (run scripts/format.sh): %s\n' "${bad[@]}" >&2
    exit 1
  fi
  echo "${#files[@]} files follow .clang-format"
else
  "$CF" -i "${files[@]}"
fi
