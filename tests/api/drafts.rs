use diesel::prelude::*;
use packrelease::schema::pack_components;
use serde_json::{json, Value};

use crate::helpers::{backend_tests, ADMIN_TOKEN};

fn item<'a>(draft: &'a Value, name: &str) -> &'a Value {
    draft["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("no item {name}: {draft}"))
}

backend_tests! {
    async fn a_draft_preselects_each_latest_version(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, component) = app.pack_with_component(&acme, "Orders").await;
        let created = app.request("POST", &format!("/api/v1/integration-packs/{pack}/release-drafts"), Some(&acme.token), None).await;
        assert_eq!(created.status, 201);
        let draft = created.body.clone();
        assert_eq!(created.header("location").unwrap(), format!("/api/v1/release-drafts/{}", draft["id"].as_str().unwrap()));
        assert_eq!(draft["has_changes"], true);
        assert_eq!(draft["stale"], false);
        let orders = item(&draft, "Orders process");
        assert_eq!(orders["released_version"], Value::Null);
        assert_eq!(orders["pending_version"], "1.1");
        assert_eq!(orders["latest_version"], "1.1");
        assert_eq!((orders["change"].as_str(), orders["changed"].as_bool()), (Some("added"), Some(true)));
        assert_eq!(orders["versions_url"], format!("/api/v1/components/{component}/versions?shareable=true"));
        let details = app.get(orders["pending_version_url"].as_str().unwrap(), &acme.token).await.expect(200);
        assert_eq!(details["notes"], "notes of 1.1");
        let read = app.get(&format!("/api/v1/release-drafts/{}", draft["id"].as_str().unwrap()), &acme.token).await.expect(200);
        assert_eq!(read, draft);
        // `{}` is as good as no body.
        app.post(&format!("/api/v1/integration-packs/{pack}/release-drafts"), &acme.token, json!({})).await.expect(201);
    }

    async fn an_empty_pack_cannot_have_a_draft(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let pack = app.pack(&acme, "Empty", "single").await;
        let refused = app.request("POST", &format!("/api/v1/integration-packs/{pack}/release-drafts"), Some(&acme.token), None).await;
        refused.assert_problem(409, "pack_empty");
    }

    async fn an_older_version_can_be_selected_to_roll_back(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, component) = app.pack_with_component(&acme, "Orders").await;
        app.release_now(&acme, &pack).await;
        let draft = app.draft(&acme, &pack).await;
        assert_eq!(draft["has_changes"], false);
        assert_eq!(item(&draft, "Orders process")["change"], "unchanged");
        app.release(&acme, &draft, json!({"schedule": "immediately"})).await.assert_problem(409, "nothing_to_release");

        let path = format!("/api/v1/release-drafts/{}", draft["id"].as_str().unwrap());
        let rolled = app.patch(&path, &acme.token, json!({"items": [{"component_id": component, "version": "1.0"}]})).await.expect(200);
        let orders = item(&rolled, "Orders process");
        assert_eq!((orders["released_version"].as_str(), orders["pending_version"].as_str()), (Some("1.1"), Some("1.0")));
        assert_eq!(orders["change"], "updated");
        assert_eq!(rolled["has_changes"], true);
        let release = app.release(&acme, &rolled, json!({"schedule": "immediately"})).await.expect(201);
        assert_eq!(release["items"][0]["previous_version"], "1.1");
        assert_eq!(release["items"][0]["version"], "1.0");
        assert_eq!(app.released_versions(&acme, &pack).await, [("Orders process".to_string(), json!("1.0"))]);
    }

    async fn only_live_shareable_versions_of_draft_components_can_be_selected(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, component) = app.pack_with_component(&acme, "Orders").await;
        app.post(&format!("/api/v1/components/{component}/versions"), &acme.token, json!({"version": "private", "shareable": false})).await.expect(201);
        app.version(&acme, &component, "gone").await;
        app.delete(&format!("/api/v1/components/{component}/versions/gone"), &acme.token).await.expect(204);
        let outsider = app.shareable_component(&acme, "Billing").await;
        let draft = app.draft(&acme, &pack).await;
        let path = format!("/api/v1/release-drafts/{}", draft["id"].as_str().unwrap());
        let refused = app.patch(&path, &acme.token, json!({"items": [
            {"component_id": component, "version": "private"},
            {"component_id": component, "version": "gone"},
            {"component_id": component, "version": "9.9"},
            {"component_id": outsider, "version": "1.0"},
        ]})).await;
        refused.assert_problem(422, "validation_failed");
        let codes: Vec<(String, String)> = refused.body["errors"].as_array().unwrap().iter()
            .map(|e| (e["field"].as_str().unwrap().to_string(), e["code"].as_str().unwrap().to_string())).collect();
        assert_eq!(codes, [
            ("items[0].version".to_string(), "version_not_shareable".to_string()),
            ("items[1].version".to_string(), "not_found".to_string()),
            ("items[2].version".to_string(), "not_found".to_string()),
            ("items[3].component_id".to_string(), "not_in_draft".to_string()),
        ]);
        let unchanged = app.get(&path, &acme.token).await.expect(200);
        assert_eq!(item(&unchanged, "Orders process")["pending_version"], "1.1", "nothing applied from a refused request");
    }

    async fn a_removed_component_is_dropped_by_the_next_release(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, first) = app.pack_with_component(&acme, "Orders").await;
        let second = app.shareable_component(&acme, "Billing").await;
        app.add_member(&acme, &pack, &second).await;
        app.release_now(&acme, &pack).await;

        app.delete(&format!("/api/v1/integration-packs/{pack}/components/{second}"), &acme.token).await.expect(204);
        let draft = app.draft(&acme, &pack).await;
        let billing = item(&draft, "Billing");
        assert_eq!((billing["change"].as_str(), &billing["pending_version"]), (Some("removed"), &Value::Null));
        assert_eq!(billing["released_version"], "1.0");
        let path = format!("/api/v1/release-drafts/{}", draft["id"].as_str().unwrap());
        let refused = app.patch(&path, &acme.token, json!({"items": [{"component_id": second, "version": "1.0"}]})).await;
        assert_eq!(refused.body["errors"][0]["code"], "removed_from_pack");
        let release = app.release(&acme, &draft, json!({"schedule": "immediately"})).await.expect(201);
        let removal = release["items"].as_array().unwrap().iter().find(|i| i["component_id"] == second.as_str()).unwrap();
        assert_eq!((removal["version"].clone(), removal["change"].clone()), (Value::Null, json!("removed")));
        let rows: Vec<String> = app.db(|c| pack_components::table.select(pack_components::component_id).load(c).unwrap());
        assert_eq!(rows, [first.as_str()]);

        // Removing the last member is a change that can be released.
        app.delete(&format!("/api/v1/integration-packs/{pack}/components/{first}"), &acme.token).await.expect(204);
        app.release_now(&acme, &pack).await;
        let rows: i64 = app.db(|c| pack_components::table.count().get_result(c).unwrap());
        assert_eq!(rows, 0);
        let refused = app.request("POST", &format!("/api/v1/integration-packs/{pack}/release-drafts"), Some(&acme.token), None).await;
        refused.assert_problem(409, "pack_empty");
    }

    async fn a_released_draft_cannot_be_edited_or_released_again(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, component) = app.pack_with_component(&acme, "Orders").await;
        let draft = app.draft(&acme, &pack).await;
        let release = app.release(&acme, &draft, json!({"schedule": "immediately"})).await.expect(201);
        let path = format!("/api/v1/release-drafts/{}", draft["id"].as_str().unwrap());
        assert_eq!(app.get(&path, &acme.token).await.expect(200)["release_id"], release["id"]);
        app.patch(&path, &acme.token, json!({"items": [{"component_id": component, "version": "1.0"}]})).await.assert_problem(409, "draft_already_released");
        app.release(&acme, &draft, json!({"schedule": "immediately"})).await.assert_problem(409, "draft_already_released");
        let other = app.draft(&acme, &pack).await;
        let other_path = format!("/api/v1/release-drafts/{}", other["id"].as_str().unwrap());
        assert_eq!(app.delete(&other_path, &acme.token).await.status, 204);
        app.get(&other_path, &acme.token).await.assert_problem(404, "not_found");
    }

    async fn drafts_are_private_to_the_publisher(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let globex = app.publisher("Globex").await;
        let customer = app.subscriber(&acme, "Customer").await;
        let (pack, _) = app.pack_with_component(&acme, "Orders").await;
        let draft = app.draft(&acme, &pack).await;
        let path = format!("/api/v1/release-drafts/{}", draft["id"].as_str().unwrap());
        for token in [&globex.token, &customer.token] {
            app.get(&path, token).await.assert_problem(404, "not_found");
            app.delete(&path, token).await.assert_problem(404, "not_found");
            app.post(&format!("{path}/release"), token, json!({"schedule": "immediately"})).await.assert_problem(404, "not_found");
            app.request("POST", &format!("/api/v1/integration-packs/{pack}/release-drafts"), Some(token), None).await.assert_problem(404, "not_found");
        }
        app.get(&path, ADMIN_TOKEN).await.expect(200);
        app.delete(&path, ADMIN_TOKEN).await.assert_problem(403, "forbidden");
        app.post(&format!("{path}/release"), ADMIN_TOKEN, json!({"schedule": "immediately"})).await.assert_problem(403, "forbidden");
    }
}
