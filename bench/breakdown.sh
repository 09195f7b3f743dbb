#!/usr/bin/env bash
# Where the time goes (issue 20, "Find where the time goes"): for each case, banyan and Open MPI
# (the same flags, bound alike, 2 ranks, f32 sum) measured three ways:
#   syscalls: strace -f -c of two runs, 10 and 110 calls, subtracted (start-up cancels out),
#             per call of one rank and per MiB of the buffer (the size given);
#   CPU:      perf record -g (cpu-clock; this VM has no hardware counters) of the whole job,
#             few calls and many, subtracted (start-up cancels out), split by
#             bench/profile_split.py into kernel copies, TCP/IP stack, reduction, page faults,
#             waiting, MPI's progress polling, banyan's own code, ...;
#   timeline: banyan only, BANYAN_TRACE of a few calls, split by bench/trace_split.py into the
#             share of an operation covered by receives, sends, reduce and copy steps, reduce
#             during transfers (overlap) and none of them.
# wait4 and clock_nanosleep in the banyan counts are its launcher polling
# for its ranks' exit, not the ranks. strace and perf slow the runs down: read shares and counts from here, speed from headline.sh.
#
#   bench/breakdown.sh [BUILD_DIR] [CASE...]   CASE = transport:collective:size, e.g. tcp:allreduce:16M
#
# Default cases: tcp allreduce 1M and 16M, shm allreduce 1M and 8 B, shm alltoall, broadcast
# and sendrecv at 64K and 4M. Writes bench/out/breakdown-<time>/. The ten took 9 minutes under load.
set -uo pipefail
BUILD=${1:-build}
shift || true
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${BENCH_OUT:-bench/out/breakdown-$(date +%Y%m%d-%H%M%S)}
CASES=("$@")
((${#CASES[@]})) || CASES=(tcp:allreduce:1M tcp:allreduce:16M shm:allreduce:1M shm:allreduce:8 shm:alltoall:64K
  shm:alltoall:4M shm:broadcast:64K shm:broadcast:4M shm:sendrecv:64K shm:sendrecv:4M)
mkdir -p "$OUT"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
to_bytes() { numfmt --from=iec "$1"; }

run() {  # side transport collective size calls [wrapper...]: one run, 2 ranks
  local side=$1 transport=$2 coll=$3 size=$4 calls=$5
  shift 5
  local flags=(-b "$size" -e "$size" -n "$calls" -w 0 -c 0 -d f32 -o sum)
  if [[ $side == banyan ]]; then
    local t=()
    [[ $transport == tcp ]] && t=(env BANYAN_TRANSPORT=tcp)
    "$@" "${t[@]}" "$BUILD/tools/banyan-bench" "$coll" -np 2 "${flags[@]}"
  else
    local btl=self,vader
    [[ $transport == tcp ]] && btl=self,tcp
    "$@" mpirun -np 2 --oversubscribe --bind-to core:overload-allowed --mca btl "$btl" \
      "$BUILD/tools/banyan-bench-mpi" "$coll" "${flags[@]}"
  fi
}

for case in "${CASES[@]}"; do
  IFS=: read -r transport coll size <<<"$case"
  bytes=$(to_bytes "$size")
  echo "== $transport $coll $size, 2 ranks (load average $(cut -d' ' -f1 /proc/loadavg))"
  for side in banyan openmpi; do
    tag="$OUT/$side-$transport-$coll-$size"
    for calls in 10 110; do
      run "$side" "$transport" "$coll" "$size" "$calls" strace -f -c -o "$tag-strace-$calls.txt" >/dev/null 2>&1
    done
    # banyan-bench and banyan-bench-mpi time both placements: 2 x 100 calls between the runs.
    python3 - "$tag-strace-10.txt" "$tag-strace-110.txt" "$bytes" "$side" <<'PY'
import sys
def load(p):
    d = {}
    for line in open(p):
        w = line.split()
        if len(w) >= 5 and w[0][0].isdigit() and w[-1] != "total":
            d[w[-1]] = int(w[3])
    return d
a, b, nbytes = load(sys.argv[1]), load(sys.argv[2]), int(sys.argv[3])
calls = 2 * 100 * 2  # two placements x 100 calls x 2 ranks: per call of one rank
per = {k: (b.get(k, 0) - a.get(k, 0)) / calls for k in set(a) | set(b)}
per = {k: v for k, v in sorted(per.items(), key=lambda kv: -kv[1]) if v >= 0.05}
unit = f", per MiB of buffer {sum(per.values()) / (nbytes / 2**20):.1f}" if nbytes >= 2**20 else ""
print(f"  {sys.argv[4]:<8} syscalls per call and rank {sum(per.values()):.1f}{unit}: " +
      ", ".join(f"{k} {v:.1f}" for k, v in per.items()))
PY
    # Two profiles, few calls and many, the first's counts subtracted from the second's.
    calls=1000
    ((bytes >= 1 << 20)) && calls=300
    ((bytes >= 4 << 20)) && calls=100
    ((bytes <= 64 << 10)) && calls=5000
    for n in 10 "$calls"; do
      run "$side" "$transport" "$coll" "$size" "$n" perf record -q -g -F 999 -o "$tag-$n.perf" >/dev/null 2>&1
      perf script -i "$tag-$n.perf" >"$tag-$n.script" 2>/dev/null
    done
    echo "  $side CPU, calls $((calls - 10)) x 2 placements:"
    python3 "$HERE/profile_split.py" "$tag-$calls.script" "$tag-10.script" | tee "$tag-cpu.txt"
    rm -f "$tag"-*.script
  done
  rm -f "$OUT"/trace-*.json
  BANYAN_TRACE="$OUT/trace-%r.json" run banyan "$transport" "$coll" "$size" 20 >/dev/null 2>&1
  echo "  banyan timeline (BANYAN_TRACE, 20 calls):"
  python3 "$HERE/trace_split.py" "$bytes" "$OUT"/trace-*.json | sed "s|$OUT/||"
done 2>&1 | tee "$OUT/breakdown.txt"
echo "breakdown.sh: results in $OUT"
