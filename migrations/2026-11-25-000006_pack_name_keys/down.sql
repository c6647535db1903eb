ALTER TABLE integration_packs DROP COLUMN name_key;
