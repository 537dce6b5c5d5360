#!/usr/bin/env bash
# Runs the Go benchmarks BENCHCOUNT times (default 6) and summarises them with benchstat.
# Raw results go to bench-out/; docs/benchmarks.md records figures and the command used.
set -euo pipefail
cd "$(dirname "$0")/.."
count="${BENCHCOUNT:-6}"
pattern="${BENCH:-.}"
pkgs="${BENCHPKGS:-./...}"
mkdir -p bench-out
out="bench-out/go-bench.txt"
go test -run '^$' -bench "$pattern" -benchmem -count "$count" $pkgs | tee "$out"
go run golang.org/x/perf/cmd/benchstat@v0.0.0-20250813145418-2f7363a06fe1 "$out" | tee bench-out/benchstat.txt
