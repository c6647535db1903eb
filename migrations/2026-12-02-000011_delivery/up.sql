-- Delivery: events raised in the same transaction as the change they report
-- (a transactional outbox), the webhook endpoints accounts register, one
-- delivery per event and matching endpoint, and every attempt of each.

-- A release to 100,000 installations writes 100,000 events in one statement,
-- so an installation event row holds only what varies per installation; what
-- every event of one fact shares (the versions, the dates) is one payload row.
CREATE TABLE event_payloads (
    id TEXT PRIMARY KEY,
    data TEXT NOT NULL
);

-- The events one transaction wrote are sealed, as its last step, with one row
-- here (indexed by position: the feed's and the delivery job's order). Its position comes from event_counter, whose row the sealing
-- transaction holds locked until it commits, so positions follow commit
-- order: a feed reader that sees a position has already seen every lower one.
CREATE TABLE event_counter (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO event_counter (name, value) VALUES ('events', 0);
-- Claims of deliveries take this row's lock, so the per-endpoint bound holds
-- across workers.
INSERT INTO event_counter (name, value) VALUES ('delivery_claims', 0);
-- The delivery job makes the deliveries of sealed batches after they commit,
-- in position order, outside the transactions that wrote the events; this is
-- the last position it has made deliveries for (under this row's lock).
INSERT INTO event_counter (name, value) VALUES ('deliveries_made', 0);

CREATE TABLE event_batches (
    id TEXT PRIMARY KEY,
    position BIGINT NOT NULL UNIQUE,
    committed_at TIMESTAMP NOT NULL
);
-- Retention removes whole batches by age (one row per transaction, not per event).
CREATE INDEX event_batches_committed_idx ON event_batches (committed_at);

-- fact: what the event reports (type, release, installation, schedule
-- revision); a job that runs again cannot write a second event for it.
-- No foreign keys: written by the hundred thousand, kept after what they
-- report is gone, removed by age.
CREATE TABLE events (
    id TEXT PRIMARY KEY,
    batch_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    type TEXT NOT NULL CHECK (type IN (
        'installation.update_scheduled', 'installation.update_canceled', 'installation.updated',
        'release.scheduled', 'release.released', 'release.canceled', 'release.failed',
        'webhook.test')),
    created_at TIMESTAMP NOT NULL,
    release_id TEXT,
    installation_id TEXT,
    payload_id TEXT NOT NULL,
    fact TEXT NOT NULL UNIQUE
);
CREATE INDEX events_account_idx ON events (account_id, batch_id);
CREATE INDEX events_batch_idx ON events (batch_id);

-- An endpoint is never deleted while its deliveries are kept: deleting marks it.
CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    url TEXT NOT NULL,
    description TEXT,
    enabled BOOLEAN NOT NULL,
    disabled_reason TEXT CHECK (disabled_reason IN ('by_request', 'gone', 'failing')),
    secret TEXT NOT NULL,
    previous_secret TEXT,
    previous_secret_expires_at TIMESTAMP,
    failing_since TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP
);
CREATE INDEX webhook_endpoints_account_idx ON webhook_endpoints (account_id, id);

CREATE TABLE webhook_endpoint_event_types (
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id),
    event_type TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, event_type)
);

-- One delivery per (event, endpoint). next_attempt_at is set while pending;
-- lease_until while a worker sends it (claim_token says which claim may write
-- the outcome). attempts counts every attempt; retry_from is where the
-- current round of the retry schedule began (a redelivery starts a new one).
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    release_id TEXT,
    installation_id TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'canceled')),
    attempts BIGINT NOT NULL,
    retry_from BIGINT NOT NULL,
    next_attempt_at TIMESTAMP,
    lease_until TIMESTAMP,
    claim_token TEXT,
    last_attempt_at TIMESTAMP,
    last_status_code BIGINT,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_account_idx ON webhook_deliveries (account_id, id);
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, status);
CREATE INDEX webhook_deliveries_release_idx ON webhook_deliveries (release_id, status);
CREATE INDEX webhook_deliveries_created_idx ON webhook_deliveries (created_at);

CREATE TABLE webhook_attempts (
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    number BIGINT NOT NULL,
    attempted_at TIMESTAMP NOT NULL,
    status_code BIGINT,
    duration_ms BIGINT NOT NULL,
    error TEXT,
    response_excerpt TEXT NOT NULL,
    PRIMARY KEY (delivery_id, number)
);
