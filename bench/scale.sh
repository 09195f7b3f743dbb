#!/usr/bin/env bash
# Many ranks on one host: the whole job's wall time and the peak of shared memory, banyan
# against Open MPI in the same run, as a new user meets them:
#   banyan-bench allreduce -np N -b 8 -e 8 -n 10 -w 1   (shm, then tcp)
#   mpirun -np N --mca btl self,vader banyan-bench-mpi ... (then btl self,tcp)
# Each cell is the median of SCALE_PASSES passes (default 3), the tools alternating within a
# pass; ranks are not bound (they outnumber the cores), alike on both sides.
#
#   bench/scale.sh [BUILD_DIR]         default BUILD_DIR: build
#
# Environment: SCALE_RANKS ("8 16 32 64"; add 128 for the oversubscribed row, ~1 min a pass),
# SCALE_PASSES (3), SCALE_TRANSPORTS ("shm tcp"), SCALE_OUT (bench/out/scale-<time>).
# Peak shared memory is the rise of Shmem in /proc/meminfo, sampled every 20 ms: segments are
# unlinked from /dev/shm once mapped, so a listing of /dev/shm shows nothing, and other jobs on
# the machine add to it (run it on a quiet machine).
#
# Then thread-ranks (tools/thread_ranks, banyan-thread-ranks): SCALE_THREAD_RANKS ranks ("1024 2048";
# "" skips them; 4096 takes tens of minutes here), each rank a thread with its own Communicator
# over loopback TCP and its own store connection, split over processes of at most
# SCALE_THREADS_PER_PROCESS (512; the hard descriptor limit of 20000 fits ~1000), one checked
# allreduce of 3 f64: the time to create every communicator, of the first allreduce (connections
# form there), of closing, store requests per rank (rank 0 aside), and per rank descriptors,
# threads and peak resident memory. One pass each (SCALE_THREAD_PASSES); no peer runs beside
# them (Open MPI cannot run ranks as threads; Gloo's thread-rank tests are not a tool).
#
# Then the init curve of processes: SCALE_INIT_RANKS ("8 16 32 64 128"; "" skips), one rank per
# process (banyan-thread-ranks -n N -p N, over tcp and over shm) against Gloo (tools/gloo-init:
# a full mesh through Gloo's FileStore, built when libgloo-dev is installed), SCALE_PASSES passes
# alternating: the slowest rank's creation and first allreduce (medians), and per rank store
# requests, descriptors and peak resident memory (of the last pass). Open MPI is not in these rows
# (banyan-bench-mpi times the whole job, which the first table has).
set -uo pipefail

BUILD=${1:-build}
read -r -a RANKS <<<"${SCALE_RANKS:-8 16 32 64}"
read -r -a TRANSPORTS <<<"${SCALE_TRANSPORTS:-shm tcp}"
PASSES=${SCALE_PASSES:-3}
OUT=${SCALE_OUT:-bench/out/scale-$(date +%Y%m%d-%H%M%S)}
BENCH="$BUILD/tools/banyan-bench"
BENCH_MPI="$BUILD/tools/banyan-bench-mpi"
for tool in "$BENCH" "$BENCH_MPI"; do
  [[ -x $tool ]] || { echo "scale.sh: $tool not found: build first (make build)" >&2; exit 2; }
done
command -v mpirun >/dev/null || { echo "scale.sh: mpirun not found (apt-get install openmpi-bin)" >&2; exit 2; }
if [[ $(id -u) -eq 0 ]]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
mkdir -p "$OUT"

shmem_kib() { awk '/^Shmem:/ { print $2 }' /proc/meminfo; }

# Runs "$@" with its output in $log; prints "<seconds> <peak shared memory MiB>", or fails.
measure() {
  local log=$1
  shift
  local base peak now start end
  base=$(shmem_kib)
  peak=$base
  start=$(date +%s.%N)
  "$@" >"$log" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    now=$(shmem_kib)
    ((now > peak)) && peak=$now
    sleep 0.02
  done
  wait "$pid" || { echo "scale.sh: failed, see $log" >&2; return 1; }
  end=$(date +%s.%N)
  printf '%.2f %d\n' "$(echo "$end - $start" | bc)" $(((peak - base) / 1024))
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

flags=(allreduce -b 8 -e 8 -n 10 -w 1)
status=0
printf '| ranks | transport | banyan job s | banyan peak shm MiB | Open MPI job s | Open MPI peak shm MiB | time ratio (Open MPI / banyan) |\n'
printf '|---|---|---|---|---|---|---|\n'
for n in "${RANKS[@]}"; do
  for transport in "${TRANSPORTS[@]}"; do
    btl=self,vader
    [[ $transport == tcp ]] && btl=self,tcp
    : >"$OUT/banyan-$n-$transport" && : >"$OUT/openmpi-$n-$transport"
    for ((pass = 0; pass < PASSES; pass++)); do
      BANYAN_TRANSPORT=$transport measure "$OUT/banyan-$n-$transport.log" "$BENCH" "${flags[@]}" -np "$n" \
        >>"$OUT/banyan-$n-$transport" || status=1
      measure "$OUT/openmpi-$n-$transport.log" mpirun -np "$n" --oversubscribe --bind-to none --mca btl "$btl" \
        "$BENCH_MPI" "${flags[@]}" >>"$OUT/openmpi-$n-$transport" || status=1
    done
    bt=$(cut -d' ' -f1 "$OUT/banyan-$n-$transport" | median)
    bm=$(cut -d' ' -f2 "$OUT/banyan-$n-$transport" | median)
    ot=$(cut -d' ' -f1 "$OUT/openmpi-$n-$transport" | median)
    om=$(cut -d' ' -f2 "$OUT/openmpi-$n-$transport" | median)
    ratio=$(awk -v o="$ot" -v b="$bt" 'BEGIN { if (b > 0) printf "%.2f", o / b; else print "-" }')
    printf '| %d | %s (vs %s) | %s | %s | %s | %s | %s |\n' "$n" "$transport" "$btl" "$bt" "$bm" "$ot" "$om" "$ratio"
  done
done

read -r -a THREAD_RANKS <<<"${SCALE_THREAD_RANKS-1024 2048}"
PER_PROCESS=${SCALE_THREADS_PER_PROCESS:-512}
THREAD_TOOL="$BUILD/tools/banyan-thread-ranks"
if ((${#THREAD_RANKS[@]} > 0)); then
  [[ -x $THREAD_TOOL ]] || { echo "scale.sh: $THREAD_TOOL not found: build first" >&2; exit 2; }
  printf '\n| thread-ranks | processes | create s | first allreduce s | close s | store requests per rank (rank 0) | fds per rank | threads per rank | peak KiB per rank |\n'
  printf '|---|---|---|---|---|---|---|---|---|\n'
fi
field() { tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }
for n in "${THREAD_RANKS[@]}"; do
  processes=$(((n + PER_PROCESS - 1) / PER_PROCESS))
  for ((pass = 0; pass < ${SCALE_THREAD_PASSES:-1}; pass++)); do
    log="$OUT/thread-ranks-$n-$pass.log"
    if ! nice "$THREAD_TOOL" -n "$n" -p "$processes" >"$log" 2>&1; then
      echo "scale.sh: $n thread-ranks failed, see $log" >&2
      status=1
      continue
    fi
    line=$(grep '^ranks=' "$log")
    printf '| %d | %d | %s | %s | %s | %s (%s) | %s | %s | %s |\n' "$n" "$processes" \
      "$(field create_s <<<"$line")" "$(field first_allreduce_s <<<"$line")" "$(field close_s <<<"$line")" \
      "$(field store_requests_per_rank <<<"$line")" "$(field store_requests_rank0 <<<"$line")" \
      "$(field fds_per_rank <<<"$line")" "$(field threads_per_rank <<<"$line")" "$(field peak_kib_per_rank <<<"$line")"
  done
done

read -r -a INIT_RANKS <<<"${SCALE_INIT_RANKS-8 16 32 64 128}"
GLOO_TOOL="$BUILD/tools/gloo-init"
if ((${#INIT_RANKS[@]} > 0)); then
  printf '\n| processes | who | create s | first allreduce s | store requests per rank (rank 0) | fds per rank | peak KiB per rank |\n'
  printf '|---|---|---|---|---|---|---|\n'
fi
for n in "${INIT_RANKS[@]}"; do
  whos=(banyan-tcp banyan-shm)
  [[ -x $GLOO_TOOL ]] && whos+=(gloo)
  for who in "${whos[@]}"; do : >"$OUT/init-$n-$who"; done
  for ((pass = 0; pass < PASSES; pass++)); do
    for who in "${whos[@]}"; do
      log="$OUT/init-$n-$who-$pass.log"
      case $who in
        banyan-tcp) command=("$THREAD_TOOL" -n "$n" -p "$n" -t tcp) ;;
        banyan-shm) command=("$THREAD_TOOL" -n "$n" -p "$n" -t shm) ;;
        gloo) command=("$GLOO_TOOL" -n "$n") ;;
      esac
      if nice "${command[@]}" >"$log" 2>&1; then
        grep '^ranks=' "$log" >>"$OUT/init-$n-$who"
      else
        echo "scale.sh: $who at $n processes failed, see $log" >&2
        status=1
      fi
    done
  done
  for who in "${whos[@]}"; do
    rows="$OUT/init-$n-$who"
    [[ -s $rows ]] || continue
    last=$(tail -1 "$rows")
    requests="-"
    [[ $who == banyan-* ]] && requests="$(field store_requests_per_rank <<<"$last") ($(field store_requests_rank0 <<<"$last"))"
    printf '| %d | %s | %s | %s | %s | %s | %s |\n' "$n" "$who" \
      "$(while read -r line; do field create_s <<<"$line"; done <"$rows" | median)" \
      "$(while read -r line; do field first_allreduce_s <<<"$line"; done <"$rows" | median)" \
      "$requests" "$(field fds_per_rank <<<"$last")" "$(field peak_kib_per_rank <<<"$last")"
  done
done
echo "raw passes in $OUT"
exit $status
