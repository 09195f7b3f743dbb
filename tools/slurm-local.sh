#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for trying banyan under srun and sbatch and for the
# Slurm tests (docs/testing.md): slurmctld, slurmd and munged of their own, with their own
# config, state, logs, munge key and ports under one directory, reached on loopback only. The
# system's Slurm and munge (if any) are not touched.
#
#   tools/slurm-local.sh up       start it (idempotent); prints the SLURM_CONF to export
#   tools/slurm-local.sh status   whether it runs, and sinfo
#   tools/slurm-local.sh down     stop it (the directory stays, for its logs)
#
# BANYAN_SLURM_DIR   where everything lives (default /tmp/banyan-slurm)
# BANYAN_SLURM_PORT  slurmctld's port; slurmd takes the next one (default 16817)
# BANYAN_SLURM_CPUS  CPUs the node advertises (default 8: 4- and 8-rank steps on a small machine)
# Needs (Debian 12): slurmctld slurmd slurm-client munge (tools/install-deps.sh installs them).
# Runs as root (slurmd starts tasks as their users).
set -euo pipefail

dir=${BANYAN_SLURM_DIR:-/tmp/banyan-slurm}
port=${BANYAN_SLURM_PORT:-16817}
cpus=${BANYAN_SLURM_CPUS:-8}
node=$(hostname -s)
conf=$dir/slurm.conf

die() { echo "slurm-local: $*" >&2; exit 1; }

pid_alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

write_config() {
  mkdir -p "$dir"/{state,spool,log,munge}
  chmod 700 "$dir/munge"
  if [[ ! -f $dir/munge/munge.key ]]; then
    # A key for this cluster alone: 1 KiB from the kernel's generator, readable by root only.
    dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
    chmod 400 "$dir/munge/munge.key"
  fi
  cat >"$conf" <<CONF
# Written by tools/slurm-local.sh: a one-node cluster on loopback.
ClusterName=banyanlocal
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
# No cgroups: the machine's (or container's) cgroup tree is not ours to change.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
# The node advertises $cpus CPUs whatever the machine has (config_overrides).
SlurmdParameters=config_overrides
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "$what did not happen within the deadline (logs: $dir/log)"
    sleep 0.5
  done
}

node_idle() { SLURM_CONF=$conf sinfo -h -n "$node" -o %t | grep -Eq '^(idle|mix|alloc)'; }

up() {
  if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    die "slurmctld/munged not installed: tools/install-deps.sh installs them"
  fi
  write_config
  if ! pid_alive "$dir/munge/munged.pid"; then
    munged --force --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
      --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munge.seed"
  fi
  pid_alive "$dir/slurmctld.pid" || slurmctld -f "$conf"
  pid_alive "$dir/slurmd.pid" || slurmd -f "$conf" -N "$node"
  wait_for 60 "node $node idle" node_idle
  echo "slurm-local: up; export SLURM_CONF=$conf"
}

down() {
  local f
  for f in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
    if pid_alive "$f"; then
      local pid
      pid=$(cat "$f")
      kill "$pid"
      wait_for 20 "exit of $(basename "$f" .pid)" bash -c "! kill -0 $pid"
    fi
  done
  echo "slurm-local: down"
}

status() {
  local f running=0
  for f in munge/munged slurmctld slurmd; do
    if pid_alive "$dir/$f.pid"; then echo "$(basename $f): running"; running=$((running + 1)); else echo "$(basename $f): stopped"; fi
  done
  if ((running == 3)); then SLURM_CONF=$conf sinfo; fi
  ((running == 3))
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  *) die "usage: $0 up|down|status" ;;
esac
