#!/usr/bin/env bash
# Issue 22's ways in, against a peer in the same run (alternating passes, 2 ranks on this host):
#   python  the `banyan` package (ctypes over the C interface, numpy) against torch.distributed's
#           gloo from Python: allreduce time per call at 8 B and 16 MiB (ratio banyan/gloo; below
#           1: banyan faster). banyan goes over shared memory here, gloo over TCP loopback.
#   ipv6    banyan-bench over TCP with the store (and so every rank) on ::1 against 127.0.0.1:
#           allreduce at 8 B and 16 MiB (ratio v6/v4; 1.00: the family costs nothing).
# Prints the median over the passes of each ratio, with the range of the per-pass ratios.
#
#   bench/interfaces.sh [BUILD_DIR]      default: build
#
# Environment: INTERFACES_PASSES (3). About 3 minutes.
set -uo pipefail
BUILD=${1:-build}
OUT=bench/out/interfaces-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PASSES=${INTERFACES_PASSES:-3}
PY=/usr/bin/python3
export PYTHONPATH="$BUILD/python"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/load.txt"

python_side() {  # python_side SIDE SIZE ITERS WARMUP FILE
  rm -f "$5" "$5.rendezvous"
  $PY -m banyan.run -n 2 --timeout 300 bench/python_bench.py "$@" >/dev/null || exit 1
}

env_bench() {  # env_bench ADDR SIZE ITERS WARMUP FILE: two ranks started with torchrun's variables
  local port=$((20000 + RANDOM % 20000)) pids=() rank
  for rank in 0 1; do
    RANK=$rank WORLD_SIZE=2 MASTER_ADDR=$1 MASTER_PORT=$port BANYAN_TRANSPORT=tcp timeout 300 \
      "$BUILD/tools/banyan-bench" allreduce -b "$2" -e "$2" -n "$3" -w "$4" -J "$5" >/dev/null &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || exit 1; done
}

for ((pass = 1; pass <= PASSES; pass++)); do
  for side in banyan gloo; do
    python_side "$side" 8 2000 200 "$OUT/py-$side-small-$pass.json"
    python_side "$side" 16777216 20 3 "$OUT/py-$side-large-$pass.json"
  done
  for family in 6 4; do
    addr=127.0.0.1
    [[ $family == 6 ]] && addr=::1
    env_bench "$addr" 8 2000 200 "$OUT/ip$family-small-$pass.json"
    env_bench "$addr" 16M 20 3 "$OUT/ip$family-large-$pass.json"
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/load.txt"
python3 - "$OUT" "$PASSES" <<'PY'
import json, statistics, sys
out, passes = sys.argv[1], int(sys.argv[2])
def time_us(path):
    with open(path) as f:
        data = json.load(f)
    return data["time_us"] if "time_us" in data else data["rows"][0]["time_us"]
def row(label, a, b, names):
    ta = [time_us(f"{out}/{a}-{p}.json") for p in range(1, passes + 1)]
    tb = [time_us(f"{out}/{b}-{p}.json") for p in range(1, passes + 1)]
    ratios = [x / y for x, y in zip(ta, tb)]
    print(f"{label:<30} {statistics.median(ratios):>7.3f}  [{min(ratios):.3f}-{max(ratios):.3f}]   "
          f"median us {names}: {statistics.median(ta):.1f} / {statistics.median(tb):.1f}")
print(f"{'case':<30} {'ratio':>7}  {'range':>13}")
for size, label in (("small", "8 B"), ("large", "16 MiB")):
    row(f"python banyan/gloo {label}", f"py-banyan-{size}", f"py-gloo-{size}", "banyan / gloo")
for size, label in (("small", "8 B"), ("large", "16 MiB")):
    row(f"tcp IPv6/IPv4 {label}", f"ip6-{size}", f"ip4-{size}", "v6 / v4")
PY
