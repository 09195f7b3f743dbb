#!/usr/bin/env bash
# What deterministic mode costs: banyan-bench allreduce on local ranks, the default selection
# against BANYAN_DETERMINISTIC=1, in alternating passes (default, deterministic, deterministic,
# default, ...) in the same run, so both see the same drift of a shared machine. Prints per size and
# placement the median over passes of the deterministic time over the default time (above 1:
# the mode is slower) with the range of the per-pass ratios, and checks that the digest of
# rank 0's result (banyan-bench -D 1) is the same in every deterministic pass.
#
#   bench/deterministic.sh [BUILD]          default: build
#
# Environment: DET_PASSES (3), DET_RANKS (4), DET_MIN (1M), DET_MAX (64M), DET_ITERS (5),
# DET_TRANSPORT (unset: auto, i.e. the one-host shared-memory engine for the default side),
# DET_OUT (bench/out/deterministic-<time>), and any BANYAN_* variable. Nice'd: it shares the
# machine.
set -uo pipefail

BUILD=${1:-build}
BENCH=$BUILD/tools/banyan-bench
[[ -x $BENCH ]] || { echo "deterministic.sh: no $BENCH (build first)" >&2; exit 2; }
OUT=${DET_OUT:-bench/out/deterministic-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
RANKS=${DET_RANKS:-4}
ARGS=(allreduce -np "$RANKS" -b "${DET_MIN:-1M}" -e "${DET_MAX:-64M}" -f 2 -n "${DET_ITERS:-5}" -w 2 -D 1)
[[ -n ${DET_TRANSPORT:-} ]] && export BANYAN_TRANSPORT=$DET_TRANSPORT

status=0
for ((pass = 1; pass <= ${DET_PASSES:-3}; pass++)); do
  # Which side goes first alternates (ABBA...), so a drift within a pass favours neither.
  order="default deterministic"
  ((pass % 2 == 0)) && order="deterministic default"
  for side in $order; do
    value=0
    [[ $side == deterministic ]] && value=1
    echo "== pass $pass, $side: BANYAN_DETERMINISTIC=$value $BENCH ${ARGS[*]}"
    BANYAN_DETERMINISTIC=$value nice -n 19 "$BENCH" "${ARGS[@]}" -J "$OUT/$side$pass.json" >"$OUT/$side$pass.log" 2>&1 ||
      { status=1; tail -20 "$OUT/$side$pass.log"; }
  done
done

python3 - "$OUT" "$RANKS" <<'EOF' || status=1
import glob, os, re, statistics, sys
from collections import defaultdict
import json

out, ranks = sys.argv[1], sys.argv[2]
times = defaultdict(lambda: defaultdict(dict))  # (bytes, placement) -> pass -> side -> us
digests = defaultdict(set)                      # (side, bytes) -> digests seen
for path in glob.glob(os.path.join(out, "*.json")):
    side, npass = re.match(r"(default|deterministic)(\d+)\.json", os.path.basename(path)).groups()
    with open(path) as f:
        for row in json.load(f)["rows"]:
            place = "in-place" if row["in_place"] else "out-of-place"
            times[(row["bytes"], place)][npass][side] = row["time_us"]
            if "digest" in row:
                digests[(side, row["bytes"])].add(row["digest"])

def human(n):
    return f"{n >> 20}M" if n % (1 << 20) == 0 else str(n)

print(f"== allreduce f32 on {ranks} local ranks: deterministic time / default time "
      "(above 1: the mode is slower), median over passes [range]")
print(f"{'size':>6} {'placement':>12} {'det/default':>11}  range            default us  deterministic us")
for key in sorted(times):
    passes = [p for p in times[key].values() if "default" in p and "deterministic" in p]
    if not passes:
        continue
    ratios = sorted(p["deterministic"] / p["default"] for p in passes)
    d = statistics.median(p["default"] for p in passes)
    m = statistics.median(p["deterministic"] for p in passes)
    print(f"{human(key[0]):>6} {key[1]:>12} {statistics.median(ratios):11.2f}  "
          f"[{ratios[0]:.2f}-{ratios[-1]:.2f}]  {d:14.0f}  {m:16.0f}  ({len(ratios)} passes)")
same = all(len(v) == 1 for (side, _), v in digests.items() if side == "deterministic")
print("deterministic digests equal across passes:", "yes" if same else "NO")
differs = any(digests[("default", b)] != digests[("deterministic", b)] for (s, b) in digests if s == "default")
print("default digests differ from deterministic at some size:", "yes" if differs else "no")
sys.exit(0 if same else 1)
EOF
echo "results in $OUT"
exit $status
