#!/usr/bin/env bash
# The whole test suite: installs what is needed, then
#   1. builds (warnings are errors) and runs every test,
#   2. builds with AddressSanitizer + UndefinedBehaviorSanitizer and runs every test again,
#   3. builds the libFuzzer targets with clang and runs each briefly.
# `--quick` runs step 1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
[ "${1:-}" = "--quick" ] && quick=1

bash scripts/install-deps.sh

run_suite() {
  local preset="$1"
  echo "== build ($preset)"
  bash scripts/build.sh "$preset"
  echo "== test ($preset)"
  ctest --preset "$preset"
}

run_suite default
[ "$quick" = 1 ] && exit 0

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
run_suite sanitize
unset ASAN_OPTIONS UBSAN_OPTIONS

echo "== fuzz (libFuzzer, ${FUZZ_SECONDS:-20}s per target)"
bash scripts/build.sh fuzz
for target in build/fuzz/fuzz/fuzz_*; do
  [ -x "$target" ] || continue
  name=$(basename "$target")
  corpus="fuzz/corpus/${name#fuzz_}"
  work=$(mktemp -d)
  cp -r "$corpus"/. "$work"/ 2>/dev/null || true
  "$target" -max_total_time="${FUZZ_SECONDS:-20}" -print_final_stats=0 "$work" >"$work.log" 2>&1 || {
    tail -50 "$work.log"; echo "fuzz target $name failed"; exit 1; }
  echo "$name: $(grep -c . "$work.log" >/dev/null; ls "$work" | wc -l) corpus entries, no crash"
  rm -rf "$work" "$work.log"
done
echo "all suites passed"
