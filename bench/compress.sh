#!/usr/bin/env bash
# What compressed allreduce gains on slow links (issue 21 item 2): banyan-bench allreduce f32
# sum over simulated hosts (tools/netns-hosts.sh, links shaped by tbf), uncompressed (-Z none)
# against -Z bf16 and -Z int8 (and fp16 when asked) in the same run, in alternating passes
# (none, bf16, int8, then int8, bf16, none, ...) so a shared machine's drift favours no side.
# Prints per (rate, layout, size) the median over passes of none's time over each format's
# (above 1: compressed is faster), with the range of the per-pass ratios. Out-of-place times.
#
#   bench/compress.sh [BUILD]          default: build
#
# Environment: CMP_RATES ("1gbit 10gbit"), CMP_LAYOUTS ("2x2 4x1"), CMP_FORMATS ("none bf16
# int8"), CMP_PASSES (3), CMP_MIN (16M), CMP_MAX (256M), CMP_ITERS (2), CMP_OUT
# (bench/out/compress-<time>). Needs root (network namespaces). About 15 minutes on the 2-core VM.
# The pseudo-format "det" is uncompressed in deterministic mode (BANYAN_DETERMINISTIC=1): what
# that mode costs between hosts (issue 21 item 1), e.g.
#   CMP_FORMATS="none det" CMP_RATES=10gbit CMP_MIN=1M CMP_MAX=64M CMP_ITERS=5 bench/compress.sh build
set -uo pipefail

BUILD=$(readlink -f "${1:-build}")
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
BENCH=$BUILD/tools/banyan-bench
[[ -x $BENCH ]] || { echo "compress.sh: no $BENCH (build first)" >&2; exit 2; }
OUT=${CMP_OUT:-bench/out/compress-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
OUT=$(readlink -f "$OUT")
FORMATS=(${CMP_FORMATS:-none bf16 int8})
ARGS="allreduce -b ${CMP_MIN:-16M} -e ${CMP_MAX:-256M} -f 4 -n ${CMP_ITERS:-2} -w 1"
export BANYAN_TIMEOUT=600s
status=0

# One banyan-bench run of format $3 on layout $1 (HxR) at rate $2, its JSON to $4.
run_one() {
  local layout=$1 rate=$2 format=$3 json=$4
  local hosts=${layout%x*} per=${layout#*x} deterministic=0
  if [[ $format == det ]]; then
    format=none deterministic=1
  fi
  BANYAN_DETERMINISTIC=$deterministic "$ROOT/tools/netns-hosts.sh" with "$hosts" --rate "$rate" -- bash -c '
    size=$(('"$hosts"' * '"$per"')); port=$((20000 + RANDOM % 12000)); pids=()
    for ((r = size - 1; r >= 1; r--)); do
      RANK=$r WORLD_SIZE=$size MASTER_ADDR=10.213.0.1 MASTER_PORT=$port \
        "$NETNS_HOSTS_SCRIPT" run $((r / '"$per"')) nice -n 10 "'"$BENCH"'" '"$ARGS"' -Z '"$format"' >/dev/null &
      pids+=($!)
    done
    RANK=0 WORLD_SIZE=$size MASTER_ADDR=10.213.0.1 MASTER_PORT=$port \
      "$NETNS_HOSTS_SCRIPT" run 0 nice -n 10 "'"$BENCH"'" '"$ARGS"' -Z '"$format"' -J '"$json"'
    s=$?; for p in "${pids[@]}"; do wait $p || s=1; done; exit $s'
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/load.txt"
for rate in ${CMP_RATES:-1gbit 10gbit}; do
  for layout in ${CMP_LAYOUTS:-2x2 4x1}; do
    for ((pass = 1; pass <= ${CMP_PASSES:-3}; pass++)); do
      order=("${FORMATS[@]}")
      if ((pass % 2 == 0)); then
        order=()
        for ((i = ${#FORMATS[@]} - 1; i >= 0; i--)); do order+=("${FORMATS[i]}"); done
      fi
      for format in "${order[@]}"; do
        name="${rate}_${layout}_${format}_${pass}"
        echo "== $rate $layout pass $pass -Z $format (load $(cut -d' ' -f1-3 /proc/loadavg))"
        run_one "$layout" "$rate" "$format" "$OUT/$name.json" >"$OUT/$name.log" 2>&1 ||
          { status=1; tail -5 "$OUT/$name.log"; }
      done
    done
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/load.txt"

python3 - "$OUT" <<'PY' || status=1
import glob, json, os, re, statistics, sys
from collections import defaultdict

out = sys.argv[1]
times = defaultdict(dict)  # (rate, layout, bytes, pass) -> format -> us
for path in glob.glob(os.path.join(out, "*.json")):
    rate, layout, fmt, npass = re.match(r"(\w+)_(\dx\d)_(\w+)_(\d+)\.json", os.path.basename(path)).groups()
    with open(path) as f:
        for row in json.load(f)["rows"]:
            if not row["in_place"]:
                times[(rate, layout, row["bytes"], npass)][fmt] = row["time_us"]

formats = sorted({f for t in times.values() for f in t if f != "none"})
print("== allreduce f32 sum, none time / compressed time (median over passes [range]), none's median time")
print(f"{'rate':>7} {'layout':>6} {'size':>6} {'none ms':>9} " + " ".join(f"{f:>22}" for f in formats))
for rate, layout, size in sorted({k[:3] for k in times}, key=lambda k: (k[0], k[1], k[2])):
    passes = [t for k, t in times.items() if k[:3] == (rate, layout, size)]
    none = [t["none"] for t in passes if "none" in t]
    cells = []
    for f in formats:
        ratios = sorted(t["none"] / t[f] for t in passes if "none" in t and f in t)
        cells.append(f"{statistics.median(ratios):6.2f}x [{ratios[0]:.2f}-{ratios[-1]:.2f}] n={len(ratios)}"
                     if ratios else "-")
    none_ms = f"{statistics.median(none) / 1000:9.1f}" if none else "        -"
    print(f"{rate:>7} {layout:>6} {size >> 20:>5}M {none_ms} " + " ".join(f"{c:>22}" for c in cells))
PY
exit $status
