#!/usr/bin/env bash
# The structural rules of docs/architecture.md, checked on the tracked sources. Prints what
# breaks a rule and exits 1 if anything does; CI runs it (.ci/run).
#   1. No file under src/ or transports/ over 600 lines: files that do one thing.
#   2. No function in src/runtime over 80 lines (tools/layout/function_sizes.py says how it counts).
#   3. Nothing below the runtime includes it: src/common, config, tuning, observe, intrahost,
#      algorithms, topology, reduce, compress, p2p, resilience, simulate, symbolic and transports/
#      never include "runtime/...".
#   4. src/common includes nothing of banyan's outside src/common (it is the vocabulary at the bottom).
#   5. src/capi (the C interface) stands on the public API: it never includes "runtime/...", and
#      nothing outside it includes "capi/...".
set -uo pipefail
cd "$(dirname "$0")/.."

broken=0
say() {
  echo "check-layout: $*"
  broken=1
}

while read -r lines path; do
  [[ "$path" == total ]] && continue
  ((lines > 600)) && say "$path has $lines lines (at most 600: split it along its seams)"
done < <(git ls-files 'src/*.cpp' 'src/*.hpp' 'transports/*.cpp' 'transports/*.hpp' | xargs -r wc -l)

if ! long=$(git ls-files 'src/runtime/*.cpp' 'src/runtime/*.hpp' | xargs -r python3 tools/layout/function_sizes.py 80); then
  while read -r entry; do say "function over 80 lines: $entry"; done <<<"$long"
fi

below=(src/common src/config src/tuning src/observe src/intrahost src/algorithms src/topology src/reduce src/compress
  src/p2p src/resilience src/simulate src/symbolic transports)
while read -r hit; do
  [[ -n "$hit" ]] && say "includes the runtime from below it: $hit"
done < <(git grep -n '#include "runtime/' -- "${below[@]}" || true)
while read -r hit; do
  [[ -n "$hit" ]] && say "src/common includes outside src/common: $hit"
done < <(git grep -nE '#include "[a-z_]+/' -- src/common | grep -v '#include "common/' || true)

while read -r hit; do
  [[ -n "$hit" ]] && say "the C interface reaches into the runtime: $hit"
done < <(git grep -n '#include "runtime/' -- src/capi || true)
while read -r hit; do
  [[ -n "$hit" ]] && say "includes the C interface's internals from outside src/capi: $hit"
done < <(git grep -n '#include "capi/' -- src transports ':!src/capi' || true)

if ((broken)); then exit 1; fi
echo "check-layout: files, runtime functions and include directions follow docs/architecture.md"
