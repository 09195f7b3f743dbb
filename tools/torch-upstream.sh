#!/usr/bin/env bash
# The whole of PyTorch's own distributed test suite (distributed_test.py, 279 tests in torch
# 1.13) on banyan and on gloo, world sizes 2 and 3, one after the other, niced: over an hour
# on the shared 2-core machine under load (banyan at world size 2 alone took 33 minutes).
# `make test-torch-upstream` runs it; docs/testing.md.
#
#   tools/torch-upstream.sh [BUILD] [upstream_suite.py options, e.g. --world-size 2]
#
# Prints a line per test and "<backend> ws=<n>: P passed, F failed, S skipped" per run; keeps
# each run's whole output, a JSON line per result and a JUnit report in BUILD/test-results/
# torch-upstream/. Exit status 1 if any test failed on either backend.
set -uo pipefail
build=${1:-build}
shift || true
here=$(cd "$(dirname "$0")/.." && pwd)
out="$build/test-results/torch-upstream"
mkdir -p "$out"
if [[ ! -e "$build/python/banyan_torch/__init__.py" ]]; then
  echo "torch-upstream: $build has no banyan_torch (build with /usr/bin/python3 importing torch)" >&2
  exit 1
fi
PYTHONPATH="$build/python" nice -n "${NICE:-19}" /usr/bin/python3 "$here/tests/torch/upstream_suite.py" \
  --backend banyan gloo --world-size 2 3 --tests all --log-dir "$out" --json "$out/results.jsonl" \
  --out "$out/results.xml" "$@"
