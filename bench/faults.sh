#!/usr/bin/env bash
# Fault trials (issue "never hang"): 100 kills and 50 stops of a random rank at a random moment
# of a loop of mixed collectives, 4 local ranks, spread over tcp, shm-messages (the shm
# transport) and shm (plus the shared-memory collectives). Counts hangs and wrong or missing
# error reports (both must be 0) and the time from the fault to every survivor's error.
#
#   bench/faults.sh [BUILD_DIR]       default BUILD_DIR: build
#
# Environment: FAULT_KILLS (100), FAULT_STOPS (50), FAULT_SEED (1), FAULT_TRANSPORTS
# (tcp,shm-messages,shm). Writes bench/out/faults-<time>/. Takes about ten minutes.
set -uo pipefail

BUILD=${1:-build}
OUT=bench/out/faults-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/load.txt"
"$BUILD/tools/banyan-fault-trials" --kills "${FAULT_KILLS:-100}" --stops "${FAULT_STOPS:-50}" \
  --seed "${FAULT_SEED:-1}" --transports "${FAULT_TRANSPORTS:-tcp,shm-messages,shm}" \
  --json "$OUT/trials.json" | tee "$OUT/trials.txt"
status=${PIPESTATUS[0]}
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/load.txt"
exit "$status"
