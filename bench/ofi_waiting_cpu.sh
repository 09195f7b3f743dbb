#!/usr/bin/env bash
# What waiting costs over ofi: the CPU time a rank uses in 5 s while its peer is stopped
# (SIGSTOP) in the middle of a stream of 16 MiB sendrecv calls, so that its sends are refused or
# never completed. Issue 7 asked whether the transport's retry of refused posts needs a back-off
# on 2 cores (bench/RESULTS.md, "Waiting on a stopped peer").
#
#   bench/ofi_waiting_cpu.sh PROVIDER     e.g. "tcp;ofi_rxm" or shm; run from the source root
#                                         after make build
set -uo pipefail
provider=${1:?usage: bench/ofi_waiting_cpu.sh PROVIDER}
BANYAN_TRANSPORT=ofi BANYAN_OFI_PROVIDER="$provider" BANYAN_TIMEOUT=60s build/tools/banyan-bench sendrecv -np 2 -b 16M -e 16M -n 100000 -w 1 >/dev/null 2>&1 &
launcher=$!
sleep 4
kids=($(pgrep -P $launcher))
[ ${#kids[@]} -ge 2 ] || { echo "ranks not found: ${kids[*]}"; kill $launcher; exit 1; }
# The launcher forks the ranks in order: the second is stopped, the first measured.
victim=${kids[1]}; survivor=${kids[0]}
kill -STOP $victim
sleep 0.5
t0=$(awk '{print $14+$15}' /proc/$survivor/stat)
sleep 5
t1=$(awk '{print $14+$15}' /proc/$survivor/stat)
tck=$(getconf CLK_TCK)
echo "$provider: survivor pid $survivor used $(( (t1 - t0) * 1000 / tck )) ms CPU in 5000 ms while its peer was stopped"
kill -KILL $victim $survivor $launcher 2>/dev/null
wait 2>/dev/null
