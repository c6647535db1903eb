//! What an outside probe found, and the settled details it checked: each test
//! failed on the code before its fix.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use packrelease::schema::{api_tokens, worker_heartbeats};
use packrelease::worker::Worker;
use serde_json::json;

use crate::helpers::{backend_tests, Backend, TestApp, ADMIN_TOKEN};

/// Statements run by `work` on a connection of its own.
fn statements_run(app: &TestApp, work: impl FnOnce(&mut packrelease::db::DbConnection)) -> usize {
    use diesel::connection::{Instrumentation, InstrumentationEvent};
    struct Counter(Arc<std::sync::atomic::AtomicUsize>);
    impl Instrumentation for Counter {
        fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
            if matches!(event, InstrumentationEvent::StartQuery { .. }) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
    }
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut conn = packrelease::db::DatabaseUrl::parse(&app.database_url).unwrap().establish().unwrap();
    conn.set_instrumentation(Counter(count.clone()));
    work(&mut conn);
    count.load(std::sync::atomic::Ordering::SeqCst)
}

backend_tests! {
    async fn a_page_of_scheduled_releases_costs_the_same_statements_whatever_its_length(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let settings = packrelease::service::Settings { admin_token_hash: None, release_time_zone: packrelease::domain::schedule::DEFAULT_TIME_ZONE, webhook_guard: crate::helpers::loopback_guard() };
        let mut counts = Vec::new();
        for packs in [1, 6] {
            while app.get("/api/v1/release-schedule", &acme.token).await.expect(200)["items"].as_array().unwrap().len() < packs {
                let (pack, _) = app.pack_with_component(&acme, &format!("Pack {}", uuid::Uuid::now_v7())).await;
                app.schedule(&acme, &pack, "2026-12-10").await;
            }
            counts.push(statements_run(&app, |conn| {
                let (caller, token_id) = packrelease::service::auth::authenticate(conn, &settings, &acme.token, app.clock_now()).unwrap();
                let ctx = packrelease::service::Ctx { caller, token_id, now: app.clock_now(), time_zone: settings.release_time_zone };
                let (page, _) = packrelease::service::releases::upcoming(conn, &ctx, None, 50).unwrap();
                assert_eq!(page.len(), packs);
            }));
        }
        assert_eq!(counts[0], counts[1], "statements for 1 and for 6 scheduled releases");
    }

    async fn a_token_whose_account_row_is_gone_is_refused_not_taken_for_the_admin(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let orphan = "pr_orphan_token_for_a_missing_account";
        app.db(|c| {
            // Seed what a broken row would look like, with the foreign key out of the way.
            match c {
                packrelease::db::DbConnection::Sqlite(s) => diesel::connection::SimpleConnection::batch_execute(s, "PRAGMA foreign_keys = OFF").unwrap(),
                packrelease::db::DbConnection::Postgresql(p) => diesel::connection::SimpleConnection::batch_execute(p, "SET session_replication_role = replica").unwrap(),
            }
            diesel::insert_into(api_tokens::table)
                .values((
                    api_tokens::id.eq(uuid::Uuid::now_v7().to_string()),
                    api_tokens::account_id.eq(Some("00000000-0000-7000-8000-000000000000")),
                    api_tokens::token_hash.eq(packrelease::service::auth::hash_token(orphan)),
                    api_tokens::created_at.eq(chrono::Utc::now().naive_utc()),
                    api_tokens::minted_by.eq(Some(acme.id.clone())),
                ))
                .execute(c)
                .unwrap();
            match c {
                packrelease::db::DbConnection::Sqlite(s) => diesel::connection::SimpleConnection::batch_execute(s, "PRAGMA foreign_keys = ON").unwrap(),
                packrelease::db::DbConnection::Postgresql(p) => diesel::connection::SimpleConnection::batch_execute(p, "SET session_replication_role = DEFAULT").unwrap(),
            }
        });
        app.get("/api/v1/accounts", orphan).await.assert_problem(401, "unauthorized");
        app.post("/api/v1/accounts", orphan, json!({"name": "Evil", "kind": "publisher"})).await.assert_problem(401, "unauthorized");
    }

    async fn a_word_the_code_does_not_know_in_a_status_column_is_an_error_not_a_default(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, _) = app.pack_with_component(&acme, "Orders").await;
        let release = app.release_now(&acme, &pack).await;
        let id = release["id"].as_str().unwrap().to_string();
        app.db(|c| {
            // What a newer (or broken) writer could leave behind, past the CHECK.
            let loosen = match c {
                packrelease::db::DbConnection::Sqlite(_) => "PRAGMA ignore_check_constraints = ON",
                packrelease::db::DbConnection::Postgresql(_) => "ALTER TABLE releases DROP CONSTRAINT IF EXISTS releases_status_check",
            };
            diesel::connection::SimpleConnection::batch_execute(c, loosen).unwrap();
            diesel::sql_query("UPDATE releases SET status = 'paused' WHERE id = '".to_string() + &id + "'").execute(c).unwrap();
            if let packrelease::db::DbConnection::Sqlite(s) = c {
                diesel::connection::SimpleConnection::batch_execute(s, "PRAGMA ignore_check_constraints = OFF").unwrap();
            }
        });
        let read = app.get(&format!("/api/v1/releases/{id}"), &acme.token).await;
        read.assert_problem(500, "internal_error");
        assert!(!read.body.to_string().contains("paused"), "the cause stays in the log: {}", read.body);
    }

    async fn a_401_says_how_to_authenticate(app: TestApp) {
        for token in [None, Some("pr_not_a_token")] {
            let response = app.request("GET", "/api/v1/accounts", token, None).await;
            assert_eq!(response.status, 401);
            assert_eq!(response.header("www-authenticate").as_deref(), Some("Bearer"), "{token:?}");
        }
    }

    async fn answers_that_carry_a_secret_are_not_cached(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let minted = app.request("POST", &format!("/api/v1/accounts/{}/tokens", acme.id), Some(ADMIN_TOKEN), None).await;
        assert_eq!(minted.status, 201);
        assert_eq!(minted.header("cache-control").as_deref(), Some("no-store"));
        let listed = app.get(&format!("/api/v1/accounts/{}/tokens", acme.id), &acme.token).await;
        assert_ne!(listed.header("cache-control").as_deref(), Some("no-store"), "lists of tokens carry no secret");
    }

    async fn tokens_say_who_minted_them_and_pushes_which_token_acted(app: TestApp) {
        let (acme, pack, subscribers, installations) = {
            let acme = app.publisher("Acme").await;
            let (pack, _, _, subscribers, installations) = app.installed_pack(&acme, 1).await;
            (acme, pack, subscribers, installations)
        };
        let customer = &subscribers[0];
        // The publisher mints a token for its subscriber and applies an update with it.
        let minted = app.post(&format!("/api/v1/accounts/{}/tokens", customer.id), &acme.token, json!({"name": "by-acme"})).await.expect(201);
        let tokens = app.get(&format!("/api/v1/accounts/{}/tokens", customer.id), &acme.token).await.expect(200);
        let by_acme = tokens["items"].as_array().unwrap().iter().find(|t| t["id"] == minted["id"]).unwrap();
        assert_eq!(by_acme["minted_by"], json!(acme.id));
        let own = tokens["items"].as_array().unwrap().iter().find(|t| t["id"] != minted["id"]).unwrap();
        assert_eq!(own["minted_by"], json!(acme.id), "the subscriber's first token was minted by its publisher too");
        let release = app.schedule(&acme, &pack, "2026-12-10").await;
        let installation = installations[0]["id"].as_str().unwrap();
        let path = format!("/api/v1/accounts/{}/installations/{installation}/apply-update", customer.id);
        app.request("POST", &path, Some(minted["token"].as_str().unwrap()), None).await.expect(200);
        let pushes = app.get(&format!("/api/v1/releases/{}/pushes", release["id"].as_str().unwrap()), &acme.token).await.expect(200);
        let push = &pushes["items"][0];
        assert_eq!((push["pushed_by"].clone(), push["token_id"].clone()), (json!(customer.id), minted["id"].clone()));
        // The release's own pushes name the token that requested it.
        let done = app.execute_due("2026-12-10T05:00:00Z");
        assert_eq!(done.len(), 1);
        let admin_minted = app.get(&format!("/api/v1/accounts/{}/tokens", acme.id), ADMIN_TOKEN).await.expect(200);
        assert_eq!(admin_minted["items"][0]["minted_by"], json!(null), "the admin is not an account");
    }

    async fn a_wrong_type_for_an_enum_field_is_a_422_naming_it(app: TestApp) {
        let acme = app.publisher("Acme").await;
        for (body, field) in [
            (json!({"name": "n", "type": 1}), "type"),
            (json!({"name": "n", "type": null}), "type"),
            (json!({"name": "n", "type": ["process"]}), "type"),
        ] {
            let response = app.post("/api/v1/components", &acme.token, body.clone()).await;
            response.assert_problem(422, "validation_failed");
            assert_eq!(response.error_fields(), [field], "{body}");
        }
        let (pack, _) = app.pack_with_component(&acme, "Orders").await;
        let draft = app.draft(&acme, &pack).await;
        let response = app.release(&acme, &draft, json!({"schedule": null})).await;
        response.assert_problem(422, "validation_failed");
        assert_eq!(response.error_fields(), ["schedule"]);
        // JSON that does not parse stays a 400.
        let broken = app.request("POST", "/api/v1/components", Some(&acme.token), Some(("application/json", b"{\"name\": \"n\", \"type\": }".to_vec()))).await;
        broken.assert_problem(400, "malformed_json");
    }

    async fn two_different_idempotency_keys_are_a_400(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let body = Some(("application/json", json!({"name": "Twice", "type": "process"}).to_string().into_bytes()));
        let headers = [("idempotency-key", "first"), ("idempotency-key", "second")];
        let response = app.request_with("POST", "/api/v1/components", Some(&acme.token), &headers, body.clone()).await;
        response.assert_problem(400, "invalid_idempotency_key");
        let listed = app.get("/api/v1/components", &acme.token).await.expect(200);
        assert_eq!(listed["items"].as_array().unwrap().len(), 0, "nothing was created");
        let same = [("idempotency-key", "same"), ("idempotency-key", "same")];
        app.request_with("POST", "/api/v1/components", Some(&acme.token), &same, body).await.expect(201);
    }

    async fn a_missing_draft_is_a_404_before_its_body_is_judged(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let missing = "/api/v1/release-drafts/01900000-0000-7000-8000-000000000000/release";
        for body in [json!({"schedule": "on_date", "release_on": "2020-01-01"}), json!({"schedule": "on_date"}), json!({"schedule": "immediately", "release_on": "2030-01-01"})] {
            app.post(missing, &acme.token, body).await.assert_problem(404, "not_found");
        }
        let missing = "/api/v1/releases/01900000-0000-7000-8000-000000000000";
        app.patch(missing, &acme.token, json!({"release_on": "2020-01-01"})).await.assert_problem(404, "not_found");
        // A subscriber may see no draft at all: 404 too, whatever the body.
        let customer = app.subscriber(&acme, "Customer").await;
        let (pack, _) = app.pack_with_component(&acme, "Orders").await;
        let draft = app.draft(&acme, &pack).await;
        app.release(&customer, &draft, json!({"schedule": "on_date", "release_on": "2020-01-01"})).await.assert_problem(404, "not_found");
        // A scheduled release moved to a bad date: 422 (the body) before 409 (the state) is checked.
        let release = app.schedule(&acme, &pack, "2026-12-10").await;
        let path = format!("/api/v1/releases/{}", release["id"].as_str().unwrap());
        app.post(&format!("{path}/cancel"), &acme.token, json!({})).await.expect(200);
        app.patch(&path, &acme.token, json!({"release_on": "2020-01-01"})).await.assert_problem(422, "validation_failed");
        app.patch(&path, &acme.token, json!({"release_on": "2026-12-20"})).await.assert_problem(409, "release_not_scheduled");
    }

    async fn worker_hosts_and_processes_are_for_the_admin_only(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let mut worker = Worker::register(app.pool.clone(), Arc::new(app.clock.clone()), Duration::from_secs(1), false).unwrap();
        worker.pass();
        let as_publisher = app.get("/api/v1/worker", &acme.token).await.expect(200);
        let seen = &as_publisher["items"][0];
        assert!(seen.get("hostname").is_none() && seen.get("pid").is_none(), "{seen}");
        assert_eq!(seen["passes"], 1, "the publisher still sees the workers' health");
        let as_admin = app.get("/api/v1/worker", ADMIN_TOKEN).await.expect(200);
        assert!(as_admin["items"][0]["hostname"].is_string() && as_admin["items"][0]["pid"].is_number());
    }

    async fn heartbeats_of_workers_stopped_or_silent_for_a_day_are_removed(app: TestApp) {
        let day_ago = |hours: i64| (app.clock_now() - chrono::Duration::hours(hours)).naive_utc();
        let register = || Worker::register(app.pool.clone(), Arc::new(app.clock.clone()), Duration::from_secs(1), false).unwrap();
        let (stopped_long_ago, silent, recently_stopped) = (register(), register(), register());
        for w in [&stopped_long_ago, &silent, &recently_stopped] {
            w.finish();
        }
        let ids: Vec<String> = app.db(|c| worker_heartbeats::table.select(worker_heartbeats::id).order(worker_heartbeats::id).load(c).unwrap());
        app.db(|c| {
            diesel::update(worker_heartbeats::table.find(&ids[0])).set(worker_heartbeats::stopped_at.eq(Some(day_ago(25)))).execute(c).unwrap();
            diesel::update(worker_heartbeats::table.find(&ids[1]))
                .set((worker_heartbeats::stopped_at.eq(None::<chrono::NaiveDateTime>), worker_heartbeats::started_at.eq(day_ago(30)), worker_heartbeats::last_pass_at.eq(Some(day_ago(26)))))
                .execute(c)
                .unwrap();
            diesel::update(worker_heartbeats::table.find(&ids[2])).set(worker_heartbeats::stopped_at.eq(Some(day_ago(23)))).execute(c).unwrap();
        });
        let mut current = register();
        current.pass();
        let left: Vec<String> = app.db(|c| worker_heartbeats::table.select(worker_heartbeats::id).order(worker_heartbeats::id).load(c).unwrap());
        assert_eq!(left.len(), 2, "{left:?}");
        assert!(left.contains(&ids[2]), "stopped less than a day ago: kept");
        drop((stopped_long_ago, silent, recently_stopped));
    }
}

/// A request whose body never finishes arriving gets a 408 problem once the
/// body read timeout passes, and its connection is let go.
#[actix_web::test]
async fn a_body_that_arrives_too_slowly_is_a_408() {
    let app =
        TestApp::spawn_with(Backend::Sqlite, |config| config.body_read_timeout = Duration::from_secs(1)).await.unwrap();
    let acme = app.publisher("Acme").await;
    let address = app.base.trim_start_matches("http://").to_string();
    let token = acme.token.clone();
    let answer = std::thread::spawn(move || {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let head = format!(
            "POST /api/v1/components HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"name\":"
        );
        stream.write_all(head.as_bytes()).unwrap();
        let started = std::time::Instant::now();
        let mut answer = String::new();
        let mut buffer = [0u8; 4096];
        while let Ok(n) = stream.read(&mut buffer) {
            if n == 0 {
                break;
            }
            answer.push_str(&String::from_utf8_lossy(&buffer[..n]));
            if answer.contains("}") {
                break;
            }
        }
        (answer, started.elapsed())
    })
    .join()
    .unwrap();
    let (answer, waited) = answer;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
    assert!(waited < Duration::from_secs(10), "answered after {waited:?}");
}
