-- The release wizard: drafts (step 1, select versions) and releases (step 2, schedule).

-- base_revision: the pack's revision when the draft was made; a draft whose
-- pack has moved on is stale and cannot be released.
CREATE TABLE release_drafts (
    id TEXT PRIMARY KEY,
    pack_id TEXT NOT NULL REFERENCES integration_packs (id) ON DELETE CASCADE,
    base_revision BIGINT NOT NULL,
    created_by TEXT NOT NULL REFERENCES accounts (id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    release_id TEXT
);
CREATE INDEX release_drafts_pack_idx ON release_drafts (pack_id);

-- pending_version_id NULL: the component is dropped by the release.
CREATE TABLE release_draft_items (
    draft_id TEXT NOT NULL REFERENCES release_drafts (id) ON DELETE CASCADE,
    component_id TEXT NOT NULL REFERENCES components (id) ON DELETE CASCADE,
    pending_version_id TEXT REFERENCES component_versions (id),
    PRIMARY KEY (draft_id, component_id)
);

CREATE TABLE releases (
    id TEXT PRIMARY KEY,
    pack_id TEXT NOT NULL REFERENCES integration_packs (id) ON DELETE CASCADE,
    draft_id TEXT,
    status TEXT NOT NULL CHECK (status IN ('scheduled', 'in_progress', 'released', 'failed', 'canceled')),
    schedule TEXT NOT NULL CHECK (schedule IN ('immediately', 'on_date')),
    release_on DATE,
    due_at TIMESTAMP NOT NULL,
    time_zone TEXT NOT NULL,
    requested_by TEXT NOT NULL REFERENCES accounts (id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    released_at TIMESTAMP,
    canceled_at TIMESTAMP,
    failure_reason TEXT,
    CHECK ((schedule = 'immediately' AND release_on IS NULL) OR (schedule = 'on_date' AND release_on IS NOT NULL))
);
-- At most one scheduled release per pack, enforced by the database too.
CREATE UNIQUE INDEX releases_one_scheduled_per_pack ON releases (pack_id) WHERE status = 'scheduled';
-- "What is due" is one range query.
CREATE INDEX releases_due_idx ON releases (due_at) WHERE status = 'scheduled';
CREATE INDEX releases_pack_idx ON releases (pack_id, id);

-- The full version set of the pack after the release; version_id NULL removes the component.
CREATE TABLE release_items (
    release_id TEXT NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
    component_id TEXT NOT NULL REFERENCES components (id),
    version_id TEXT REFERENCES component_versions (id),
    previous_version_id TEXT REFERENCES component_versions (id),
    PRIMARY KEY (release_id, component_id)
);
CREATE INDEX release_items_version_idx ON release_items (version_id);
CREATE INDEX release_items_component_idx ON release_items (component_id);
