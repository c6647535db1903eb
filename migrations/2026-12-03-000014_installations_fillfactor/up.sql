-- PostgreSQL only (db::migrations skips it on SQLite): a release rewrites
-- every installation it reaches (release_id, updated_at, neither indexed).
-- With pages half empty the new row versions fit in the same page, so the
-- updates are HOT (no new entry in any of the table's three indexes, a
-- fraction of the WAL), and a later release's scan prunes the old versions
-- to make room again. Existing pages keep their rows until a release moves
-- them: the rows a non-HOT update writes go to pages filled to this factor.
ALTER TABLE installations SET (fillfactor = 50);
