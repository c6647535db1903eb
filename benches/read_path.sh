#!/usr/bin/env bash
# Benchmark: packrelease's read path against the floor of its stack.
#
# Builds the release `packrelease` binary and the `floor_service` bench
# (benches/floor_service.rs: actix-web, diesel + r2d2 on SQLite, web::block,
# token by hash and one row by id, JSON), starts `packrelease serve` on a temp
# SQLite file (embedded worker on, logging at its default level into a file),
# creates a publisher (`packrelease create-publisher`) and a pack through the
# API, starts the floor, then runs wrk against an authenticated
# `GET /api/v1/integration-packs/{id}` on each, alternately (the order flips
# every run), RUNS times after a short warm-up. Prints requests/s, p99 and
# each server's CPU time per request (user + system, from /proc) per run, the
# medians, the ratio ours/floor and the CPU ratio floor/ours (what each
# answer costs, a second view beside the rates). Only 127.0.0.1 is used.
#
#   benches/read_path.sh                        # RUNS=5 DURATION=10
#   RUNS=3 DURATION=5 benches/read_path.sh
#
# CONNECTIONS (64), THREADS (2), WARMUP (seconds, 2). PACKRELEASE_BIN and
# FLOOR_BIN skip the build and use those binaries (e.g. a profiling build).
# The goal: ours >= 0.8 of the floor and p99 <= 10 ms (medians).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${RUNS:-5}"
DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"
WARMUP="${WARMUP:-2}"
for tool in wrk curl python3; do
    command -v "$tool" >/dev/null || { echo "read_path: $tool is missing (apt-get install -y $tool)" >&2; exit 1; }
done

if [ -z "${PACKRELEASE_BIN:-}" ]; then
    cargo build --release --bin packrelease >&2
    PACKRELEASE_BIN=target/release/packrelease
fi
if [ -z "${FLOOR_BIN:-}" ]; then
    FLOOR_BIN=$(cargo bench --no-run --bench floor_service --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "floor_service":
        print(m["executable"])')
    [ -n "$FLOOR_BIN" ] || { echo "read_path: the floor did not build: cargo bench --no-run --bench floor_service" >&2; exit 1; }
fi

WORK=$(mktemp -d)
OURS_PID=""
FLOOR_PID=""
cleanup() {
    for pid in $OURS_PID $FLOOR_PID; do
        kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
json_field() { python3 -c "import json, sys; print(json.load(sys.stdin)[\"$1\"])"; }

# packrelease: the default serve (embedded worker), its default log level, logs into a file.
port=$(free_port)
export PACKRELEASE_DATABASE_URL="$WORK/packrelease.db"
unset PACKRELEASE_LOG PACKRELEASE_LOG_FORMAT PACKRELEASE_NO_WORKER
PACKRELEASE_BIND="127.0.0.1:$port" PACKRELEASE_ADMIN_TOKEN="read-path-admin-$RANDOM$RANDOM" \
    "$PACKRELEASE_BIN" serve >"$WORK/packrelease.log" 2>&1 &
OURS_PID=$!
BASE="http://127.0.0.1:$port"
for _ in $(seq 1 200); do curl -sf "$BASE/healthz" >/dev/null 2>&1 && break; sleep 0.05; done
curl -sf "$BASE/healthz" >/dev/null || { echo "read_path: packrelease did not start" >&2; cat "$WORK/packrelease.log" >&2; exit 1; }
OURS_TOKEN=$("$PACKRELEASE_BIN" create-publisher "Read Path Bench" 2>>"$WORK/packrelease.log" | json_field token)
PACK=$(curl -sf -X POST "$BASE/api/v1/integration-packs" -H "authorization: Bearer $OURS_TOKEN" \
    -H 'content-type: application/json' \
    -d '{"name":"Orders","description":"Order sync for ERP","installation_type":"single"}' | json_field id)
OURS_URL="$BASE/api/v1/integration-packs/$PACK"

# The floor, on its own temp SQLite file.
FLOOR_BIND="127.0.0.1:$(free_port)" FLOOR_DATABASE="$WORK/floor.db" "$FLOOR_BIN" >"$WORK/floor.log" 2>&1 &
FLOOR_PID=$!
for _ in $(seq 1 200); do grep -qs '^ready ' "$WORK/floor.log" && break; sleep 0.05; done
grep -q '^ready ' "$WORK/floor.log" || { echo "read_path: the floor did not start" >&2; cat "$WORK/floor.log" >&2; exit 1; }
FLOOR_URL=$(awk '/^ready / { print $2 }' "$WORK/floor.log")
FLOOR_TOKEN=$(sed -n 's/^ready .* token=//p' "$WORK/floor.log")

answers() { curl -sf -o /dev/null -H "authorization: Bearer $3" "$2" || { echo "read_path: $1 does not answer 200 on $2" >&2; exit 1; }; }
answers ours "$OURS_URL" "$OURS_TOKEN"
answers floor "$FLOOR_URL" "$FLOOR_TOKEN"
echo "ours:  $OURS_URL (pid $OURS_PID)" >&2
echo "floor: $FLOOR_URL (pid $FLOOR_PID)" >&2

# CPU time the process has used so far, in clock ticks (user + system, every thread).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# One wrk run: prints "requests_per_second p99_ms cpu_us_per_request" (the
# server's own CPU time per answered request, from /proc); warns of socket
# errors and non-2xx answers.
measure() {
    local name=$1 url=$2 token=$3 seconds=$4 pid=$5 out="$WORK/wrk-$1.txt" before after
    before=$(cpu_ticks "$pid")
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${seconds}s" --latency -H "authorization: Bearer $token" "$url" >"$out"
    after=$(cpu_ticks "$pid")
    if grep -qE '^ *(Non-2xx|Socket errors)' "$out"; then
        echo "read_path: $name: $(grep -E '^ *(Non-2xx|Socket errors)' "$out" | tr -s ' ')" >&2
    fi
    python3 - "$out" "$((after - before))" "$(getconf CLK_TCK)" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
rps = float(re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M).group(1))
value, unit = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", text, re.M).groups()
requests = int(re.search(r"^\s*(\d+) requests in", text, re.M).group(1))
cpu_us = int(sys.argv[2]) / int(sys.argv[3]) / max(requests, 1) * 1e6
print(f"{rps:.0f} {float(value) * {'us': 0.001, 'ms': 1.0, 's': 1000.0}[unit]:.2f} {cpu_us:.1f}")
EOF
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
measure ours "$OURS_URL" "$OURS_TOKEN" "$WARMUP" "$OURS_PID" >/dev/null
measure floor "$FLOOR_URL" "$FLOOR_TOKEN" "$WARMUP" "$FLOOR_PID" >/dev/null
results="$WORK/results.txt"
: >"$results"
for run in $(seq 1 "$RUNS"); do
    order="ours floor"
    [ $((run % 2)) -eq 0 ] && order="floor ours"
    for name in $order; do
        case $name in
            ours) line=$(measure ours "$OURS_URL" "$OURS_TOKEN" "$DURATION" "$OURS_PID") ;;
            floor) line=$(measure floor "$FLOOR_URL" "$FLOOR_TOKEN" "$DURATION" "$FLOOR_PID") ;;
        esac
        echo "$run $name $line" >>"$results"
        echo "run $run $name: $line" >&2
    done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

echo
echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency, GET /api/v1/integration-packs/{id} with a bearer token, $RUNS runs"
python3 - "$results" <<'EOF'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
by = {"ours": [], "floor": []}
print("| run | ours req/s | ours p99 ms | ours CPU µs/req | floor req/s | floor p99 ms | floor CPU µs/req | ours/floor | floor/ours CPU |")
print("|-----|------------|-------------|-----------------|-------------|--------------|------------------|------------|----------------|")
runs = sorted({int(r[0]) for r in rows})
for run in runs:
    got = {r[1]: (float(r[2]), float(r[3]), float(r[4])) for r in rows if int(r[0]) == run}
    for name in by:
        by[name].append(got[name])
    (o, op, oc), (f, fp, fc) = got["ours"], got["floor"]
    print(f"| {run:3} | {o:10.0f} | {op:11.2f} | {oc:15.1f} | {f:11.0f} | {fp:12.2f} | {fc:16.1f} | {o / f:10.2f} | {fc / oc:14.2f} |")
med = {name: tuple(statistics.median(v[i] for v in vals) for i in range(3)) for name, vals in by.items()}
(o, op, oc), (f, fp, fc) = med["ours"], med["floor"]
print(f"| med | {o:10.0f} | {op:11.2f} | {oc:15.1f} | {f:11.0f} | {fp:12.2f} | {fc:16.1f} | {o / f:10.2f} | {fc / oc:14.2f} |")
ratio_ok, p99_ok = o / f >= 0.8, op <= 10.0
print(f"ratio ours/floor (medians): {o / f:.2f} ({'meets' if ratio_ok else 'misses'} >= 0.8); "
      f"ours p99 {op:.2f} ms ({'meets' if p99_ok else 'misses'} <= 10 ms); "
      f"CPU per request, floor/ours: {fc / oc:.2f}")
EOF
