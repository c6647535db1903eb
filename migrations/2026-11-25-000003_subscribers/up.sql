-- Subscribers: account groups that share packs, installations, and the pushes
-- that record each release reaching each installation.

CREATE TABLE account_groups (
    id TEXT PRIMARY KEY,
    publisher_id TEXT NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (publisher_id, name)
);

CREATE TABLE account_group_members (
    group_id TEXT NOT NULL REFERENCES account_groups (id) ON DELETE CASCADE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    added_at TIMESTAMP NOT NULL,
    PRIMARY KEY (group_id, account_id)
);
CREATE INDEX account_group_members_account_idx ON account_group_members (account_id, group_id);

CREATE TABLE account_group_packs (
    group_id TEXT NOT NULL REFERENCES account_groups (id) ON DELETE CASCADE,
    pack_id TEXT NOT NULL REFERENCES integration_packs (id) ON DELETE CASCADE,
    added_at TIMESTAMP NOT NULL,
    PRIMARY KEY (group_id, pack_id)
);
CREATE INDEX account_group_packs_pack_idx ON account_group_packs (pack_id, group_id);

-- release_id: the release whose items are the versions the installation runs.
-- It has no foreign key on purpose: a release rewrites it on every installation
-- of the pack in one statement, and PostgreSQL would run a row trigger per
-- installation to check it; releases leave only with their pack, which takes
-- its installations along.
-- name_key is the override name, or '' for a single pack: one live
-- installation per (account, pack, name_key).
CREATE TABLE installations (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    pack_id TEXT NOT NULL REFERENCES integration_packs (id) ON DELETE CASCADE,
    override_name TEXT,
    name_key TEXT NOT NULL,
    release_id TEXT,
    installed_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    uninstalled_at TIMESTAMP
);
CREATE UNIQUE INDEX installations_live_name_idx ON installations (account_id, pack_id, name_key) WHERE uninstalled_at IS NULL;
CREATE INDEX installations_pack_idx ON installations (pack_id, account_id);

-- One row per (release, installation): a second push is impossible.
-- An append-only log written by the hundred thousand in one statement, so it
-- keeps only the foreign key that deletes it with its release (and pack):
-- per-row foreign-key triggers on the installation and the accounts would
-- cost more than the insert itself, and installations are never deleted
-- (uninstalling marks them).
CREATE TABLE pushes (
    release_id TEXT NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
    installation_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('applied', 'applied_early')),
    pushed_at TIMESTAMP NOT NULL,
    pushed_by TEXT NOT NULL,
    PRIMARY KEY (release_id, installation_id)
);
CREATE INDEX pushes_installation_idx ON pushes (installation_id);
