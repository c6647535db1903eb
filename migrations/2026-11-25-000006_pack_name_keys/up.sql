-- Packs are found by name prefix, without regard to case: `name_key` is the
-- name lower-cased by the service (Unicode-aware, the same on both backends).
ALTER TABLE integration_packs ADD COLUMN name_key TEXT NOT NULL DEFAULT '';
UPDATE integration_packs SET name_key = lower(name);
CREATE INDEX integration_packs_name_key_idx ON integration_packs (publisher_id, name_key);
