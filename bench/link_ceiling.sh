#!/usr/bin/env bash
# The ceiling of a simulated 1 Gbit/s link for any TCP program: two plain TCP streams (Python
# sockets, 256 MiB each) between two simulated hosts, one each way at the same time, as a ring
# step loads a host's link. Compare banyan's large-message busbw with this, not with the raw
# rate: Ethernet, IP and TCP headers take about 4.5% of a 1500-byte frame.
#
#   bench/link_ceiling.sh [RATE]      (default 1gbit; needs root, as tools/netns-hosts.sh)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
RATE=${1:-1gbit}
exec "$HERE/../tools/netns-hosts.sh" with 2 --rate "$RATE" -- bash -c '
  run="$NETNS_HOSTS_SCRIPT run"; py='"$HERE"'/link_ceiling.py
  $run 1 python3 "$py" server & $run 0 python3 "$py" server & sleep 1
  $run 0 python3 "$py" client 10.213.0.2 & $run 1 python3 "$py" client 10.213.0.1
  wait'
