DROP TRIGGER releases_delete_pushes ON releases;
DROP FUNCTION releases_delete_pushes();
DROP TRIGGER pushes_check_release_update ON pushes;
DROP TRIGGER pushes_check_release_insert ON pushes;
DROP FUNCTION pushes_check_release();
ALTER TABLE pushes ADD CONSTRAINT pushes_release_id_fkey
    FOREIGN KEY (release_id) REFERENCES releases (id) ON DELETE CASCADE;
