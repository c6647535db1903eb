//! Staged rollouts: waves by group and by cumulative percent, nightly on the
//! test clock or advanced by hand, outcome reports, halting by itself, and
//! halt, resume, complete and abort.

use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use packrelease::domain::rollout::bucket;
use packrelease::schema::{pushes, rollout_buckets};
use packrelease::worker::{Worker, DUE_RELEASES};
use serde_json::{json, Value};

use crate::helpers::{backend_tests, running, Actor, TestApp};

/// A worker whose passes the test runs at instants it sets on the clock.
fn worker(app: &TestApp) -> Worker {
    Worker::register(app.pool.clone(), Arc::new(app.clock.clone()), Duration::from_secs(1), false).expect("worker")
}

/// One worker pass at `at`; returns how many releases and waves it carried out.
fn pass_at(app: &TestApp, worker: &mut Worker, at: &str) -> usize {
    app.clock.set(at.parse().expect("instant"));
    worker.pass().done(DUE_RELEASES)
}

fn id(value: &Value) -> String {
    value["id"].as_str().expect("id").to_string()
}

async fn release_with(app: &TestApp, owner: &Actor, pack: &str, body: Value) -> crate::helpers::TestResponse {
    let draft = app.draft(owner, pack).await;
    app.release(owner, &draft, body).await
}

async fn get_release(app: &TestApp, owner: &Actor, release: &str) -> Value {
    app.get(&format!("/api/v1/releases/{release}"), &owner.token).await.expect(200)
}

async fn control(app: &TestApp, owner: &Actor, release: &str, action: &str) -> crate::helpers::TestResponse {
    app.request("POST", &format!("/api/v1/releases/{release}/{action}"), Some(&owner.token), None).await
}

/// The versions each subscriber's installation runs, in order.
async fn versions(app: &TestApp, subscribers: &[Actor], installations: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    for (subscriber, installation) in subscribers.iter().zip(installations) {
        out.push(running(&app.installation(subscriber, installation).await));
    }
    out
}

async fn report(
    app: &TestApp,
    subscriber: &Actor,
    installation: &Value,
    release: &str,
    outcome: &str,
) -> crate::helpers::TestResponse {
    let path = format!("/api/v1/accounts/{}/installations/{}/reports", subscriber.id, id(installation));
    app.post(&path, &subscriber.token, json!({"release_id": release, "outcome": outcome, "detail": "from the runtime"}))
        .await
}

/// Publisher events of a type, oldest first.
async fn publisher_events(app: &TestApp, owner: &Actor, event_type: &str) -> Vec<Value> {
    let feed = app
        .get(&format!("/api/v1/accounts/{}/events?type={event_type}&limit=100", owner.id), &owner.token)
        .await
        .expect(200);
    feed["items"].as_array().expect("items").clone()
}

backend_tests! {
    async fn a_canary_then_nightly_rollout_reaches_accounts_wave_by_wave_one_night_at_a_time(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, component, group, subscribers, installations) = app.installed_pack(&acme, 12).await;
        let canary = app.group(&acme, "Canary").await;
        app.share(&acme, &canary, &pack).await;
        app.join(&acme, &canary, &subscribers[0]).await;
        let plan = json!({"waves": [{"account_group_id": canary}, {"percent": 25}, {"percent": 60}, {"percent": 100}], "advance": "nightly", "halt_at_failed_percent": 50});
        let release = release_with(&app, &acme, &pack, json!({"schedule": "immediately", "rollout": plan})).await.expect(201);
        let release_id = id(&release);
        assert_eq!(release["status"], "in_progress", "{release}");
        let rollout = &release["rollout"];
        assert_eq!((rollout["advance"].clone(), rollout["current_wave"].clone()), (json!("nightly"), json!(1)));
        assert_eq!(rollout["waves"][0]["status"], "started");
        assert_eq!(rollout["waves"][0]["targeted"], 1, "the canary's one installation");
        // 12:00 UTC on 2026-11-25 is 07:00 in New York: the next wave at the next local midnight.
        assert_eq!(rollout["next_wave_due_at"], "2026-11-26T05:00:00Z");
        assert_eq!(rollout["waves"][1]["due_at"], "2026-11-26T05:00:00Z");
        assert_eq!(rollout["waves"][2]["due_at"], "2026-11-27T05:00:00Z");
        assert_eq!(rollout["waves"][3]["due_at"], "2026-11-28T05:00:00Z");

        // Who is in which wave follows the stored buckets.
        let buckets: Vec<i64> = subscribers.iter().map(|s| bucket(&pack, &s.id)).collect();
        let reached = |percent: i64| -> Vec<Value> {
            buckets.iter().enumerate().map(|(i, b)| if i == 0 || *b < percent * 100 { json!("1.1") } else { json!("1.0") }).collect()
        };
        assert_eq!(versions(&app, &subscribers, &installations).await, reached(0));
        let stored: i64 = app.db(|c| rollout_buckets::table.filter(rollout_buckets::pack_id.eq(&pack)).count().get_result(c).unwrap());
        assert_eq!(stored, 12, "every subscribed account has its bucket");
        let view = app.installation(&subscribers[1], &installations[1]).await;
        let wave_of = |b: i64| if b < 2500 { "2026-11-26T05:00:00Z" } else if b < 6000 { "2026-11-27T05:00:00Z" } else { "2026-11-28T05:00:00Z" };
        assert_eq!(view["pending_update"]["release_id"], json!(release_id));
        assert_eq!(view["pending_update"]["expected_at"], wave_of(buckets[1]), "{view}");
        assert_eq!(view["pending_update"]["due_at"], view["pending_update"]["expected_at"]);

        // While it rolls out: the pack's released versions are the release's, a new installation gets them,
        // and the pack takes no other release or membership change.
        assert_eq!(app.released_versions(&acme, &pack).await[0].1, json!("1.1"));
        let late_comer = app.subscriber(&acme, "Late comer").await;
        app.join(&acme, &group, &late_comer).await;
        let fresh = app.install(&late_comer, &pack).await;
        assert_eq!(running(&fresh), json!("1.1"));
        app.version(&acme, &component, "1.2").await;
        let again = release_with(&app, &acme, &pack, json!({"schedule": "immediately"})).await;
        again.assert_problem(409, "release_in_progress");
        let other = app.shareable_component(&acme, "Other").await;
        app.post(&format!("/api/v1/integration-packs/{pack}/components"), &acme.token, json!({"component_id": other})).await.assert_problem(409, "release_in_progress");

        // Nightly: nothing before midnight, one wave at it, and no second wave the same night. (A wave
        // that adds nobody, as a share may with random ids, is done at once with the next one.)
        let percents = [0, 0, 25, 60, 100];
        let mut worker = worker(&app);
        let current = |read: &Value| percents[read["rollout"]["current_wave"].as_u64().unwrap() as usize];
        assert_eq!(pass_at(&app, &mut worker, "2026-11-26T04:59:59Z"), 0);
        assert_eq!(pass_at(&app, &mut worker, "2026-11-26T05:00:00Z"), 1);
        assert_eq!(pass_at(&app, &mut worker, "2026-11-26T05:00:01Z"), 0);
        let read = get_release(&app, &acme, &release_id).await;
        assert_eq!(versions(&app, &subscribers, &installations).await, reached(current(&read)));
        // Downtime: the worker comes back two days late. One wave goes out late, the next a night after.
        if read["status"] == "in_progress" {
            assert_eq!(pass_at(&app, &mut worker, "2026-11-28T12:00:00Z"), 1);
            assert_eq!(pass_at(&app, &mut worker, "2026-11-28T12:00:01Z"), 0, "a missed night is never doubled");
            let read = get_release(&app, &acme, &release_id).await;
            assert_eq!(versions(&app, &subscribers, &installations).await, reached(current(&read)));
            if read["status"] == "in_progress" {
                assert_eq!(read["rollout"]["next_wave_due_at"], "2026-11-29T05:00:00Z");
                let wave = read["rollout"]["current_wave"].as_u64().unwrap() as usize;
                assert_eq!(read["rollout"]["waves"][wave - 1]["started_at"], "2026-11-28T12:00:00Z");
                assert_eq!(pass_at(&app, &mut worker, "2026-11-29T05:00:00Z"), 1);
            }
        }
        assert_eq!(versions(&app, &subscribers, &installations).await, reached(100));
        let done = get_release(&app, &acme, &release_id).await;
        assert_eq!(done["status"], "released");
        assert_eq!(done["late"], false, "its first wave went out on time");
        assert!(done["released_at"].is_string(), "released with its last wave: {done}");
        assert_eq!(done["rollout"]["next_wave_due_at"], Value::Null);
        let targeted: Vec<i64> = done["rollout"]["waves"].as_array().unwrap().iter().map(|w| w["targeted"].as_i64().unwrap()).collect();
        assert_eq!(targeted.iter().sum::<i64>(), 12, "each installation moved by exactly one wave: {targeted:?}");
        assert_eq!(done["push_counts"]["applied"], 12, "the late comer was installed on the release");
        let waves_pushed: Vec<Option<i64>> = app.db(|c| pushes::table.filter(pushes::release_id.eq(&release_id)).select(pushes::wave).load(c).unwrap());
        assert!(waves_pushed.iter().all(|w| w.is_some()));
        let started = publisher_events(&app, &acme, "release.wave_started").await;
        let indexes: Vec<Value> = started.iter().map(|e| e["data"]["wave"]["index"].clone()).collect();
        assert_eq!(indexes, [json!(1), json!(2), json!(3), json!(4)]);
        assert_eq!(publisher_events(&app, &acme, "release.released").await.len(), 2, "the first release and this one");
        // The same accounts go first on every release of the pack: buckets are kept.
        let kept: Vec<(String, i64)> = app.db(|c| rollout_buckets::table.filter(rollout_buckets::pack_id.eq(&pack)).select((rollout_buckets::account_id, rollout_buckets::bucket)).load(c).unwrap());
        assert!(kept.iter().all(|(account, b)| bucket(&pack, account) == *b));
        assert_eq!(pass_at(&app, &mut worker, "2026-11-30T05:00:00Z"), 0, "nothing more");
    }

    async fn bad_plans_are_422s_naming_the_field_and_write_nothing(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, _component, group, _subscribers, _installations) = app.installed_pack(&acme, 1).await;
        let unshared = app.group(&acme, "Unshared").await;
        let rival = app.publisher("Rival").await;
        let theirs = app.group(&rival, "Theirs").await;
        let many: Vec<Value> = (1..=21).map(|p| json!({"percent": p + 79})).collect();
        let cases = [
            (json!({"waves": [{"percent": 50}, {"percent": 50}, {"percent": 100}], "advance": "manual"}), "rollout.waves[1].percent", "not_increasing"),
            (json!({"waves": [{"percent": 101}], "advance": "manual"}), "rollout.waves[0].percent", "out_of_range"),
            (json!({"waves": [{"percent": 10}, {"percent": 50}], "advance": "nightly"}), "rollout.waves[1]", "must_reach_everyone"),
            (json!({"waves": [{"account_group_id": unshared}, {"percent": 100}], "advance": "manual"}), "rollout.waves[0].account_group_id", "not_sharing_pack"),
            (json!({"waves": [{"account_group_id": theirs}, {"percent": 100}], "advance": "manual"}), "rollout.waves[0].account_group_id", "not_found"),
            (json!({"waves": many, "advance": "manual"}), "rollout.waves", "too_many"),
            (json!({"waves": [], "advance": "manual"}), "rollout.waves", "required"),
            (json!({"waves": [{"percent": 10, "account_group_id": group}, {"percent": 100}], "advance": "manual"}), "rollout.waves[0]", "one_selector"),
            (json!({"waves": [{}, {"percent": 100}], "advance": "manual"}), "rollout.waves[0]", "one_selector"),
            (json!({"waves": [{"percent": 100}], "advance": "manual", "halt_at_failed_percent": 0}), "rollout.halt_at_failed_percent", "out_of_range"),
        ];
        for (plan, field, code) in cases {
            let refused = release_with(&app, &acme, &pack, json!({"schedule": "immediately", "rollout": plan})).await;
            refused.assert_problem(422, "validation_failed");
            assert!(refused.error_fields().contains(&field.to_string()), "{field}: {}", refused.body);
            let codes: Vec<&str> = refused.body["errors"].as_array().unwrap().iter().map(|e| e["code"].as_str().unwrap()).collect();
            assert!(codes.contains(&code), "{field}: {}", refused.body);
        }
        release_with(&app, &acme, &pack, json!({"schedule": "immediately", "rollout": {"waves": [{"percent": 100}], "advance": "sometimes"}})).await.assert_problem(422, "validation_failed");
        let draft = app.draft(&acme, &pack).await;
        app.release(&rival, &draft, json!({"schedule": "immediately", "rollout": {"waves": [{}], "advance": "manual"}})).await.assert_problem(404, "not_found");
        app.post(&format!("/api/v1/integration-packs/{pack}/releases"), &rival.token, json!({"schedule": "immediately", "rollout": {"waves": [{}], "advance": "manual"}})).await.assert_problem(404, "not_found");
        let releases = app.get(&format!("/api/v1/integration-packs/{pack}/releases"), &acme.token).await.expect(200);
        assert_eq!(releases["items"].as_array().unwrap().len(), 1, "only the pack's first release: nothing was written");
    }

    async fn failed_reports_halt_the_rollout_and_resume_counts_only_later_failures(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, component, group, subscribers, installations) = app.installed_pack(&acme, 4).await;
        let canary = app.group(&acme, "Canary").await;
        app.share(&acme, &canary, &pack).await;
        app.join(&acme, &canary, &subscribers[0]).await;
        app.join(&acme, &canary, &subscribers[1]).await;
        let plan = json!({"waves": [{"account_group_id": canary}, {"percent": 100}], "advance": "manual", "halt_at_failed_percent": 50});
        let release = release_with(&app, &acme, &pack, json!({"schedule": "immediately", "rollout": plan})).await.expect(201);
        let release_id = id(&release);
        assert_eq!(release["rollout"]["waves"][1]["due_at"], Value::Null, "a manual wave has no due time");
        assert_eq!(release["push_counts"]["targeted"], 2, "reached so far: {release}");
        let waiting = app.installation(&subscribers[2], &installations[2]).await;
        assert_eq!(waiting["pending_update"]["expected_at"], Value::Null, "{waiting}");
        assert_eq!((waiting["pending_update"]["due_at"].clone(), waiting["pending_update"]["release_on"].clone()), (Value::Null, Value::Null));

        // Reports: the subscriber only, on the release the installation runs, detail bounded.
        let path = format!("/api/v1/accounts/{}/installations/{}/reports", subscribers[0].id, id(&installations[0]));
        app.post(&path, &acme.token, json!({"release_id": release_id, "outcome": "failed"})).await.assert_problem(403, "forbidden");
        let first_release = app.get(&format!("/api/v1/integration-packs/{pack}/releases?status=released"), &acme.token).await.expect(200)["items"][0]["id"].clone();
        report(&app, &subscribers[2], &installations[2], &release_id, "failed").await.assert_problem(409, "release_not_running");
        report(&app, &subscribers[0], &installations[0], first_release.as_str().unwrap(), "failed").await.assert_problem(409, "release_not_running");
        app.post(&path, &subscribers[0].token, json!({"release_id": release_id, "outcome": "failed", "detail": "x".repeat(2001)})).await.assert_problem(422, "validation_failed");
        app.post(&path, &subscribers[0].token, json!({"release_id": release_id, "outcome": "exploded"})).await.assert_problem(422, "validation_failed");

        // One of the two canaries succeeds, then the other fails: 1 of 2 reaches 50%, and it halts by itself.
        let ok = report(&app, &subscribers[1], &installations[1], &release_id, "succeeded").await.expect(201);
        assert_eq!(ok["outcome"], "succeeded");
        assert_eq!(get_release(&app, &acme, &release_id).await["status"], "in_progress");
        report(&app, &subscribers[0], &installations[0], &release_id, "failed").await.expect(201);
        let halted = get_release(&app, &acme, &release_id).await;
        assert_eq!(halted["status"], "halted", "{halted}");
        assert!(halted["rollout"]["halted_reason"].as_str().unwrap().contains("1 of the 2 installations of wave 1 failed"), "{halted}");
        assert_eq!((halted["rollout"]["waves"][0]["applied"].clone(), halted["rollout"]["waves"][0]["failed"].clone()), (json!(1), json!(1)));
        // While halted: no wave, the previous release's versions for new installations, no expected time.
        control(&app, &acme, &release_id, "advance").await.assert_problem(409, "rollout_not_in_progress");
        control(&app, &acme, &release_id, "halt").await.assert_problem(409, "rollout_not_in_progress");
        assert_eq!(app.released_versions(&acme, &pack).await[0].1, json!("1.0"));
        let newcomer = app.subscriber(&acme, "Newcomer").await;
        app.join(&acme, &group, &newcomer).await;
        let fresh = app.install(&newcomer, &pack).await;
        assert_eq!(running(&fresh), json!("1.0"));
        assert_eq!(fresh["pending_update"]["release_id"], json!(release_id));
        assert_eq!(publisher_events(&app, &acme, "release.halted").await.len(), 1);
        let early = format!("/api/v1/accounts/{}/installations/{}/apply-update", subscribers[2].id, id(&installations[2]));
        app.request("POST", &early, Some(&subscribers[2].token), None).await.assert_problem(409, "release_halted");
        // The publisher lists the reports; a subscriber sees its own.
        let listed = app.get(&format!("/api/v1/releases/{release_id}/reports"), &acme.token).await.expect(200);
        assert_eq!(listed["items"].as_array().unwrap().len(), 2);
        let failed = app.get(&format!("/api/v1/releases/{release_id}/reports?outcome=failed"), &acme.token).await.expect(200);
        assert_eq!(failed["items"][0]["installation_id"], json!(id(&installations[0])));
        let own = app.get(&format!("/api/v1/releases/{release_id}/reports"), &subscribers[1].token).await.expect(200);
        assert_eq!(own["items"].as_array().unwrap().len(), 1);
        // A version that a live installation runs cannot be deleted.
        app.delete(&format!("/api/v1/components/{component}/versions/1.1"), &acme.token).await.assert_problem(409, "version_in_use");

        // Resume (an hour later): the same cohort, the failure before it no longer counts, so advancing goes on.
        app.clock.set(app.clock_now() + chrono::Duration::hours(1));
        let resumed = control(&app, &acme, &release_id, "resume").await.expect(200);
        assert_eq!(resumed["status"], "in_progress");
        assert_eq!(resumed["rollout"]["halted_reason"], Value::Null);
        control(&app, &acme, &release_id, "resume").await.assert_problem(409, "rollout_not_halted");
        assert_eq!(app.released_versions(&acme, &pack).await[0].1, json!("1.1"));
        let advanced = control(&app, &acme, &release_id, "advance").await.expect(200);
        assert_eq!(advanced["status"], "released", "{advanced}");
        assert_eq!(versions(&app, &subscribers, &installations).await, vec![json!("1.1"); 4]);
        assert_eq!(running(&app.installation(&newcomer, &fresh).await), json!("1.1"), "the newcomer was reached by the last wave");
        assert_eq!(publisher_events(&app, &acme, "release.resumed").await.len(), 1);
        control(&app, &acme, &release_id, "abort").await.assert_problem(409, "rollout_not_in_progress");
    }

    async fn abort_keeps_reached_installations_and_cancels_the_others_pending_updates(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, component, _group, subscribers, installations) = app.installed_pack(&acme, 3).await;
        let canary = app.group(&acme, "Canary").await;
        app.share(&acme, &canary, &pack).await;
        app.join(&acme, &canary, &subscribers[0]).await;
        let plan = json!({"waves": [{"account_group_id": canary}, {"percent": 100}], "advance": "nightly"});
        let release_id = id(&release_with(&app, &acme, &pack, json!({"schedule": "immediately", "rollout": plan})).await.expect(201));
        // Another account's or a non-rollout release is a 404 or a 409.
        let rival = app.publisher("Rival").await;
        control(&app, &rival, &release_id, "abort").await.assert_problem(404, "not_found");
        control(&app, &subscribers[0], &release_id, "abort").await.assert_problem(404, "not_found");
        let first_release = app.get(&format!("/api/v1/integration-packs/{pack}/releases?status=released"), &acme.token).await.expect(200)["items"][0]["id"].as_str().unwrap().to_string();
        control(&app, &acme, &first_release, "abort").await.assert_problem(409, "not_a_rollout");

        let refused = app.delete(&format!("/api/v1/integration-packs/{pack}"), &acme.token).await;
        refused.assert_problem(409, "pack_in_use");
        assert!(refused.body["detail"].as_str().unwrap().contains("in_progress"), "{}", refused.body);
        let aborted = control(&app, &acme, &release_id, "abort").await.expect(200);
        assert_eq!(aborted["status"], "aborted");
        assert_eq!(aborted["rollout"]["waves"][1]["status"], "canceled");
        assert_eq!(aborted["rollout"]["next_wave_due_at"], Value::Null);
        assert_eq!(versions(&app, &subscribers, &installations).await, [json!("1.1"), json!("1.0"), json!("1.0")]);
        for (subscriber, installation) in subscribers.iter().zip(&installations) {
            assert_eq!(app.installation(subscriber, installation).await["pending_update"], Value::Null);
        }
        assert_eq!(app.released_versions(&acme, &pack).await[0].1, json!("1.0"));
        let mut worker = worker(&app);
        assert_eq!(pass_at(&app, &mut worker, "2026-11-26T05:00:00Z"), 0, "no wave after an abort");
        // The unreached hear that their update is canceled.
        for (subscriber, reached) in subscribers.iter().zip([false, true, true]) {
            let feed = app.get(&format!("/api/v1/accounts/{}/events?type=installation.update_canceled", subscriber.id), &subscriber.token).await.expect(200);
            let told = feed["items"].as_array().unwrap();
            assert_eq!(told.len(), usize::from(reached), "{feed}");
            if reached {
                assert_eq!(told[0]["data"]["reason"], "aborted");
            }
        }
        assert_eq!(publisher_events(&app, &acme, "release.aborted").await.len(), 1);
        // The reached installation runs 1.1: it stays protected; the next release goes ahead.
        app.delete(&format!("/api/v1/components/{component}/versions/1.1"), &acme.token).await.assert_problem(409, "version_in_use");
        app.version(&acme, &component, "1.2").await;
        let next = release_with(&app, &acme, &pack, json!({"schedule": "immediately"})).await.expect(201);
        assert_eq!(next["status"], "released");
        assert_eq!(versions(&app, &subscribers, &installations).await, vec![json!("1.2"); 3]);
        // A dated rollout canceled before it starts cancels its waves.
        app.version(&acme, &component, "1.3").await;
        let plan = json!({"waves": [{"percent": 50}, {"percent": 100}], "advance": "nightly"});
        let dated = id(&release_with(&app, &acme, &pack, json!({"schedule": "on_date", "release_on": "2026-12-01", "rollout": plan})).await.expect(201));
        let canceled = control(&app, &acme, &dated, "cancel").await.expect(200);
        let statuses: Vec<Value> = canceled["rollout"]["waves"].as_array().unwrap().iter().map(|w| w["status"].clone()).collect();
        assert_eq!(statuses, [json!("canceled"), json!("canceled")]);
        assert_eq!(pass_at(&app, &mut worker, "2026-12-01T05:00:00Z"), 0);
    }

    async fn complete_sends_every_remaining_wave_and_a_wave_that_adds_nobody_is_done_at_once(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, component, _group, subscribers, installations) = app.installed_pack(&acme, 3).await;
        let empty = app.group(&acme, "Nobody yet").await;
        app.share(&acme, &empty, &pack).await;
        let plan = json!({"waves": [{"account_group_id": empty}, {"percent": 1}, {"percent": 100}], "advance": "manual"});
        let release = release_with(&app, &acme, &pack, json!({"schedule": "immediately", "rollout": plan})).await.expect(201);
        let release_id = id(&release);
        let low = subscribers.iter().filter(|s| bucket(&pack, &s.id) < 100).count();
        // The empty canary group adds nobody, so wave 2 follows at once (and wave 3 if 1% holds nobody either).
        let expected_status = if low == 0 { "released" } else { "in_progress" };
        assert_eq!(release["status"], expected_status, "{release}");
        assert_eq!(release["rollout"]["waves"][0]["targeted"], 0);
        assert_eq!(release["rollout"]["waves"][1]["status"], "started");
        if low > 0 {
            let completed = control(&app, &acme, &release_id, "complete").await.expect(200);
            assert_eq!(completed["status"], "released");
        }
        assert_eq!(versions(&app, &subscribers, &installations).await, vec![json!("1.1"); 3]);
        control(&app, &acme, &release_id, "complete").await.assert_problem(409, "rollout_not_in_progress");

        // Complete from halted, and a scheduled rollout shows each installation's expected wave.
        app.version(&acme, &component, "1.2").await;
        let plan = json!({"waves": [{"percent": 50}, {"percent": 100}], "advance": "nightly"});
        let scheduled = release_with(&app, &acme, &pack, json!({"schedule": "on_date", "release_on": "2026-12-01", "rollout": plan})).await.expect(201);
        let scheduled_id = id(&scheduled);
        assert_eq!(scheduled["status"], "scheduled");
        assert_eq!(scheduled["rollout"]["waves"][0]["due_at"], "2026-12-01T05:00:00Z");
        assert_eq!(scheduled["rollout"]["waves"][1]["due_at"], "2026-12-02T05:00:00Z");
        // Moved a day: its waves move with it.
        let moved = app.patch(&format!("/api/v1/releases/{scheduled_id}"), &acme.token, json!({"release_on": "2026-12-02"})).await.expect(200);
        assert_eq!(moved["rollout"]["waves"][0]["due_at"], "2026-12-02T05:00:00Z");
        assert_eq!(moved["rollout"]["waves"][1]["due_at"], "2026-12-03T05:00:00Z");
        for (subscriber, installation) in subscribers.iter().zip(&installations) {
            let expected = if bucket(&pack, &subscriber.id) < 5000 { "2026-12-02T05:00:00Z" } else { "2026-12-03T05:00:00Z" };
            let view = app.installation(subscriber, installation).await;
            assert_eq!(view["pending_update"]["expected_at"], expected, "{view}");
        }
        control(&app, &acme, &scheduled_id, "halt").await.assert_problem(409, "rollout_not_in_progress");
        let mut worker = worker(&app);
        assert_eq!(pass_at(&app, &mut worker, "2026-12-01T05:00:00Z"), 0, "not on its old date");
        assert_eq!(pass_at(&app, &mut worker, "2026-12-02T05:00:00Z"), 1, "wave 1 goes out with the release");
        let first = get_release(&app, &acme, &scheduled_id).await;
        let low = subscribers.iter().filter(|s| bucket(&pack, &s.id) < 5000).count();
        if first["status"] == "in_progress" {
            assert_eq!(first["rollout"]["waves"][0]["targeted"], low as i64);
            control(&app, &acme, &scheduled_id, "halt").await.expect(200);
            let completed = control(&app, &acme, &scheduled_id, "complete").await.expect(200);
            assert_eq!(completed["status"], "released", "{completed}");
            assert_eq!(completed["rollout"]["halted_reason"], Value::Null, "complete resumed it first");
        }
        assert_eq!(versions(&app, &subscribers, &installations).await, vec![json!("1.2"); 3]);
        assert_eq!(app.released_versions(&acme, &pack).await[0].1, json!("1.2"));
    }

    async fn a_delivery_that_failed_three_attempts_counts_as_a_failed_installation(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, _component, _group, subscribers, installations) = app.installed_pack(&acme, 2).await;
        let canary = app.group(&acme, "Canary").await;
        app.share(&acme, &canary, &pack).await;
        app.join(&acme, &canary, &subscribers[0]).await;
        // Nothing listens on this port: every attempt fails.
        let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}/hooks", dead.local_addr().unwrap().port());
        drop(dead);
        let endpoints = format!("/api/v1/accounts/{}/webhook-endpoints", subscribers[0].id);
        app.post(&endpoints, &subscribers[0].token, json!({"url": url, "event_types": ["installation.updated"]})).await.expect(201);
        let plan = json!({"waves": [{"account_group_id": canary}, {"percent": 100}], "advance": "nightly", "halt_at_failed_percent": 100});
        let release_id = id(&release_with(&app, &acme, &pack, json!({"schedule": "immediately", "rollout": plan})).await.expect(201));
        let mut delivery = app.delivery_worker(crate::helpers::test_rules());
        let start = app.clock_now();
        for (attempt, after) in [(1, 0), (2, 1), (3, 2)] {
            app.clock.set(start + chrono::Duration::seconds(after));
            assert_eq!(delivery.deliver(), 1, "attempt {attempt}");
            let status = get_release(&app, &acme, &release_id).await["status"].clone();
            assert_eq!(status, if attempt < 3 { "in_progress" } else { "halted" }, "after attempt {attempt}");
        }
        let halted = get_release(&app, &acme, &release_id).await;
        assert_eq!(halted["rollout"]["waves"][0]["failed"], 1, "{halted}");
        assert_eq!(running(&app.installation(&subscribers[1], &installations[1]).await), json!("1.0"), "no further wave");
    }

    async fn an_account_leaving_during_a_rollout_hears_its_update_is_canceled(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, _component, group, subscribers, installations) = app.installed_pack(&acme, 2).await;
        let canary = app.group(&acme, "Canary").await;
        app.share(&acme, &canary, &pack).await;
        app.join(&acme, &canary, &subscribers[0]).await;
        let plan = json!({"waves": [{"account_group_id": canary}, {"percent": 100}], "advance": "manual"});
        let release_id = id(&release_with(&app, &acme, &pack, json!({"schedule": "immediately", "rollout": plan})).await.expect(201));
        app.delete(&format!("/api/v1/account-groups/{group}/members/{}", subscribers[1].id), &acme.token).await.expect(204);
        let feed = app.get(&format!("/api/v1/accounts/{}/events?type=installation.update_canceled", subscribers[1].id), &subscribers[1].token).await.expect(200);
        assert_eq!(feed["items"].as_array().unwrap().len(), 1, "{feed}");
        assert_eq!(feed["items"][0]["data"]["reason"], "unsubscribed");
        let view = app.installation(&subscribers[1], &installations[1]).await;
        assert_eq!((view["subscribed"].clone(), view["pending_update"].clone()), (json!(false), Value::Null));
        assert_eq!(control(&app, &acme, &release_id, "advance").await.expect(200)["status"], "released");
        assert_eq!(versions(&app, &subscribers, &installations).await, [json!("1.1"), json!("1.0")], "the account that left is not reached");
    }
}
