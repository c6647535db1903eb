#!/usr/bin/env bash
# Instructions per request of packrelease's read path, counted by callgrind:
# repeatable whatever else the machine is doing (unlike requests/s). Starts
# `packrelease serve` (no embedded worker) under valgrind on a temp SQLite
# file with instrumentation off, creates a publisher and a pack, warms up,
# then counts the instructions of N sequential authenticated
# `GET /api/v1/integration-packs/{id}` (default 2000) and prints their
# total / N. Background threads running meanwhile (the WAL checkpointer,
# once a second) are counted too: about 5k a request at valgrind's speed.
#
#   benches/read_path_callgrind.sh                 # N=2000
#   N=500 PACKRELEASE_BIN=/path/to/packrelease KEEP=/tmp/cg.out benches/read_path_callgrind.sh
#
# `callgrind_annotate "$KEEP"` then shows where they go. Only 127.0.0.1 is used.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-2000}"
for tool in valgrind callgrind_control callgrind_annotate wrk curl python3; do
    command -v "$tool" >/dev/null || { echo "read_path_callgrind: $tool is missing" >&2; exit 1; }
done
if [ -z "${PACKRELEASE_BIN:-}" ]; then
    cargo build --release --bin packrelease >&2
    PACKRELEASE_BIN=target/release/packrelease
fi
WORK=$(mktemp -d)
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export PACKRELEASE_DATABASE_URL="$WORK/packrelease.db"
PACKRELEASE_NO_WORKER=true PACKRELEASE_BIND="127.0.0.1:$port" PACKRELEASE_ADMIN_TOKEN="callgrind-admin-$RANDOM$RANDOM" \
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$WORK/cg.out" \
    "$PACKRELEASE_BIN" serve >"$WORK/log" 2>&1 &
PID=$!
BASE="http://127.0.0.1:$port"
for _ in $(seq 1 600); do curl -sf "$BASE/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "$BASE/healthz" >/dev/null || { echo "read_path_callgrind: packrelease did not start" >&2; cat "$WORK/log" >&2; exit 1; }
json_field() { python3 -c "import json, sys; print(json.load(sys.stdin)[\"$1\"])"; }
TOKEN=$("$PACKRELEASE_BIN" create-publisher "Callgrind Bench" 2>/dev/null | json_field token)
PACK=$(curl -sf -X POST "$BASE/api/v1/integration-packs" -H "authorization: Bearer $TOKEN" \
    -H 'content-type: application/json' \
    -d '{"name":"Orders","description":"Order sync for ERP","installation_type":"single"}' | json_field id)
URL="$BASE/api/v1/integration-packs/$PACK"
wrk -t1 -c4 -d3s -H "authorization: Bearer $TOKEN" "$URL" >/dev/null
callgrind_control -i on "$PID" >/dev/null
python3 - "$URL" "$TOKEN" "$N" <<'PY'
import http.client, sys, urllib.parse
url = urllib.parse.urlparse(sys.argv[1])
conn = http.client.HTTPConnection(url.hostname, url.port)
for _ in range(int(sys.argv[3])):
    conn.request("GET", url.path, headers={"authorization": "Bearer " + sys.argv[2]})
    answer = conn.getresponse()
    answer.read()
    assert answer.status == 200, answer.status
PY
callgrind_control -i off "$PID" >/dev/null
kill "$PID"
wait "$PID" 2>/dev/null || true
PID=""
total=$(callgrind_annotate "$WORK/cg.out" 2>/dev/null | awk '/PROGRAM TOTALS/ && !seen++ { gsub(",", "", $1); print $1 }')
echo "instructions per request: $((total / N)) ($N requests)"
if [ -n "${KEEP:-}" ]; then cp "$WORK/cg.out" "$KEEP"; fi
