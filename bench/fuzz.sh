#!/usr/bin/env bash
# The "Fuzzing" figures of bench/RESULTS.md: every libFuzzer target of tests/fuzz for SECONDS
# each (default 120), through tools/run-fuzz.sh; prints executions and crashes per target.
#   bench/fuzz.sh [SECONDS] [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${1:-120} exec tools/run-fuzz.sh "${2:-build-fuzz}"
