#!/usr/bin/env bash
# Runs every Fuzz target in the tree for FUZZTIME each (default 15s). Corpus entries that
# a campaign finds interesting stay in each package's testdata/fuzz folder.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME="${FUZZTIME:-15s}"
status=0
while read -r dir; do
  pkg="./$dir"
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go | sed 's/^func //' | sort -u); do
    echo "== $pkg $target ($FUZZTIME)"
    if ! go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME"; then
      status=1
    fi
  done
done < <(grep -l '^func Fuzz' $(git ls-files '*_test.go') 2>/dev/null | xargs -r -n1 dirname | sort -u)
exit $status
