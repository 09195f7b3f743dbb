#!/usr/bin/env bash
# Algorithm selection across layouts (issue 4): every candidate algorithm forced, against the
# automatic choice, for allreduce, allgather, reduce_scatter and broadcast, on
#   1 host x 4 ranks            (local ranks; the shm engine is one more candidate there)
#   2 hosts x 2 ranks, 4 hosts x 1 rank   (tools/netns-hosts.sh, links rate-limited to RATE)
# Each (layout, collective) is one job of tools/banyan_algo_compare.cpp: all candidates and the
# automatic choice in the same processes, in alternating batches, REPEATS rounds per size,
# medians (the machine is shared and its load drifts by more than the 10% being judged).
# With BENCH_TABLE=1 (the default) a first job per (layout, collective) measures a tuning table
# (--tune-out OUT/tune/LAYOUT.tune, TUNE_REPEATS rounds) just before the measured one, which
# then has one more variant, auto-table: the automatic choice following that table
# (BANYAN_TUNE_FILE); auto stays the cost model's own choice.
# bench/topo_summary.py then prints per point every variant's busbw, auto / best forced, the
# count within 10% and the worst point; bench/topo_model.py each algorithm's measured time over
# the cost model's prediction (from a topology probed on the same layout) into OUT/model.txt.
#
#   bench/topo.sh [BUILD_DIR]
# Environment: BENCH_RATE=1gbit, BENCH_REPEATS=7, BENCH_TUNE_REPEATS=5, BENCH_TABLE=1,
#              BENCH_SIZES (default 8 B .. 32 MiB x4, and 64 MiB),
#              BENCH_OUT=bench/out/topo-<time>, BENCH_LAYOUTS="1x4 2x2 4x1",
#              BENCH_COLLECTIVES="allreduce allgather reduce_scatter broadcast".
# Needs root (network namespaces). Runtime on the 2-core VM: about 20-30 minutes.
set -uo pipefail

BUILD=$(readlink -f "${1:-build}")
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
RATE=${BENCH_RATE:-1gbit}
REPEATS=${BENCH_REPEATS:-7}
TUNE_REPEATS=${BENCH_TUNE_REPEATS:-5}
TABLE=${BENCH_TABLE:-1}
# The issue's 8 B .. 64 MiB in x4 steps: 8 B to 32 MiB, then the 64 MiB end point as before.
SIZES=${BENCH_SIZES:-8,32,128,512,2K,8K,32K,128K,512K,2M,8M,32M,64M}
OUT=${BENCH_OUT:-bench/out/topo-$(date +%Y%m%d-%H%M%S)}
LAYOUTS=${BENCH_LAYOUTS:-"1x4 2x2 4x1"}
COLLECTIVES=${BENCH_COLLECTIVES:-"allreduce allgather reduce_scatter broadcast"}
mkdir -p "$OUT"
OUT=$(readlink -f "$OUT")
export BANYAN_TIMEOUT=300s
status=0

# Runs `banyan-algo-compare $2 $5` on layout $1 (HxR), its table to $3; the topology rank 0
# probed goes to $4 (the model's predictions below are made from it). Every rank gets
# BANYAN_TOPO_DUMP_FILE: it tells the tool to share that topology among its communicators.
run_one() {
  local layout=$1 collective=$2 table=$3 topo=$4 extra=$5
  local hosts=${layout%x*} per=${layout#*x}
  local args="$collective --sizes $SIZES --out $table $extra"
  if ((hosts == 1)); then
    BANYAN_TOPO_DUMP_FILE=$topo "$BUILD/tools/banyan-algo-compare" $args -np "$per"
  else
    "$ROOT/tools/netns-hosts.sh" with "$hosts" --rate "$RATE" -- bash -c '
      size=$(('"$hosts"' * '"$per"')); port=$((20000 + RANDOM % 12000)); pids=()
      for ((r = size - 1; r >= 1; r--)); do
        BANYAN_TOPO_DUMP_FILE='"$topo"' RANK=$r WORLD_SIZE=$size MASTER_ADDR=10.213.0.1 MASTER_PORT=$port \
          "$NETNS_HOSTS_SCRIPT" run $((r / '"$per"')) "'"$BUILD"'/tools/banyan-algo-compare" '"$args"' >/dev/null &
        pids+=($!)
      done
      BANYAN_TOPO_DUMP_FILE='"$topo"' RANK=0 WORLD_SIZE=$size MASTER_ADDR=10.213.0.1 MASTER_PORT=$port \
        "$NETNS_HOSTS_SCRIPT" run 0 "'"$BUILD"'/tools/banyan-algo-compare" '"$args"'
      s=$?; for p in "${pids[@]}"; do wait $p || s=1; done; exit $s'
  fi
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/load.txt"
for layout in $LAYOUTS; do
  for collective in $COLLECTIVES; do
    extra="--repeats $REPEATS"
    if [[ $TABLE == 1 ]]; then
      mkdir -p "$OUT/tune"
      echo "== $layout $collective: tuning table (load $(cut -d' ' -f1-3 /proc/loadavg))"
      if run_one "$layout" "$collective" "$OUT/tune/${layout}_${collective}.tsv" "$OUT/tune/${layout}.topo" \
        "--repeats $TUNE_REPEATS --tune-out $OUT/tune/${layout}.tune" >"$OUT/tune/${layout}_${collective}.log" 2>&1; then
        extra="$extra --table $OUT/tune/${layout}.tune"
      else
        echo "   failed: see $OUT/tune/${layout}_${collective}.log (measuring without a table)"
        status=1
      fi
    fi
    echo "== $layout $collective (load $(cut -d' ' -f1-3 /proc/loadavg))"
    # Every communicator of the job dumps its topology to the same file: the last one stays.
    if ! run_one "$layout" "$collective" "$OUT/${layout}_${collective}.tsv" "$OUT/${layout}.topo" "$extra" \
      >"$OUT/${layout}_${collective}.log" 2>&1; then
      echo "   failed: see $OUT/${layout}_${collective}.log"
      status=1
    fi
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/load.txt"
python3 "$HERE/topo_summary.py" --rate "$RATE" "$OUT"/*.tsv | tee "$OUT/summary.md"
for layout in $LAYOUTS; do
  if [[ -f $OUT/$layout.topo ]]; then
    "$BUILD/tools/banyan-topo" --topo "$OUT/$layout.topo" --predictions "$OUT/$layout.predictions" >/dev/null
  fi
done
python3 "$HERE/topo_model.py" "$OUT" >"$OUT/model.txt" && echo "model against measurement: $OUT/model.txt"
exit $status
