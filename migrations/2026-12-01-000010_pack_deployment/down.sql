ALTER TABLE integration_packs DROP COLUMN deployment;
