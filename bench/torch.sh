#!/usr/bin/env bash
# torch.distributed on "banyan" against "gloo" in the same run (issue 6): all_reduce,
# all_gather_into_tensor and reduce_scatter_tensor on f32 tensors of 1 KiB .. 64 MiB with 2
# ranks, then a sparse all_reduce of a 1M x 64 embedding gradient touching 1% of the rows per
# rank (issue 23), then one DDP training step. Launched with banyan_torch.run (torchrun with the
# Python 3.11 fix). Takes about 2-4 minutes on a 2-core VM.
#
#   bench/torch.sh [BUILD_DIR]            default BUILD_DIR: build
#   BENCH_NP=2  BENCH_OPS=all_reduce,...  ranks and collectives (sparse_all_reduce among them)
#   BENCH_DDP_ROUNDS=0                     skip the DDP step
# The sparse all_reduce alone, on 2 to 4 ranks:
#   for n in 2 3 4; do BENCH_NP=$n BENCH_OPS=sparse_all_reduce BENCH_DDP_ROUNDS=0 bench/torch.sh BUILD; done
set -euo pipefail
BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
if [[ ! -f "$BUILD/python/banyan_torch/__init__.py" ]]; then
  echo "bench/torch.sh: $BUILD/python/banyan_torch is missing (build with torch installed)" >&2
  exit 1
fi
PYTHONPATH="$BUILD/python" /usr/bin/python3 -m banyan_torch.run --nproc_per_node "${BENCH_NP:-2}" \
  "$HERE/torch_bench.py" 2> >(grep -v -e "OMP_NUM_THREADS" -e '^\*\*\*' -e '^WARNING:__main__' >&2)
