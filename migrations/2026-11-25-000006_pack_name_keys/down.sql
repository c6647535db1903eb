DROP INDEX integration_packs_name_key_idx;
ALTER TABLE integration_packs DROP COLUMN name_key;
