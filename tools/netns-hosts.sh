#!/usr/bin/env bash
# Simulated hosts on one machine: N network namespaces joined by a bridge, each with its own
# hostname (a UTS namespace), its own address and a rate-limited link, for tests and benchmarks
# of multi-host layouts. docs/multi-host-simulation.md describes it; in short:
#
#   netns-hosts.sh with N [--rate RATE] [--family F] -- COMMAND...
#                                      up, run COMMAND in the root namespace, always down (trap),
#                                      COMMAND's exit status
#   netns-hosts.sh up N [--rate RATE] [--family F]   create the set $NETNS_HOSTS_SET; F is 4
#                                      (default), 6 (IPv6 only) or dual (both)
#   netns-hosts.sh run HOST COMMAND...   run COMMAND on host HOST (0..N-1)
#   netns-hosts.sh addr HOST [4|6]       print host HOST's address (IPv4 unless the set is IPv6-only)
#   netns-hosts.sh down                  remove the set (idempotent)
#   netns-hosts.sh check [--family F]    exit 0 when namespaces (of family F) can be made here
#
# A set is named by NETNS_HOSTS_SET (`with` picks a unique one and exports it to COMMAND), so
# several sets (several engineers, CI) coexist. Layout of set S with N hosts:
#   namespace S-sw        the switch: bridge br0, one port pI per host; no address
#   namespace S-hI        host I: lo, and eth0 with 10.213.0.(I+1)/24 and/or fd00:ba::(I+1)/64
#                         (unique-local IPv6, added without duplicate address detection: the
#                         set's addresses are unique by construction), hostname S-hI
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
readonly kSubnet6=fd00:ba:
readonly kStateRoot=/run/netns-hosts

usage() {
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2
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

check_family() {
  [[ "$1" =~ ^(4|6|dual)$ ]] || die "--family '$1' must be 4, 6 or dual"
  if [[ "$1" != 4 ]] && [[ "$(cat /proc/sys/net/ipv6/conf/default/disable_ipv6 2>/dev/null || echo 1)" != 0 ]]; then
    die "--family $1: IPv6 is disabled or absent here (net.ipv6.conf.default.disable_ipv6 is not 0)"
  fi
}

# Waits (at most 5 s) until host namespace $1 has no tentative IPv6 address: addresses are added
# with nodad, so this normally returns at once; it guards a kernel that ignores nodad.
wait_for_dad() {
  local ns=$1 deadline=$((SECONDS + 5))
  while [[ -n "$(ip -n "$ns" -6 addr show dev eth0 tentative)" ]]; do
    ((SECONDS < deadline)) || die "up: $ns: IPv6 duplicate address detection did not finish within 5 s"
    sleep 0.1
  done
}

cmd_up() {
  local count=${1:-} rate=1gbit family=4
  shift || true
  while (($#)); do
    case $1 in
      --rate) rate=${2:?--rate needs a value such as 1gbit}; shift 2 ;;
      --family) family=${2:?--family needs 4, 6 or dual}; shift 2 ;;
      *) die "up: unknown argument '$1'" ;;
    esac
  done
  [[ "$count" =~ ^[0-9]+$ ]] && ((count >= 1 && count <= 200)) || die "up: host count '$count' must be 1..200"
  check_family "$family"
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
    [[ "$family" == 6 ]] || ip -n "$ns" addr add "$kSubnet.$((i + 1))/24" dev eth0
    [[ "$family" == 4 ]] || ip -n "$ns" addr add "$kSubnet6:$(printf %x $((i + 1)))/64" dev eth0 nodad
    ip -n "$ns" link set eth0 up
    [[ "$family" == 4 ]] || wait_for_dad "$ns"
    # burst >= 256 KiB: a smaller bucket throttles TCP below the rate at 1 Gbit/s.
    tc -n "$ns" qdisc add dev eth0 root tbf rate "$rate" burst 256kb latency 50ms
    tc -n "$set-sw" qdisc add dev "p$i" root tbf rate "$rate" burst 256kb latency 50ms
    touch "$kStateRoot/$set/h$i.uts"
    unshare --uts="$kStateRoot/$set/h$i.uts" hostname "$ns"
  done
  echo "$count" >"$kStateRoot/$set/count"
  echo "$rate" >"$kStateRoot/$set/rate"
  echo "$family" >"$kStateRoot/$set/family"
  trap - ERR
  local where="$kSubnet.1..$count"
  [[ "$family" == 6 ]] && where="$kSubnet6:1..$(printf %x "$count")"
  [[ "$family" == dual ]] && where+=" and $kSubnet6:1..$(printf %x "$count")"
  echo "netns-hosts: set '$set' up: $count host(s) at $where, links $rate"
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
  local set family
  set=$(set_name)
  check_host "$set" "${1:-}"
  family=$(cat "$kStateRoot/$set/family" 2>/dev/null || echo 4)
  local want=${2:-}
  [[ -n "$want" ]] || want=$([[ "$family" == 6 ]] && echo 6 || echo 4)
  [[ "$want" =~ ^(4|6)$ ]] || die "addr: family '$want' must be 4 or 6"
  [[ "$family" == dual || "$family" == "$want" ]] || die "addr: set '$set' has no IPv$want addresses (--family $family)"
  if [[ "$want" == 6 ]]; then
    echo "$kSubnet6:$(printf %x $(($1 + 1)))"
  else
    echo "$kSubnet.$(($1 + 1))"
  fi
}

cmd_check() {
  local family=4
  if [[ "${1:-}" == --family ]]; then
    family=${2:?--family needs 4, 6 or dual}
    (check_family "$family") || return 1
  fi
  local probe="nhchk$$"
  if ! ip netns add "$probe" 2>/dev/null; then
    echo "netns-hosts: cannot create network namespaces here (ip netns add failed; root and CAP_SYS_ADMIN needed)" >&2
    return 1
  fi
  local ok=0
  tc -n "$probe" qdisc add dev lo root tbf rate 1gbit burst 256kb latency 50ms 2>/dev/null || ok=1
  if ((ok == 0)) && [[ "$family" != 4 ]]; then
    ip -n "$probe" link set lo up && ip -n "$probe" addr add "$kSubnet6:1/128" dev lo nodad 2>/dev/null || ok=2
  fi
  ip netns del "$probe"
  if ((ok == 1)); then
    echo "netns-hosts: cannot add a tbf qdisc inside a namespace (sch_tbf missing?)" >&2
    return 1
  fi
  if ((ok == 2)); then
    echo "netns-hosts: cannot add an IPv6 address inside a namespace (IPv6 disabled?)" >&2
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
  check) shift; cmd_check "$@" ;;
  with) shift; cmd_with "$@" ;;
  *) usage ;;
esac
