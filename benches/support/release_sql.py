#!/usr/bin/env python3
"""Extracts one release's transaction from a PostgreSQL server log.

Reads the server's stderr log (log_min_duration_statement = 0, the default
Debian log_line_prefix '%m [%p] %q%u@%d '), keeps the statements of database
DB, finds the backend and transaction that ran `INSERT INTO "releases"`, and
prints, from its BEGIN to its COMMIT, each statement with its parameters
written in as literals (as psql would run it), one per line after a
`-- <server ms>` comment line giving the time the server logged for it
(parse + bind + execute).

    release_sql.py LOG DB > release.sql
"""
import re
import sys

PREFIX = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \S+ \[(\d+)\] (?:\S*@(\S*) )?(LOG|DETAIL|ERROR|STATEMENT|WARNING|FATAL|HINT|CONTEXT):  (.*)$")
DURATION = re.compile(r"^duration: ([\d.]+) ms  (?:(parse|bind|execute) [^:]*|statement): (.*)$", re.S)
PARAM = re.compile(r"\$(\d+) = ('(?:[^']|'')*'|NULL)")


def records(lines):
    """(pid, db, level, message) per log record; continuation lines start with a tab."""
    current = None
    for line in lines:
        line = line.rstrip("\n")
        m = PREFIX.match(line)
        if m:
            if current:
                yield current
            current = [m.group(1), m.group(2), m.group(3), m.group(4)]
        elif current is not None:
            current[3] += "\n" + (line[1:] if line.startswith("\t") else line)
    if current:
        yield current


def substitute(sql, params):
    """Writes the parameters in, outside quoted literals and identifiers."""
    out, i = [], 0
    while i < len(sql):
        c = sql[i]
        if c in "'\"":
            j = i + 1
            while j < len(sql):
                if sql[j] == c:
                    if j + 1 < len(sql) and sql[j + 1] == c:
                        j += 2
                        continue
                    break
                j += 1
            out.append(sql[i:j + 1])
            i = j + 1
        elif c == "$" and i + 1 < len(sql) and sql[i + 1].isdigit():
            j = i + 1
            while j < len(sql) and sql[j].isdigit():
                j += 1
            out.append(params[int(sql[i + 1:j])])
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def main():
    log, db = sys.argv[1], sys.argv[2]
    by_pid = {}  # pid -> [[sql, ms, params]]
    pending = {}  # pid -> ms of parse/bind before the execute
    last_phase = {}  # pid -> the phase its last LOG record logged
    with open(log, errors="replace") as f:
        for pid, rdb, level, message in records(f):
            if rdb != db:
                continue
            if level == "LOG":
                m = DURATION.match(message)
                if not m:
                    continue
                ms, phase, sql = float(m.group(1)), m.group(2), m.group(3)
                last_phase[pid] = phase
                if phase in ("parse", "bind"):
                    pending[pid] = pending.get(pid, 0.0) + ms
                    continue
                by_pid.setdefault(pid, []).append([sql, ms + pending.pop(pid, 0.0), {}])
            elif level == "DETAIL" and message.startswith("parameters: ") and last_phase.get(pid) == "execute":
                last = by_pid[pid][-1]
                if not last[2]:
                    last[2] = {int(n): v for n, v in PARAM.findall(message)}
    for pid, statements in by_pid.items():
        starts = [k for k, s in enumerate(statements) if s[0].startswith('INSERT INTO "releases"')]
        if not starts:
            continue
        k = starts[-1]
        begin = max(i for i in range(k + 1) if statements[i][0].strip().upper() == "BEGIN")
        end = min(i for i in range(k, len(statements)) if statements[i][0].strip().upper() == "COMMIT")
        for sql, ms, params in statements[begin:end + 1]:
            print(f"-- {ms:.3f}")
            print(substitute(sql, params).replace("\n", " ").rstrip().rstrip(";") + ";")
        return
    sys.exit(f"release_sql: no release transaction of database {db} in {log}")


main()
