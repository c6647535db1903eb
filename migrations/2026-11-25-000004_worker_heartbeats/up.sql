-- Each worker (a packrelease-worker process, or the loop inside `serve`)
-- records its passes, so a stuck or missing worker is visible through the API.
CREATE TABLE worker_heartbeats (
    id TEXT PRIMARY KEY,
    hostname TEXT NOT NULL,
    pid BIGINT NOT NULL,
    embedded BOOLEAN NOT NULL,
    poll_interval_ms BIGINT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    last_pass_at TIMESTAMP,
    passes BIGINT NOT NULL,
    releases_carried_out BIGINT NOT NULL,
    last_error TEXT,
    stopped_at TIMESTAMP
);
