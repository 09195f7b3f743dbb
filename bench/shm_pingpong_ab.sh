#!/usr/bin/env bash
# A/B of the shared-memory transport's own cost per message: tools/shm-pingpong (two transports
# in one process, one thread polling both, no scheduler in the way) of build A and build B in
# turns, A B A B ..., per size; prints per size the median over the passes of each build's time
# per round trip and of the per-pass ratio A / B (above 1: B faster), with the ratios' range.
# Both builds need tools/shm-pingpong: to measure a commit from before it, copy
# tools/shm_pingpong.cpp and its line in tools/meson.build into that tree and build it.
#
#   bench/shm_pingpong_ab.sh BUILD_A BUILD_B
#
# Environment: PINGPONG_SIZES ("8 4096 65536"), PINGPONG_PASSES (5), PINGPONG_TRIPS (20000).
set -uo pipefail

if (($# < 2)); then
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
A=$1
B=$2
for build in "$A" "$B"; do
  [[ -x "$build/tools/shm-pingpong" ]] || { echo "shm_pingpong_ab.sh: no $build/tools/shm-pingpong" >&2; exit 2; }
done

results=$(mktemp)
trap 'rm -f "$results"' EXIT
for size in ${PINGPONG_SIZES:-8 4096 65536}; do
  for ((pass = 1; pass <= ${PINGPONG_PASSES:-5}; pass++)); do
    for side in A B; do
      build=$A
      [[ $side == B ]] && build=$B
      # "shm-pingpong 8 B: 154.6 ns per round trip (median of 5; ...)"
      ns=$("$build/tools/shm-pingpong" "$size" "${PINGPONG_TRIPS:-20000}" 5 | awk '{print $4}') || exit 1
      echo "$size $pass $side $ns" >>"$results"
    done
  done
done

echo "== time per round trip, median over passes (ns); A / B per pass (above 1: B faster)"
echo "   A = $A, B = $B"
python3 - "$results" <<'EOF'
import statistics, sys
from collections import defaultdict

runs = defaultdict(lambda: defaultdict(dict))  # size -> pass -> side -> ns
for line in open(sys.argv[1]):
    size, npass, side, ns = line.split()
    runs[int(size)][npass][side] = float(ns)
print(f"{'bytes':>8} {'A ns':>10} {'B ns':>10} {'A/B':>6}  range")
for size in sorted(runs):
    passes = runs[size].values()
    a = statistics.median(p["A"] for p in passes)
    b = statistics.median(p["B"] for p in passes)
    ratios = [p["A"] / p["B"] for p in passes]
    print(f"{size:>8} {a:>10.1f} {b:>10.1f} {statistics.median(ratios):>6.3f}  [{min(ratios):.3f}-{max(ratios):.3f}]")
EOF
