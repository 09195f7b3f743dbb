#!/usr/bin/env bash
# The kill/stop matrix (issue 18; tools/banyan_fault_trials.cpp, tests/support/fault_trial.hpp):
# 4 local ranks, one of them (rank 0 included) SIGKILLed or SIGSTOPped while the communicator is
# made, in the first call's lazy connection, inside each collective, in point-to-point, in a
# group, or in a loop of mixed collectives; launched by banyan's launcher (the store outlives the
# ranks), with the torchrun variables (rank 0 serves the store) and under mpirun (banyan-mpi);
# over tcp, shm-messages (the shm transport), shm (plus the shared-memory collectives) and
# libfabric's tcp;ofi_rxm. Counts hangs, survivors whose report does not name the lost rank
# (strictly: as the cause, not a bystander), the time from the fault to every survivor's error,
# and /dev/shm segments left behind.
#
#   bench/faults.sh [--quick] [BUILD_DIR]      default BUILD_DIR: build
#
# The default run takes about ten minutes (more when survivors hang: each hang holds its trial
# FAULT_BOUND_S + 5 s); --quick about one to two (launcher and env, tcp and shm, 20 kills and
# 6 stops, a 10 s bound). Environment (each replaces the run's value): FAULT_KILLS (80),
# FAULT_STOPS (30), FAULT_SEED (1), FAULT_LAYOUTS (launcher,env,mpirun; mpirun only where the
# build has MPI and mpirun is on PATH), FAULT_TRANSPORTS (tcp,shm-messages,shm,ofi-tcp),
# FAULT_MOMENTS (all), FAULT_VICTIM (drawn), FAULT_BOUND_S (15). Writes bench/out/faults-<time>/.
set -uo pipefail

quick=0
if [[ "${1:-}" == --quick ]]; then
  quick=1
  shift
fi
BUILD=${1:-build}
OUT=bench/out/faults-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"

layouts=launcher,env
if command -v mpirun >/dev/null && ldd "$BUILD/tools/banyan-fault-trials" | grep -q libmpi; then
  layouts=launcher,env,mpirun
fi
if ((quick)); then
  kills=20 stops=6 transports=tcp,shm bound=10 layouts=launcher,env
else
  kills=80 stops=30 transports=tcp,shm-messages,shm,ofi-tcp bound=15
fi
args=(--kills "${FAULT_KILLS:-$kills}" --stops "${FAULT_STOPS:-$stops}" --seed "${FAULT_SEED:-1}"
  --layouts "${FAULT_LAYOUTS:-$layouts}" --transports "${FAULT_TRANSPORTS:-$transports}"
  --moments "${FAULT_MOMENTS:-all}" --bound-s "${FAULT_BOUND_S:-$bound}"
  --json "$OUT/trials.json" --mpirun-log "$OUT/mpirun.log")
if [[ -n "${FAULT_VICTIM:-}" ]]; then args+=(--victim "$FAULT_VICTIM"); fi

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/load.txt"
echo "banyan-fault-trials ${args[*]}" | tee "$OUT/command.txt"
start=$(date +%s)
"$BUILD/tools/banyan-fault-trials" "${args[@]}" | tee "$OUT/trials.txt"
status=${PIPESTATUS[0]}
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg); $(($(date +%s) - start)) s" | tee -a "$OUT/load.txt"
exit "$status"
