#!/usr/bin/env bash
# What authentication costs (docs/security.md): banyan over TCP with BANYAN_AUTH on against
# BANYAN_AUTH=off, in the same run, as ratios on / off.
#   - allreduce at 8 B and 1 MiB, 2 and 4 ranks (f32 sum, out of place, results checked);
#   - setup: joining the job up to the end of a first barrier (communicator creation, the store
#     sessions and the barrier's connections, which is where the handshakes happen).
# The two settings alternate run by run (ROUNDS rounds, default 5) so that drift of this shared
# machine hits both alike; each figure is the median over the rounds.
#
#   bench/auth.sh [BUILD_DIR]      default BUILD_DIR: build
#
# Environment: BENCH_ROUNDS (5), BENCH_ITERS (200 at 8 B, a tenth of it at 1 MiB), BENCH_OUT
# (bench/out/auth-<time>), AUTH_TRANSPORT (tcp; ofi-tcp or ofi-shm: banyan over libfabric's
# tcp;ofi_rxm or shm, where authentication means sealed control messages, directed receives and
# source checks: transports/ofi/membership.hpp), AUTH_RANKS ("2 4"). Takes about 2 minutes.
set -uo pipefail

BUILD=${1:-build}
ROUNDS=${BENCH_ROUNDS:-5}
ITERS=${BENCH_ITERS:-200}
OUT=${BENCH_OUT:-bench/out/auth-$(date +%Y%m%d-%H%M%S)}
BENCH="$BUILD/tools/banyan-bench"
if [[ ! -x "$BENCH" ]]; then
  echo "auth.sh: $BENCH not found: build first (make build)" >&2
  exit 2
fi
mkdir -p "$OUT"
TRANSPORT=${AUTH_TRANSPORT:-tcp}
RANKS=${AUTH_RANKS:-2 4}
case $TRANSPORT in
  tcp) export BANYAN_TRANSPORT=tcp ;;
  ofi-tcp) export BANYAN_TRANSPORT=ofi BANYAN_OFI_PROVIDER='tcp;ofi_rxm' ;;
  ofi-shm) export BANYAN_TRANSPORT=ofi BANYAN_OFI_PROVIDER=shm ;;
  *) echo "auth.sh: AUTH_TRANSPORT must be tcp, ofi-tcp or ofi-shm" >&2; exit 2 ;;
esac
export BANYAN_BENCH_SETUP_TIME=1

status=0
for ((round = 1; round <= ROUNDS; round++)); do
  for np in $RANKS; do
    for size in 8 1M; do
      iters=$ITERS
      [[ $size == 1M ]] && iters=$((ITERS / 10))
      for auth in on off; do
        name="np${np}_${size}_${auth}_r${round}"
        BANYAN_AUTH=$auth "$BENCH" allreduce -np "$np" -b "$size" -e "$size" -n "$iters" -w 10 -c 1 \
          -J "$OUT/$name.json" >"$OUT/$name.txt" 2>&1 || { status=1; cat "$OUT/$name.txt"; }
      done
    done
  done
done

python3 - "$OUT" "$ROUNDS" "$TRANSPORT" "$RANKS" <<'PY'
import json, re, statistics, sys
out, rounds, transport = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ranks = [int(n) for n in sys.argv[4].split()]
def figures(np, size, auth):
    times, setups = [], []
    for r in range(1, rounds + 1):
        name = f"{out}/np{np}_{size}_{auth}_r{r}"
        try:
            rows = json.load(open(name + ".json"))["rows"]
            times.append(rows[0]["out_of_place"]["time_us"] if "out_of_place" in rows[0] else rows[0]["time_us"])
        except Exception as e:
            print(f"auth.sh: {name}: {e}", file=sys.stderr)
        m = re.search(r"# setup: .* in ([0-9.]+) ms", open(name + ".txt").read())
        if m: setups.append(float(m.group(1)))
    return (statistics.median(times) if times else float("nan"), statistics.median(setups) if setups else float("nan"))
print(f"== banyan over {transport}, allreduce f32 sum, BANYAN_AUTH on vs off, median of {rounds} alternating rounds")
print(f"{'ranks':>5} {'size':>5} {'on (us)':>10} {'off (us)':>10} {'on/off':>7}   {'setup on (ms)':>13} {'off (ms)':>9} {'on/off':>7}")
for np in ranks:
    for size in ("8", "1M"):
        on, setup_on = figures(np, size, "on")
        off, setup_off = figures(np, size, "off")
        print(f"{np:>5} {size:>5} {on:>10.2f} {off:>10.2f} {on/off:>7.3f}   {setup_on:>13.1f} {setup_off:>9.1f} {setup_on/setup_off:>7.3f}")
PY
echo "auth.sh: raw output in $OUT"
exit $status
