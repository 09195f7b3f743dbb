#!/usr/bin/env bash
# A/B: is build B slower than build A? Runs the banyan measurements of bench/shm.sh (one host,
# shared memory, 2 and 4 ranks) or bench/compare.sh (2 ranks over TCP) for A and B in turns,
# A B A B A B, so both see the same drift of a shared machine, and prints per collective, ranks
# and size the median over the passes of B's speed over A's (time per call A / B: above 1, B is
# faster) with the range of the per-pass ratios, the noise to read it against. Open MPI is not
# run (BENCH_REFERENCE=0); both builds' banyan-bench bind their ranks alike (rank r -> core
# r mod cores), since both run under the same scripts.
#
#   bench/ab.sh BUILD_A BUILD_B [shm|compare]     default: shm
#   bench/ab.sh /work/wt-base/build build shm     the refactor against the commit before it
#
# Environment: AB_PASSES (3), AB_OUT (bench/out/ab-<time>), and what the two scripts read:
# BENCH_SIZES, BENCH_RANKS (shm), BENCH_ITERS, BENCH_COLLECTIVES, any BANYAN_* variable.
# With the defaults a pass of shm took about 1 minute on the shared 2-core machine, so the six
# about 6 minutes; a pass of compare has fewer sizes and one rank count, about half that.
set -uo pipefail

if (($# < 2)); then
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
A=$1
B=$2
MODE=${3:-shm}
[[ $MODE == shm || $MODE == compare ]] || { echo "ab.sh: mode is shm or compare, not $MODE" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${AB_OUT:-bench/out/ab-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"

status=0
for ((pass = 1; pass <= ${AB_PASSES:-3}; pass++)); do
  for side in A B; do
    build=$A
    [[ $side == B ]] && build=$B
    echo "== pass $pass, $side: $MODE.sh $build"
    BENCH_REFERENCE=0 BENCH_OUT="$OUT/$side$pass" "$HERE/$MODE.sh" "$build" >"$OUT/$side$pass.log" 2>&1 ||
      { status=1; tail -20 "$OUT/$side$pass.log"; }
  done
done

echo "== B/A speed (time per call of A / B; above 1: B faster): median over passes [min-max]"
echo "   A = $A, B = $B, $MODE, results in $OUT"
python3 - "$OUT" <<'EOF' || status=1
import glob, json, math, os, re, statistics, sys
from collections import defaultdict

out = sys.argv[1]
# (collective, ranks, bytes, placement) -> pass -> side -> time per call (us)
times = defaultdict(lambda: defaultdict(dict))
wrong = 0
for path in glob.glob(os.path.join(out, "[AB]*", "**", "banyan_*.json"), recursive=True):
    side, npass = re.match(r"([AB])(\d+)", os.path.relpath(path, out)).groups()
    with open(path) as f:
        for row in json.load(f).get("rows", []):
            wrong += max(row.get("wrong") or 0, 0)
            if row.get("time_us"):
                place = "in-place" if row.get("in_place") else "out-of-place"
                key = (row["collective"], row["nranks"], row["bytes"], place)
                times[key][npass][side] = row["time_us"]

def human(n):
    for unit, scale in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale}{unit}"
    return str(n)

medians = []
print(f"{'collective':>14} {'ranks':>5} {'size':>6} {'placement':>12} {'B/A':>6}  range")
for key in sorted(times):
    ratios = sorted(p["A"] / p["B"] for p in times[key].values() if "A" in p and "B" in p)
    if not ratios:
        continue
    median = statistics.median(ratios)
    medians.append(median)
    print(f"{key[0]:>14} {key[1]:>5} {human(key[2]):>6} {key[3]:>12} {median:6.2f}  [{ratios[0]:.2f}-{ratios[-1]:.2f}]"
          f"  ({len(ratios)} passes)")
if medians:
    print(f"geometric mean of the medians over {len(medians)} rows: "
          f"{math.exp(sum(map(math.log, medians)) / len(medians)):.3f}")
if wrong:
    print(f"ab.sh: {wrong} wrong results in the runs")
sys.exit(1 if wrong or not medians else 0)
EOF
exit $status
