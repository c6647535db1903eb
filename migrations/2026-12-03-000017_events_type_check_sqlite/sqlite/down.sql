-- Back to the list alone (see up.sql).
CREATE TABLE events_rebuilt (
    id TEXT PRIMARY KEY,
    batch_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    type TEXT NOT NULL CHECK (type IN (
        'installation.update_scheduled', 'installation.update_canceled', 'installation.updated',
        'release.scheduled', 'release.released', 'release.canceled', 'release.failed',
        'release.wave_started', 'release.halted', 'release.resumed', 'release.aborted',
        'webhook.test')),
    created_at TIMESTAMP NOT NULL,
    release_id TEXT,
    installation_id TEXT,
    payload_id TEXT NOT NULL,
    fact TEXT NOT NULL UNIQUE
);
INSERT INTO events_rebuilt (id, batch_id, account_id, type, created_at, release_id, installation_id, payload_id, fact)
SELECT id, batch_id, account_id, type, created_at, release_id, installation_id, payload_id, fact FROM events;
DROP TABLE events;
ALTER TABLE events_rebuilt RENAME TO events;
CREATE INDEX events_account_idx ON events (account_id, batch_id);
CREATE INDEX events_batch_idx ON events (batch_id);
