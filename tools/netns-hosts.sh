#!/usr/bin/env bash
# Simulated hosts on one machine: N network namespaces joined by a bridge, each with its own
# hostname (a UTS namespace), its own address and a rate-limited link, for tests and benchmarks
# of multi-host layouts. docs/multi-host-simulation.md describes it; in short:
#
#   netns-hosts.sh with N [--rate RATE] -- COMMAND...   up, run COMMAND in the root namespace,
#                                                       always down (trap), COMMAND's exit status
#   netns-hosts.sh up N [--rate RATE]                   create the set $NETNS_HOSTS_SET
#   netns-hosts.sh run HOST COMMAND...                  run COMMAND on host HOST (0..N-1)
#   netns-hosts.sh addr HOST                            print host HOST's address
#   netns-hosts.sh down                                 remove the set (idempotent)
#   netns-hosts.sh check                                exit 0 when namespaces can be made here
#
# A set is named by NETNS_HOSTS_SET (`with` picks a unique one and exports it to COMMAND), so
# several sets (several engineers, CI) coexist. Layout of set S with N hosts:
#   namespace S-sw        the switch: bridge br0, one port pI per host; no address
#   namespace S-hI        host I: lo, and eth0 with 10.213.0.(I+1)/24, hostname S-hI
#   /run/netns-hosts/S/   the hosts' UTS namespaces (bind-mounted files) and the host count
# Nothing is added to the root namespace: every address lives inside the set's namespaces.
# Both ends of each link get a `tc tbf` (tbf shapes egress only): eth0 in the host, pI in the
# switch. Hosts share the PID and mount namespaces on purpose: shared-memory segment names and
# cross-memory attach use PIDs, which would collide across PID namespaces.
#
# mpirun launches across the set when started on one host with its rsh agent set to
# tools/netns-rsh (which enters the target host's namespaces) and hosts named by address:
#   netns-hosts.sh run 0 mpirun --mca plm_rsh_agent tools/netns-rsh --host 10.213.0.1:2,10.213.0.2:2 ...
set -euo pipefail

readonly kSubnet=10.213.0
readonly kStateRoot=/run/netns-hosts

usage() {
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

die() {
  echo "netns-hosts: $*" >&2
  exit 1
}

set_name() {
  [[ -n "${NETNS_HOSTS_SET:-}" ]] || die "NETNS_HOSTS_SET is not set (which set of hosts?)"
  [[ "$NETNS_HOSTS_SET" =~ ^[a-zA-Z0-9_-]{1,20}$ ]] ||
    die "NETNS_HOSTS_SET '$NETNS_HOSTS_SET' must be 1-20 letters, digits, '-' or '_'"
  echo "$NETNS_HOSTS_SET"
}

host_count() {
  local set=$1
  [[ -f "$kStateRoot/$set/count" ]] || die "set '$set' is not up (no $kStateRoot/$set/count)"
  cat "$kStateRoot/$set/count"
}

check_host() {
  local set=$1 host=$2 count
  count=$(host_count "$set")
  [[ "$host" =~ ^[0-9]+$ ]] && ((host < count)) || die "host '$host' is not one of 0..$((count - 1)) of set '$set'"
}

cmd_up() {
  local count=${1:-} rate=1gbit
  shift || true
  while (($#)); do
    case $1 in
      --rate) rate=${2:?--rate needs a value such as 1gbit}; shift 2 ;;
      *) die "up: unknown argument '$1'" ;;
    esac
  done
  [[ "$count" =~ ^[0-9]+$ ]] && ((count >= 1 && count <= 200)) || die "up: host count '$count' must be 1..200"
  local set
  set=$(set_name)
  [[ ! -e "$kStateRoot/$set" ]] || die "set '$set' exists already (netns-hosts.sh down first)"
  mkdir -p "$kStateRoot/$set"
  # From here on a failure leaves a partial set: remove it before reporting.
  trap 'cmd_down >/dev/null 2>&1 || true' ERR
  ip netns add "$set-sw"
  ip -n "$set-sw" link add br0 type bridge
  ip -n "$set-sw" link set br0 up
  local i
  for ((i = 0; i < count; i++)); do
    local ns="$set-h$i"
    ip netns add "$ns"
    ip link add eth0 netns "$ns" type veth peer name "p$i" netns "$set-sw"
    ip -n "$set-sw" link set "p$i" master br0
    ip -n "$set-sw" link set "p$i" up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$kSubnet.$((i + 1))/24" dev eth0
    ip -n "$ns" link set eth0 up
    # burst >= 256 KiB: a smaller bucket throttles TCP below the rate at 1 Gbit/s.
    tc -n "$ns" qdisc add dev eth0 root tbf rate "$rate" burst 256kb latency 50ms
    tc -n "$set-sw" qdisc add dev "p$i" root tbf rate "$rate" burst 256kb latency 50ms
    touch "$kStateRoot/$set/h$i.uts"
    unshare --uts="$kStateRoot/$set/h$i.uts" hostname "$ns"
  done
  echo "$count" >"$kStateRoot/$set/count"
  echo "$rate" >"$kStateRoot/$set/rate"
  trap - ERR
  echo "netns-hosts: set '$set' up: $count host(s) at $kSubnet.1..$count, links $rate"
}

cmd_down() {
  local set
  set=$(set_name)
  local ns namespaces pids
  namespaces=$(ip netns list | awk '{print $1}' | grep -E "^$set-(sw|h[0-9]+)$" || true)
  # Processes still running on a host (a launcher's orphans) would outlive its network.
  for ns in $namespaces; do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [[ -z "$pids" ]] || kill -KILL $pids 2>/dev/null || true
  done
  for ns in $namespaces; do
    ip netns del "$ns" || true
  done
  if [[ -d "$kStateRoot/$set" ]]; then
    local f
    for f in "$kStateRoot/$set"/*.uts; do
      [[ -e "$f" ]] || continue
      umount "$f" 2>/dev/null || true
    done
    rm -rf "${kStateRoot:?}/$set"
  fi
}

cmd_run() {
  local host=${1:-}
  shift || true
  (($#)) || die "run: no command"
  local set
  set=$(set_name)
  check_host "$set" "$host"
  exec nsenter --net="/run/netns/$set-h$host" --uts="$kStateRoot/$set/h$host.uts" -- "$@"
}

cmd_addr() {
  local set
  set=$(set_name)
  check_host "$set" "${1:-}"
  echo "$kSubnet.$(($1 + 1))"
}

cmd_check() {
  local probe="nhchk$$"
  if ! ip netns add "$probe" 2>/dev/null; then
    echo "netns-hosts: cannot create network namespaces here (ip netns add failed; root and CAP_SYS_ADMIN needed)" >&2
    return 1
  fi
  local ok=0
  tc -n "$probe" qdisc add dev lo root tbf rate 1gbit burst 256kb latency 50ms 2>/dev/null || ok=1
  ip netns del "$probe"
  if ((ok != 0)); then
    echo "netns-hosts: cannot add a tbf qdisc inside a namespace (sch_tbf missing?)" >&2
    return 1
  fi
}

cmd_with() {
  local count=${1:-}
  shift || true
  local up_args=()
  while (($#)) && [[ $1 != "--" ]]; do
    up_args+=("$1")
    shift
  done
  [[ ${1:-} == "--" ]] || die "with: expected '-- COMMAND...'"
  shift
  (($#)) || die "with: no command"
  export NETNS_HOSTS_SET="nh$$"
  trap 'cmd_down' EXIT
  trap 'exit 130' INT TERM
  cmd_up "$count" "${up_args[@]}" >&2
  export NETNS_HOSTS_SCRIPT
  NETNS_HOSTS_SCRIPT=$(readlink -f "$0")
  local status=0
  "$@" || status=$?
  return "$status"
}

[[ $(id -u) -eq 0 ]] || die "needs root (network namespaces and tc)"
case ${1:-} in
  up) shift; cmd_up "$@" ;;
  down) shift; cmd_down ;;
  run) shift; cmd_run "$@" ;;
  addr) shift; cmd_addr "$@" ;;
  check) shift; cmd_check ;;
  with) shift; cmd_with "$@" ;;
  *) usage ;;
esac
