-- What workers whose rows housekeeping removed had counted, per job, so the
-- sums /metrics exports never go down.
CREATE TABLE worker_job_totals (
    job TEXT PRIMARY KEY,
    passes BIGINT NOT NULL DEFAULT 0,
    done BIGINT NOT NULL DEFAULT 0,
    failed BIGINT NOT NULL DEFAULT 0,
    errors BIGINT NOT NULL DEFAULT 0
);
