#!/usr/bin/env bash
# Fails early, with a clear message, when the Go toolchain or a C compiler for cgo (blst) is missing.
set -euo pipefail
export PATH="$PATH:/usr/local/go/bin"
if ! command -v go >/dev/null 2>&1; then
  echo "phalanx needs Go 1.26 or newer on PATH (looked in \$PATH and /usr/local/go/bin)" >&2
  exit 1
fi
if ! command -v "${CC:-gcc}" >/dev/null 2>&1 && ! command -v cc >/dev/null 2>&1; then
  echo "phalanx needs a C compiler for cgo (blst); install gcc" >&2
  exit 1
fi
