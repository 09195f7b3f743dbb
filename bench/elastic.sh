#!/usr/bin/env bash
# Kill-and-shrink trials of examples/elastic_allreduce (issue 18): 4 ranks started with torchrun's
# variables (the store in rank 0's process), one SIGKILLed from outside about 2 s in (the victim
# cycles through every rank, rank 0 included); prints per trial the time from the kill to each
# survivor's error and to its shrunk communicator, and whether every survivor continued on 3
# ranks. On one host, or with --netns on 2 simulated hosts x 2 ranks (tools/netns-hosts.sh; TCP
# between them, shared memory inside each).
#
#   bench/elastic.sh [BUILD_DIR] [--netns]      default BUILD_DIR: build
#
# Environment: ELASTIC_TRIALS (8), BANYAN_HEARTBEAT_MS (1000, the default) and any BANYAN_*.
set -uo pipefail
BUILD=${1:-build}
NETNS=0
[[ ${2:-} == --netns ]] && NETNS=1
HERE=$(cd "$(dirname "$0")/.." && pwd)
TRIALS=${ELASTIC_TRIALS:-8}
OUT=bench/out/elastic-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
example=$(realpath "$BUILD/examples/elastic_allreduce")

trial() {  # trial N VICTIM MASTER_ADDR HOST_OF_RANK...
  local n=$1 victim=$2 master=$3
  shift 3
  local port=$((20000 + RANDOM % 20000))
  local pids=()
  for r in 0 1 2 3; do
    local prefix=()
    ((NETNS)) && prefix=("$HERE/tools/netns-hosts.sh" run "${1:-0}")
    shift || true
    "${prefix[@]}" env RANK=$r WORLD_SIZE=4 MASTER_ADDR="$master" MASTER_PORT=$port BANYAN_TIMEOUT=60s \
      BANYAN_DEBUG=none "$example" 6 4096 >"$OUT/t$n-r$r.log" 2>&1 &
    pids+=($!)
  done
  sleep 2
  # The example's own pid (netns-hosts.sh run execs into it, so $! is it in both cases).
  date +%s.%N >"$OUT/t$n-killed"
  kill -9 "${pids[$victim]}"
  local ok=1
  for r in 0 1 2 3; do
    [[ $r == "$victim" ]] && continue
    wait "${pids[$r]}" || ok=0
    grep -q "continued on 3 ranks" "$OUT/t$n-r$r.log" || ok=0
  done
  wait 2>/dev/null
  python3 - "$OUT" "$n" "$victim" "$ok" <<'PY'
import re, sys
out, n, victim, ok = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
killed = float(open(f"{out}/t{n}-killed").read())
errors, shrunk, named = [], [], True
for r in range(4):
    if r == victim:
        continue
    text = open(f"{out}/t{n}-r{r}.log").read()
    m = re.search(r"failed at ([0-9.]+): (.*)", text)
    s = re.search(r"shrunk to \d+ ranks at ([0-9.]+)", text)
    if m:
        errors.append(float(m.group(1)) - killed)
        named = named and f"rank {victim} was lost" in m.group(2)
    if s:
        shrunk.append(float(s.group(1)) - killed)
fmt = lambda xs: "/".join(f"{x * 1000:.0f}" for x in xs) if xs else "-"
print(f"trial {n}: victim {victim}: error after {fmt(errors)} ms, shrunk after {fmt(shrunk)} ms; "
      f"names the victim: {'yes' if named and len(errors) == 3 else 'NO'}; continued on 3: {'yes' if ok else 'NO'}")
PY
}

if ((NETNS)); then
  export NETNS_HOSTS_SET=${NETNS_HOSTS_SET:-bel$$}
  "$HERE/tools/netns-hosts.sh" up 2 >/dev/null || exit 1
  trap '"$HERE/tools/netns-hosts.sh" down >/dev/null' EXIT
  master=$("$HERE/tools/netns-hosts.sh" addr 0)
  for ((t = 0; t < TRIALS; ++t)); do trial "$t" $((t % 4)) "$master" 0 0 1 1; done
else
  for ((t = 0; t < TRIALS; ++t)); do trial "$t" $((t % 4)) 127.0.0.1; done
fi | tee "$OUT/summary.txt"
