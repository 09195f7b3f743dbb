#!/usr/bin/env bash
# Runs banyan-bench's checked sweep of every collective on a set of simulated hosts, launched as
# a user would on a cluster. Run it inside `tools/netns-hosts.sh with HOSTS -- ...`, which
# exports NETNS_HOSTS_SET and NETNS_HOSTS_SCRIPT.
#
#   run_suite.sh BUILD_DIR mpirun|env HOSTS RANKS_PER_HOST [COLLECTIVE...]
#
# mpirun: started on host 0 with tools/netns-rsh as its rsh agent (hosts named by address).
# env:    the torchrun variables (RANK, WORLD_SIZE, MASTER_ADDR=host 0, MASTER_PORT), one
#         process per rank started on its host. Exit status: 0 when every run exited 0.
set -uo pipefail

build=${1:?build dir}
launcher=${2:?mpirun or env}
hosts=${3:?host count}
per_host=${4:?ranks per host}
shift 4
collectives=("$@")
((${#collectives[@]})) || collectives=(allreduce allgather reduce_scatter broadcast reduce alltoall gather scatter)
netns=${NETNS_HOSTS_SCRIPT:?run inside netns-hosts.sh with}
tools=$(dirname "$(readlink -f "$netns")")
bench="$(readlink -f "$build")/tools/banyan-bench"
size=$((hosts * per_host))
# A small checked sweep; the deadline bounds a hang at well under the test's own.
flags=(-b 8 -e 256K -f 32 -n 2 -w 1 -c 1 -d f32)
export BANYAN_TIMEOUT=30s BANYAN_DEBUG=info

status=0
for collective in "${collectives[@]}"; do
  echo "== $collective: $hosts simulated host(s) x $per_host rank(s), $launcher"
  case $launcher in
    mpirun)
      hostlist=$(for ((h = 0; h < hosts; h++)); do printf '%s10.213.0.%d:%d' "$([[ $h -gt 0 ]] && echo ,)" $((h + 1)) "$per_host"; done)
      OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout 90 \
        "$netns" run 0 mpirun --oversubscribe --mca plm_rsh_agent "$tools/netns-rsh" --host "$hostlist" -np "$size" \
        -x BANYAN_TIMEOUT -x BANYAN_DEBUG "$bench" "$collective" "${flags[@]}" 2>&1 || status=1
      ;;
    env)
      port=$((20000 + RANDOM % 12000))  # below the ephemeral range (32768-)
      pids=()
      for ((r = size - 1; r >= 0; r--)); do
        RANK=$r WORLD_SIZE=$size MASTER_ADDR=10.213.0.1 MASTER_PORT=$port timeout 90 \
          "$netns" run $((r / per_host)) "$bench" "$collective" "${flags[@]}" 2>&1 &
        pids+=($!)
      done
      for pid in "${pids[@]}"; do wait "$pid" || status=1; done
      ;;
    *) echo "run_suite: unknown launcher '$launcher'" >&2; exit 2 ;;
  esac
done
exit $status
