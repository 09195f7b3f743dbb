#!/usr/bin/env bash
# The control channel's cost when nothing fails (docs/fault-tolerance.md): 8 B allreduce latency
# and 16 MiB allreduce bus bandwidth with the heartbeats on (BANYAN_HEARTBEAT_MS=1000, the
# default) and off (0), in the same run, alternating on/off passes, over shared memory and TCP,
# 2 ranks. Prints per case the median over the passes of on/off time per call (1.00: no cost;
# above 1: the heartbeats cost) with the range of the per-pass ratios, the noise to read it
# against. The control channel itself (socket, thread, notices) exists either way: what can be
# switched off is its periodic work; its per-operation work (one atomic load and one store) is
# always there and is part of every figure in RESULTS.md.
#
#   bench/liveness.sh [BUILD_DIR]      default: build
#
# Environment: LIVENESS_PASSES (5), LIVENESS_RANKS (2). About 2 minutes.
set -uo pipefail
BUILD=${1:-build}
OUT=bench/out/liveness-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
PASSES=${LIVENESS_PASSES:-5}
RANKS=${LIVENESS_RANKS:-2}
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/load.txt"
for ((pass = 1; pass <= PASSES; pass++)); do
  for side in on off; do
    beat=1000
    [[ $side == off ]] && beat=0
    for transport in shm tcp; do
      BANYAN_HEARTBEAT_MS=$beat BANYAN_TRANSPORT=$transport "$BUILD/tools/banyan-bench" allreduce -np "$RANKS" \
        -b 8 -e 8 -n 2000 -w 200 -J "$OUT/$side-$transport-small-$pass.json" >/dev/null || exit 1
      BANYAN_HEARTBEAT_MS=$beat BANYAN_TRANSPORT=$transport "$BUILD/tools/banyan-bench" allreduce -np "$RANKS" \
        -b 16M -e 16M -n 20 -w 3 -J "$OUT/$side-$transport-large-$pass.json" >/dev/null || exit 1
    done
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/load.txt"
python3 - "$OUT" "$PASSES" <<'PY'
import json, statistics, sys
out, passes = sys.argv[1], int(sys.argv[2])
def time_us(path):
    with open(path) as f:
        rows = json.load(f)["rows"]
    return rows[0]["time_us"]
print(f"{'case':<22} {'on/off time':>12}  {'range':>13}   median us on / off")
for transport in ("shm", "tcp"):
    for size, label in (("small", "8 B"), ("large", "16 MiB")):
        on = [time_us(f"{out}/on-{transport}-{size}-{p}.json") for p in range(1, passes + 1)]
        off = [time_us(f"{out}/off-{transport}-{size}-{p}.json") for p in range(1, passes + 1)]
        ratios = [a / b for a, b in zip(on, off)]
        print(f"{transport + ' ' + label:<22} {statistics.median(ratios):>12.3f}  "
              f"[{min(ratios):.3f}-{max(ratios):.3f}]   {statistics.median(on):.1f} / {statistics.median(off):.1f}")
PY
