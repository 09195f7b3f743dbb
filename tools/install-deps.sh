#!/usr/bin/env bash
# Installs the Debian 12 packages banyan needs to build, test and benchmark.
# Idempotent: when every package is present it only runs dpkg-query and returns.
set -euo pipefail

# Build: compiler, meson/ninja, fmt, Asio, Catch2. Open MPI: banyan-mpi, the reference
# benchmark and the mpirun launch test. python3: bench/summarize.py and the tools/ scripts
# (standard library only); python3-matplotlib: tools/plot (the pictures of `make bench`).
# libfabric: the ofi transport (built only when found) and fi_pingpong, its benchmark ceiling.
# python3-torch, libtorch-dev, pybind11-dev, python3-dev: the PyTorch backend (python/banyan_torch),
# its tests, the DDP example and bench/torch.sh (torch 1.13 for /usr/bin/python3).
# libsodium-dev: authentication (src/security/: HMAC-SHA256 challenge-response, random keys).
# libhwloc-dev: the topology probe (cores, NUMA). graphviz: banyan-topo's pictures (dot).
# iproute2 (ip, tc) and util-linux (unshare, nsenter): tools/netns-hosts.sh's simulated hosts.
# clang + libclang-rt-14-dev: the libFuzzer targets (tools/run-fuzz.sh; libFuzzer and clang's
# ASan/UBSan runtimes are in libclang-rt-14-dev). libasan8, libubsan1, libtsan2: g++'s sanitizer
# runtimes for tools/run-sanitize.sh (g++ pulls them in; listed so the need is visible).
# ccache: meson compiles through it when present, so the same sources built again (a CI clone,
# the sanitizer and fuzz builds of a change) reuse their objects.
# clang-format (14 on Debian 12): tools/check-format.sh, which CI runs.
# libpmix-dev: the PMIx bootstrap (fromEnvironment() under mpirun / srun --mpi=pmix), built when
# found; libbanyan loads libpmix only under a PMIx launcher (docs/launchers.md). It is the PMIx
# Debian's Open MPI is built against, so the test's mpirun and this client speak alike.
# slurmctld, slurmd, slurm-client, munge: tools/slurm-local.sh's one-node cluster, which the
# [slurm-cluster] test starts to run banyan under srun and sbatch (docs/testing.md). Installing
# them starts no daemon (Debian's policy-rc.d or no init); the script runs its own.
# python3-numpy: the banyan package's tests and examples/numpy_allreduce.py (the package itself
# needs only the standard library).
# python3-torchvision: bench/ddp.sh's resnet18. iperf3: bench/headline.sh's one-TCP-stream
# ceiling. linux-perf, strace: the breakdowns of where the time goes (bench/RESULTS.md, issue 20).
# libgloo-dev: tools/gloo-init, Gloo's side of bench/scale.sh's init curve (built when found).
packages=(
  g++ make pkg-config meson ninja-build
  libfmt-dev libasio-dev catch2
  libopenmpi-dev openmpi-bin
  python3 python3-matplotlib procps
  libfabric-dev libfabric-bin
  python3-dev python3-torch libtorch-dev pybind11-dev
  iproute2 util-linux
  libhwloc-dev graphviz
  libsodium-dev
  clang libclang-rt-14-dev libasan8 libubsan1 libtsan2
  ccache
  clang-format
  libpmix-dev
  slurmctld slurmd slurm-client munge
  python3-numpy
  python3-torchvision iperf3 linux-perf strace
  libgloo-dev
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
