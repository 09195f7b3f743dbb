#!/usr/bin/env bash
# The two-rank TCP comparison: banyan against Open MPI over TCP (btl self,tcp), f32 sum,
# allreduce and allgather (or BENCH_COLLECTIVES); prints the bus bandwidth ratio banyan / Open MPI
# at 64K, 1M, 16M and 64M and the 8-byte latency ratio.
#
#   bench/compare.sh [BUILD_DIR]      default BUILD_DIR: build
#
# Environment: BENCH_NP (default 2), BENCH_ITERS (20; ten times that below 1M), BENCH_MPI_BTL (self,tcp),
# BENCH_SIZES ("8 64K 1M 16M 64M"), BENCH_COLLECTIVES ("allreduce allgather"; any collective
# the two tools take), BENCH_ROOT (0, for the rooted ones), BENCH_OUT
# (bench/out/compare-<time>), BENCH_REFERENCE (1; 0 measures banyan alone, no Open MPI and no
# ratio table: bench/ab.sh compares two banyan builds so) and any BANYAN_* variable (e.g.
# BANYAN_TRANSPORT=tcp). Takes about a minute per collective.
set -uo pipefail

BUILD=${1:-build}
NP=${BENCH_NP:-2}
ITERS=${BENCH_ITERS:-20}
BTL=${BENCH_MPI_BTL:-self,tcp}
# Like for like: an Open MPI over TCP is compared with banyan over TCP.
if [[ $BTL != *vader* && $BTL != *sm* && -z ${BANYAN_TRANSPORT:-} ]]; then export BANYAN_TRANSPORT=tcp; fi
OUT=${BENCH_OUT:-bench/out/compare-$(date +%Y%m%d-%H%M%S)}
HERE=$(cd "$(dirname "$0")" && pwd)
read -r -a SIZES <<<"${BENCH_SIZES:-8 64K 1M 16M 64M}"
read -r -a COLLECTIVES <<<"${BENCH_COLLECTIVES:-allreduce allgather}"
ROOT=${BENCH_ROOT:-0}
REFERENCE=${BENCH_REFERENCE:-1}

BENCH="$BUILD/tools/banyan-bench"
BENCH_MPI="$BUILD/tools/banyan-bench-mpi"
tools=("$BENCH")
((REFERENCE)) && tools+=("$BENCH_MPI")
for tool in "${tools[@]}"; do
  if [[ ! -x "$tool" ]]; then
    echo "compare.sh: $tool not found: build first (make build; MPI needed for the reference)" >&2
    exit 2
  fi
done
if [[ $(id -u) -eq 0 ]]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
mkdir -p "$OUT"

status=0
for coll in "${COLLECTIVES[@]}"; do
  for size in "${SIZES[@]}"; do
    # One size per run: the sizes are not a geometric series, and a run per size costs little.
    # Small sizes take microseconds: 20 calls are too few to average out one slow wake-up on
    # an oversubscribed host, so they get ten times as many (the -T cap still bounds the run).
    iters=$ITERS
    case $size in 8 | *[0-9] | *K) iters=$((ITERS * 10)) ;; esac
    flags=(-b "$size" -e "$size" -n "$iters" -w 5 -T 3 -c 1 -d f32 -o sum -r "$ROOT")
    "$BENCH" "$coll" -np "$NP" "${flags[@]}" -J "$OUT/banyan_${coll}_$size.json" \
      >"$OUT/banyan_${coll}_$size.txt" || { status=1; cat "$OUT/banyan_${coll}_$size.txt"; }
    ((REFERENCE)) || continue
    mpirun -np "$NP" --oversubscribe --bind-to core:overload-allowed --mca btl "$BTL" "$BENCH_MPI" "$coll" "${flags[@]}" \
      -J "$OUT/openmpi_${coll}_$size.json" >"$OUT/openmpi_${coll}_$size.txt" ||
      { status=1; cat "$OUT/openmpi_${coll}_$size.txt"; }
  done
done

if ((!REFERENCE)); then
  echo "compare.sh: banyan alone, results in $OUT"
  exit $status
fi
echo "== $NP ranks, f32 sum, banyan vs Open MPI (btl $BTL)"
summary_sizes=$(printf '%s\n' "${SIZES[@]}" | grep -vx 8 | paste -sd,)
# Only this run's collectives, in case BENCH_OUT already holds others; the digit after the
# name keeps "reduce" from also matching reduce_scatter's files.
jsons=()
for coll in "${COLLECTIVES[@]}"; do jsons+=("$OUT"/{banyan,openmpi}_"${coll}"_[0-9]*.json); done
python3 "$HERE/summarize.py" --sizes "$summary_sizes" --latency-bytes 8 "${jsons[@]}" |
  tee "$OUT/summary.txt" || status=1
echo "compare.sh: results in $OUT"
exit $status
