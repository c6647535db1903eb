-- Back to two states: a committed key reads as still in progress.
CREATE TABLE idempotency_keys_prev (
    scope TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('in_progress', 'done')),
    status BIGINT,
    content_type TEXT,
    location TEXT,
    body TEXT,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (scope, idempotency_key)
);
INSERT INTO idempotency_keys_prev (scope, idempotency_key, fingerprint, state, status, content_type, location, body, created_at)
    SELECT scope, idempotency_key, fingerprint, CASE WHEN state = 'committed' THEN 'in_progress' ELSE state END,
           status, content_type, location, body, created_at
    FROM idempotency_keys;
DROP TABLE idempotency_keys;
ALTER TABLE idempotency_keys_prev RENAME TO idempotency_keys;
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
