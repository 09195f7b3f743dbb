#!/usr/bin/env bash
# Checks that every tracked C/C++ file follows .clang-format, lists the ones that do not, and
# exits 1 if there are any (2 if clang-format is missing). CI runs it (.ci/run).
#
#   tools/check-format.sh              check the tracked files under the source folders
#   tools/check-format.sh --fix        reformat, in place, the files that do not conform
#   tools/check-format.sh [--fix] FILE...   only these files
#
# The check is against Debian 12's clang-format 14 (tools/install-deps.sh installs it): another
# major version formats some constructs differently, so it is named here rather than taken from
# PATH at any version. CLANG_FORMAT=... picks another binary.
set -uo pipefail

cd "$(dirname "$0")/.."
fix=0
if [[ ${1:-} == --fix ]]; then
  fix=1
  shift
fi

clang_format=${CLANG_FORMAT:-}
if [[ -z $clang_format ]]; then
  for candidate in clang-format-14 clang-format; do
    if command -v "$candidate" >/dev/null; then
      clang_format=$candidate
      break
    fi
  done
fi
if [[ -z $clang_format ]] || ! command -v "$clang_format" >/dev/null; then
  echo "check-format: clang-format not found: run tools/install-deps.sh (Debian package clang-format)" >&2
  exit 2
fi
version=$("$clang_format" --version | sed -n 's/.*version \([0-9]*\)\..*/\1/p')
if [[ $version != 14 ]]; then
  echo "check-format: warning: $clang_format is version ${version:-unknown}, the check is made for 14" >&2
fi

if (($# > 0)); then
  files=("$@")
else
  # Tracked files only: build directories and generated sources never count.
  if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    echo "check-format: not a git checkout: name the files to check" >&2
    exit 2
  fi
  mapfile -t files < <(git ls-files -- src transports include tools tests examples python |
    grep -E '\.(c|cc|cpp|cxx|h|hh|hpp|hxx|inl|ipp)$')
fi

for file in "${files[@]}"; do
  [[ -f $file ]] || { echo "check-format: no file $file" >&2; exit 2; }
done
# One clang-format for all files: --dry-run writes nothing and warns at each place it would
# change, "FILE:LINE:COL: warning: code should be clang-formatted"; the files are those warnings'.
# Its status is not 0 only when it could not run (e.g. a key .clang-format has that it does not know).
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! "$clang_format" --dry-run --style=file "${files[@]}" 2>"$log"; then
  head -20 "$log" >&2
  echo "check-format: $clang_format failed" >&2
  exit 2
fi
mapfile -t bad < <(sed -n 's/^\(.*\):[0-9]*:[0-9]*: warning: code should be clang-formatted.*/\1/p' "$log" | sort -u)

if ((${#bad[@]} == 0)); then
  echo "check-format: ${#files[@]} files follow .clang-format"
  exit 0
fi
if ((fix)); then
  "$clang_format" -i --style=file "${bad[@]}"
  printf '  reformatted %s\n' "${bad[@]}"
  echo "check-format: reformatted ${#bad[@]} of ${#files[@]} files"
  exit 0
fi
printf '  %s\n' "${bad[@]}"
echo "check-format: ${#bad[@]} of ${#files[@]} files do not follow .clang-format; fix them with tools/check-format.sh --fix"
exit 1
