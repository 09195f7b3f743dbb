#!/usr/bin/env bash
# The collectives beyond allreduce and allgather (issue 5): reduce_scatter, broadcast,
# alltoall and sendrecv (point-to-point: each rank sends to rank + 1 and receives from
# rank - 1; banyan's sendAsync + recvAsync in one group against MPI_Sendrecv), banyan against
# Open MPI, f32 sum, root 0, at 8 B, 64K, 1M and 16M, for 2 and 4 ranks, over shared memory
# (banyan's default on one host, against Open MPI's btl self,vader) and over TCP
# (BANYAN_TRANSPORT=tcp, against btl self,tcp). Each case is one bench/compare.sh run; at the
# end the busbw ratios banyan / Open MPI are printed as one markdown table.
#
#   bench/collectives.sh [BUILD_DIR]      default BUILD_DIR: build
#
# Environment: BENCH_RANKS ("2 4"), BENCH_COLLECTIVES ("reduce_scatter broadcast alltoall
# sendrecv"), BENCH_SIZES ("8 64K 1M 16M"), BENCH_ITERS, BENCH_ROOT and any BANYAN_* variable,
# as compare.sh.
# Writes bench/out/collectives-<time>/<transport>-np<N>/.
set -uo pipefail

BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=bench/out/collectives-$(date +%Y%m%d-%H%M%S)
COLLECTIVES=${BENCH_COLLECTIVES:-reduce_scatter broadcast alltoall sendrecv}
SIZES=${BENCH_SIZES:-8 64K 1M 16M}
mkdir -p "$OUT"

status=0
for transport in shm tcp; do
  for np in ${BENCH_RANKS:-2 4}; do
    if [[ $transport == shm ]]; then
      # banyan's default between ranks of one host is shared memory; unset so that a
      # BANYAN_TRANSPORT in the caller's environment does not turn this into another case.
      env -u BANYAN_TRANSPORT BENCH_NP="$np" BENCH_MPI_BTL=self,vader BENCH_SIZES="$SIZES" \
        BENCH_COLLECTIVES="$COLLECTIVES" BENCH_OUT="$OUT/shm-np$np" "$HERE/compare.sh" "$BUILD" || status=1
    else
      BANYAN_TRANSPORT=tcp BENCH_NP="$np" BENCH_MPI_BTL=self,tcp BENCH_SIZES="$SIZES" \
        BENCH_COLLECTIVES="$COLLECTIVES" BENCH_OUT="$OUT/tcp-np$np" "$HERE/compare.sh" "$BUILD" || status=1
    fi
  done
done

# The 8 B column is latency-bound (and 0 B per block for reduce_scatter and alltoall with 4
# ranks); the busbw ratios that matter are from 64K up.
summary_sizes=$(printf '%s\n' $SIZES | grep -vx 8 | paste -sd,)
echo "== busbw ratio banyan / Open MPI (out-of-place, f32 sum, root 0; > 1: banyan faster)"
{
  header=--markdown-header
  for transport in shm tcp; do
    for np in ${BENCH_RANKS:-2 4}; do
      python3 "$HERE/summarize.py" --markdown $header --label "$transport" --sizes "$summary_sizes" \
        "$OUT/$transport-np$np"/*.json || status=1
      header=
    done
  done
} | tee "$OUT/table.md"
echo "collectives.sh: results in $OUT"
exit $status
