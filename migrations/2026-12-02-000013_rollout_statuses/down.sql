BEGIN;
DELETE FROM events WHERE type IN ('release.wave_started', 'release.halted', 'release.resumed', 'release.aborted');
ALTER TABLE events DROP CONSTRAINT events_type_check;
ALTER TABLE events ADD CONSTRAINT events_type_check CHECK (type IN (
    'installation.update_scheduled', 'installation.update_canceled', 'installation.updated',
    'release.scheduled', 'release.released', 'release.canceled', 'release.failed',
    'webhook.test'));
DROP INDEX releases_one_rolling_per_pack;
UPDATE releases SET status = 'in_progress' WHERE status = 'halted';
UPDATE releases SET status = 'canceled' WHERE status = 'aborted';
ALTER TABLE releases DROP CONSTRAINT releases_status_check;
ALTER TABLE releases ADD CONSTRAINT releases_status_check
    CHECK (status IN ('scheduled', 'in_progress', 'released', 'failed', 'canceled'));
COMMIT;
