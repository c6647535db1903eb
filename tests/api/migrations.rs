use diesel::migration::MigrationSource;
use diesel_migrations::MigrationHarness;
use packrelease::db::{run_migrations, MIGRATIONS, MIGRATION_SOURCE};

use crate::helpers::{fresh_database, Backend};

fn up_down_up(backend: Backend) {
    let Some((_db, url)) = fresh_database(backend) else {
        return;
    };
    let mut conn = url.establish().expect("connect");
    let applied = run_migrations(&mut conn).expect("migrate up");
    assert_eq!(
        applied,
        MigrationSource::<diesel::pg::Pg>::migrations(&MIGRATIONS).unwrap().len(),
        "every migration applies on {backend:?}"
    );
    conn.revert_all_migrations(MIGRATION_SOURCE).expect("migrate down");
    assert!(conn.has_pending_migration(MIGRATION_SOURCE).unwrap());
    assert_eq!(run_migrations(&mut conn).expect("migrate up again"), applied);
    assert_eq!(run_migrations(&mut conn).expect("nothing left"), 0);
}

#[test]
fn migrations_run_up_down_and_up_on_sqlite() {
    up_down_up(Backend::Sqlite);
}

#[test]
fn migrations_run_up_down_and_up_on_postgres() {
    up_down_up(Backend::Postgres);
}
