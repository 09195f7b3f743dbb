#!/usr/bin/env bash
# Issue 20's headline table from one command: every row with banyan's figure, its peer's from
# the same run (Open MPI 4.1 over btl self,tcp or self,vader; gloo for the PyTorch rows), the
# ratio, the aim and met / NOT met; then the ceilings of this machine (TCP over loopback, one
# stream each way at once with iperf3 --bidir; one-thread memcpy; fi_pingpong over ofi
# tcp;ofi_rxm and shm) with banyan's figure as a fraction of each. How each row is measured: bench/headline.py's header.
#
#   bench/headline.sh [BUILD_DIR]            default BUILD_DIR: build
#
# Environment: BENCH_PASSES (3) alternating passes (banyan first, then the peer first, ...);
# HEADLINE_NO_TORCH=1 leaves out the PyTorch rows, HEADLINE_NO_OFI=1 the ofi ceilings;
# BENCH_OUT (bench/out/headline-<time>) gets every run's JSON, passes.json (all figures) and
# headline.md (the table). `bench/headline.py BUILD --out DIR --report-only` prints the table
# again from DIR/passes.json. A pass took 4-6 minutes on the shared 2-core VM under other
# engineers' load (load average 15-300); it was not timed on a quiet machine.
set -uo pipefail
BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${BENCH_OUT:-bench/out/headline-$(date +%Y%m%d-%H%M%S)}
for tool in banyan-bench banyan-bench-mpi memcpy-bandwidth; do
  if [[ ! -x "$BUILD/tools/$tool" ]]; then
    echo "headline.sh: $BUILD/tools/$tool not found: build first (make build; MPI for the reference)" >&2
    exit 2
  fi
done
args=(--passes "${BENCH_PASSES:-3}" --out "$OUT")
[[ ${HEADLINE_NO_TORCH:-0} == 1 || ! -f "$BUILD/python/banyan_torch/__init__.py" ]] && args+=(--no-torch)
[[ ${HEADLINE_NO_OFI:-0} == 1 ]] && args+=(--no-ofi)
echo "headline.sh: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$HERE" rev-parse --short HEAD 2>/dev/null)," \
  "load average $(cut -d' ' -f1-3 /proc/loadavg)"
python3 "$HERE/headline.py" "$BUILD" "${args[@]}"
status=$?
echo "headline.sh: load average after $(cut -d' ' -f1-3 /proc/loadavg); results in $OUT"
exit $status
