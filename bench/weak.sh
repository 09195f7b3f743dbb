#!/usr/bin/env bash
# The weak collectives on one host (issue 20): two banyan builds (A: before, B: after) and Open
# MPI over vader, each cell run A, B, Open MPI in turn, for a number of passes, so all three see
# the same drift of a shared machine. Prints per collective, ranks and size the median over the
# passes of each build's busbw ratio against Open MPI (Open MPI's time / banyan's; above 1,
# banyan is faster) and of B's speed over A's, with the per-pass range.
#
#   bench/weak.sh BUILD_A BUILD_B        e.g. bench/weak.sh ../wt-shm-weak-base/build build
#   bench/weak.sh --summary OUT_DIR      the table again, from a finished or interrupted run
#
# Environment: WEAK_PASSES (3), WEAK_COLLECTIVES ("broadcast alltoall gather scatter
# reduce_scatter allgather"), WEAK_SIZES ("64K 4M", banyan-bench's -b: the send buffer of
# alltoall and scatter, the receive buffer of allgather and gather, the input of
# reduce_scatter), WEAK_RANKS ("2 4"), WEAK_ITERS (20 at 4M; ten times that up to 64K),
# WEAK_OUT (bench/out/weak-<time>), any BANYAN_* variable. Both tools bind rank r to core
# r mod cores. About 12 minutes with the defaults on the 2-core machine.
set -uo pipefail

if (($# < 2)); then
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
A=$1
B=$2
SUMMARY_ONLY=0
[[ $A == --summary ]] && SUMMARY_ONLY=1
OUT=${WEAK_OUT:-bench/out/weak-$(date +%Y%m%d-%H%M%S)}
((SUMMARY_ONLY)) && OUT=$B
ITERS=${WEAK_ITERS:-20}
mkdir -p "$OUT"
if [[ $(id -u) -eq 0 ]]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
((SUMMARY_ONLY)) || for tool in "$A/tools/banyan-bench" "$B/tools/banyan-bench" "$B/tools/banyan-bench-mpi"; do
  [[ -x $tool ]] || { echo "weak.sh: $tool not found: build first" >&2; exit 2; }
done

status=0
((SUMMARY_ONLY)) && WEAK_PASSES=0
for ((pass = 1; pass <= ${WEAK_PASSES:-3}; pass++)); do
  for np in ${WEAK_RANKS:-2 4}; do
    for coll in ${WEAK_COLLECTIVES:-broadcast alltoall gather scatter reduce_scatter allgather}; do
      for size in ${WEAK_SIZES:-64K 4M}; do
        iters=$ITERS
        case $size in *[0-9] | *K) iters=$((ITERS * 10)) ;; esac
        flags=(-b "$size" -e "$size" -n "$iters" -w 5 -T 3 -c 1 -d f32 -o sum -r 0)
        cell="${coll}_np${np}_${size}_$pass"
        "$A/tools/banyan-bench" "$coll" -np "$np" "${flags[@]}" -J "$OUT/A_$cell.json" >"$OUT/A_$cell.txt" 2>&1 ||
          { status=1; tail -5 "$OUT/A_$cell.txt"; }
        "$B/tools/banyan-bench" "$coll" -np "$np" "${flags[@]}" -J "$OUT/B_$cell.json" >"$OUT/B_$cell.txt" 2>&1 ||
          { status=1; tail -5 "$OUT/B_$cell.txt"; }
        mpirun -np "$np" --oversubscribe --bind-to core:overload-allowed --mca btl self,vader \
          "$B/tools/banyan-bench-mpi" "$coll" "${flags[@]}" -J "$OUT/M_$cell.json" >"$OUT/M_$cell.txt" 2>&1 ||
          { status=1; tail -5 "$OUT/M_$cell.txt"; }
      done
    done
  done
  echo "weak.sh: pass $pass done ($(date +%H:%M:%S))"
done

((SUMMARY_ONLY)) && A="(build A of the run)" && B="(build B)"
echo "== A = $A, B = $B; ratios = Open MPI (vader) time / banyan time, median over passes [min-max]"
python3 - "$OUT" <<'EOF' || status=1
import glob, json, os, re, statistics, sys
from collections import defaultdict

out = sys.argv[1]
times = defaultdict(dict)  # (coll, np, size) -> (side, pass) -> us
for path in glob.glob(os.path.join(out, "*.json")):
    m = re.match(r"([ABM])_(.+)_np(\d+)_(\w+)_(\d+)\.json$", os.path.basename(path))
    if not m:
        continue
    side, coll, np, size, p = m.groups()
    rows = [r for r in json.load(open(path))["rows"] if not r["in_place"] and r["time_us"] > 0]
    if rows:
        times[(coll, int(np), size)][(side, int(p))] = rows[0]["time_us"]

def stat(values):
    if not values:
        return "      -            "
    return f"{statistics.median(values):6.2f} [{min(values):.2f}-{max(values):.2f}]"

print(f"{'collective':15} {'np':>2} {'size':>4}  {'A vs vader':20} {'B vs vader':20} {'B/A speed':20}")
for key in sorted(times, key=lambda k: (k[0], k[1], k[2][-1], k[2])):
    t = times[key]
    passes = sorted({p for _, p in t})
    ratio = lambda s: [t[("M", p)] / t[(s, p)] for p in passes if ("M", p) in t and (s, p) in t]
    ab = [t[("A", p)] / t[("B", p)] for p in passes if ("A", p) in t and ("B", p) in t]
    print(f"{key[0]:15} {key[1]:>2} {key[2]:>4}  {stat(ratio('A')):20} {stat(ratio('B')):20} {stat(ab):20}")
EOF
echo "weak.sh: results in $OUT"
exit $status
