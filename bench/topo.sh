#!/usr/bin/env bash
# Algorithm selection across layouts (issue 4): busbw of every algorithm forced (BANYAN_ALGO)
# and of the automatic choice, for allreduce and allgather, on
#   1 host x 4 ranks            (local ranks; the shm engine is one more candidate there)
#   2 hosts x 2 ranks, 4 hosts x 1 rank   (tools/netns-hosts.sh, links rate-limited to RATE)
# then bench/topo_summary.py prints, per layout, collective and size, every algorithm's busbw,
# the automatic choice's ratio to the best forced one, and the worst point, and
# bench/topo_model.py each algorithm's measured time over the cost model's prediction (from
# the topology the automatic run probed) into OUT/model.txt.
#
#   bench/topo.sh [BUILD_DIR]
# Environment: BENCH_RATE=1gbit, BENCH_FLAGS (default below), BENCH_OUT=bench/out/topo-<time>,
#              BENCH_LAYOUTS="1x4 2x2 4x1".
# Needs root (network namespaces). Runtime on the 2-core VM: about 15-25 minutes.
set -uo pipefail

BUILD=$(readlink -f "${1:-build}")
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
RATE=${BENCH_RATE:-1gbit}
# 16 B .. 64 MiB in x4 steps; -T 2 caps each size's timed iterations at about 2 s.
FLAGS=${BENCH_FLAGS:-"-b 16 -e 64M -f 4 -n 10 -w 2 -T 2 -c 1"}
OUT=${BENCH_OUT:-bench/out/topo-$(date +%Y%m%d-%H%M%S)}
LAYOUTS=${BENCH_LAYOUTS:-"1x4 2x2 4x1"}
mkdir -p "$OUT"
OUT=$(readlink -f "$OUT")
export BANYAN_TIMEOUT=120s

# name:BANYAN_ALGO value ("" = automatic). allgather's recursive doubling needs 2^k ranks (4 is).
variants() {
  case $1 in
    allreduce) echo "auto: ring:allreduce:0-:ring rd:allreduce:0-:rd rab:allreduce:0-:rabenseifner tree:allreduce:0-:double-tree hier:allreduce:0-:hierarchical" ;;
    allgather) echo "auto: ring:allgather:0-:ring rd:allgather:0-:rd bruck:allgather:0-:bruck hier:allgather:0-:hierarchical" ;;
  esac
}

# Runs one bench on layout $1 (HxR) with BANYAN_ALGO=$3 and extra environment $4, JSON to $5.
run_one() {
  local layout=$1 collective=$2 algo=$3 extra=$4 json=$5
  local hosts=${layout%x*} per=${layout#*x}
  if ((hosts == 1)); then
    env $extra BANYAN_ALGO="$algo" "$BUILD/tools/banyan-bench" "$collective" -np "$per" $FLAGS -J "$json"
  else
    "$ROOT/tools/netns-hosts.sh" with "$hosts" --rate "$RATE" -- bash -c '
      size=$(('"$hosts"' * '"$per"')); port=$((20000 + RANDOM % 12000)); pids=()
      for ((r = size - 1; r >= 1; r--)); do
        env '"$extra"' BANYAN_ALGO="'"$algo"'" RANK=$r WORLD_SIZE=$size MASTER_ADDR=10.213.0.1 MASTER_PORT=$port \
          "$NETNS_HOSTS_SCRIPT" run $((r / '"$per"')) "'"$BUILD"'/tools/banyan-bench" '"$collective"' '"$FLAGS"' >/dev/null &
        pids+=($!)
      done
      env '"$extra"' BANYAN_ALGO="'"$algo"'" RANK=0 WORLD_SIZE=$size MASTER_ADDR=10.213.0.1 MASTER_PORT=$port \
        "$NETNS_HOSTS_SCRIPT" run 0 "'"$BUILD"'/tools/banyan-bench" '"$collective"' '"$FLAGS"' -J "'"$json"'"
      s=$?; for p in "${pids[@]}"; do wait $p || s=1; done; exit $s'
  fi
}

for layout in $LAYOUTS; do
  for collective in allreduce allgather; do
    for variant in $(variants "$collective"); do
      name=${variant%%:*}
      algo=${variant#*:}
      # On one host the two-level form is a gather and a broadcast through one rank: not a candidate.
      if [[ $layout == 1x* && $name == hier ]]; then continue; fi
      extra="BANYAN_BENCH_BIND=1"
      # On one host the automatic choice is the shared-memory engine; the forced algorithms
      # are schedules, which run only with the engine off.
      if [[ $layout == 1x* && $name != auto ]]; then extra="$extra BANYAN_SHM_COLLECTIVES=0"; fi
      # The automatic runs keep what their probe saw, for the model's predictions below.
      if [[ $name == auto ]]; then extra="$extra BANYAN_TOPO_DUMP_FILE=$OUT/${layout}_${collective}.topo"; fi
      json="$OUT/${layout}_${collective}_${name}.json"
      echo "== $layout $collective $name (BANYAN_ALGO='$algo')"
      if ! run_one "$layout" "$collective" "$algo" "$extra" "$json" >"$OUT/${layout}_${collective}_${name}.txt" 2>&1; then
        echo "   failed: see $OUT/${layout}_${collective}_${name}.txt"
      fi
    done
  done
done
python3 "$HERE/topo_summary.py" --rate "$RATE" "$OUT"/*.json | tee "$OUT/summary.md"
# Measured over predicted time per algorithm (the allreduce run's probe stands for the layout).
for layout in $LAYOUTS; do
  if [[ -f $OUT/${layout}_allreduce.topo ]]; then
    "$BUILD/tools/banyan-topo" --topo "$OUT/${layout}_allreduce.topo" --predictions "$OUT/$layout.predictions" >/dev/null
  fi
done
python3 "$HERE/topo_model.py" "$OUT" >"$OUT/model.txt" && echo "model against measurement: $OUT/model.txt"
