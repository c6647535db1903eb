#!/usr/bin/env bash
# Benchmark: how soon after local midnight the embedded worker of a real
# `packrelease serve` carries out a release scheduled through its API.
#
# The release binary runs under libfaketime (Debian package `faketime`),
# started ten seconds before midnight in New York with time running from there;
# a release for the coming date is scheduled with curl a few seconds before
# midnight, and `released_at - due_at` is read back from the API. Nothing
# talks to anything but 127.0.0.1.
#
#   benches/punctuality.sh                 # SQLite, 5 runs
#   RUNS=3 BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres benches/punctuality.sh
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${RUNS:-5}"
FAKETIME_LIB=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
if [ ! -e "$FAKETIME_LIB" ]; then
    echo "punctuality: libfaketime is missing: apt-get install -y faketime" >&2
    exit 1
fi
cargo build --release --quiet --bin packrelease
BIN="$PWD/target/release/packrelease"
ADMIN=bench-admin-token
WORK=$(mktemp -d)
SERVER=""
cleanup() {
    [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

# One run: a server whose clock starts at 23:59:50 in New York on the eve of
# `date`, a release scheduled for `date`; prints released_at - due_at in ms.
run_once() {
    local date=$1 start=$2 database=$3 port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    LD_PRELOAD="$FAKETIME_LIB" FAKETIME="@$start" DONT_FAKE_MONOTONIC=1 TZ=UTC \
        PACKRELEASE_DATABASE_URL="$database" PACKRELEASE_ADMIN_TOKEN="$ADMIN" PACKRELEASE_BIND="127.0.0.1:$port" \
        PACKRELEASE_LOG=warn "$BIN" serve >"$WORK/serve.log" 2>&1 &
    SERVER=$!
    local base="http://127.0.0.1:$port/api/v1"
    for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.05; done
    call() { curl -fsS -X "$1" "$base$2" -H "authorization: Bearer $3" -H 'content-type: application/json' ${4:+-d "$4"}; }
    local publisher token component pack draft release
    publisher=$(call POST /accounts "$ADMIN" '{"name":"Bench","kind":"publisher"}' | json '["id"]')
    token=$(call POST "/accounts/$publisher/tokens" "$ADMIN" '{}' | json '["token"]')
    component=$(call POST /components "$token" '{"name":"Orders","type":"process"}' | json '["id"]')
    call POST "/components/$component/versions" "$token" '{"version":"1.0"}' >/dev/null
    pack=$(call POST /integration-packs "$token" '{"name":"Orders","installation_type":"single"}' | json '["id"]')
    call POST "/integration-packs/$pack/components" "$token" "{\"component_id\":\"$component\"}" >/dev/null
    draft=$(call POST "/integration-packs/$pack/release-drafts" "$token" | json '["id"]')
    release=$(call POST "/release-drafts/$draft/release" "$token" "{\"schedule\":\"on_date\",\"release_on\":\"$date\"}" | json '["id"]')
    local status=scheduled body=""
    for _ in $(seq 1 300); do
        body=$(call GET "/releases/$release" "$token")
        status=$(echo "$body" | json '["status"]')
        [ "$status" = released ] && break
        sleep 0.1
    done
    kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""
    if [ "$status" != released ]; then
        echo "punctuality: the release was not carried out within 30 s of midnight" >&2
        cat "$WORK/serve.log" >&2
        exit 1
    fi
    echo "$body" | python3 -c '
import json, sys
from datetime import datetime
r = json.load(sys.stdin)
parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))
late = (parse(r["released_at"]) - parse(r["due_at"])).total_seconds() * 1000
print(f"{late:.3f}")'
}

fresh_database() {
    local run=$1
    if [ -n "${BENCH_POSTGRES_URL:-}" ]; then
        local name="packrelease_bench_punctuality_${$}_$run"
        PGOPTIONS="-c client_min_messages=warning" psql -q "$BENCH_POSTGRES_URL" -c "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name" >/dev/null
        echo "${BENCH_POSTGRES_URL%/*}/$name"
    else
        echo "$WORK/bench-$run.db"
    fi
}

backend=SQLite; [ -n "${BENCH_POSTGRES_URL:-}" ] && backend=PostgreSQL
echo "punctuality ($backend): releases due at local midnight, carried out by the embedded worker of 'serve'"
lateness=()
for run in $(seq 1 "$RUNS"); do
    # 23:59:50 EST on the eve of a January date: 04:59:50 UTC.
    date=$(printf '2027-01-%02d' $((10 + run)))
    start=$(printf '2027-01-%02d 04:59:50' $((10 + run)))
    ms=$(run_once "$date" "$start" "$(fresh_database "$run")")
    lateness+=("$ms")
    echo "  run $run: released_at - due_at = ${ms} ms"
    if [ -n "${BENCH_POSTGRES_URL:-}" ]; then
        psql -q "$BENCH_POSTGRES_URL" -c "DROP DATABASE IF EXISTS packrelease_bench_punctuality_${$}_$run" >/dev/null
    fi
done
printf '%s\n' "${lateness[@]}" | python3 -c '
import sys
values = sorted(float(v) for v in sys.stdin.read().split())
print(f"  median {values[len(values) // 2]:.3f} ms, worst {values[-1]:.3f} ms over {len(values)} runs")'
