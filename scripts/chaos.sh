#!/usr/bin/env bash
# make chaos: a seeded, time-bounded run of a phalanx cluster on the embedded devnet under injected faults
# (SIGKILL and restart of leader and followers, partitions, one-way delays, a slow, failing or unreachable
# beacon node, a full or read-only data directory, clock skew), then an independent check: every published
# signature verifies, no two are slashable, every committed entry survived, all FSM snapshots are equal.
# Prints a fault log and a report; exits non-zero when a check fails. Needs root (network namespaces, tmpfs).
#
# Settings (environment): CHAOS_DURATION (3m), CHAOS_SEED (random; printed), CHAOS_NODES (3 or 5),
# CHAOS_FAULTS (all, or a comma-separated list), CHAOS_SLOT (2s), CHAOS_OUT (run/chaos).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "make chaos needs root: it puts each node in its own network namespace and its data on a tmpfs" >&2
  exit 2
fi
# The read-only disk fault injects EROFS with strace; install it when missing (Debian/Ubuntu).
if ! command -v strace >/dev/null; then
  echo "installing strace (the read-only disk fault uses it)" >&2
  if command -v apt-get >/dev/null; then
    apt-get install -y -qq strace >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq strace >/dev/null; }
  fi
  command -v strace >/dev/null || { echo "strace is needed for the read-only disk fault; install it or leave readonly-disk-leader out of CHAOS_FAULTS" >&2; exit 2; }
fi
mkdir -p bin
go build -o bin/phalanx-chaos ./scripts/chaos
exec bin/phalanx-chaos -bin bin/phalanx -duration "${CHAOS_DURATION:-3m}" -seed "${CHAOS_SEED:-0}" \
  -nodes "${CHAOS_NODES:-3}" -faults "${CHAOS_FAULTS:-all}" -slot-time "${CHAOS_SLOT:-2s}" -work "${CHAOS_OUT:-run/chaos}"
