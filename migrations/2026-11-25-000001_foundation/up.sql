-- Portable SQL: runs unchanged on SQLite and PostgreSQL.
-- Ids are UUIDv7 text (sort by creation); times are UTC TIMESTAMP.

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('publisher', 'subscriber')),
    parent_id TEXT REFERENCES accounts (id),
    created_at TIMESTAMP NOT NULL,
    CHECK ((kind = 'publisher' AND parent_id IS NULL) OR (kind = 'subscriber' AND parent_id IS NOT NULL))
);
CREATE INDEX accounts_parent_idx ON accounts (parent_id);

-- account_id NULL marks an admin token.
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    account_id TEXT REFERENCES accounts (id),
    token_hash TEXT NOT NULL UNIQUE,
    name TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP
);
CREATE INDEX api_tokens_account_idx ON api_tokens (account_id);

CREATE TABLE components (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    component_type TEXT NOT NULL CHECK (component_type IN ('process', 'api_service', 'connection', 'map')),
    created_at TIMESTAMP NOT NULL,
    UNIQUE (owner_id, name)
);

-- A deleted version keeps its row, so its string is never reused.
CREATE TABLE component_versions (
    id TEXT PRIMARY KEY,
    component_id TEXT NOT NULL REFERENCES components (id) ON DELETE CASCADE,
    version TEXT NOT NULL,
    notes TEXT NOT NULL,
    shareable BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT NOT NULL REFERENCES accounts (id),
    deleted_at TIMESTAMP,
    UNIQUE (component_id, version)
);
CREATE INDEX component_versions_latest_idx ON component_versions (component_id, created_at, id);

-- revision counts membership changes and releases: a draft is stale when it differs.
CREATE TABLE integration_packs (
    id TEXT PRIMARY KEY,
    publisher_id TEXT NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    installation_type TEXT NOT NULL CHECK (installation_type IN ('single', 'multiple')),
    revision BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (publisher_id, name)
);

-- A row per component the pack holds now (member) or still delivers to
-- subscribers (released_version_id set, member false: removed since the last release).
CREATE TABLE pack_components (
    pack_id TEXT NOT NULL REFERENCES integration_packs (id) ON DELETE CASCADE,
    component_id TEXT NOT NULL REFERENCES components (id),
    member BOOLEAN NOT NULL,
    added_at TIMESTAMP NOT NULL,
    released_version_id TEXT REFERENCES component_versions (id),
    PRIMARY KEY (pack_id, component_id),
    CHECK (member OR released_version_id IS NOT NULL)
);
CREATE INDEX pack_components_component_idx ON pack_components (component_id);
CREATE INDEX pack_components_released_version_idx ON pack_components (released_version_id);
