-- PostgreSQL only (db::migrations skips it on SQLite, whose foreign key
-- check costs a release next to nothing). A release writes one push per
-- installation in one statement, and the foreign key from pushes to
-- releases checked each of them on its own: a trigger call and an index
-- probe per push, 0.3 s of a release to 100,000 installations. The same
-- rule, checked once per statement: the releases the new pushes name are
-- locked as the key locked them (FOR KEY SHARE, so none is deleted before
-- this transaction ends) and must all exist; deleting a release deletes its
-- pushes (the key's ON DELETE CASCADE). Release ids never change.
ALTER TABLE pushes DROP CONSTRAINT pushes_release_id_fkey;

CREATE FUNCTION pushes_check_release() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    named TEXT[];
    missing TEXT;
BEGIN
    SELECT array_agg(DISTINCT release_id) INTO named FROM new_pushes;
    PERFORM 1 FROM releases WHERE id = ANY (named) FOR KEY SHARE;
    SELECT n.release_id INTO missing FROM unnest(named) AS n (release_id)
        WHERE NOT EXISTS (SELECT 1 FROM releases r WHERE r.id = n.release_id) LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'insert or update on table "pushes" violates foreign key constraint "pushes_release_id_fkey"'
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'pushes_release_id_fkey', TABLE = 'pushes',
                  DETAIL = format('Key (release_id)=(%s) is not present in table "releases".', missing);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER pushes_check_release_insert AFTER INSERT ON pushes
    REFERENCING NEW TABLE AS new_pushes FOR EACH STATEMENT EXECUTE FUNCTION pushes_check_release();
CREATE TRIGGER pushes_check_release_update AFTER UPDATE ON pushes
    REFERENCING NEW TABLE AS new_pushes FOR EACH STATEMENT EXECUTE FUNCTION pushes_check_release();

CREATE FUNCTION releases_delete_pushes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM pushes WHERE release_id IN (SELECT id FROM old_releases);
    RETURN NULL;
END
$$;

CREATE TRIGGER releases_delete_pushes AFTER DELETE ON releases
    REFERENCING OLD TABLE AS old_releases FOR EACH STATEMENT EXECUTE FUNCTION releases_delete_pushes();
