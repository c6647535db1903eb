use diesel::prelude::*;
use packrelease::schema::pushes;
use serde_json::{json, Value};

use crate::helpers::{backend_tests, running, ADMIN_TOKEN};

fn outcomes(list: &Value) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["account_id"].as_str().unwrap().to_string(), p["outcome"].as_str().unwrap().to_string()))
        .collect();
    rows.sort();
    rows
}

backend_tests! {
    async fn groups_hold_the_publishers_subscribers_and_released_packs(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let globex = app.publisher("Globex").await;
        let customer = app.subscriber(&acme, "Customer").await;
        let foreign = app.subscriber(&globex, "Foreign").await;
        let created = app.post("/api/v1/account-groups", &acme.token, json!({"name": "EMEA"})).await;
        assert_eq!(created.status, 201);
        let group = created.body["id"].as_str().unwrap().to_string();
        assert_eq!(created.header("location").unwrap(), format!("/api/v1/account-groups/{group}"));
        app.post("/api/v1/account-groups", &acme.token, json!({"name": "EMEA"})).await.assert_problem(409, "group_name_taken");
        let other = app.group(&acme, "APAC").await;
        app.patch(&format!("/api/v1/account-groups/{other}"), &acme.token, json!({"name": "EMEA"})).await.assert_problem(409, "group_name_taken");
        assert_eq!(app.patch(&format!("/api/v1/account-groups/{other}"), &acme.token, json!({"name": "Asia"})).await.expect(200)["name"], "Asia");

        let members = format!("/api/v1/account-groups/{group}/members");
        for outsider in [&foreign.id, &acme.id] {
            let refused = app.post(&members, &acme.token, json!({"account_id": outsider})).await;
            refused.assert_problem(422, "validation_failed");
            assert_eq!(refused.error_fields(), ["account_id"]);
        }
        app.join(&acme, &group, &customer).await;
        app.post(&members, &acme.token, json!({"account_id": customer.id})).await.assert_problem(409, "already_member");
        let listed = app.get(&members, &acme.token).await.expect(200);
        assert_eq!(listed["items"][0]["id"], customer.id.as_str());

        let pack = app.pack(&acme, "Orders", "single").await;
        let component = app.shareable_component(&acme, "Orders process").await;
        app.add_member(&acme, &pack, &component).await;
        let packs = format!("/api/v1/account-groups/{group}/integration-packs");
        app.post(&packs, &acme.token, json!({"integration_pack_id": pack})).await.assert_problem(409, "pack_never_released");
        app.release_now(&acme, &pack).await;
        app.share(&acme, &group, &pack).await;
        app.post(&packs, &acme.token, json!({"integration_pack_id": pack})).await.assert_problem(409, "already_shared");
        assert_eq!(app.get(&packs, &acme.token).await.expect(200)["items"][0]["integration_pack_id"], pack.as_str());
        let foreign_pack = app.pack(&globex, "Theirs", "single").await;
        app.post(&packs, &acme.token, json!({"integration_pack_id": foreign_pack})).await.assert_problem(422, "validation_failed");

        for token in [&globex.token, &customer.token] {
            app.get(&format!("/api/v1/account-groups/{group}"), token).await.assert_problem(404, "not_found");
            app.post(&members, token, json!({"account_id": customer.id})).await.assert_problem(404, "not_found");
            assert_eq!(app.get("/api/v1/account-groups", token).await.expect(200)["items"], json!([]));
        }
        app.post("/api/v1/account-groups", &customer.token, json!({"name": "Mine"})).await.assert_problem(403, "forbidden");
        app.get(&format!("/api/v1/account-groups/{group}"), ADMIN_TOKEN).await.expect(200);

        app.delete(&format!("{members}/{}", customer.id), &acme.token).await.expect(204);
        app.delete(&format!("{members}/{}", customer.id), &acme.token).await.assert_problem(404, "not_found");
        app.delete(&format!("{packs}/{pack}"), &acme.token).await.expect(204);
        app.delete(&format!("/api/v1/account-groups/{group}"), &acme.token).await.expect(204);
        app.get(&format!("/api/v1/account-groups/{group}"), &acme.token).await.assert_problem(404, "not_found");
    }

    async fn subscribers_install_only_packs_shared_with_them(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, _, group, subscribers, installations) = app.installed_pack(&acme, 1).await;
        let customer = &subscribers[0];
        let installed = &installations[0];
        assert_eq!(running(installed), "1.0");
        assert_eq!(installed["subscribed"], true);
        assert_eq!(installed["pending_update"], Value::Null);
        let path = format!("/api/v1/accounts/{}/installations", customer.id);
        app.post(&path, &customer.token, json!({"integration_pack_id": pack})).await.assert_problem(409, "already_installed");

        // The pack as the subscriber sees it: released versions only.
        assert_eq!(app.get("/api/v1/integration-packs", &customer.token).await.expect(200)["items"][0]["id"], pack.as_str());
        let members = app.get(&format!("/api/v1/integration-packs/{pack}/components"), &customer.token).await.expect(200);
        assert_eq!((members["items"][0]["released_version"].clone(), members["items"][0]["latest_version"].clone()), (json!("1.0"), Value::Null));
        // A component added but not released yet is not the subscriber's business.
        let unreleased = app.shareable_component(&acme, "Unreleased").await;
        app.add_member(&acme, &pack, &unreleased).await;
        let members = app.get(&format!("/api/v1/integration-packs/{pack}/components"), &customer.token).await.expect(200);
        assert_eq!(members["items"].as_array().unwrap().len(), 1);
        app.get(&format!("/api/v1/integration-packs/{pack}/components/{unreleased}"), &customer.token).await.assert_problem(404, "not_found");
        app.patch(&format!("/api/v1/integration-packs/{pack}"), &customer.token, json!({"name": "x"})).await.assert_problem(403, "forbidden");
        app.request("POST", &format!("/api/v1/integration-packs/{pack}/release-drafts"), Some(&customer.token), None).await.assert_problem(403, "forbidden");

        // Not shared: as if it did not exist.
        let hidden = app.pack(&acme, "Hidden", "single").await;
        app.post(&path, &customer.token, json!({"integration_pack_id": hidden})).await.assert_problem(404, "not_found");
        app.get(&format!("/api/v1/integration-packs/{hidden}"), &customer.token).await.assert_problem(404, "not_found");

        // A multiple pack: several installations, each with its own name.
        let multi = app.pack(&acme, "Multi", "multiple").await;
        let component = app.shareable_component(&acme, "Multi process").await;
        app.add_member(&acme, &multi, &component).await;
        app.release_now(&acme, &multi).await;
        app.share(&acme, &group, &multi).await;
        let unnamed = app.post(&path, &customer.token, json!({"integration_pack_id": multi})).await;
        unnamed.assert_problem(422, "validation_failed");
        assert_eq!(unnamed.error_fields(), ["override_name"]);
        app.post(&path, &customer.token, json!({"integration_pack_id": multi, "override_name": "EU"})).await.expect(201);
        app.post(&path, &customer.token, json!({"integration_pack_id": multi, "override_name": "US"})).await.expect(201);
        app.post(&path, &customer.token, json!({"integration_pack_id": multi, "override_name": "EU"})).await.assert_problem(409, "override_name_taken");
        let filtered = app.get(&format!("{path}?integration_pack_id={multi}"), &customer.token).await.expect(200);
        assert_eq!(filtered["items"].as_array().unwrap().len(), 2);

        // Only the subscriber installs for itself.
        app.post(&path, &acme.token, json!({"integration_pack_id": hidden})).await.assert_problem(403, "forbidden");
        app.delete(&format!("/api/v1/integration-packs/{pack}"), &acme.token).await.assert_problem(409, "pack_in_use");
    }

    async fn an_immediate_release_pushes_every_subscribed_installation_once(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, _, group, subscribers, installations) = app.installed_pack(&acme, 3).await;
        // The third leaves the group: its installation stays, unsubscribed.
        app.delete(&format!("/api/v1/account-groups/{group}/members/{}", subscribers[2].id), &acme.token).await.expect(204);
        let release = app.release_now(&acme, &pack).await;
        assert_eq!(release["push_counts"], json!({"targeted": 2, "applied": 2, "applied_early": 0}));
        for (subscriber, installation) in subscribers.iter().zip(&installations).take(2) {
            let now = app.installation(subscriber, installation).await;
            assert_eq!(running(&now), "1.1");
            assert_eq!(now["release_id"], release["id"]);
            assert_eq!(now["history"][0]["outcome"], "applied");
            assert_eq!(now["history"][0]["pushed_by"], acme.id.as_str());
        }
        let left = app.installation(&subscribers[2], &installations[2]).await;
        assert_eq!((running(&left), left["subscribed"].clone()), (json!("1.0"), json!(false)));

        let pushes_path = format!("/api/v1/releases/{}/pushes", release["id"].as_str().unwrap());
        let list = app.get(&pushes_path, &acme.token).await.expect(200);
        let mut expected = vec![(subscribers[0].id.clone(), "applied".to_string()), (subscribers[1].id.clone(), "applied".to_string())];
        expected.sort();
        assert_eq!(outcomes(&list), expected);
        assert_eq!(app.get(&format!("{pushes_path}?outcome=applied_early"), &acme.token).await.expect(200)["items"], json!([]));
        let first = app.get(&format!("{pushes_path}?limit=1"), &acme.token).await.expect(200);
        let cursor = first["next_cursor"].as_str().unwrap();
        let second = app.get(&format!("{pushes_path}?limit=1&cursor={cursor}"), &acme.token).await.expect(200);
        assert_ne!(first["items"][0]["installation_id"], second["items"][0]["installation_id"]);
        let stored: i64 = app.db(|c| pushes::table.count().get_result(c).unwrap());
        assert_eq!(stored, 2);
        // A subscriber sees its own push only.
        let own = app.get(&pushes_path, &subscribers[0].token).await.expect(200);
        assert_eq!(outcomes(&own), [(subscribers[0].id.clone(), "applied".to_string())]);
    }

    async fn a_scheduled_release_is_a_pending_update_that_may_be_applied_early(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, _, _, subscribers, installations) = app.installed_pack(&acme, 2).await;
        let release = app.schedule(&acme, &pack, "2026-12-01").await;
        let before = app.installation(&subscribers[0], &installations[0]).await;
        let pending = &before["pending_update"];
        assert_eq!(pending["release_id"], release["id"]);
        assert_eq!((pending["release_on"].clone(), pending["due_at"].clone()), (json!("2026-12-01"), json!("2026-12-01T05:00:00Z")));
        assert_eq!(pending["changes"][0]["version"], "1.1");
        assert_eq!(pending["changes"][0]["previous_version"], "1.0");

        let apply = format!("/api/v1/accounts/{}/installations/{}/apply-update", subscribers[0].id, installations[0]["id"].as_str().unwrap());
        app.request("POST", &apply, Some(&acme.token), None).await.assert_problem(403, "forbidden");
        let applied = app.request("POST", &apply, Some(&subscribers[0].token), None).await.expect(200);
        assert_eq!((running(&applied), applied["pending_update"].clone()), (json!("1.1"), Value::Null));
        assert_eq!(applied["history"][0]["outcome"], "applied_early");
        app.request("POST", &apply, Some(&subscribers[0].token), None).await.assert_problem(409, "no_pending_update");
        let counts = app.get(&format!("/api/v1/releases/{}", release["id"].as_str().unwrap()), &acme.token).await.expect(200)["push_counts"].clone();
        assert_eq!(counts, json!({"targeted": 2, "applied": 0, "applied_early": 1}));

        let done = app.execute_due("2026-12-01T05:00:00Z");
        assert_eq!(done[0].pushed, 1, "the early applier is not pushed twice");
        let counted = packrelease::service::releases::PushCounts { targeted: 2, applied: 1, applied_early: 1 };
        assert_eq!(done[0].counts, Some(counted), "the release.released event's counts");
        let read = app.get(&format!("/api/v1/releases/{}", release["id"].as_str().unwrap()), &acme.token).await.expect(200);
        assert_eq!(read["push_counts"], json!({"targeted": 2, "applied": 1, "applied_early": 1}));
        let other = app.installation(&subscribers[1], &installations[1]).await;
        assert_eq!((running(&other), other["history"][0]["outcome"].clone()), (json!("1.1"), json!("applied")));
        let stored: i64 = app.db(|c| pushes::table.filter(pushes::release_id.eq(release["id"].as_str().unwrap())).count().get_result(c).unwrap());
        assert_eq!(stored, 2);
    }

    async fn canceling_removes_pending_updates_and_keeps_early_choices(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, _, _, subscribers, installations) = app.installed_pack(&acme, 2).await;
        let release = app.schedule(&acme, &pack, "2026-12-01").await;
        let apply = format!("/api/v1/accounts/{}/installations/{}/apply-update", subscribers[0].id, installations[0]["id"].as_str().unwrap());
        app.post(&apply, &subscribers[0].token, json!({})).await.expect(200);
        app.post(&format!("/api/v1/releases/{}/cancel", release["id"].as_str().unwrap()), &acme.token, json!({})).await.expect(200);
        let early = app.installation(&subscribers[0], &installations[0]).await;
        assert_eq!((running(&early), early["pending_update"].clone()), (json!("1.1"), Value::Null));
        let waiting = app.installation(&subscribers[1], &installations[1]).await;
        assert_eq!((running(&waiting), waiting["pending_update"].clone()), (json!("1.0"), Value::Null));
        assert!(app.execute_due("2026-12-02T00:00:00Z").is_empty());
    }

    async fn leaving_the_group_or_uninstalling_means_no_push(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, _, group, subscribers, installations) = app.installed_pack(&acme, 3).await;
        app.schedule(&acme, &pack, "2026-12-01").await;
        app.delete(&format!("/api/v1/account-groups/{group}/members/{}", subscribers[1].id), &acme.token).await.expect(204);
        let uninstall = format!("/api/v1/accounts/{}/installations/{}", subscribers[2].id, installations[2]["id"].as_str().unwrap());
        app.delete(&uninstall, &acme.token).await.assert_problem(403, "forbidden");
        app.delete(&uninstall, &subscribers[2].token).await.expect(204);
        app.get(&uninstall, &subscribers[2].token).await.assert_problem(404, "not_found");
        let left = app.installation(&subscribers[1], &installations[1]).await;
        assert_eq!((left["subscribed"].clone(), left["pending_update"].clone()), (json!(false), Value::Null));

        let done = app.execute_due("2026-12-01T05:00:00Z");
        assert_eq!(done[0].pushed, 1);
        assert_eq!(running(&app.installation(&subscribers[0], &installations[0]).await), "1.1");
        assert_eq!(running(&app.installation(&subscribers[1], &installations[1]).await), "1.0");
    }

    async fn subscribers_see_only_their_own_installations(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let globex = app.publisher("Globex").await;
        let (pack, _, _, subscribers, installations) = app.installed_pack(&acme, 2).await;
        let theirs = format!("/api/v1/accounts/{}/installations/{}", subscribers[1].id, installations[1]["id"].as_str().unwrap());
        app.get(&theirs, &subscribers[0].token).await.assert_problem(404, "not_found");
        app.get(&format!("/api/v1/accounts/{}/installations", subscribers[1].id), &subscribers[0].token).await.assert_problem(404, "not_found");
        app.post(&format!("{theirs}/apply-update"), &subscribers[0].token, json!({})).await.assert_problem(404, "not_found");
        app.delete(&theirs, &subscribers[0].token).await.assert_problem(404, "not_found");
        app.get(&theirs, &globex.token).await.assert_problem(404, "not_found");
        // The publisher sees the installations of its packs.
        let seen = app.get(&format!("/api/v1/accounts/{}/installations", subscribers[1].id), &acme.token).await.expect(200);
        assert_eq!(seen["items"][0]["integration_pack_id"], pack.as_str());
        app.get(&theirs, &acme.token).await.expect(200);
        app.get(&theirs, ADMIN_TOKEN).await.expect(200);
        // Another publisher's release is invisible to these subscribers.
        let release = app.release_now(&acme, &pack).await;
        app.get(&format!("/api/v1/releases/{}/pushes", release["id"].as_str().unwrap()), &globex.token).await.assert_problem(404, "not_found");
        let outsider = app.subscriber(&globex, "Outsider").await;
        app.get(&format!("/api/v1/releases/{}/pushes", release["id"].as_str().unwrap()), &outsider.token).await.assert_problem(404, "not_found");
    }
}
