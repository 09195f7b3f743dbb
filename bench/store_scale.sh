#!/usr/bin/env bash
# The store server alone at 64-4096 clients, banyan's TcpStoreServer against PyTorch's TCPStore
# (torch 1.13, Debian's, /usr/bin/python3) in the same run (issue 19, item 2).
#
#   bench/store_scale.sh [BUILD_DIR]        default BUILD_DIR: build
#
# Each client is a store client on a thread of its own, the server a process of its own; the
# load (tools/store_bench/store_load.hpp, mirrored by bench/torch_store_bench.py): every client
# connects at once and makes one Add; creation as gatherPublished does it (every client sets its
# key, client 0 reads them all and sets one combined value that every client waits for); then
# STORE_PAIRS timed set/get pairs per client. One invocation per client count and tool, the two
# tools alternating which goes first, STORE_PASSES passes; every cell is the median.
#
# Environment: SCALE_CLIENTS ("64 256 1024 2048 4096"), STORE_PASSES (3), STORE_PAIRS (20),
# STORE_TIMEOUT_S (120, every store call's deadline), STORE_OUT (bench/out/store-scale-<time>).
# Waits while /tmp/quiet.lock exists (another measurement is running on this machine).
set -uo pipefail

cd "$(dirname "$0")/.."
build=${1:-build}
bench=$build/tools/banyan-store-bench
if [[ ! -x $bench ]]; then
  echo "store_scale.sh: $bench is missing: build first (ninja -C $build)" >&2
  exit 2
fi
python=/usr/bin/python3
if ! $python -c 'import torch.distributed' 2>/dev/null; then
  echo "store_scale.sh: $python cannot import torch.distributed: the peer cannot run (apt install python3-torch)" >&2
  exit 2
fi
clients=${SCALE_CLIENTS:-64 256 1024 2048 4096}
clients=${clients//,/ }
passes=${STORE_PASSES:-3}
pairs=${STORE_PAIRS:-20}
timeout_s=${STORE_TIMEOUT_S:-120}
out=${STORE_OUT:-bench/out/store-scale-$(date -u +%Y%m%dT%H%M%S)}
mkdir -p "$out"
# A run that hangs past every call's deadline is cut off here, and counted as failed.
limit=$((timeout_s * 4 + 120))

run_one() {  # tool clients pass
  local tool=$1 n=$2 pass=$3 rows=$out/$1.rows log=$out/$1-$2-$3.log
  while [[ -e /tmp/quiet.lock ]]; do sleep 10; done
  local cmd
  if [[ $tool == banyan ]]; then
    cmd=("$bench" --clients "$n" --pairs "$pairs" --timeout-s "$timeout_s")
  else
    cmd=("$python" bench/torch_store_bench.py --clients "$n" --pairs "$pairs" --timeout-s "$timeout_s")
  fi
  timeout "$limit" nice -n 10 "${cmd[@]}" >"$log" 2>&1
  local rc=$?
  local row
  row=$(grep -E "^\| $n \|" "$log" | tail -1)
  if [[ -z $row ]]; then
    echo "$n|FAILED rc=$rc: $(grep -v '^|' "$log" | tail -1)" >>"$rows"
  else
    echo "$n|$row" >>"$rows"
  fi
  echo "  pass $pass $tool $n: rc=$rc ${row:-no result (see $log)}" >&2
}

echo "store_scale.sh: clients $clients, $passes passes, $pairs pairs, results in $out" >&2
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$out/load" >&2
for ((pass = 1; pass <= passes; ++pass)); do
  for n in $clients; do
    if ((pass % 2)); then order="banyan torch"; else order="torch banyan"; fi
    for tool in $order; do run_one "$tool" "$n" "$pass"; done
  done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/load" >&2

$python - "$out" $clients <<'PY'
import statistics
import sys

out, counts = sys.argv[1], [int(c) for c in sys.argv[2:]]
# Columns of a tool's row: clients, connect ms, creation ms, requests/s, p50 us, p99 us, failed
# connections, failed requests, wrong values, server threads, server fds, server CPU ms.
def load(tool):
    rows = {}
    try:
        lines = open(f"{out}/{tool}.rows").read().splitlines()
    except OSError:
        return rows
    for line in lines:
        n, row = line.split("|", 1)
        entry = rows.setdefault(int(n), {"runs": [], "failed": []})
        if row.startswith("FAILED"):
            entry["failed"].append(row)
        else:
            entry["runs"].append([float(x) for x in row.strip().strip("|").split("|")])
    return rows

banyan, torch = load("banyan"), load("torch")

def med(entry, column):
    values = [run[column] for run in entry["runs"]]
    return statistics.median(values) if values else None

def cell(value, digits=0):
    return "-" if value is None else f"{value:,.{digits}f}"

def ratio(peer, ours, higher_is_better=False):
    if peer is None or ours is None or peer <= 0 or ours <= 0:
        return "-"
    return f"{(ours / peer if higher_is_better else peer / ours):.2f}x"

print("| clients | connect ms: banyan / torch (ratio) | creation ms: banyan / torch (ratio) | requests/s: banyan / torch "
      "(ratio) | p50 / p99 us: banyan | p50 / p99 us: torch | server CPU ms: banyan / torch (ratio) | server threads, "
      "peak fds: banyan / torch | failures (conn+req+wrong, all passes): banyan / torch |")
print("|---|---|---|---|---|---|---|---|---|")
for n in counts:
    b, t = banyan.get(n, {"runs": [], "failed": []}), torch.get(n, {"runs": [], "failed": []})
    def fails(entry):
        counted = sum(int(run[6] + run[7] + run[8]) for run in entry["runs"])
        return f"{counted}" + (f" + {len(entry['failed'])} runs failed" if entry["failed"] else "")
    def threads_fds(entry):
        return "-" if not entry["runs"] else f"{int(max(r[9] for r in entry['runs']))}, {int(max(r[10] for r in entry['runs']))}"
    print(f"| {n} | {cell(med(b, 1), 1)} / {cell(med(t, 1), 1)} ({ratio(med(t, 1), med(b, 1))}) "
          f"| {cell(med(b, 2), 1)} / {cell(med(t, 2), 1)} ({ratio(med(t, 2), med(b, 2))}) "
          f"| {cell(med(b, 3))} / {cell(med(t, 3))} ({ratio(med(t, 3), med(b, 3), True)}) "
          f"| {cell(med(b, 4))} / {cell(med(b, 5))} | {cell(med(t, 4))} / {cell(med(t, 5))} "
          f"| {cell(med(b, 11))} / {cell(med(t, 11))} ({ratio(med(t, 11), med(b, 11))}) "
          f"| {threads_fds(b)} / {threads_fds(t)} | {fails(b)} / {fails(t)} |")
for name, rows in (("banyan", banyan), ("torch", torch)):
    for n in counts:
        for failure in rows.get(n, {}).get("failed", []):
            print(f"{name} at {n} clients: {failure}")
print(f"\nratios: torch / banyan for times, banyan / torch for requests/s (above 1: banyan better); medians of "
      f"the passes; runs: {out}")
PY
