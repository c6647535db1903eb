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

/// Reverts the migration of `version` and every one after it; returns how many.
fn revert_from(conn: &mut packrelease::db::DbConnection, version: &str) -> usize {
    let count = MigrationSource::<diesel::pg::Pg>::migrations(&MIGRATIONS)
        .unwrap()
        .iter()
        .filter(|m| m.name().version().to_string().as_str() >= version)
        .count();
    for _ in 0..count {
        conn.revert_last_migration(MIGRATION_SOURCE).expect("migrate down");
    }
    count
}

#[test]
fn migrations_run_up_down_and_up_on_sqlite() {
    up_down_up(Backend::Sqlite);
}

#[test]
fn migrations_run_up_down_and_up_on_postgres() {
    up_down_up(Backend::Postgres);
}

/// Rows of the tables the rollout statuses' migration rebuilds (SQLite) or
/// alters (PostgreSQL), and of those that reference them.
fn counts(conn: &mut packrelease::db::DbConnection) -> Vec<i64> {
    use diesel::prelude::*;
    use packrelease::schema::{event_members, events, installations, pushes, release_items, releases};
    vec![
        releases::table.count().get_result(conn).unwrap(),
        release_items::table.count().get_result(conn).unwrap(),
        pushes::table.count().get_result(conn).unwrap(),
        // Member events are events of their own below their migration.
        events::table.count().get_result::<i64>(conn).unwrap()
            + event_members::table.count().get_result::<i64>(conn).unwrap_or(0),
        installations::table.filter(installations::release_id.is_not_null()).count().get_result(conn).unwrap(),
    ]
}

crate::helpers::backend_tests! {
    async fn the_status_migration_runs_down_and_up_without_losing_items_pushes_or_events(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, component, _group, _subscribers, _installations) = app.installed_pack(&acme, 3).await;
        app.release_now(&acme, &pack).await;
        app.version(&acme, &component, "1.2").await;
        app.schedule(&acme, &pack, "2026-12-01").await;
        let before = app.db(counts);
        assert!(before.iter().all(|n| *n > 0), "{before:?}");
        // Down to before the rollouts' migration (so through the statuses'
        // and the PostgreSQL-only ones after it), and up again.
        app.db(|conn| {
            let since_rollouts = revert_from(conn, "20261202000012");
            assert_eq!(counts(conn), before, "down keeps every row");
            assert_eq!(run_migrations(conn).expect("migrate up"), since_rollouts);
            assert_eq!(counts(conn), before, "up keeps every row");
            // The new statuses are accepted; the rebuilt tables still cascade with their release.
            use diesel::prelude::*;
            use packrelease::schema::releases;
            diesel::update(releases::table.filter(releases::status.eq("released"))).set(releases::status.eq("aborted")).execute(conn).unwrap();
        });
        assert_eq!(app.get(&format!("/api/v1/integration-packs/{pack}/releases?status=aborted"), &acme.token).await.expect(200)["items"].as_array().unwrap().len(), 2);
    }

    async fn the_event_members_migration_runs_down_and_up_keeping_every_event_under_its_id(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, _component, _group, subscribers, _installations) = app.installed_pack(&acme, 3).await;
        app.release_now(&acme, &pack).await;
        let path = format!("/api/v1/accounts/{}/events?after=0", subscribers[0].id);
        let before = app.get(&path, &subscribers[0].token).await.expect(200)["items"].clone();
        let told = before.as_array().unwrap();
        assert!(told.iter().any(|e| e["type"] == "installation.updated"), "{before}");
        let members = |conn: &mut packrelease::db::DbConnection| {
            use diesel::prelude::*;
            packrelease::schema::event_members::table.count().get_result::<i64>(conn).unwrap()
        };
        assert!(app.db(members) > 0);
        // Down through the event members' migration and those after it, and up again.
        app.db(|conn| {
            let since_members = revert_from(conn, "20261204000018");
            assert_eq!(run_migrations(conn).expect("migrate up"), since_members);
        });
        // Every event is a row of its own now, under the id it was told by.
        assert_eq!(app.db(members), 0);
        assert_eq!(app.get(&path, &subscribers[0].token).await.expect(200)["items"], before);
    }
}
