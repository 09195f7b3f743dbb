#!/usr/bin/env bash
# The one-host comparison: banyan (shared memory, the default between ranks of one host)
# against Open MPI over its shared-memory BTL (btl self,vader), f32 sum, allreduce and
# allgather, 2 and 4 ranks, at 8 B (latency), 4K, 64K, 1M, 16M and 64M; then the
# single-thread memcpy bandwidth of a 64 MiB buffer, measured in the same run, as the
# ceiling for large-message busbw.
#
#   bench/shm.sh [BUILD_DIR]      default BUILD_DIR: build
#
# Environment: BENCH_ITERS (default 20), BENCH_RANKS ("2 4"), BENCH_SIZES (the sizes above),
# BENCH_OUT (bench/out/shm-<time>), BENCH_REFERENCE (1; 0: banyan alone, see compare.sh), any
# BANYAN_* variable. Writes BENCH_OUT and prints the ratio tables. Takes about three minutes.
set -uo pipefail

BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${BENCH_OUT:-bench/out/shm-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
status=0
for np in ${BENCH_RANKS:-2 4}; do
  BENCH_NP=$np BENCH_MPI_BTL=self,vader BENCH_SIZES="${BENCH_SIZES:-8 4K 64K 1M 16M 64M}" BENCH_OUT="$OUT/np$np" \
    "$HERE/compare.sh" "$BUILD" || status=1
done
echo "== single-thread memcpy, 64 MiB (the large-message ceiling)"
"$BUILD/tools/memcpy-bandwidth" 64M | tee "$OUT/memcpy.txt" || status=1
exit $status
