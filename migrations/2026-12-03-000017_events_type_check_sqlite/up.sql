-- SQLite only (db::migrations runs sqlite/up.sql there): PostgreSQL checks the
-- events' type list as one array lookup, so it keeps its constraint as it is.
SELECT 1;
