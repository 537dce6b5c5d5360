#!/usr/bin/env bash
set -euo pipefail
echo "make chaos: not built yet; see README.md." >&2
exit 1
