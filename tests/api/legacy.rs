//! Legacy deployment packs (a release always carries every member's latest
//! version) and the one-call release of the latest versions, for both models.

use serde_json::{json, Value};

use crate::helpers::{backend_tests, running, Actor, TestApp};

/// A pack of `deployment` holding one process component with versions 1.0 and 1.1.
async fn pack_of(app: &TestApp, owner: &Actor, name: &str, deployment: &str) -> (String, String) {
    let body = json!({"name": name, "installation_type": "single", "deployment": deployment});
    let pack = app.post("/api/v1/integration-packs", &owner.token, body).await.expect(201);
    assert_eq!(pack["deployment"], deployment);
    let pack = pack["id"].as_str().unwrap().to_string();
    let component = app.shareable_component(owner, &format!("{name} process")).await;
    app.version(owner, &component, "1.1").await;
    app.add_member(owner, &pack, &component).await;
    (pack, component)
}

async fn release_latest(app: &TestApp, owner: &Actor, pack: &str, body: Value) -> crate::helpers::TestResponse {
    app.post(&format!("/api/v1/integration-packs/{pack}/releases"), &owner.token, body).await
}

fn ids(list: &Value) -> Vec<String> {
    list["items"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_string()).collect()
}

backend_tests! {
    async fn a_pack_is_packaged_unless_made_legacy_and_lists_filter_by_it(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let packaged = app.pack(&acme, "Packaged", "single").await;
        let (legacy, _) = pack_of(&app, &acme, "Legacy", "legacy").await;
        let read = app.get(&format!("/api/v1/integration-packs/{packaged}"), &acme.token).await.expect(200);
        assert_eq!(read["deployment"], "packaged");
        let only_legacy = app.get("/api/v1/integration-packs?deployment=legacy", &acme.token).await.expect(200);
        assert_eq!(ids(&only_legacy), std::slice::from_ref(&legacy));
        let only_packaged = app.get("/api/v1/integration-packs?deployment=packaged", &acme.token).await.expect(200);
        assert_eq!(ids(&only_packaged), std::slice::from_ref(&packaged));
        app.get("/api/v1/integration-packs?deployment=modern", &acme.token).await.assert_problem(422, "validation_failed");
        let path = format!("/api/v1/integration-packs/{legacy}");
        let changed = app.patch(&path, &acme.token, json!({"deployment": "packaged"})).await;
        changed.assert_problem(422, "validation_failed");
        assert_eq!(changed.error_fields(), ["deployment"]);
        app.patch(&path, &acme.token, json!({"deployment": "legacy", "description": "kept"})).await.expect(200);
        let bad = app.post("/api/v1/integration-packs", &acme.token, json!({"name": "X", "installation_type": "single", "deployment": 2})).await;
        bad.assert_problem(422, "validation_failed");
        assert_eq!(bad.error_fields(), ["deployment"]);
        // A subscriber's list of shared packs filters the same way.
        let group = app.group(&acme, "Everyone").await;
        let customer = app.subscriber(&acme, "Customer").await;
        app.join(&acme, &group, &customer).await;
        release_latest(&app, &acme, &legacy, json!({"schedule": "immediately"})).await.expect(201);
        app.share(&acme, &group, &legacy).await;
        let shared = app.get("/api/v1/integration-packs?deployment=legacy", &customer.token).await.expect(200);
        assert_eq!(ids(&shared), std::slice::from_ref(&legacy));
        let none = app.get("/api/v1/integration-packs?deployment=packaged", &customer.token).await.expect(200);
        assert!(ids(&none).is_empty());
    }

    async fn a_legacy_draft_takes_the_latest_versions_and_no_other(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, component) = pack_of(&app, &acme, "Orders", "legacy").await;
        let draft = app.draft(&acme, &pack).await;
        assert_eq!(draft["items"][0]["pending_version"], "1.1", "the latest is preselected");
        let path = format!("/api/v1/release-drafts/{}", draft["id"].as_str().unwrap());
        let pick = |version: &str| json!({"items": [{"component_id": component, "version": version}]});
        app.patch(&path, &acme.token, pick("1.0")).await.assert_problem(409, "version_selection_unsupported");
        app.patch(&path, &acme.token, pick("9.9")).await.assert_problem(422, "validation_failed");
        let read = app.get(&path, &acme.token).await.expect(200);
        assert_eq!(read["items"][0]["pending_version"], "1.1", "nothing changed");
        app.release(&acme, &draft, json!({"schedule": "immediately"})).await.expect(201);
        assert_eq!(app.released_versions(&acme, &pack).await, [("Orders process".to_string(), json!("1.1"))]);

        // A dated release reaches subscribers as for packaged packs: pending update, early apply.
        let group = app.group(&acme, "Everyone").await;
        app.share(&acme, &group, &pack).await;
        let customer = app.subscriber(&acme, "Customer").await;
        app.join(&acme, &group, &customer).await;
        let installation = app.install(&customer, &pack).await;
        app.version(&acme, &component, "1.2").await;
        let scheduled = release_latest(&app, &acme, &pack, json!({"schedule": "on_date", "release_on": "2026-12-10"})).await.expect(201);
        assert_eq!(scheduled["status"], "scheduled");
        let read = app.installation(&customer, &installation).await;
        assert_eq!(read["pending_update"]["release_id"], scheduled["id"]);
        let apply = format!("/api/v1/accounts/{}/installations/{}/apply-update", customer.id, installation["id"].as_str().unwrap());
        let applied = app.request("POST", &apply, Some(&customer.token), None).await.expect(200);
        assert_eq!(running(&applied), "1.2");

        // 1.2 goes out and turns out bad. Rolling back: un-share it, then release again.
        app.execute_due("2026-12-10T05:00:00Z");
        assert_eq!(app.released_versions(&acme, &pack).await, [("Orders process".to_string(), json!("1.2"))]);
        let version_path = format!("/api/v1/components/{component}/versions/1.2");
        app.delete(&version_path, &acme.token).await.assert_problem(409, "version_in_use");
        app.patch(&version_path, &customer.token, json!({"shareable": false})).await.assert_problem(404, "not_found");
        let unshared = app.patch(&version_path, &acme.token, json!({"shareable": false})).await.expect(200);
        assert_eq!(unshared["shareable"], false);
        let rollback = release_latest(&app, &acme, &pack, json!({"schedule": "immediately"})).await.expect(201);
        assert_eq!((rollback["items"][0]["version"].clone(), rollback["items"][0]["previous_version"].clone()), (json!("1.1"), json!("1.2")));
        assert_eq!(running(&app.installation(&customer, &installation).await), "1.1", "the installation is back on 1.1");
    }

    async fn the_one_call_release_has_the_wizards_rules_and_answers_for_either_model(app: TestApp) {
        let acme = app.publisher("Acme").await;
        for deployment in ["packaged", "legacy"] {
            let (pack, component) = pack_of(&app, &acme, &format!("Orders {deployment}"), deployment).await;
            let now = release_latest(&app, &acme, &pack, json!({"schedule": "immediately"})).await;
            assert_eq!(now.status, 201, "{}", now.body);
            assert_eq!(now.header("location"), Some(format!("/api/v1/releases/{}", now.body["id"].as_str().unwrap())));
            assert_eq!((now.body["status"].clone(), now.body["items"][0]["version"].clone()), (json!("released"), json!("1.1")));
            release_latest(&app, &acme, &pack, json!({"schedule": "immediately"})).await.assert_problem(409, "nothing_to_release");
            app.version(&acme, &component, "1.2").await;
            release_latest(&app, &acme, &pack, json!({"schedule": "on_date", "release_on": "2020-01-01"})).await.assert_problem(422, "validation_failed");
            release_latest(&app, &acme, &pack, json!({"schedule": "on_date"})).await.assert_problem(422, "validation_failed");
            let dated = release_latest(&app, &acme, &pack, json!({"schedule": "on_date", "release_on": "2026-12-10"})).await.expect(201);
            assert_eq!((dated["status"].clone(), dated["due_at"].clone()), (json!("scheduled"), json!("2026-12-10T05:00:00Z")));
            let again = release_latest(&app, &acme, &pack, json!({"schedule": "immediately"})).await;
            again.assert_problem(409, "release_already_scheduled");
            assert_eq!(again.body["release_id"], dated["id"]);
            let done = app.execute_due("2026-12-10T05:00:00Z");
            assert_eq!(done.len(), 1);
            assert_eq!(app.released_versions(&acme, &pack).await[0].1, json!("1.2"));
        }
        // Who may: the publisher only; what the caller cannot see is a 404, before the body is judged.
        let (pack, _) = pack_of(&app, &acme, "Mine", "legacy").await;
        let other = app.publisher("Other").await;
        release_latest(&app, &other, &pack, json!({"schedule": "on_date", "release_on": "2020-01-01"})).await.assert_problem(404, "not_found");
        release_latest(&app, &acme, "01900000-0000-7000-8000-000000000000", json!({"schedule": "immediately"})).await.assert_problem(404, "not_found");
        let empty = app.pack(&acme, "Empty", "single").await;
        release_latest(&app, &acme, &empty, json!({"schedule": "immediately"})).await.assert_problem(409, "pack_empty");
    }

    async fn the_one_call_release_replays_under_an_idempotency_key(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, _) = pack_of(&app, &acme, "Orders", "legacy").await;
        let path = format!("/api/v1/integration-packs/{pack}/releases");
        let body = json!({"schedule": "immediately"});
        let first = app.post_with_key(&path, &acme.token, "ci-run-42", body.clone()).await;
        assert_eq!(first.status, 201);
        let retry = app.post_with_key(&path, &acme.token, "ci-run-42", body).await;
        assert_eq!((retry.status, &retry.body), (201, &first.body));
        assert_eq!(retry.header("idempotent-replayed").as_deref(), Some("true"));
        let history = app.get(&path, &acme.token).await.expect(200);
        assert_eq!(ids(&history).len(), 1, "released once");
    }
}
