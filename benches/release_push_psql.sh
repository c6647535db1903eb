#!/usr/bin/env bash
# The ceiling of `release_push` on PostgreSQL: the release's own statements
# run directly in psql, measured in the same run as the bench.
#
#   BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres benches/release_push_psql.sh
#
# Runs `cargo bench --bench release_push` with BENCH_KEEP_DB=1: it keeps its
# scratch database and a copy taken just before the timed release, and has
# the server log the statements of that release. The release's transaction
# (BEGIN to COMMIT, parameters written in as literals) is read back from the
# server log and run by psql on the copy; then both databases are dropped.
# It prints the bench's figure (HTTP request to response), the server's time
# for the bench's own statements (as logged), and psql's time from BEGIN to
# COMMIT and summed over the statements. The server log is the cluster's
# stderr log (PG_LOG; by default Debian's
# /var/log/postgresql/postgresql-<major>-main.log), which this user must be
# able to read. RUNS=n repeats the whole; VERBOSE=1 prints the slowest
# statements (VERBOSE_LINES, 8) with their time in psql and in the bench's
# own run; BENCH_INSTALLATIONS passes through.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${BENCH_POSTGRES_URL:?set BENCH_POSTGRES_URL to a server where scratch databases may be created}"
RUNS="${RUNS:-1}"
major=$(( $(psql -X "$BENCH_POSTGRES_URL" -Atc "SHOW server_version_num") / 10000 ))
PG_LOG="${PG_LOG:-/var/log/postgresql/postgresql-$major-main.log}"
[ -r "$PG_LOG" ] || { echo "release_push_psql: cannot read the server log $PG_LOG (set PG_LOG)" >&2; exit 1; }
base="${BENCH_POSTGRES_URL%%\?*}"
base="${base%/*}"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

for run in $(seq "$RUNS"); do
    BENCH_KEEP_DB=1 cargo bench -q --bench release_push 2>&1 | tee "$WORK/bench.out" >&2
    db=$(sed -n 's/^kept database //p' "$WORK/bench.out")
    before=$(sed -n 's/^snapshot //p' "$WORK/bench.out")
    bench=$(grep -o ' seconds=[0-9.]*' "$WORK/bench.out" | head -1 | cut -d= -f2)
    [ -n "$db" ] && [ -n "$before" ] || { echo "release_push_psql: the bench kept no database" >&2; exit 1; }
    python3 benches/support/release_sql.py "$PG_LOG" "$db" >"$WORK/release.sql"
    grep -v '^-- ' "$WORK/release.sql" >"$WORK/statements.sql"
    {
        echo '\set ON_ERROR_STOP on'
        echo 'SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset'
        echo '\timing on'
        cat "$WORK/statements.sql"
        echo '\timing off'
        echo 'SELECT round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 3) AS seconds \gset'
        echo '\echo psql_seconds=:seconds'
    } >"$WORK/replay.sql"
    psql -X -q -o /dev/null -f "$WORK/replay.sql" "$base/$before" >"$WORK/replay.out"
    psql_seconds=$(sed -n 's/^psql_seconds=//p' "$WORK/replay.out")
    summed=$(awk '/^Time: / { s += $2 } END { printf "%.3f", s / 1000 }' "$WORK/replay.out")
    count=$(wc -l <"$WORK/statements.sql")
    bench_summed=$(awk '/^-- / { s += $2 } END { printf "%.3f", s / 1000 }' "$WORK/release.sql")
    if [ "${VERBOSE:-0}" != 0 ]; then
        # Per statement, slowest first: ms in psql, ms the server logged for the bench's own run, the SQL.
        sed -n 's/^-- //p' "$WORK/release.sql" >"$WORK/bench_ms"
        grep '^Time: ' "$WORK/replay.out" | awk '{ print $2 }' | paste - "$WORK/bench_ms" "$WORK/statements.sql" \
            | cut -c1-160 | sort -t$'\t' -k1,1 -g -r | awk -v n="${VERBOSE_LINES:-8}" 'NR <= n'
    fi
    for name in "$db" "$before"; do
        psql -X -q "$BENCH_POSTGRES_URL" -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)"
    done
    echo "run=$run installations=${BENCH_INSTALLATIONS:-100000} bench_seconds=$bench" \
        "bench_statement_seconds=$bench_summed psql_seconds=$psql_seconds psql_statement_seconds=$summed statements=$count"
done
