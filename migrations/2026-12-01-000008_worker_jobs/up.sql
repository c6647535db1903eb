-- Per worker, one row per kind of job it runs: its own passes, items, failures
-- and last error, so one job's trouble shows apart from the others'.
CREATE TABLE worker_jobs (
    worker_id TEXT NOT NULL REFERENCES worker_heartbeats (id) ON DELETE CASCADE,
    job TEXT NOT NULL,
    passes BIGINT NOT NULL DEFAULT 0,
    done BIGINT NOT NULL DEFAULT 0,
    failed BIGINT NOT NULL DEFAULT 0,
    errors BIGINT NOT NULL DEFAULT 0,
    last_pass_at TIMESTAMP,
    last_error TEXT,
    last_error_at TIMESTAMP,
    next_run_at TIMESTAMP,
    PRIMARY KEY (worker_id, job)
);
