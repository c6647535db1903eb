use diesel::prelude::*;
use packrelease::db::DbConnection;
use packrelease::schema::{component_versions, installations, pack_components, pushes, releases};
use serde_json::{json, Value};

use crate::helpers::{backend_tests, ADMIN_TOKEN};

fn ids(list: &Value) -> Vec<String> {
    list["items"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect()
}

backend_tests! {
    async fn releasing_immediately_changes_the_released_versions_at_once(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, component) = app.pack_with_component(&acme, "Orders").await;
        let draft = app.draft(&acme, &pack).await;
        let created = app.release(&acme, &draft, json!({"schedule": "immediately"})).await;
        assert_eq!(created.status, 201);
        let release = created.body.clone();
        assert_eq!(created.header("location").unwrap(), format!("/api/v1/releases/{}", release["id"].as_str().unwrap()));
        assert_eq!(release["status"], "released");
        assert_eq!(release["schedule"], "immediately");
        assert_eq!(release["release_on"], Value::Null);
        assert_eq!(release["due_at"], "2026-11-25T12:00:00Z");
        assert_eq!(release["released_at"], "2026-11-25T12:00:00Z");
        assert_eq!(release["due_at_local"], "2026-11-25T07:00:00-05:00");
        assert_eq!(release["time_zone"], "America/New_York");
        assert_eq!(release["requested_by"], acme.id.as_str());
        assert_eq!(release["late"], false);
        assert_eq!(release["items"], json!([{"component_id": component, "name": "Orders process", "version": "1.1", "previous_version": null, "change": "added"}]));
        assert_eq!(app.released_versions(&acme, &pack).await, [("Orders process".to_string(), json!("1.1"))]);
        let stored: Option<String> = app.db(|c| pack_components::table.select(pack_components::released_version_id).first(c).unwrap());
        let latest: String = app.db(|c| component_versions::table.filter(component_versions::version.eq("1.1")).select(component_versions::id).first(c).unwrap());
        assert_eq!(stored, Some(latest));
        let read = app.get(&format!("/api/v1/releases/{}", release["id"].as_str().unwrap()), &acme.token).await.expect(200);
        assert_eq!(read, release);
    }

    async fn releasing_a_stale_draft_is_a_conflict(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, _) = app.pack_with_component(&acme, "Orders").await;
        let first = app.draft(&acme, &pack).await;
        let second = app.draft(&acme, &pack).await;
        app.release(&acme, &first, json!({"schedule": "immediately"})).await.expect(201);
        let path = format!("/api/v1/release-drafts/{}", second["id"].as_str().unwrap());
        assert_eq!(app.get(&path, &acme.token).await.expect(200)["stale"], true);
        app.release(&acme, &second, json!({"schedule": "immediately"})).await.assert_problem(409, "draft_stale");

        // A membership change makes a draft stale too.
        let third = app.draft(&acme, &pack).await;
        let extra = app.shareable_component(&acme, "Billing").await;
        app.add_member(&acme, &pack, &extra).await;
        app.release(&acme, &third, json!({"schedule": "on_date", "release_on": "2026-12-01"})).await.assert_problem(409, "draft_stale");
        let count: i64 = app.db(|c| releases::table.count().get_result(c).unwrap());
        assert_eq!(count, 1, "refused releases leave nothing behind");
    }

    async fn a_dated_release_waits_with_its_due_instant_in_the_release_zone(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, _) = app.pack_with_component(&acme, "Orders").await;
        let release = app.schedule(&acme, &pack, "2027-03-14").await;
        assert_eq!(release["status"], "scheduled");
        assert_eq!(release["schedule"], "on_date");
        assert_eq!(release["release_on"], "2027-03-14");
        assert_eq!(release["due_at"], "2027-03-14T05:00:00Z");
        assert_eq!(release["due_at_local"], "2027-03-14T00:00:00-05:00");
        assert_eq!(release["released_at"], Value::Null);
        let shown = app.get(&format!("/api/v1/integration-packs/{pack}"), &acme.token).await.expect(200);
        assert_eq!(shown["scheduled_release"]["id"], release["id"]);
        assert_eq!(shown["scheduled_release"]["due_at_local"], "2027-03-14T00:00:00-05:00");
        assert_eq!(app.released_versions(&acme, &pack).await, [("Orders process".to_string(), Value::Null)]);

        let path = format!("/api/v1/releases/{}", release["id"].as_str().unwrap());
        let moved = app.patch(&path, &acme.token, json!({"release_on": "2027-03-15"})).await.expect(200);
        assert_eq!(moved["due_at"], "2027-03-15T04:00:00Z", "the day after the DST change starts at -04:00");
        assert_eq!(moved["due_at_local"], "2027-03-15T00:00:00-04:00");
    }

    async fn release_dates_must_be_real_future_dates_within_a_year(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, _) = app.pack_with_component(&acme, "Orders").await;
        let draft = app.draft(&acme, &pack).await;
        let cases = [
            (json!({"schedule": "on_date", "release_on": "2026-11-25"}), "not_in_future"),
            (json!({"schedule": "on_date", "release_on": "2026-11-01"}), "not_in_future"),
            (json!({"schedule": "on_date", "release_on": "2027-11-26"}), "too_far_ahead"),
            (json!({"schedule": "on_date", "release_on": "2027-02-30"}), "invalid_value"),
            (json!({"schedule": "on_date", "release_on": "tomorrow"}), "invalid_value"),
            (json!({"schedule": "on_date"}), "required"),
            (json!({"schedule": "immediately", "release_on": "2026-12-01"}), "not_allowed"),
            (json!({"schedule": "later"}), "invalid_value"),
        ];
        for (body, code) in cases {
            let refused = app.release(&acme, &draft, body.clone()).await;
            refused.assert_problem(422, "validation_failed");
            assert_eq!(refused.body["errors"][0]["code"], code, "for {body}");
        }
        // 23:59:59 on the 25th in New York: the 26th is still tomorrow.
        app.clock.set("2026-11-26T04:59:59Z".parse().unwrap());
        let tomorrow = app.release(&acme, &draft, json!({"schedule": "on_date", "release_on": "2026-11-26"})).await.expect(201);
        app.post(&format!("/api/v1/releases/{}/cancel", tomorrow["id"].as_str().unwrap()), &acme.token, json!({})).await.expect(200);
        // Midnight: the 26th's window has begun, so it is no longer a valid date.
        app.clock.set("2026-11-26T05:00:00Z".parse().unwrap());
        let draft = app.draft(&acme, &pack).await;
        let late = app.release(&acme, &draft, json!({"schedule": "on_date", "release_on": "2026-11-26"})).await;
        assert_eq!(late.body["errors"][0]["code"], "not_in_future");
        app.release(&acme, &draft, json!({"schedule": "on_date", "release_on": "2027-11-26"})).await.expect(201);
    }

    async fn only_one_release_may_be_scheduled_per_pack(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, component) = app.pack_with_component(&acme, "Orders").await;
        let scheduled = app.schedule(&acme, &pack, "2026-12-01").await;
        let draft = app.draft(&acme, &pack).await;
        for body in [json!({"schedule": "immediately"}), json!({"schedule": "on_date", "release_on": "2026-12-02"})] {
            let refused = app.release(&acme, &draft, body).await;
            refused.assert_problem(409, "release_already_scheduled");
            assert_eq!(refused.body["release_id"], scheduled["id"]);
        }
        let extra = app.shareable_component(&acme, "Billing").await;
        app.post(&format!("/api/v1/integration-packs/{pack}/components"), &acme.token, json!({"component_id": extra})).await.assert_problem(409, "release_already_scheduled");
        app.delete(&format!("/api/v1/integration-packs/{pack}/components/{component}"), &acme.token).await.assert_problem(409, "release_already_scheduled");
        app.delete(&format!("/api/v1/integration-packs/{pack}"), &acme.token).await.assert_problem(409, "pack_in_use");
    }

    async fn a_scheduled_release_can_be_rescheduled_or_canceled_while_scheduled(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, component) = app.pack_with_component(&acme, "Orders").await;
        let release = app.schedule(&acme, &pack, "2026-12-01").await;
        let path = format!("/api/v1/releases/{}", release["id"].as_str().unwrap());
        app.patch(&path, &acme.token, json!({"release_on": "2026-11-20"})).await.assert_problem(422, "validation_failed");
        app.patch(&path, &acme.token, json!({"release_on": "2026-12-24"})).await.expect(200);
        // While scheduled, the versions it names are protected.
        app.delete(&format!("/api/v1/components/{component}/versions/1.1"), &acme.token).await.assert_problem(409, "version_in_use");

        let canceled = app.request("POST", &format!("{path}/cancel"), Some(&acme.token), None).await.expect(200);
        assert_eq!(canceled["status"], "canceled");
        assert_eq!(canceled["canceled_at"], "2026-11-25T12:00:00Z");
        assert_eq!(app.get(&format!("/api/v1/integration-packs/{pack}"), &acme.token).await.expect(200)["scheduled_release"], Value::Null);
        app.request("POST", &format!("{path}/cancel"), Some(&acme.token), None).await.assert_problem(409, "release_not_scheduled");
        app.patch(&path, &acme.token, json!({"release_on": "2026-12-02"})).await.assert_problem(409, "release_not_scheduled");
        // A canceled release protects nothing, and the pack can be released again.
        app.release_now(&acme, &pack).await;
        app.delete(&format!("/api/v1/components/{component}/versions/1.0"), &acme.token).await.expect(204);
        app.delete(&format!("/api/v1/components/{component}/versions/1.1"), &acme.token).await.assert_problem(409, "version_in_use");
    }

    async fn due_releases_are_carried_out_from_local_midnight(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, _) = app.pack_with_component(&acme, "Orders").await;
        let release = app.schedule(&acme, &pack, "2026-12-01").await;
        assert!(app.execute_due("2026-12-01T04:59:59Z").is_empty(), "23:59:59 the day before is not due");
        let done = app.execute_due("2026-12-01T05:00:00Z");
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].release_id, release["id"].as_str().unwrap());
        assert_eq!((done[0].late_by_seconds, done[0].failure.as_deref()), (None, None));
        assert!(app.execute_due("2026-12-01T05:00:01Z").is_empty(), "carried out once");
        let read = app.get(&format!("/api/v1/releases/{}", release["id"].as_str().unwrap()), &acme.token).await.expect(200);
        assert_eq!(read["status"], "released");
        assert_eq!(read["released_at"], "2026-12-01T05:00:00Z");
        assert_eq!(read["late"], false);
        assert_eq!(app.released_versions(&acme, &pack).await, [("Orders process".to_string(), json!("1.1"))]);
        assert_eq!(app.get(&format!("/api/v1/integration-packs/{pack}"), &acme.token).await.expect(200)["scheduled_release"], Value::Null);
    }

    async fn a_release_carried_out_after_its_window_is_late_never_skipped(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, _) = app.pack_with_component(&acme, "Orders").await;
        let release = app.schedule(&acme, &pack, "2026-12-01").await;
        let done = app.execute_due("2026-12-01T06:30:00Z");
        assert_eq!(done[0].late_by_seconds, Some(5400));
        let read = app.get(&format!("/api/v1/releases/{}", release["id"].as_str().unwrap()), &acme.token).await.expect(200);
        assert_eq!((read["late"].clone(), read["late_by_seconds"].clone()), (json!(true), json!(5400)));
    }

    async fn a_release_that_cannot_be_carried_out_fails_and_the_rest_go_on(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (broken, component) = app.pack_with_component(&acme, "Broken").await;
        let (fine, _) = app.pack_with_component(&acme, "Fine").await;
        let failing = app.schedule(&acme, &broken, "2026-12-01").await;
        app.schedule(&acme, &fine, "2026-12-01").await;
        // An operator deletes the selected version in the database behind the API's back.
        app.db(|c| diesel::update(component_versions::table.filter(component_versions::component_id.eq(&component)).filter(component_versions::version.eq("1.1")))
            .set(component_versions::deleted_at.eq(Some(chrono::NaiveDateTime::default()))).execute(c).unwrap());
        let done = app.execute_due("2026-12-01T05:00:10Z");
        assert_eq!(done.len(), 2);
        let read = app.get(&format!("/api/v1/releases/{}", failing["id"].as_str().unwrap()), &acme.token).await.expect(200);
        assert_eq!(read["status"], "failed");
        assert!(read["failure_reason"].as_str().unwrap().contains("Broken process 1.1"), "{read}");
        assert_eq!(app.released_versions(&acme, &broken).await, [("Broken process".to_string(), Value::Null)]);
        assert_eq!(app.released_versions(&acme, &fine).await, [("Fine process".to_string(), json!("1.1"))]);
        let failed = app.get("/api/v1/releases?status=failed", &acme.token).await.expect(200);
        assert_eq!(ids(&failed), [failing["id"].as_str().unwrap()]);
    }

    async fn concurrent_releases_of_one_pack_have_exactly_one_winner(app: TestApp) {
        let acme = app.publisher("Acme").await;
        for (name, body) in [("Now", json!({"schedule": "immediately"})), ("Later", json!({"schedule": "on_date", "release_on": "2026-12-01"}))] {
            let (pack, _) = app.pack_with_component(&acme, name).await;
            let drafts = [app.draft(&acme, &pack).await, app.draft(&acme, &pack).await, app.draft(&acme, &pack).await];
            let results = futures_util::future::join_all(drafts.iter().map(|d| app.release(&acme, d, body.clone()))).await;
            let mut statuses: Vec<u16> = results.iter().map(|r| r.status).collect();
            statuses.sort();
            assert_eq!(statuses, [201, 409, 409], "{name}: {:?}", results.iter().map(|r| r.body.to_string()).collect::<Vec<_>>());
            let made: i64 = app.db(|c| releases::table.filter(releases::pack_id.eq(&pack)).count().get_result(c).unwrap());
            assert_eq!(made, 1);
        }
    }

    async fn histories_filters_and_the_schedule(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (a, component) = app.pack_with_component(&acme, "A").await;
        let (b, _) = app.pack_with_component(&acme, "B").await;
        let first = app.release_now(&acme, &a).await;
        app.version(&acme, &component, "1.2").await;
        let second = app.schedule(&acme, &a, "2027-01-10").await;
        let third = app.schedule(&acme, &b, "2026-12-05").await;

        let history = app.get(&format!("/api/v1/integration-packs/{a}/releases"), &acme.token).await.expect(200);
        assert_eq!(ids(&history), [second["id"].as_str().unwrap(), first["id"].as_str().unwrap()], "newest first");
        let released = app.get(&format!("/api/v1/integration-packs/{a}/releases?status=released"), &acme.token).await.expect(200);
        assert_eq!(ids(&released), [first["id"].as_str().unwrap()]);
        let paged = app.get(&format!("/api/v1/integration-packs/{a}/releases?limit=1"), &acme.token).await.expect(200);
        let cursor = paged["next_cursor"].as_str().unwrap();
        let rest = app.get(&format!("/api/v1/integration-packs/{a}/releases?limit=1&cursor={cursor}"), &acme.token).await.expect(200);
        assert_eq!(ids(&rest), [first["id"].as_str().unwrap()]);

        let all = app.get("/api/v1/releases", &acme.token).await.expect(200);
        assert_eq!(ids(&all).len(), 3);
        let in_december = app.get("/api/v1/releases?due_from=2026-12-01T00:00:00Z&due_before=2027-01-01T00:00:00Z", &acme.token).await.expect(200);
        assert_eq!(ids(&in_december), [third["id"].as_str().unwrap()]);
        let of_b = app.get(&format!("/api/v1/releases?integration_pack_id={b}"), &acme.token).await.expect(200);
        assert_eq!(ids(&of_b), [third["id"].as_str().unwrap()]);

        let schedule = app.get("/api/v1/release-schedule", &acme.token).await.expect(200);
        assert_eq!(ids(&schedule), [third["id"].as_str().unwrap(), second["id"].as_str().unwrap()], "soonest first");
        let page = app.get("/api/v1/release-schedule?limit=1", &acme.token).await.expect(200);
        assert_eq!(ids(&page), [third["id"].as_str().unwrap()]);
        let cursor = page["next_cursor"].as_str().unwrap();
        let next = app.get(&format!("/api/v1/release-schedule?limit=1&cursor={cursor}"), &acme.token).await.expect(200);
        assert_eq!(ids(&next), [second["id"].as_str().unwrap()]);
        assert_eq!(next["next_cursor"], Value::Null);
        app.get("/api/v1/release-schedule?cursor=nonsense", &acme.token).await.assert_problem(422, "validation_failed");
        let shouted = format!("/api/v1/release-schedule?limit=1&cursor={}", cursor.to_uppercase());
        app.get(&shouted, &acme.token).await.assert_problem(422, "validation_failed");
    }

    async fn releases_are_private_to_the_publisher(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let globex = app.publisher("Globex").await;
        let customer = app.subscriber(&acme, "Customer").await;
        let (pack, _) = app.pack_with_component(&acme, "Orders").await;
        let release = app.schedule(&acme, &pack, "2026-12-01").await;
        let path = format!("/api/v1/releases/{}", release["id"].as_str().unwrap());
        for token in [&globex.token, &customer.token] {
            app.get(&path, token).await.assert_problem(404, "not_found");
            app.patch(&path, token, json!({"release_on": "2026-12-02"})).await.assert_problem(404, "not_found");
            app.post(&format!("{path}/cancel"), token, json!({})).await.assert_problem(404, "not_found");
            app.get(&format!("/api/v1/integration-packs/{pack}/releases"), token).await.assert_problem(404, "not_found");
            assert_eq!(app.get("/api/v1/releases", token).await.expect(200)["items"], json!([]));
            assert_eq!(app.get("/api/v1/release-schedule", token).await.expect(200)["items"], json!([]));
        }
        app.get(&path, ADMIN_TOKEN).await.expect(200);
        app.post(&format!("{path}/cancel"), ADMIN_TOKEN, json!({})).await.assert_problem(403, "forbidden");
        assert_eq!(app.get("/api/v1/release-schedule", ADMIN_TOKEN).await.expect(200)["items"].as_array().unwrap().len(), 1);
    }

    async fn pushes_name_an_existing_release_and_go_with_it(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, _, _, subscribers, installations) = app.installed_pack(&acme, 2).await;
        let release = app.release_now(&acme, &pack).await;
        let id = release["id"].as_str().unwrap().to_string();
        let count = |conn: &mut DbConnection| -> i64 { pushes::table.count().get_result(conn).unwrap() };
        assert_eq!(app.db(count), 2);
        // A push naming no release is refused: SQLite's foreign key, PostgreSQL's check per statement.
        let push = |release: &str| {
            (
                pushes::release_id.eq(release.to_string()),
                pushes::installation_id.eq(installations[0]["id"].as_str().unwrap().to_string()),
                pushes::account_id.eq(subscribers[0].id.clone()),
                pushes::outcome.eq("applied"),
                pushes::pushed_at.eq(chrono::Utc::now().naive_utc()),
                pushes::pushed_by.eq(acme.id.clone()),
            )
        };
        let refused = app.db(|conn| diesel::insert_into(pushes::table).values(push("no-such-release")).execute(conn));
        assert!(
            matches!(refused, Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::ForeignKeyViolation, _))),
            "{refused:?}"
        );
        let moved = app.db(|conn| diesel::update(pushes::table).set(pushes::release_id.eq("no-such-release")).execute(conn));
        assert!(
            matches!(moved, Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::ForeignKeyViolation, _))),
            "{moved:?}"
        );
        assert_eq!(app.db(count), 2);
        // Deleting the pack deletes its releases, and their pushes with them.
        for (subscriber, installation) in subscribers.iter().zip(&installations) {
            let path = format!("/api/v1/accounts/{}/installations/{}", subscriber.id, installation["id"].as_str().unwrap());
            app.delete(&path, &subscriber.token).await.expect(204);
        }
        app.delete(&format!("/api/v1/integration-packs/{pack}"), &acme.token).await.expect(204);
        assert_eq!(app.db(|conn| releases::table.filter(releases::id.eq(&id)).count().get_result::<i64>(conn).unwrap()), 0);
        assert_eq!(app.db(count), 0);
    }

    async fn a_release_rewrites_installations_within_their_pages_on_postgresql(app: TestApp) {
        // Enough installations to fill pages: on PostgreSQL the table's fill factor
        // leaves room in each page for the new row versions a release writes, so its
        // updates are HOT (no new index entries), release after release.
        let acme = app.publisher("Acme").await;
        let (pack, component) = app.pack_with_component(&acme, "Big").await;
        let first = app.release_now(&acme, &pack).await;
        let group = app.group(&acme, "Everyone").await;
        app.share(&acme, &group, &pack).await;
        let n = 2_000;
        app.db(|conn| {
            if let DbConnection::Postgresql(pg) = conn {
                // A release's updates find room once the row versions of the
                // release before are pruned, which waits for every snapshot in the
                // database older than them. An autovacuum ANALYZE of the rows just
                // seeded (of any table) holds one: seen on a slow CI machine. Off
                // for every table of this database, before anything is seeded.
                diesel::sql_query(
                    "DO $$ DECLARE t text; BEGIN \
                       FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() LOOP \
                         EXECUTE format('ALTER TABLE %I SET (autovacuum_enabled = off)', t); \
                       END LOOP; \
                     END $$",
                )
                .execute(pg)
                .unwrap();
            }
        });
        app.db(|c| crate::seed::installations(c, &acme.id, &group, &pack, first["id"].as_str().unwrap(), n, 100));
        // Until no other session, of any database (the tests run in parallel),
        // holds a snapshot or a transaction begun before now, which would keep
        // the last release's old row versions; then VACUUM frees their space,
        // rather than leaving it to the release's own pruning of each page.
        let quiet = |conn: &mut DbConnection| {
            if let DbConnection::Postgresql(pg) = conn {
                #[derive(QueryableByName)]
                struct Holders {
                    #[diesel(sql_type = diesel::sql_types::BigInt)]
                    n: i64,
                }
                let now: Holders =
                    diesel::sql_query("SELECT txid_current() % 4294967296 AS n").get_result(pg).unwrap();
                for _ in 0..600 {
                    let holders: Holders = diesel::sql_query(format!(
                        "SELECT count(*) AS n FROM pg_stat_activity WHERE pid <> pg_backend_pid() \
                         AND (backend_xmin::text::bigint <= {now} OR backend_xid::text::bigint <= {now})",
                        now = now.n
                    ))
                    .get_result(pg)
                    .unwrap();
                    if holders.n == 0 {
                        diesel::sql_query("VACUUM installations").execute(pg).unwrap();
                        return;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                panic!("another session held a snapshot older than the last release for 30 s");
            }
        };
        #[derive(QueryableByName, Debug, PartialEq)]
        struct Placed {
            #[diesel(sql_type = diesel::sql_types::Text)]
            id: String,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            page: i64,
        }
        // Where each installation's row is, and the size of every index of the table.
        let placement = |conn: &mut DbConnection| match conn {
            DbConnection::Postgresql(pg) => {
                let rows: Vec<Placed> = diesel::sql_query(
                    "SELECT id, (ctid::text::point)[0]::bigint AS page FROM installations ORDER BY id",
                )
                .load(pg)
                .unwrap();
                let indexes: Vec<Placed> = diesel::sql_query(
                    "SELECT indexrelid::regclass::text AS id, pg_relation_size(indexrelid) AS page \
                     FROM pg_index WHERE indrelid = 'installations'::regclass ORDER BY 1",
                )
                .load(pg)
                .unwrap();
                Some((rows, indexes))
            }
            DbConnection::Sqlite(_) => None,
        };
        for version in ["2.0", "3.0"] {
            app.db(quiet);
            let before = app.db(placement);
            app.version(&acme, &component, version).await;
            let release = app.release_now(&acme, &pack).await;
            assert_eq!(release["push_counts"]["applied"], n);
            let on_release = app.db(|conn| {
                installations::table
                    .filter(installations::release_id.eq(release["id"].as_str().unwrap()))
                    .count()
                    .get_result::<i64>(conn)
                    .unwrap()
            });
            assert_eq!(on_release, n as i64);
            if let (Some((rows, indexes)), Some((rows_after, indexes_after))) = (before, app.db(placement)) {
                assert!(rows == rows_after, "release {version}: some installations left their page");
                assert_eq!(indexes, indexes_after, "release {version}: the indexes grew");
            }
        }
    }
}
