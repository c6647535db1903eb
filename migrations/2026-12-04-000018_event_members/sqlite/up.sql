-- The events of one fact told to many installations at once (a release's
-- `installation.updated`, a schedule's `installation.update_scheduled`, ...):
-- what they share is written once, in a group, and each installation's event
-- is a member row of four columns. A member's id is its group's id (`evt_` and
-- 24 hex digits: the group's instant in milliseconds, then random ones)
-- followed by its ordinal in 8 hex digits, so it has the form of every event
-- id and sorts by time. Events written one at a time stay in `events`; the
-- feed, the deliveries and retention read both.
CREATE TABLE event_groups (
    id TEXT PRIMARY KEY,
    batch_id TEXT NOT NULL,
    type TEXT NOT NULL CHECK (type IN (
        'installation.update_scheduled', 'installation.update_canceled', 'installation.updated')),
    created_at TIMESTAMP NOT NULL,
    release_id TEXT NOT NULL,
    payload_id TEXT NOT NULL
);
CREATE INDEX event_groups_batch_idx ON event_groups (batch_id);

-- No foreign keys, as for events: written by the hundred thousand, removed by age.
CREATE TABLE event_members (
    group_id TEXT NOT NULL,
    ordinal BIGINT NOT NULL,
    account_id TEXT NOT NULL,
    installation_id TEXT NOT NULL,
    PRIMARY KEY (group_id, ordinal)
);
CREATE INDEX event_members_account_idx ON event_members (account_id, group_id);
