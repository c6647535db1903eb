-- Packs are found by name prefix, without regard to case: `name_key` is the
-- name lower-cased by the service (Unicode, character by character, the same
-- on both backends). SQL's lower() differs per backend, so the service writes
-- every key again at start-up (`store::packs::repair_name_keys`).
ALTER TABLE integration_packs ADD COLUMN name_key TEXT NOT NULL DEFAULT '';
