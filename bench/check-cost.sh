#!/usr/bin/env bash
# The cost of the call check (BANYAN_CHECK, docs/errors.md "Mismatched calls"): allreduce, f32
# sum, 2 ranks, at 8 B, 1 KiB and 1 MiB, over the shared-memory collectives (the default on one
# host) and over TCP. Each run is tools/banyan-check-cost, which times the check on and off in
# the same processes, batch against batch, so the shared machine's drifting load falls on both
# (separate runs per setting could not tell 2% from the drift). Every transport runs twice, once
# with the checked communicator created first and once with the unchecked one first
# (CHECK_COST_OFF_FIRST), to show that creation order is not what is measured.
#
#   bench/check-cost.sh [BUILD_DIR]     default BUILD_DIR: build
#
# Environment: BENCH_BATCHES (default 21), BENCH_TRANSPORTS ("shm tcp"). Writes
# bench/out/check-<time>/. Takes about two minutes.
set -uo pipefail

BUILD=${1:-build}
OUT=bench/out/check-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/load.txt"
run_all() {
  local status=0 transport order
  for transport in ${BENCH_TRANSPORTS:-shm tcp}; do
    for order in on-first off-first; do
      printf '\n### BANYAN_TRANSPORT=%s, check %s\n\n' "$transport" "$order"
      if [[ $order == off-first ]]; then
        env CHECK_COST_OFF_FIRST=1 BANYAN_TRANSPORT="$transport" "$BUILD/tools/banyan-check-cost" \
          --batches "${BENCH_BATCHES:-21}" || status=1
      else
        env -u CHECK_COST_OFF_FIRST BANYAN_TRANSPORT="$transport" "$BUILD/tools/banyan-check-cost" \
          --batches "${BENCH_BATCHES:-21}" || status=1
      fi
    done
  done
  return $status
}
run_all | tee "$OUT/summary.md"
status=${PIPESTATUS[0]}
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/load.txt"
exit "$status"
