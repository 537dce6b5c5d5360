#!/usr/bin/env bash
set -euo pipefail
echo "make run: the embedded devnet and the local 3-node cluster are not built yet; see README.md." >&2
exit 1
