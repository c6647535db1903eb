#!/usr/bin/env bash
# Benchmark: webhook deliveries drained per second by one worker, on SQLite
# and on PostgreSQL, next to the receiver's own ceiling.
#
# Builds the benches in release mode, starts `webhook_receiver` on 127.0.0.1,
# measures its ceiling with wrk (`wrk -t2 -c64 -d5s -s benches/post.lua`),
# then runs `delivery_drain` (10,000 deliveries over 100 endpoints, one real
# worker) against it on SQLite and, with BENCH_POSTGRES_URL, on a scratch
# PostgreSQL database; prints a table and stops the receiver. Nothing talks
# to anything but 127.0.0.1.
#
#   benches/delivery_drain.sh                      # SQLite only
#   RUNS=3 BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres benches/delivery_drain.sh
#
# BENCH_DELIVERIES, BENCH_ENDPOINTS, BENCH_MAX_IN_FLIGHT, BENCH_PER_ENDPOINT and
# BENCH_POOL_SIZE pass through to delivery_drain (see benches/delivery_drain.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${RUNS:-1}"
command -v wrk >/dev/null || { echo "delivery_drain: wrk is missing: apt-get install -y wrk" >&2; exit 1; }
export PACKRELEASE_WEBHOOK_ALLOWED_NETWORKS=127.0.0.0/8

# The bench executables, from cargo's build report.
executables=$(cargo bench --no-run --bench webhook_receiver --bench delivery_drain --message-format=json 2>/dev/null \
    | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] in ("webhook_receiver", "delivery_drain"):
        print(m["target"]["name"], m["executable"])')
RECEIVER_BIN=$(echo "$executables" | awk '$1 == "webhook_receiver" { print $2 }')
DRAIN_BIN=$(echo "$executables" | awk '$1 == "delivery_drain" { print $2 }')
if [ -z "$RECEIVER_BIN" ] || [ -z "$DRAIN_BIN" ]; then
    echo "delivery_drain: the benches did not build: cargo bench --no-run --bench delivery_drain" >&2
    exit 1
fi

WORK=$(mktemp -d)
RECEIVER=""
cleanup() {
    [ -n "$RECEIVER" ] && kill "$RECEIVER" 2>/dev/null && wait "$RECEIVER" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BENCH_RECEIVER_PORT="$port" "$RECEIVER_BIN" >"$WORK/receiver.log" 2>&1 &
RECEIVER=$!
for _ in $(seq 1 100); do grep -q '^ready ' "$WORK/receiver.log" && break; sleep 0.05; done
grep -q '^ready ' "$WORK/receiver.log" || { echo "delivery_drain: the receiver did not start" >&2; cat "$WORK/receiver.log" >&2; exit 1; }
echo "receiver on 127.0.0.1:$port (pid $RECEIVER)"

wrk -t2 -c64 -d5s -s benches/post.lua "http://127.0.0.1:$port/hooks/wrk" | tee "$WORK/wrk.txt"
ceiling=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$WORK/wrk.txt")

rows=()
drain() {
    local backend=$1 run=$2 database=$3 line
    line=$(BENCH_POSTGRES_URL="$database" BENCH_RECEIVER="127.0.0.1:$port" PACKRELEASE_LOG=warn "$DRAIN_BIN" \
        | tee /dev/stderr | grep '^backend=')
    local seconds per_second per_pass
    seconds=$(echo "$line" | sed -n 's/.* seconds=\([0-9.]*\).*/\1/p')
    per_second=$(echo "$line" | sed -n 's/.* per_second=\([0-9]*\).*/\1/p')
    per_pass=$(echo "$line" | sed -n 's/.* claimed_per_pass=\([0-9.]*\).*/\1/p')
    rows+=("$(printf '| %-10s | %3s | %9s | %15s | %16s |' "$backend" "$run" "$seconds" "$per_second" "$per_pass")")
}
for run in $(seq 1 "$RUNS"); do drain SQLite "$run" ""; done
if [ -n "${BENCH_POSTGRES_URL:-}" ]; then
    for run in $(seq 1 "$RUNS"); do drain PostgreSQL "$run" "$BENCH_POSTGRES_URL"; done
else
    rows+=("| PostgreSQL | -   | skipped (set BENCH_POSTGRES_URL)                    |")
fi

echo
echo "receiver ceiling (wrk -t2 -c64 -d5s, POST): ${ceiling} requests/s"
echo "| backend    | run | seconds   | deliveries/s    | claimed per pass |"
echo "|------------|-----|-----------|-----------------|------------------|"
printf '%s\n' "${rows[@]}"
