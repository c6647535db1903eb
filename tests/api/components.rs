use diesel::prelude::*;
use packrelease::schema::{component_versions, components, pack_components};
use serde_json::{json, Value};

use crate::helpers::{backend_tests, ADMIN_TOKEN};

fn versions_of(body: &Value) -> Vec<String> {
    body["items"].as_array().unwrap().iter().map(|v| v["version"].as_str().unwrap().to_string()).collect()
}

backend_tests! {
    async fn a_publisher_creates_components_and_versions_with_details(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let created = app.post("/api/v1/components", &acme.token, json!({"name": "Orders", "type": "process"})).await;
        assert_eq!(created.status, 201);
        let id = created.body["id"].as_str().unwrap().to_string();
        assert_eq!(created.header("location").unwrap(), format!("/api/v1/components/{id}"));
        assert_eq!(created.body["type"], "process");
        assert_eq!(created.body["owner_id"], acme.id.as_str());
        assert_eq!(created.body["latest_version"], Value::Null);

        let version = app.post(&format!("/api/v1/components/{id}/versions"), &acme.token, json!({"version": "1.0.0", "notes": "first"})).await;
        assert_eq!(version.status, 201);
        assert_eq!(version.header("location").unwrap(), format!("/api/v1/components/{id}/versions/1.0.0"));
        let details = app.get(&format!("/api/v1/components/{id}/versions/1.0.0"), &acme.token).await.expect(200);
        assert_eq!(details["notes"], "first");
        assert_eq!(details["shareable"], true);
        assert_eq!(details["created_by"], acme.id.as_str());
        assert_eq!(details["created_at"], "2026-11-25T12:00:00Z");
        let component = app.get(&format!("/api/v1/components/{id}"), &acme.token).await.expect(200);
        assert_eq!(component["latest_version"], "1.0.0");

        let duplicate = app.post("/api/v1/components", &acme.token, json!({"name": "Orders", "type": "api_service"})).await;
        duplicate.assert_problem(409, "component_name_taken");
        let stored: i64 = app.db(|c| components::table.count().get_result(c).unwrap());
        assert_eq!(stored, 1);
    }

    async fn version_strings_are_unique_and_never_reused(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let id = app.component(&acme, "Orders", "process").await;
        app.version(&acme, &id, "1.0").await;
        let again = app.post(&format!("/api/v1/components/{id}/versions"), &acme.token, json!({"version": "1.0"})).await;
        again.assert_problem(409, "version_exists");
        assert_eq!(app.delete(&format!("/api/v1/components/{id}/versions/1.0"), &acme.token).await.status, 204);
        app.get(&format!("/api/v1/components/{id}/versions/1.0"), &acme.token).await.assert_problem(404, "not_found");
        let reused = app.post(&format!("/api/v1/components/{id}/versions"), &acme.token, json!({"version": "1.0"})).await;
        reused.assert_problem(409, "version_exists");
        let deleted_at: Option<chrono::NaiveDateTime> =
            app.db(|c| component_versions::table.select(component_versions::deleted_at).first(c).unwrap());
        assert!(deleted_at.is_some(), "a deleted version keeps its row so its string stays taken");
        // Another component may use the same string.
        let other = app.component(&acme, "Billing", "process").await;
        app.version(&acme, &other, "1.0").await;
    }

    async fn version_strings_must_be_path_safe(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let id = app.component(&acme, "Orders", "process").await;
        for bad in ["", "1 0", "1/0", "v1?", &"9".repeat(41)] {
            let refused = app.post(&format!("/api/v1/components/{id}/versions"), &acme.token, json!({"version": bad})).await;
            refused.assert_problem(422, "validation_failed");
            assert_eq!(refused.error_fields(), ["version"], "for {bad:?}");
        }
        app.version(&acme, &id, "2024.01_rc-1").await;
    }

    async fn only_process_and_api_service_versions_are_shareable(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let connection = app.component(&acme, "Database", "connection").await;
        let refused = app.post(&format!("/api/v1/components/{connection}/versions"), &acme.token, json!({"version": "1", "shareable": true})).await;
        refused.assert_problem(422, "validation_failed");
        assert_eq!(refused.error_fields(), ["shareable"]);
        let version = app.post(&format!("/api/v1/components/{connection}/versions"), &acme.token, json!({"version": "1"})).await.expect(201);
        assert_eq!(version["shareable"], false);
        let component = app.get(&format!("/api/v1/components/{connection}"), &acme.token).await.expect(200);
        assert_eq!(component["latest_version"], Value::Null);
        let api = app.component(&acme, "Orders API", "api_service").await;
        assert_eq!(app.version(&acme, &api, "1").await["shareable"], true);
    }

    async fn the_latest_version_is_the_newest_live_shareable_one(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let id = app.component(&acme, "Orders", "process").await;
        let path = format!("/api/v1/components/{id}");
        let latest = || async { app.get(&path, &acme.token).await.expect(200)["latest_version"].clone() };
        app.version(&acme, &id, "2.0").await;
        app.post(&format!("/api/v1/components/{id}/versions"), &acme.token, json!({"version": "1.5", "shareable": false})).await.expect(201);
        // "Latest" means newest by creation, not the highest number, and never an unshareable one.
        assert_eq!(latest().await, "2.0");
        app.version(&acme, &id, "1.9").await;
        assert_eq!(latest().await, "1.9");
        app.delete(&format!("/api/v1/components/{id}/versions/1.9"), &acme.token).await.expect(204);
        assert_eq!(latest().await, "2.0");
        let list = app.get(&format!("/api/v1/components/{id}/versions"), &acme.token).await.expect(200);
        assert_eq!(versions_of(&list), ["1.5", "2.0"]);
        let shareable = app.get(&format!("/api/v1/components/{id}/versions?shareable=true"), &acme.token).await.expect(200);
        assert_eq!(versions_of(&shareable), ["2.0"]);
    }

    async fn version_lists_page_newest_first_without_repeats(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let id = app.component(&acme, "Orders", "process").await;
        for v in ["1", "2", "3", "4", "5"] {
            app.version(&acme, &id, v).await;
        }
        let mut seen = Vec::new();
        let mut path = format!("/api/v1/components/{id}/versions?limit=2");
        loop {
            let page = app.get(&path, &acme.token).await.expect(200);
            seen.extend(versions_of(&page));
            match page["next_cursor"].as_str() {
                Some(cursor) => path = format!("/api/v1/components/{id}/versions?limit=2&cursor={cursor}"),
                None => break,
            }
        }
        assert_eq!(seen, ["5", "4", "3", "2", "1"]);
        let bad = app.get(&format!("/api/v1/components/{id}/versions?cursor=zzz"), &acme.token).await;
        bad.assert_problem(422, "validation_failed");
        assert_eq!(bad.error_fields(), ["cursor"]);
        // Another spelling of a real cursor would sort differently from the ids: refused, not misread.
        let cursor = app.get(&format!("/api/v1/components/{id}/versions?limit=2"), &acme.token).await.expect(200)["next_cursor"]
            .as_str()
            .unwrap()
            .to_string();
        for spelling in [cursor.to_uppercase(), cursor.replace('-', ""), format!("{{{cursor}}}")] {
            let path = format!("/api/v1/components/{id}/versions?limit=2&cursor={}", spelling.replace('{', "%7B").replace('}', "%7D"));
            app.get(&path, &acme.token).await.assert_problem(422, "validation_failed");
        }
    }

    async fn a_released_version_cannot_be_deleted(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let id = app.shareable_component(&acme, "Orders").await;
        let pack = app.pack(&acme, "Pack", "single").await;
        app.post(&format!("/api/v1/integration-packs/{pack}/components"), &acme.token, json!({"component_id": id})).await.expect(201);
        let version_id = app.version(&acme, &id, "1.1").await["id"].as_str().unwrap().to_string();
        // As a release would leave it: the pack delivers 1.1.
        app.db(|c| {
            diesel::update(pack_components::table)
                .set(pack_components::released_version_id.eq(Some(version_id.clone())))
                .execute(c)
                .unwrap()
        });
        app.delete(&format!("/api/v1/components/{id}/versions/1.1"), &acme.token).await.assert_problem(409, "version_in_use");
        // The unreleased version of a pack member can go.
        app.delete(&format!("/api/v1/components/{id}/versions/1.0"), &acme.token).await.expect(204);
        let members = app.get(&format!("/api/v1/integration-packs/{pack}/components"), &acme.token).await.expect(200);
        assert_eq!(members["items"][0]["released_version"], "1.1");
    }

    async fn a_component_in_a_pack_cannot_be_deleted(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let held = app.shareable_component(&acme, "Orders").await;
        let free = app.shareable_component(&acme, "Billing").await;
        let pack = app.pack(&acme, "Pack", "single").await;
        app.post(&format!("/api/v1/integration-packs/{pack}/components"), &acme.token, json!({"component_id": held})).await.expect(201);
        app.delete(&format!("/api/v1/components/{held}"), &acme.token).await.assert_problem(409, "component_in_use");
        app.delete(&format!("/api/v1/components/{free}"), &acme.token).await.expect(204);
        app.get(&format!("/api/v1/components/{free}"), &acme.token).await.assert_problem(404, "not_found");
        let versions: i64 = app.db(|c| component_versions::table.filter(component_versions::component_id.eq(&free)).count().get_result(c).unwrap());
        assert_eq!(versions, 0);
    }

    async fn catalogs_are_private_to_their_publisher(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let globex = app.publisher("Globex").await;
        let customer = app.subscriber(&acme, "Customer").await;
        let id = app.shareable_component(&acme, "Orders").await;

        for token in [&globex.token, &customer.token] {
            app.get(&format!("/api/v1/components/{id}"), token).await.assert_problem(404, "not_found");
            app.get(&format!("/api/v1/components/{id}/versions"), token).await.assert_problem(404, "not_found");
            app.get(&format!("/api/v1/components/{id}/versions/1.0"), token).await.assert_problem(404, "not_found");
            app.post(&format!("/api/v1/components/{id}/versions"), token, json!({"version": "9"})).await.assert_problem(404, "not_found");
            app.delete(&format!("/api/v1/components/{id}"), token).await.assert_problem(404, "not_found");
            let list = app.get("/api/v1/components", token).await.expect(200);
            assert_eq!(list["items"], json!([]));
        }
        app.post("/api/v1/components", &customer.token, json!({"name": "X", "type": "process"})).await.assert_problem(403, "forbidden");
        // The admin sees every catalog but changes none.
        assert_eq!(app.get("/api/v1/components", ADMIN_TOKEN).await.expect(200)["items"].as_array().unwrap().len(), 1);
        app.get(&format!("/api/v1/components/{id}"), ADMIN_TOKEN).await.expect(200);
        app.post(&format!("/api/v1/components/{id}/versions"), ADMIN_TOKEN, json!({"version": "9"})).await.assert_problem(403, "forbidden");
        app.post("/api/v1/components", ADMIN_TOKEN, json!({"name": "X", "type": "process"})).await.assert_problem(403, "forbidden");
    }

    async fn components_list_filters_by_type(app: TestApp) {
        let acme = app.publisher("Acme").await;
        app.component(&acme, "Orders", "process").await;
        app.component(&acme, "Orders API", "api_service").await;
        let list = app.get("/api/v1/components?type=api_service", &acme.token).await.expect(200);
        let names: Vec<&str> = list["items"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["Orders API"]);
        app.get("/api/v1/components?type=bogus", &acme.token).await.assert_problem(422, "validation_failed");
    }
}
