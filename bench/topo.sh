#!/usr/bin/env bash
# Algorithm selection across layouts (issue 4): every candidate algorithm forced, against the
# automatic choice, for allreduce, allgather, reduce_scatter and broadcast, on
#   1 host x 4 ranks            (local ranks; the shm engine is one more candidate there)
#   2 hosts x 2 ranks, 4 hosts x 1 rank   (tools/netns-hosts.sh, links rate-limited to RATE)
# Each (layout, collective) is one job of tools/banyan_algo_compare.cpp: all candidates and the
# automatic choice in the same processes, in alternating batches, REPEATS rounds per size,
# medians (the machine is shared and its load drifts by more than the 10% being judged).
# bench/topo_summary.py then prints per point every variant's busbw, auto / best forced, the
# count within 10% and the worst point; bench/topo_model.py each algorithm's measured time over
# the cost model's prediction (from a topology probed on the same layout) into OUT/model.txt.
#
#   bench/topo.sh [BUILD_DIR]
# Environment: BENCH_RATE=1gbit, BENCH_REPEATS=7, BENCH_SIZES (default 16 B .. 64 MiB x4),
#              BENCH_OUT=bench/out/topo-<time>, BENCH_LAYOUTS="1x4 2x2 4x1",
#              BENCH_COLLECTIVES="allreduce allgather reduce_scatter broadcast".
# Needs root (network namespaces). Runtime on the 2-core VM: about 20-30 minutes.
set -uo pipefail

BUILD=$(readlink -f "${1:-build}")
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
RATE=${BENCH_RATE:-1gbit}
REPEATS=${BENCH_REPEATS:-7}
SIZES=${BENCH_SIZES:-16,64,256,1K,4K,16K,64K,256K,1M,4M,16M,64M}
OUT=${BENCH_OUT:-bench/out/topo-$(date +%Y%m%d-%H%M%S)}
LAYOUTS=${BENCH_LAYOUTS:-"1x4 2x2 4x1"}
COLLECTIVES=${BENCH_COLLECTIVES:-"allreduce allgather reduce_scatter broadcast"}
mkdir -p "$OUT"
OUT=$(readlink -f "$OUT")
export BANYAN_TIMEOUT=300s
status=0

# Runs `banyan-algo-compare $2` on layout $1 (HxR), its table to $3; the topology rank 0
# probed goes to $4 (the model's predictions below are made from it). Every rank gets
# BANYAN_TOPO_DUMP_FILE: it tells the tool to share that topology among its communicators.
run_one() {
  local layout=$1 collective=$2 table=$3 topo=$4
  local hosts=${layout%x*} per=${layout#*x}
  local args="$collective --sizes $SIZES --repeats $REPEATS --out $table"
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
    echo "== $layout $collective (load $(cut -d' ' -f1-3 /proc/loadavg))"
    # Every communicator of the job dumps its topology to the same file: the last one stays.
    if ! run_one "$layout" "$collective" "$OUT/${layout}_${collective}.tsv" "$OUT/${layout}.topo" \
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
