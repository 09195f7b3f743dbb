#!/usr/bin/env bash
# What `make bench` runs: banyan-bench on 4 local ranks beside Open MPI (banyan-bench-mpi under
# mpirun) with the same flags, for allreduce and allgather, then a side-by-side summary and a
# picture of both (bench.png, tools/plot).
#
#   bench/run.sh [BUILD_DIR]          default BUILD_DIR: build
#
# Environment:
#   BENCH_NP=4                        ranks
#   BENCH_FLAGS="..."                 sweep flags (default below)
#   BENCH_MPI_BTL=self,vader          Open MPI transports: shared memory, the like-for-like
#                                     comparison with banyan's default on one host; with
#                                     self,tcp banyan is run with BANYAN_TRANSPORT=tcp too
#   BENCH_OUT=bench/out/<time>        where the tables and JSON go
#
# Runtime: about 2-3 minutes on a 2-core VM, then 4-6 more (measured under load) for the
# one-pass headline of issue 20 printed at the end (HEADLINE=0 leaves it out). -T 2 caps the
# timed iterations of each size at about 2 s (so the 16M-64M sizes run a few iterations
# instead of 20); -w 3 keeps the warmup of those sizes short. Both tools apply the same rule,
# so the comparison stays fair.
set -uo pipefail

BUILD=${1:-build}
NP=${BENCH_NP:-4}
FLAGS=${BENCH_FLAGS:-"-b 8 -e 64M -f 2 -n 20 -w 3 -T 2 -c 1"}
BTL=${BENCH_MPI_BTL:-self,vader}
# Like for like: an Open MPI over TCP is compared with banyan over TCP.
if [[ $BTL != *vader* && $BTL != *sm* && -z ${BANYAN_TRANSPORT:-} ]]; then export BANYAN_TRANSPORT=tcp; fi
OUT=${BENCH_OUT:-bench/out/$(date +%Y%m%d-%H%M%S)}
HERE=$(cd "$(dirname "$0")" && pwd)

BENCH="$BUILD/tools/banyan-bench"
BENCH_MPI="$BUILD/tools/banyan-bench-mpi"
if [[ ! -x "$BENCH" ]]; then
  echo "run.sh: $BENCH not found: build first (make build)" >&2
  exit 2
fi
mkdir -p "$OUT"

# mpirun refuses root unless told; the set-up runs as root (README).
if [[ $(id -u) -eq 0 ]]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
have_mpi=1
if [[ ! -x "$BENCH_MPI" ]] || ! command -v mpirun >/dev/null; then
  echo "run.sh: no banyan-bench-mpi or mpirun: running banyan only" >&2
  have_mpi=0
fi

status=0
for coll in allreduce allgather; do
  echo "== banyan-bench $coll -np $NP $FLAGS"
  # shellcheck disable=SC2086  # FLAGS is a list of words
  "$BENCH" "$coll" -np "$NP" $FLAGS -J "$OUT/banyan_$coll.json" | tee "$OUT/banyan_$coll.txt" ||
    status=1
  if ((have_mpi)); then
    echo "== mpirun -np $NP --bind-to core:overload-allowed --mca btl $BTL banyan-bench-mpi $coll $FLAGS"
    # shellcheck disable=SC2086
    mpirun -np "$NP" --oversubscribe --bind-to core:overload-allowed --mca btl "$BTL" "$BENCH_MPI" "$coll" $FLAGS \
      -J "$OUT/openmpi_$coll.json" | tee "$OUT/openmpi_$coll.txt" || status=1
  fi
done

if ((have_mpi)); then
  echo "== summary: bus bandwidth banyan / Open MPI (btl $BTL), $NP ranks"
  python3 "$HERE/summarize.py" "$OUT"/*.json | tee "$OUT/summary.txt" || status=1
fi
# Issue 20's headline rows, the quick variant: one pass (bench/headline.sh runs 3 and takes
# 12-15 minutes under load); HEADLINE_PASSES sets more, HEADLINE=0 leaves them out.
if ((have_mpi)) && [[ ${HEADLINE:-1} != 0 ]]; then
  echo "== issue 20's headline, ${HEADLINE_PASSES:-1} pass(es) (bench/headline.sh)"
  BENCH_PASSES=${HEADLINE_PASSES:-1} BENCH_OUT="$OUT/headline" "$HERE/headline.sh" "$BUILD" || status=1
fi
# The picture next to the tables: busbw and time per call against size, banyan and the peer.
/usr/bin/python3 "$HERE/../tools/plot" -o "$OUT/bench.png" --title "$NP ranks, $FLAGS" "$OUT"/*.json || status=1
echo "run.sh: results in $OUT"
exit $status
