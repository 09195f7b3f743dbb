#!/usr/bin/env bash
# The real job (issue 20): torchvision's resnet18 trained with DistributedDataParallel on
# synthetic images, small batch, over "banyan" and over "gloo" in the same processes,
# alternating, on 2 and then 4 ranks (4 ranks share the 2 cores of the VM). Per backend: the
# time of a step, the step without communication (DDP's no_sync), the exposed communication and
# its share of the step, the allreduce of all gradients alone and how much of it the backward
# pass hid (bench/ddp_bench.py's header defines each column). Aim: banyan's step at least 1.3x
# faster than gloo's where communication is a real share of it, and never slower.
#
#   bench/ddp.sh [BUILD_DIR]           default BUILD_DIR: build
#
# Environment: DDP_RANKS ("2 4"), DDP_BATCH (8), DDP_IMAGE (32), DDP_ROUNDS (4), DDP_STEPS (5).
# Needs python3-torchvision (tools/install-deps.sh). Takes about 2-3 minutes on the 2-core VM.
set -euo pipefail
BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
if [[ ! -f "$BUILD/python/banyan_torch/__init__.py" ]]; then
  echo "bench/ddp.sh: $BUILD/python/banyan_torch is missing (build with torch installed)" >&2
  exit 1
fi
if ! /usr/bin/python3 -c 'import torchvision' 2>/dev/null; then
  echo "bench/ddp.sh: torchvision is missing (tools/install-deps.sh installs python3-torchvision)" >&2
  exit 1
fi
for np in ${DDP_RANKS:-2 4}; do
  PYTHONPATH="$BUILD/python" /usr/bin/python3 -m banyan_torch.run --nproc_per_node "$np" "$HERE/ddp_bench.py" \
    2> >(grep -v -e "OMP_NUM_THREADS" -e '^\*\*\*' -e '^WARNING:__main__' >&2)
done
