use chrono::Duration;
use diesel::prelude::*;
use packrelease::error::AppError;
use packrelease::schema::{components, idempotency_keys, releases};
use packrelease::service::idempotency::{commit_with_work, Claim};
use serde_json::json;

use crate::helpers::{backend_tests, Backend, TestApp};

fn components_named(app: &TestApp, name: &str) -> i64 {
    app.db(|c| components::table.filter(components::name.eq(name)).count().get_result(c).unwrap())
}

backend_tests! {
    async fn a_retried_post_replays_the_first_answer(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let body = json!({"name": "Orders", "type": "process"});
        let first = app.post_with_key("/api/v1/components", &acme.token, "ci-run-1", body.clone()).await;
        assert_eq!(first.status, 201);
        let retry = app.post_with_key("/api/v1/components", &acme.token, "ci-run-1", body.clone()).await;
        assert_eq!((retry.status, &retry.body), (201, &first.body));
        assert_eq!(retry.header("location"), first.header("location"));
        assert_eq!(retry.header("idempotent-replayed").as_deref(), Some("true"));
        assert_eq!(first.header("idempotent-replayed"), None);
        assert_eq!(components_named(&app, "Orders"), 1, "the work was done once");

        let other = app.post_with_key("/api/v1/components", &acme.token, "ci-run-1", json!({"name": "Other", "type": "process"})).await;
        other.assert_problem(422, "idempotency_key_reused");
        // Without a key, a repeat is a new request.
        app.post("/api/v1/components", &acme.token, body).await.assert_problem(409, "component_name_taken");
    }

    async fn refusals_are_replayed_and_keys_belong_to_one_account(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let globex = app.publisher("Globex").await;
        let blank = json!({"name": " ", "type": "process"});
        app.post_with_key("/api/v1/components", &acme.token, "k", blank.clone()).await.assert_problem(422, "validation_failed");
        let again = app.post_with_key("/api/v1/components", &acme.token, "k", blank).await;
        again.assert_problem(422, "validation_failed");
        assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
        let theirs = app.post_with_key("/api/v1/components", &globex.token, "k", json!({"name": "Theirs", "type": "process"})).await;
        assert_eq!(theirs.status, 201, "another account's key space");
        let bad = app.post_with_key("/api/v1/components", &acme.token, "", json!({})).await;
        assert_eq!(bad.status, 400);
    }

    async fn actions_are_idempotent_too(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, _) = app.pack_with_component(&acme, "Orders").await;
        let draft = app.draft(&acme, &pack).await;
        let path = format!("/api/v1/release-drafts/{}/release", draft["id"].as_str().unwrap());
        let first = app.post_with_key(&path, &acme.token, "release-1", json!({"schedule": "immediately"})).await;
        assert_eq!(first.status, 201);
        let retry = app.post_with_key(&path, &acme.token, "release-1", json!({"schedule": "immediately"})).await;
        assert_eq!((retry.status, &retry.body["id"]), (201, &first.body["id"]), "a retry does not meet draft_already_released");
        let made: i64 = app.db(|c| releases::table.count().get_result(c).unwrap());
        assert_eq!(made, 1);
    }

    async fn token_creation_is_never_replayed(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let path = format!("/api/v1/accounts/{}/tokens", acme.id);
        let first = app.post_with_key(&path, &acme.token, "t", json!({})).await.expect(201);
        let second = app.post_with_key(&path, &acme.token, "t", json!({})).await.expect(201);
        assert_ne!(first["token"], second["token"]);
        // The router decodes the path, and so does the rule: a spelled-out path is token creation too.
        let spelled = format!("/api/v1/%61ccounts/{}/%74okens", acme.id);
        let third = app.post_with_key(&spelled, &acme.token, "t2", json!({})).await.expect(201);
        let fourth = app.post_with_key(&spelled, &acme.token, "t2", json!({})).await.expect(201);
        assert_ne!(third["token"], fourth["token"]);
        let stored: i64 = app.db(|c| idempotency_keys::table.count().get_result(c).unwrap());
        assert_eq!(stored, 0, "no secret is kept to be replayed");
    }

    async fn concurrent_duplicates_do_the_work_once_and_all_get_its_answer(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let body = json!({"name": "Racy", "type": "process"});
        let results = futures_util::future::join_all((0..4).map(|_| app.post_with_key("/api/v1/components", &acme.token, "race", body.clone()))).await;
        for result in &results {
            assert_eq!((result.status, &result.body), (201, &results[0].body), "every twin gets the first answer");
            assert_eq!(result.header("location"), results[0].header("location"));
        }
        let first = results.iter().filter(|r| r.header("idempotent-replayed").is_none()).count();
        assert_eq!(first, 1, "one request did the work, the others replayed it");
        assert_eq!(components_named(&app, "Racy"), 1);
    }

    async fn keys_are_forgotten_after_a_day(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let first = app.post_with_key("/api/v1/components", &acme.token, "daily", json!({"name": "A", "type": "process"})).await.expect(201);
        app.clock.advance(Duration::hours(25));
        let later = app.post_with_key("/api/v1/components", &acme.token, "daily", json!({"name": "B", "type": "process"})).await.expect(201);
        assert_ne!(first["id"], later["id"]);
    }
}

/// An app on each backend whose duplicates of a running request do not wait
/// for its answer: "still running" is then seen at once.
async fn apps_that_do_not_wait_for_twins() -> Vec<TestApp> {
    let mut apps = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let app = TestApp::spawn_with(backend, |config| config.idempotency_wait = std::time::Duration::ZERO).await;
        apps.extend(app);
    }
    apps
}

/// A twin that is still running when the wait runs out (here: no wait at all)
/// is a retryable 409, and nothing is done twice.
#[actix_web::test]
async fn a_duplicate_of_a_request_still_running_is_a_retryable_conflict() {
    for app in apps_that_do_not_wait_for_twins().await {
        let acme = app.publisher("Acme").await;
        let body = json!({"name": "Slow", "type": "process"});
        app.post_with_key("/api/v1/components", &acme.token, "slow", body.clone()).await.expect(201);
        // As if the first request were still running: its key is claimed, no answer stored yet.
        let running = || diesel::update(idempotency_keys::table.filter(idempotency_keys::idempotency_key.eq("slow")));
        app.db(|c| {
            running()
                .set((idempotency_keys::state.eq("in_progress"), idempotency_keys::status.eq(None::<i64>)))
                .execute(c)
                .unwrap()
        });
        let twin = app.post_with_key("/api/v1/components", &acme.token, "slow", body.clone()).await;
        twin.assert_problem(409, "idempotency_in_progress");
        assert!(twin.header("retry-after").is_some(), "the conflict says when to retry");
        assert_eq!(components_named(&app, "Slow"), 1);
        // Once the first has answered, the retry gets that answer.
        app.db(|c| {
            running()
                .set((idempotency_keys::state.eq("done"), idempotency_keys::status.eq(Some(201_i64))))
                .execute(c)
                .unwrap()
        });
        let retry = app.post_with_key("/api/v1/components", &acme.token, "slow", body).await;
        assert_eq!((retry.status, retry.header("idempotent-replayed").as_deref()), (201, Some("true")));
    }
}

/// The key's `committed` mark commits with the work: whatever became of the
/// answer, a request whose work committed is never run again, and one that
/// died before committing runs again once its claim lapses.
#[actix_web::test]
async fn work_and_its_mark_commit_together_so_a_lost_answer_never_means_a_second_run() {
    for app in apps_that_do_not_wait_for_twins().await {
        let acme = app.publisher("Acme").await;
        // The key as a request that died would have left it: in this state, with no answer.
        let leave_key = |key: &'static str, state: &'static str| {
            app.db(|c| {
                diesel::update(idempotency_keys::table.filter(idempotency_keys::idempotency_key.eq(key)))
                    .set((idempotency_keys::state.eq(state), idempotency_keys::body.eq(None::<String>)))
                    .execute(c)
                    .unwrap()
            })
        };
        let key_state = |key: &'static str| -> String {
            app.db(|c| {
                idempotency_keys::table
                    .filter(idempotency_keys::idempotency_key.eq(key))
                    .select(idempotency_keys::state)
                    .first(c)
                    .unwrap()
            })
        };
        let create = |key: &'static str, name: &'static str| {
            app.post_with_key("/api/v1/components", &acme.token, key, json!({"name": name, "type": "process"}))
        };

        // The work committed, then the process died before storing the answer.
        create("lost", "Lost").await.expect(201);
        leave_key("lost", "committed");
        create("lost", "Lost").await.assert_problem(409, "idempotency_in_progress");
        app.clock.advance(Duration::minutes(3));
        let lost = create("lost", "Lost").await;
        lost.assert_problem(409, "idempotency_answer_lost");
        assert!(lost.header("retry-after").is_none(), "retrying the same key cannot help");
        assert_eq!(components_named(&app, "Lost"), 1, "never run twice");

        // The process died before the work committed: nothing was done, and the
        // claim left behind lapses, so a retry does the work.
        create("died", "Died").await.expect(201);
        app.db(|c| diesel::delete(components::table.filter(components::name.eq("Died"))).execute(c).unwrap());
        leave_key("died", "in_progress");
        create("died", "Died").await.assert_problem(409, "idempotency_in_progress");
        app.clock.advance(Duration::minutes(3));
        let retried = create("died", "Died").await;
        assert_eq!((retried.status, retried.header("idempotent-replayed")), (201, None));
        assert_eq!(components_named(&app, "Died"), 1);
        assert_eq!(key_state("died"), "done");

        // A claim that lapsed and was taken by a retry (now running) cannot commit its work any more.
        leave_key("died", "in_progress");
        let stale = Claim {
            scope: acme.id.clone(),
            key: "died".into(),
            claimed_at: app.clock_now().naive_utc() - Duration::minutes(3),
        };
        let outcome = app.db(|c| {
            commit_with_work(c, &stale, |c| {
                diesel::update(components::table.filter(components::name.eq("Died")))
                    .set(components::name.eq("Twice"))
                    .execute(c)?;
                Ok(())
            })
        });
        assert!(matches!(outcome, Err(AppError::Conflict { code: "idempotency_in_progress", .. })));
        assert_eq!(components_named(&app, "Twice"), 0, "its work was rolled back");
        // The retry's own claim commits its work and the mark together.
        let current = Claim { claimed_at: app.clock_now().naive_utc(), ..stale };
        app.db(|c| commit_with_work(c, &current, |_| Ok(()))).unwrap();
        assert_eq!(key_state("died"), "committed");
    }
}
