-- Rollouts add two release statuses (halted, aborted) and four publisher
-- events. PostgreSQL changes the CHECK constraints in place; SQLite cannot,
-- so it rebuilds the two tables instead (sqlite/up.sql, run by db::migrations).
BEGIN;
ALTER TABLE releases DROP CONSTRAINT releases_status_check;
ALTER TABLE releases ADD CONSTRAINT releases_status_check
    CHECK (status IN ('scheduled', 'in_progress', 'halted', 'released', 'failed', 'canceled', 'aborted'));
-- At most one release of a pack rolls out at a time.
CREATE UNIQUE INDEX releases_one_rolling_per_pack ON releases (pack_id) WHERE status IN ('in_progress', 'halted');
ALTER TABLE events DROP CONSTRAINT events_type_check;
ALTER TABLE events ADD CONSTRAINT events_type_check CHECK (type IN (
    'installation.update_scheduled', 'installation.update_canceled', 'installation.updated',
    'release.scheduled', 'release.released', 'release.canceled', 'release.failed',
    'release.wave_started', 'release.halted', 'release.resumed', 'release.aborted',
    'webhook.test'));
COMMIT;
