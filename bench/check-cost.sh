#!/usr/bin/env bash
# The cost of the call check (BANYAN_CHECK, docs/errors.md "Mismatched calls"): allreduce, f32
# sum, 2 ranks, at 8 B, 1 KiB and 1 MiB, over the shared-memory collectives (the default on one
# host) and over TCP, with the check on and off. Runs alternate on/off REPS times so that drift
# in the machine's load falls on both; the table gives the median time of each and their ratio
# (on / off; above 1 means the check costs).
#
#   bench/check-cost.sh [BUILD_DIR]     default BUILD_DIR: build
#
# Environment: BENCH_REPS (default 7), BENCH_TRANSPORTS ("shm tcp"). Writes bench/out/check-<time>/. Takes about two minutes.
set -uo pipefail

BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=bench/out/check-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
reps=${BENCH_REPS:-7}
status=0
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/load.txt"
for rep in $(seq 1 "$reps"); do
  for transport in ${BENCH_TRANSPORTS:-shm tcp}; do
    for size in 8 1K 1M; do
      iters=2000
      [[ $size == 1M ]] && iters=100
      # Alternate which setting goes first, so neither always runs on a warmer machine.
      order="1 0"
      ((rep % 2 == 0)) && order="0 1"
      for check in $order; do
        BANYAN_CHECK=$check BANYAN_TRANSPORT=$transport "$BUILD/tools/banyan-bench" allreduce -np 2 \
          -b "$size" -e "$size" -n "$iters" -w 100 -c 0 \
          -J "$OUT/$transport-$size-check$check-rep$rep.json" >/dev/null || status=1
      done
    done
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/load.txt"
python3 "$HERE/check_cost_summary.py" "$OUT" | tee "$OUT/summary.md"
exit $status
