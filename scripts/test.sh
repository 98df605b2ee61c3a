#!/usr/bin/env bash
# The whole test suite: installs what is needed, then
#   1. builds (warnings are errors) and runs every test,
#   2. builds with AddressSanitizer + UndefinedBehaviorSanitizer and runs every test again,
#   3. builds the libFuzzer targets with clang and runs each briefly.
# Between 1 and 2, every benchmark runs once as a smoke run (bench/run --quick on the step-1 build:
# figures printed, no thresholds; a benchmark that cannot run fails the suite).
# `--quick` runs step 1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
[ "${1:-}" = "--quick" ] && quick=1

bash scripts/install-deps.sh --test
# install-deps put the Node.js test clients and chromium in place: tests must not skip them.
export OPENCLAW_REQUIRE_JS_CLIENTS=1

run_suite() {
  local preset="$1"
  echo "== build ($preset)"
  bash scripts/build.sh "$preset"
  echo "== test ($preset)"
  ctest --preset "$preset"
}

run_suite default
[ "$quick" = 1 ] && exit 0

echo "== benchmarks (smoke run)"
python3 bench/run --quick --build-dir build/default

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
run_suite sanitize
unset ASAN_OPTIONS UBSAN_OPTIONS

echo "== fuzz (libFuzzer, ${FUZZ_SECONDS:-20}s per target)"
cmake --preset fuzz >/dev/null
fuzz_names="frame manifest sse ndjson html_text skill_front_matter cron openai_request memory_text irc_line telegram_wire config"
cmake --build --preset fuzz --target $(printf 'fuzz_%s ' $fuzz_names)
for name in $fuzz_names; do
  target="build/fuzz/fuzz/fuzz_$name"
  # Inputs that once crashed a target must stay fixed.
  for regression in fuzz/regressions/"$name"_*; do
    [ -e "$regression" ] || continue
    "$target" "$regression" >/dev/null 2>&1 || { echo "fuzz regression $regression fails again"; exit 1; }
  done
  scratch=$(mktemp -d)  # libFuzzer writes new inputs into the first corpus dir: keep seeds clean
  if ! "$target" -max_total_time="${FUZZ_SECONDS:-20}" -dict="fuzz/$name.dict" "$scratch" "fuzz/corpus/$name" \
      >"$scratch.log" 2>&1; then
    tail -50 "$scratch.log"
    echo "fuzz_$name found a failure"
    exit 1
  fi
  echo "fuzz_$name: $(grep -o 'Done [0-9]* runs' "$scratch.log" | tail -1), no failure"
  rm -rf "$scratch" "$scratch.log"
done
echo "all suites passed"
