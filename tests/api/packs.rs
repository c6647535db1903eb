use diesel::prelude::*;
use packrelease::schema::{integration_packs, pack_components};
use serde_json::{json, Value};

use crate::helpers::{backend_tests, TestApp, ADMIN_TOKEN};

fn members(body: &Value) -> Vec<String> {
    body["items"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap().to_string()).collect()
}

fn revision(app: &TestApp, pack: &str) -> i64 {
    app.db(|c| integration_packs::table.find(pack).select(integration_packs::revision).first(c).unwrap())
}

backend_tests! {
    async fn a_publisher_creates_reads_updates_and_deletes_packs(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let body = json!({"name": "Orders", "description": "Order sync", "installation_type": "multiple"});
        let created = app.post("/api/v1/integration-packs", &acme.token, body).await;
        assert_eq!(created.status, 201);
        let id = created.body["id"].as_str().unwrap().to_string();
        assert_eq!(created.header("location").unwrap(), format!("/api/v1/integration-packs/{id}"));
        assert_eq!(created.body["installation_type"], "multiple");
        assert_eq!(created.body["publisher_id"], acme.id.as_str());

        let path = format!("/api/v1/integration-packs/{id}");
        assert_eq!(app.get(&path, &acme.token).await.expect(200)["description"], "Order sync");
        let renamed = app.patch(&path, &acme.token, json!({"name": "Orders v2"})).await.expect(200);
        assert_eq!((renamed["name"].as_str(), renamed["description"].as_str()), (Some("Orders v2"), Some("Order sync")));
        let list = app.get("/api/v1/integration-packs", &acme.token).await.expect(200);
        assert_eq!(list["items"].as_array().unwrap().len(), 1);

        let fixed = app.patch(&path, &acme.token, json!({"installation_type": "single"})).await;
        fixed.assert_problem(422, "validation_failed");
        assert_eq!(fixed.error_fields(), ["installation_type"]);
        app.patch(&path, &acme.token, json!({"installation_type": "multiple"})).await.expect(200);

        assert_eq!(app.delete(&path, &acme.token).await.status, 204);
        app.get(&path, &acme.token).await.assert_problem(404, "not_found");
        let left: i64 = app.db(|c| integration_packs::table.count().get_result(c).unwrap());
        assert_eq!(left, 0);
    }

    async fn pack_names_are_unique_per_publisher_and_descriptions_short(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let globex = app.publisher("Globex").await;
        app.pack(&acme, "Orders", "single").await;
        let other = app.pack(&acme, "Billing", "single").await;
        let dup = app.post("/api/v1/integration-packs", &acme.token, json!({"name": "Orders", "installation_type": "single"})).await;
        dup.assert_problem(409, "pack_name_taken");
        app.patch(&format!("/api/v1/integration-packs/{other}"), &acme.token, json!({"name": "Orders"})).await.assert_problem(409, "pack_name_taken");
        app.pack(&globex, "Orders", "single").await;

        let long = json!({"name": "Long", "description": "x".repeat(501), "installation_type": "single"});
        let refused = app.post("/api/v1/integration-packs", &acme.token, long).await;
        refused.assert_problem(422, "validation_failed");
        assert_eq!(refused.error_fields(), ["description"]);
        let exact = json!({"name": "Long", "description": "é".repeat(500), "installation_type": "single"});
        app.post("/api/v1/integration-packs", &acme.token, exact).await.expect(201);
        let both = app.post("/api/v1/integration-packs", &acme.token, json!({"name": "", "description": "x".repeat(501), "installation_type": "single"})).await;
        assert_eq!(both.error_fields(), ["name", "description"]);
        let bad_type = app.post("/api/v1/integration-packs", &acme.token, json!({"name": "T", "installation_type": "several"})).await;
        bad_type.assert_problem(422, "validation_failed");
        assert_eq!(bad_type.error_fields(), ["installation_type"]);
    }

    async fn members_show_released_and_latest_versions(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let orders = app.shareable_component(&acme, "Orders").await;
        app.version(&acme, &orders, "1.1").await;
        let pack = app.pack(&acme, "Pack", "single").await;
        let before = revision(&app, &pack);
        let added = app.post(&format!("/api/v1/integration-packs/{pack}/components"), &acme.token, json!({"component_id": orders})).await;
        assert_eq!(added.status, 201);
        assert_eq!(added.header("location").unwrap(), format!("/api/v1/integration-packs/{pack}/components/{orders}"));
        assert_eq!(added.body["released_version"], Value::Null);
        assert_eq!(added.body["latest_version"], "1.1");
        assert_eq!(added.body["type"], "process");
        assert_eq!(revision(&app, &pack), before + 1);

        let list = app.get(&format!("/api/v1/integration-packs/{pack}/components"), &acme.token).await.expect(200);
        assert_eq!(members(&list), ["Orders"]);
        app.get(&format!("/api/v1/integration-packs/{pack}/components/{orders}"), &acme.token).await.expect(200);
        let again = app.post(&format!("/api/v1/integration-packs/{pack}/components"), &acme.token, json!({"component_id": orders})).await;
        again.assert_problem(409, "component_already_in_pack");
    }

    async fn only_shareable_components_of_the_publisher_join_a_pack(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let globex = app.publisher("Globex").await;
        let single = app.pack(&acme, "Single", "single").await;
        let multiple = app.pack(&acme, "Multiple", "multiple").await;
        let add = |pack: &str, component: &str| {
            let (path, body, token) = (format!("/api/v1/integration-packs/{pack}/components"), json!({"component_id": component}), acme.token.clone());
            let app = &app;
            async move { app.post(&path, &token, body).await }
        };

        let unversioned = app.component(&acme, "Draft", "process").await;
        add(&single, &unversioned).await.assert_problem(422, "version_not_shareable");
        let hidden = app.component(&acme, "Hidden", "process").await;
        app.post(&format!("/api/v1/components/{hidden}/versions"), &acme.token, json!({"version": "1", "shareable": false})).await.expect(201);
        add(&single, &hidden).await.assert_problem(422, "version_not_shareable");

        let connection = app.component(&acme, "Database", "connection").await;
        app.version(&acme, &connection, "1").await;
        add(&single, &connection).await.assert_problem(422, "component_type_not_shareable");

        let api = app.component(&acme, "API", "api_service").await;
        app.version(&acme, &api, "1").await;
        add(&multiple, &api).await.assert_problem(422, "api_service_in_multiple_pack");
        add(&single, &api).await.expect(201);

        let foreign = app.shareable_component(&globex, "Foreign").await;
        let refused = add(&single, &foreign).await;
        refused.assert_problem(422, "validation_failed");
        assert_eq!(refused.error_fields(), ["component_id"]);
        let rows: i64 = app.db(|c| pack_components::table.count().get_result(c).unwrap());
        assert_eq!(rows, 1, "nothing half-written by the refusals");
    }

    async fn a_pack_holds_at_most_one_hundred_components(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let pack = app.pack(&acme, "Big", "single").await;
        for n in 0..100 {
            let component = app.shareable_component(&acme, &format!("C{n:03}")).await;
            app.post(&format!("/api/v1/integration-packs/{pack}/components"), &acme.token, json!({"component_id": component})).await.expect(201);
        }
        let extra = app.shareable_component(&acme, "C100").await;
        let refused = app.post(&format!("/api/v1/integration-packs/{pack}/components"), &acme.token, json!({"component_id": extra})).await;
        refused.assert_problem(422, "pack_full");
        let first = app.get(&format!("/api/v1/integration-packs/{pack}/components?limit=60"), &acme.token).await.expect(200);
        let cursor = first["next_cursor"].as_str().unwrap().to_string();
        let rest = app.get(&format!("/api/v1/integration-packs/{pack}/components?limit=60&cursor={cursor}"), &acme.token).await.expect(200);
        assert_eq!(first["items"].as_array().unwrap().len() + rest["items"].as_array().unwrap().len(), 100);
        assert_eq!(rest["next_cursor"], Value::Null);
    }

    async fn removing_members_keeps_what_subscribers_still_run(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let pack = app.pack(&acme, "Pack", "single").await;
        let fresh = app.shareable_component(&acme, "Fresh").await;
        let released = app.shareable_component(&acme, "Released").await;
        for component in [&fresh, &released] {
            app.post(&format!("/api/v1/integration-packs/{pack}/components"), &acme.token, json!({"component_id": component})).await.expect(201);
        }
        // As a release would leave it: "Released" is delivered at 1.0.
        let version_id: String = app.db(|c| {
            packrelease::schema::component_versions::table
                .filter(packrelease::schema::component_versions::component_id.eq(&released))
                .select(packrelease::schema::component_versions::id)
                .first(c)
                .unwrap()
        });
        app.db(|c| {
            diesel::update(pack_components::table.filter(pack_components::component_id.eq(&released)))
                .set(pack_components::released_version_id.eq(Some(version_id)))
                .execute(c)
                .unwrap()
        });
        let before = revision(&app, &pack);
        for component in [&fresh, &released] {
            assert_eq!(app.delete(&format!("/api/v1/integration-packs/{pack}/components/{component}"), &acme.token).await.status, 204);
        }
        assert_eq!(revision(&app, &pack), before + 2);
        let list = app.get(&format!("/api/v1/integration-packs/{pack}/components"), &acme.token).await.expect(200);
        assert_eq!(list["items"], json!([]));
        let rows: Vec<(String, bool)> = app.db(|c| pack_components::table.select((pack_components::component_id, pack_components::member)).load(c).unwrap());
        assert_eq!(rows, [(released.clone(), false)], "the released component stays until the next release drops it");
        app.delete(&format!("/api/v1/integration-packs/{pack}/components/{released}"), &acme.token).await.assert_problem(404, "not_found");
        // Re-adding it makes it a member again, still at its released version.
        let back = app.post(&format!("/api/v1/integration-packs/{pack}/components"), &acme.token, json!({"component_id": released})).await.expect(201);
        assert_eq!(back["released_version"], "1.0");
    }

    async fn packs_are_private_to_their_publisher(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let globex = app.publisher("Globex").await;
        let customer = app.subscriber(&acme, "Customer").await;
        let pack = app.pack(&acme, "Pack", "single").await;
        let component = app.shareable_component(&acme, "Orders").await;
        let path = format!("/api/v1/integration-packs/{pack}");
        for token in [&globex.token, &customer.token] {
            app.get(&path, token).await.assert_problem(404, "not_found");
            app.patch(&path, token, json!({"name": "Mine"})).await.assert_problem(404, "not_found");
            app.delete(&path, token).await.assert_problem(404, "not_found");
            app.get(&format!("{path}/components"), token).await.assert_problem(404, "not_found");
            app.post(&format!("{path}/components"), token, json!({"component_id": component})).await.assert_problem(404, "not_found");
            assert_eq!(app.get("/api/v1/integration-packs", token).await.expect(200)["items"], json!([]));
        }
        app.post("/api/v1/integration-packs", &customer.token, json!({"name": "X", "installation_type": "single"})).await.assert_problem(403, "forbidden");
        app.get(&path, ADMIN_TOKEN).await.expect(200);
        app.patch(&path, ADMIN_TOKEN, json!({"name": "Admin's"})).await.assert_problem(403, "forbidden");
        app.delete(&path, ADMIN_TOKEN).await.assert_problem(403, "forbidden");
        assert_eq!(app.get(&path, &acme.token).await.expect(200)["name"], "Pack");
    }
}

backend_tests! {
    async fn packs_are_found_by_name_prefix_in_any_case(app: TestApp) {
        let acme = app.publisher("Acme").await;
        for name in ["Orders", "order-sync", "50% off", "50 cents", "Étés"] {
            app.pack(&acme, name, "single").await;
        }
        let (billing, _) = app.pack_with_component(&acme, "Billing").await;
        app.release_now(&acme, &billing).await;
        let names = |list: &Value| -> Vec<String> {
            let mut names: Vec<String> = list["items"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_string()).collect();
            names.sort();
            names
        };
        let find = |prefix: &str| {
            let path = format!("/api/v1/integration-packs?name_prefix={}", urlencode(prefix));
            let (app, token) = (&app, acme.token.clone());
            async move { app.get(&path, &token).await }
        };
        assert_eq!(names(&find("ord").await.expect(200)), ["Orders", "order-sync"]);
        assert_eq!(names(&find("ORDER-").await.expect(200)), ["order-sync"]);
        assert_eq!(names(&find("50%").await.expect(200)), ["50% off"], "% is a character, not a wildcard");
        assert_eq!(names(&find("_").await.expect(200)), Vec::<String>::new());
        assert_eq!(names(&find("été").await.expect(200)), ["Étés"]);
        assert_eq!(names(&find("").await.expect(200)).len(), 6);
        find(&"x".repeat(101)).await.assert_problem(422, "validation_failed");
        find("a\u{0}").await.assert_problem(422, "validation_failed");

        // Pages of a filtered list neither repeat nor skip.
        let first = app.get("/api/v1/integration-packs?name_prefix=o&limit=1", &acme.token).await.expect(200);
        let cursor = first["next_cursor"].as_str().unwrap();
        let second = app.get(&format!("/api/v1/integration-packs?name_prefix=o&limit=1&cursor={cursor}"), &acme.token).await.expect(200);
        assert_eq!(second["next_cursor"], Value::Null);
        let mut both = [names(&first), names(&second)].concat();
        both.sort();
        assert_eq!(both, ["Orders", "order-sync"]);

        // A renamed pack is found by its new name; a subscriber searches what is shared with it.
        assert_eq!(names(&find("bill").await.expect(200)), ["Billing"]);
        app.patch(&format!("/api/v1/integration-packs/{billing}"), &acme.token, json!({"name": "Invoices"})).await.expect(200);
        assert_eq!(names(&find("INV").await.expect(200)), ["Invoices"]);
        let shop = app.subscriber(&acme, "Shop").await;
        let group = app.group(&acme, "Retail").await;
        app.join(&acme, &group, &shop).await;
        app.share(&acme, &group, &billing).await;
        let shared = app.get("/api/v1/integration-packs?name_prefix=inv", &shop.token).await.expect(200);
        assert_eq!(names(&shared), ["Invoices"]);
        assert_eq!(names(&app.get("/api/v1/integration-packs?name_prefix=ord", &shop.token).await.expect(200)), Vec::<String>::new());

        // Keys SQL wrote (or an older binary left empty) are written again at start-up.
        app.db(|c| diesel::update(integration_packs::table).set(integration_packs::name_key.eq("")).execute(c).unwrap());
        assert_eq!(names(&find("été").await.expect(200)), Vec::<String>::new());
        app.db(|c| packrelease::db::run_migrations(c).unwrap());
        assert_eq!(names(&find("été").await.expect(200)), ["Étés"]);
    }
}

backend_tests! {
    async fn paging_while_others_write_never_repeats_or_skips(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let mut existing = Vec::new();
        for n in 1..=5 {
            existing.push(app.pack(&acme, &format!("Pack {n}"), "single").await);
        }
        let mut seen: Vec<String> = Vec::new();
        let mut path = "/api/v1/integration-packs?limit=2".to_string();
        let mut added = Vec::new();
        loop {
            let page = app.get(&path, &acme.token).await.expect(200);
            seen.extend(page["items"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_string()));
            // Between pages, someone deletes a pack already read and creates a new one.
            if let Some(read) = seen.iter().find(|id| !added.contains(*id) && existing.contains(*id)).cloned() {
                app.delete(&format!("/api/v1/integration-packs/{read}"), &acme.token).await.expect(204);
                existing.retain(|id| *id != read);
            }
            if added.len() < 2 {
                added.push(app.pack(&acme, &format!("New {}", added.len()), "single").await);
            }
            match page["next_cursor"].as_str() {
                Some(cursor) => path = format!("/api/v1/integration-packs?limit=2&cursor={cursor}"),
                None => break,
            }
        }
        let mut unique = seen.clone();
        unique.dedup();
        assert_eq!(unique, seen, "no pack is listed twice");
        assert_eq!(seen.len(), 7, "the five packs there from the start, then the two made while paging: {seen:?}");
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(sorted, seen, "oldest first, by id");
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
