#!/usr/bin/env bash
# make run: a local 3-node 2-of-3 phalanx cluster on the embedded devnet, with a live per-slot view.
#
# Every run starts clean: the devnet's chain lives in memory, so a new run is a new chain, and the cluster's
# state (bound to the previous chain) is wiped. Logs of the last run stay in run/*.log.
#
# Settings (environment): VALIDATORS (64), CLUSTER_VALIDATORS (0-31), SLOT_TIME (2s), BASE_PORT (9000),
# API_PORT (5060), BEACON_PORT (5052).
set -euo pipefail
cd "$(dirname "$0")/.."

VALIDATORS="${VALIDATORS:-64}"
CLUSTER_VALIDATORS="${CLUSTER_VALIDATORS:-0-31}"
SLOT_TIME="${SLOT_TIME:-2s}"
BASE_PORT="${BASE_PORT:-9000}"
API_PORT="${API_PORT:-5060}"
BEACON_PORT="${BEACON_PORT:-5052}"
BIN=bin/phalanx
RUN=run

pids=()
cleanup() {
  trap - EXIT
  if [ ${#pids[@]} -gt 0 ]; then
    echo
    echo "stopping the cluster and the devnet..."
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
  echo "logs: $RUN/devnet.log $RUN/node-1.log $RUN/node-2.log $RUN/node-3.log"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

for port in "$BEACON_PORT" "$BASE_PORT" "$((BASE_PORT+1))" "$((BASE_PORT+2))" "$API_PORT" "$((API_PORT+1))" "$((API_PORT+2))"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port on 127.0.0.1 is in use (another 'make run'?); set BEACON_PORT, BASE_PORT or API_PORT" >&2
    exit 1
  fi
done

rm -rf "$RUN/cluster"
mkdir -p "$RUN"
echo "creating a 2-of-3 cluster for validators $CLUSTER_VALIDATORS (keys split here; each node gets one share of each)"
"$BIN" cluster init --out "$RUN/cluster" --nodes 3 --interop-validators "$CLUSTER_VALIDATORS" --light-kdf \
  --beacon-url "http://127.0.0.1:$BEACON_PORT" --p2p-base-port "$BASE_PORT" --api-base-port "$API_PORT" \
  --slot-time "$SLOT_TIME" >"$RUN/init.log"
sed 's/^/  /' "$RUN/init.log"

echo "starting the devnet ($VALIDATORS validators, slot time $SLOT_TIME) on 127.0.0.1:$BEACON_PORT"
"$BIN" devnet --validators "$VALIDATORS" --cluster-validators "$CLUSTER_VALIDATORS" --slot-time "$SLOT_TIME" \
  --listen "127.0.0.1:$BEACON_PORT" --genesis-delay 8s >"$RUN/devnet.log" 2>&1 &
pids+=($!)

for i in 1 2 3; do
  "$BIN" node --config "$RUN/cluster/node-$i/node.json" >"$RUN/node-$i.log" 2>&1 &
  pids+=($!)
done
echo "started 3 nodes (logs in $RUN/node-*.log); genesis in a few seconds. Ctrl-C stops everything."
echo

"$BIN" watch --devnet "http://127.0.0.1:$BEACON_PORT" --token-file "$RUN/cluster/api-token.txt" \
  --api "http://127.0.0.1:$API_PORT,http://127.0.0.1:$((API_PORT+1)),http://127.0.0.1:$((API_PORT+2))" &
watch_pid=$!
pids+=($watch_pid)
# Stop when any process dies, so a failure is visible instead of a silent half cluster.
while true; do
  for p in "${pids[@]}"; do
    if ! kill -0 "$p" 2>/dev/null; then
      echo "process $p exited; see the logs" >&2
      exit 1
    fi
  done
  sleep 1
done
