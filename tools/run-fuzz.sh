#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (clang, -fsanitize=fuzzer,address,undefined) in
# their own build directory and runs each for a bounded time. Each target is one test case: it
# passes when libFuzzer ran out its time without a crash, leak, sanitizer report or broken
# property, and fails otherwise, naming the saved reproducer. Ends with "N passed, N failed".
#
#   tools/run-fuzz.sh [BUILD_DIR] [TARGET...]     (default BUILD_DIR: build-fuzz; all targets)
#   FUZZ_SECONDS=600 tools/run-fuzz.sh            (longer runs; default 25 s per target)
#
# The corpus each run grows is kept in BUILD_DIR/fuzz-corpus/<name> (seeded from
# tests/fuzz/corpus/<name>) so later runs start where earlier ones ended; reproducers go to
# BUILD_DIR/fuzz-crashes/. Replay one: BUILD_DIR/tests/fuzz/fuzz_<name> <file>.
# FUZZ_SECONDS is a test-run knob, not read by banyan.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build-fuzz}
shift || true
seconds=${FUZZ_SECONDS:-25}

# Every fuzz_<name>.cpp is a target; one the build does not produce (not listed in
# tests/fuzz/meson.build) is reported as failed rather than left out silently.
names=("$@")
if ((${#names[@]} == 0)); then
  for source in "$root"/tests/fuzz/fuzz_*.cpp; do
    name=$(basename "$source" .cpp)
    names+=("${name#fuzz_}")
  done
fi

if [[ ! -f "$build/build.ninja" ]]; then
  mkdir -p "$build"  # meson setup accepts it empty; its log goes inside
  # Only the fuzz targets are built here; -fsanitize=fuzzer-no-link instruments the library
  # for coverage, -fno-sanitize-recover makes every UBSan report a crash libFuzzer keeps.
  CXX=clang++ meson setup "$build" "$root" --buildtype=debugoptimized -Dfuzz=true -Dtests=false \
    -Dmpi=disabled -Dtorch=disabled -Db_sanitize=address,undefined -Db_lundef=false \
    "-Dcpp_args=-fsanitize=fuzzer-no-link -fno-sanitize-recover=all -fno-omit-frame-pointer" >"$build/setup.log" 2>&1 \
    || { cat "$build/setup.log"; echo "run-fuzz: meson setup of $build failed"; echo "0 passed, ${#names[@]} failed"; exit 1; }
fi
targets=()
for name in "${names[@]}"; do
  if grep -q "'$name'" "$root/tests/fuzz/meson.build"; then targets+=("tests/fuzz/fuzz_$name"); fi
done
if ((${#targets[@]} > 0)) && ! ninja -C "$build" -j2 "${targets[@]}"; then
  echo "run-fuzz: building the fuzz targets failed"
  echo "0 passed, ${#names[@]} failed"
  exit 1
fi

passed=0
failed=0
mkdir -p "$build/fuzz-crashes"
for name in "${names[@]}"; do
  binary="$build/tests/fuzz/fuzz_$name"
  if [[ ! -x "$binary" ]]; then
    echo "run-fuzz: $binary is missing (is '$name' in tests/fuzz/meson.build?)"
    failed=$((failed + 1))
    continue
  fi
  corpus="$build/fuzz-corpus/$name"
  mkdir -p "$corpus"
  seeds=()
  [[ -d "$root/tests/fuzz/corpus/$name" ]] && seeds=("$root/tests/fuzz/corpus/$name")
  log="$build/fuzz-$name.log"
  start=$(date +%s)
  # -rss_limit_mb/-malloc_limit_mb: an input that makes a decoder allocate without bound is a
  # crash (the store's largest legal frame is 64 MiB). The outer deadline catches a hang that
  # libFuzzer's own -timeout (per input) would not.
  timeout --signal=KILL $((seconds + 120)) "$binary" -max_total_time="$seconds" -print_final_stats=1 \
    -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 -artifact_prefix="$build/fuzz-crashes/$name-" \
    "$corpus" "${seeds[@]}" >"$log" 2>&1
  rc=$?
  end=$(date +%s)
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  size=$(find "$corpus" -type f | wc -l)
  if ((rc == 0)); then
    echo "   fuzz_$name: ${runs:-?} executions in $((end - start)) s, no crash (corpus $size inputs)"
    passed=$((passed + 1))
  else
    echo "   fuzz_$name: FAILED (status $rc) after ${runs:-?} executions in $((end - start)) s; log $log"
    grep -E "ERROR: |fuzz property failed|runtime error|Test unit written to|SUMMARY" "$log" | head -20 | sed 's/^/     /'
    reproducer=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    [[ -n "$reproducer" ]] && echo "     reproducer: $reproducer (replay: $binary $reproducer)"
    failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
((failed == 0))
