#!/usr/bin/env bash
# Runs every test binary of the build and ends with the line "N passed, N failed", where N
# counts Catch2 test cases (each generated section separately). Exit status 1 if any failed.
# Each binary runs under a deadline so that a hang fails the run instead of stalling CI.
set -uo pipefail

build=${1:-build}
out="$build/test-results"
mkdir -p "$out"

# name:deadline-in-seconds. torch_tests is tests/torch/driver.py, run with /usr/bin/python3
# against this build's banyan_torch; it writes the same JUnit report as the Catch2 binaries.
# torch_upstream is tests/torch/upstream_suite.py --tests ci: a timed selection of PyTorch's own
# distributed tests (collectives, subgroups, DDP) on banyan at world size 2 (3 ranks: torch_tests,
# and make test-torch-upstream), each of which
# must pass (tools/torch-upstream.sh runs the whole suite on banyan and gloo; docs/testing.md).
# python_tests is tests/python/driver.py, the same for the banyan package (no torch).
# ofi_tests (the ofi transport's own cases, linking its module) exists only in builds with
# libfabric; without it the suite is left out and said so.
# RUN_TESTS_SUITES (space-separated name:deadline) replaces the list and RUN_TESTS_SPEC adds a
# Catch2 test spec to multiproc_tests: tools/run-sanitize.sh runs the multi-process suite (or a
# subset) of a sanitizer build this way. Both are test-run knobs, not read by banyan.
read -r -a suites <<<"${RUN_TESTS_SUITES:-unit_tests:600 multiproc_tests:1800 ofi_tests:900 torch_tests:900 torch_upstream:900 python_tests:300}"
# RUN_TESTS_FUZZ=0 leaves out the libFuzzer targets (tools/run-fuzz.sh, one case each).
fuzz=${RUN_TESTS_FUZZ:-1}

passed=0
failed=0
skipped=0
status=0

# The simulated multi-host cases ([netns]) need network namespaces (root): where they cannot be
# made, leave those cases out, say why, and count them as skipped (never as passed). The IPv6
# ones ([netns-ipv6], also [netns]) need IPv6 as well, and are left out alike where it is off.
declare -A filter=()
filter[multiproc_tests]=${RUN_TESTS_SPEC:-}
if ! netns_reason=$(tools/netns-hosts.sh check 2>&1); then
  # In a Catch2 spec ',' is "or" and juxtaposition "and": the exclusion goes into every clause.
  spec=${RUN_TESTS_SPEC:-}
  filter[multiproc_tests]="${spec//,/~[netns],}~[netns]"
  if [[ -x "$build/tests/multiproc_tests" ]]; then
    skipped=$("$build/tests/multiproc_tests" --list-test-names-only "${spec//,/[netns],}[netns]" | grep -c . || true)
  fi
  echo "run-tests: skipping $skipped simulated multi-host case(s) [netns]: $netns_reason"
elif ! netns_reason=$(tools/netns-hosts.sh check --family 6 2>&1); then
  # Namespaces, but no IPv6 in them: only the IPv6-only simulated hosts ([netns-ipv6]) go.
  spec=${RUN_TESTS_SPEC:-}
  filter[multiproc_tests]="${spec//,/~[netns-ipv6],}~[netns-ipv6]"
  if [[ -x "$build/tests/multiproc_tests" ]]; then
    skipped=$("$build/tests/multiproc_tests" --list-test-names-only "${spec//,/[netns-ipv6],}[netns-ipv6]" | grep -c . || true)
  fi
  echo "run-tests: skipping $skipped IPv6 simulated multi-host case(s) [netns-ipv6]: $netns_reason"
fi
for entry in "${suites[@]}"; do
  name=${entry%%:*}
  deadline=${entry##*:}
  binary="$build/tests/$name"
  xml="$out/$name.xml"
  command=("$binary" --reporter junit --out "$xml" --durations no)
  # One argument: a spec may quote test names, which hold spaces.
  if [[ -n "${filter[$name]:-}" ]]; then command+=("${filter[$name]}"); fi
  if [[ "$name" == torch_tests ]]; then
    # Built only when /usr/bin/python3 imports torch (tools/install-deps.sh installs it).
    binary="$build/python/banyan_torch/__init__.py"
    command=(env PYTHONPATH="$build/python" /usr/bin/python3 "$(dirname "$0")/../tests/torch/driver.py" --out "$xml")
  fi
  if [[ "$name" == torch_upstream ]]; then
    binary="$build/python/banyan_torch/__init__.py"
    command=(env PYTHONPATH="$build/python" /usr/bin/python3 "$(dirname "$0")/../tests/torch/upstream_suite.py"
             --backend banyan --world-size 2 --tests ci --out "$xml")
  fi
  if [[ "$name" == python_tests ]]; then
    # Pure Python over libbanyan's C interface: built whenever /usr/bin/python3 exists.
    binary="$build/python/banyan/__init__.py"
    command=(env PYTHONPATH="$build/python" /usr/bin/python3 "$(dirname "$0")/../tests/python/driver.py" --out "$xml")
  fi
  if [[ "$name" == ofi_tests && ! -e "$binary" && ! -e "$build/libbanyan-ofi.so" ]]; then
    echo "run-tests: no ofi_tests in this build (built without libfabric)"
    continue
  fi
  if [[ ! -e "$binary" ]]; then
    echo "run-tests: $binary is missing (did the build fail?)"
    failed=$((failed + 1))
    status=1
    continue
  fi
  rm -f "$xml"
  echo "== $name"
  # A Catch2 binary prints a progress line every 20 s (tests/support/catch_main.cpp): it is told
  # how many cases it will run.
  if [[ "$name" != torch_tests && "$name" != torch_upstream ]]; then
    RUN_TESTS_PROGRESS=$("$binary" --list-test-names-only ${filter[$name]:+"${filter[$name]}"} | grep -c . || true)
    export RUN_TESTS_PROGRESS
  fi
  # Each case's whole time (tests/support/catch_main.cpp); the slowest are printed below.
  durations="$out/$name.durations"
  rm -f "$durations"
  export RUN_TESTS_DURATIONS="$durations"
  start=$(date +%s)
  timeout --signal=KILL "$deadline" "${command[@]}"
  rc=$?
  end=$(date +%s)
  if [[ ! -s "$xml" ]] || ! grep -q '</testsuites>' "$xml"; then
    echo "run-tests: $name ended with status $rc before writing its report (crash or ${deadline}s deadline)"
    failed=$((failed + 1))
    status=1
    continue
  fi
  # One <testcase> per test case or leaf section; a failed one holds <failure> or <error>.
  read -r p f < <(awk '
    /<testcase / { total++; open = ($0 !~ /\/>[[:space:]]*$/); bad = 0; if (!open) next }
    open && /<(failure|error)/ { bad = 1 }
    open && /<\/testcase>/ { if (bad) fails++; open = 0 }
    END { print total - fails, fails + 0 }' "$xml")
  echo "   $p passed, $f failed in $((end - start)) s"
  if [[ -s "$durations" ]]; then
    echo "   slowest cases (s):"
    sort -t$'\t' -k1,1 -g -r "$durations" | head -8 | awk -F'\t' '{ printf "     %6.1f  %s\n", $1, $2 }'
  fi
  if ((f > 0)) || ((rc != 0)); then
    status=1
    # Show what failed, with Catch2's own messages.
    awk '/<testcase /{name=$0} /<(failure|error)/{print name; show=1} show{print} /<\/(failure|error)>/{show=0}' "$xml"
    if ((f == 0)); then f=1; fi
  fi
  passed=$((passed + p))
  failed=$((failed + f))
done

# The libFuzzer targets, in their own clang build beside this one; each target is one case.
if [[ "$fuzz" != 0 ]]; then
  # 10 s each here keeps CI in its time (docs/testing.md); `make fuzz` runs them longer.
  seconds=${FUZZ_SECONDS:-10}
  echo "== fuzz targets (tools/run-fuzz.sh ${build%/}-fuzz, $seconds s each)"
  start=$(date +%s)
  FUZZ_SECONDS=$seconds "$(dirname "$0")/run-fuzz.sh" "${build%/}-fuzz" | tee "$out/fuzz.log"
  end=$(date +%s)
  if read -r p _ f _ < <(tail -1 "$out/fuzz.log") && [[ "$p" =~ ^[0-9]+$ && "$f" =~ ^[0-9]+$ ]]; then
    echo "   $p passed, $f failed in $((end - start)) s"
  else
    echo "run-tests: tools/run-fuzz.sh ended without its count"
    p=0 f=1
  fi
  if ((f > 0)); then status=1; fi
  passed=$((passed + p))
  failed=$((failed + f))
fi

# The last line is the count CI reads; skipped cases are said before it, never counted as passed.
if ((skipped > 0)); then echo "run-tests: $skipped case(s) skipped (see above)"; fi
echo "$passed passed, $failed failed"
exit $status
