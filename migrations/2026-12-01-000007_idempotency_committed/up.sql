-- A key's work is marked 'committed' in the work's own transaction, between
-- 'in_progress' (claimed) and 'done' (answer stored), so a request whose work
-- committed is never run again. SQLite cannot alter a CHECK, so the table is
-- rebuilt, keeping its rows.
CREATE TABLE idempotency_keys_next (
    scope TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('in_progress', 'committed', 'done')),
    status BIGINT,
    content_type TEXT,
    location TEXT,
    body TEXT,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (scope, idempotency_key)
);
INSERT INTO idempotency_keys_next (scope, idempotency_key, fingerprint, state, status, content_type, location, body, created_at)
    SELECT scope, idempotency_key, fingerprint, state, status, content_type, location, body, created_at FROM idempotency_keys;
DROP TABLE idempotency_keys;
ALTER TABLE idempotency_keys_next RENAME TO idempotency_keys;
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
