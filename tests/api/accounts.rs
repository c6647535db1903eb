use chrono::Duration;
use diesel::prelude::*;
use packrelease::schema::api_tokens;
use serde_json::json;

use crate::helpers::{backend_tests, ADMIN_TOKEN};

backend_tests! {
    async fn requests_without_a_valid_token_are_unauthorized(app: TestApp) {
        let missing = app.request("GET", "/api/v1/components", None, None).await;
        missing.assert_problem(401, "unauthorized");
        app.get("/api/v1/components", "pr_unknown").await.assert_problem(401, "unauthorized");
        let basic = app.request_with("GET", "/api/v1/components", None, &[("authorization", "Basic abc")], None).await;
        basic.assert_problem(401, "unauthorized");
    }

    async fn health_and_readiness_need_no_token(app: TestApp) {
        let health = app.request("GET", "/healthz", None, None).await;
        assert_eq!(health.expect(200)["status"], "ok");
        let ready = app.request("GET", "/readyz", None, None).await;
        assert_eq!(ready.expect(200)["status"], "ready");
    }

    async fn the_admin_creates_publishers_and_publishers_create_subscribers(app: TestApp) {
        let created = app.post("/api/v1/accounts", ADMIN_TOKEN, json!({"name": "Acme", "kind": "publisher"})).await;
        assert_eq!(created.status, 201);
        let publisher = created.body.clone();
        assert_eq!(created.header("location").unwrap(), format!("/api/v1/accounts/{}", publisher["id"].as_str().unwrap()));
        assert_eq!(publisher["kind"], "publisher");
        assert_eq!(publisher["parent_id"], serde_json::Value::Null);
        assert_eq!(publisher["created_at"], "2026-11-25T12:00:00Z");

        let acme = app.publisher("Acme 2").await;
        let subscriber = app.post("/api/v1/accounts", &acme.token, json!({"name": "Customer"})).await.expect(201);
        assert_eq!(subscriber["kind"], "subscriber");
        assert_eq!(subscriber["parent_id"], acme.id.as_str());

        let refused = app.post("/api/v1/accounts", ADMIN_TOKEN, json!({"name": "S", "kind": "subscriber"})).await;
        refused.assert_problem(422, "validation_failed");
        assert_eq!(refused.error_fields(), ["kind"]);
        let refused = app.post("/api/v1/accounts", &acme.token, json!({"name": "P", "kind": "publisher"})).await;
        refused.assert_problem(422, "validation_failed");
        let blank = app.post("/api/v1/accounts", &acme.token, json!({"name": "  "})).await;
        blank.assert_problem(422, "validation_failed");
        assert_eq!(blank.error_fields(), ["name"]);

        let customer = app.subscriber(&acme, "Customer 2").await;
        app.post("/api/v1/accounts", &customer.token, json!({"name": "x"})).await.assert_problem(403, "forbidden");
    }

    async fn each_account_sees_only_what_it_may(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let globex = app.publisher("Globex").await;
        let customer = app.subscriber(&acme, "Customer").await;
        let other = app.subscriber(&globex, "Other").await;

        let ids = |body: serde_json::Value| -> Vec<String> {
            body["items"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap().to_string()).collect()
        };
        let mut expected = vec![acme.id.clone(), customer.id.clone()];
        expected.sort();
        assert_eq!(ids(app.get("/api/v1/accounts", &acme.token).await.expect(200)), expected);
        assert_eq!(ids(app.get("/api/v1/accounts", &customer.token).await.expect(200)), [customer.id.as_str()]);
        assert_eq!(ids(app.get("/api/v1/accounts", ADMIN_TOKEN).await.expect(200)).len(), 4);
        let subscribers = app.get("/api/v1/accounts?kind=subscriber", &acme.token).await.expect(200);
        assert_eq!(ids(subscribers), [customer.id.as_str()]);

        app.get(&format!("/api/v1/accounts/{}", customer.id), &acme.token).await.expect(200);
        for (token, hidden) in [(&acme.token, &globex.id), (&acme.token, &other.id), (&customer.token, &acme.id), (&customer.token, &other.id)] {
            app.get(&format!("/api/v1/accounts/{hidden}"), token).await.assert_problem(404, "not_found");
            app.get(&format!("/api/v1/accounts/{hidden}/tokens"), token).await.assert_problem(404, "not_found");
            app.post(&format!("/api/v1/accounts/{hidden}/tokens"), token, json!({})).await.assert_problem(404, "not_found");
        }
        app.get(&format!("/api/v1/accounts/{}", uuid::Uuid::now_v7()), ADMIN_TOKEN).await.assert_problem(404, "not_found");
    }

    async fn tokens_are_shown_once_stored_as_hashes_and_revocable(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let created = app.post(&format!("/api/v1/accounts/{}/tokens", acme.id), &acme.token, json!({"name": "ci"})).await;
        assert_eq!(created.status, 201);
        let secret = created.body["token"].as_str().unwrap().to_string();
        let token_id = created.body["id"].as_str().unwrap().to_string();
        assert!(secret.starts_with("pr_") && secret.len() == 67);
        assert_eq!(created.header("location").unwrap(), format!("/api/v1/accounts/{}/tokens/{token_id}", acme.id));

        let stored: Vec<String> = app.db(|c| api_tokens::table.select(api_tokens::token_hash).load(c).unwrap());
        assert!(!stored.contains(&secret), "the secret itself is never stored");
        assert!(stored.contains(&packrelease::service::auth::hash_token(&secret)));

        let list = app.get(&format!("/api/v1/accounts/{}/tokens", acme.id), &secret).await.expect(200);
        assert_eq!(list["items"].as_array().unwrap().len(), 2);
        assert!(list["items"].as_array().unwrap().iter().all(|t| t.get("token").is_none()));
        let one = app.get(&format!("/api/v1/accounts/{}/tokens/{token_id}", acme.id), &secret).await.expect(200);
        assert_eq!(one["name"], "ci");

        let revoked = app.delete(&format!("/api/v1/accounts/{}/tokens/{token_id}", acme.id), &acme.token).await;
        assert_eq!(revoked.status, 204);
        app.get("/api/v1/components", &secret).await.assert_problem(401, "unauthorized");
        app.delete(&format!("/api/v1/accounts/{}/tokens/{token_id}", acme.id), &acme.token).await.assert_problem(404, "not_found");
    }

    async fn publishers_manage_their_subscribers_tokens_and_subscribers_may_not(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let customer = app.subscriber(&acme, "Customer").await;
        app.post(&format!("/api/v1/accounts/{}/tokens", customer.id), &acme.token, json!({})).await.expect(201);
        app.request("POST", &format!("/api/v1/accounts/{}/tokens", customer.id), Some(&acme.token), None).await.expect(201);
        let own = app.post(&format!("/api/v1/accounts/{}/tokens", customer.id), &customer.token, json!({})).await;
        own.assert_problem(403, "forbidden");
        let listed = app.get(&format!("/api/v1/accounts/{}/tokens", customer.id), &customer.token).await.expect(200);
        assert_eq!(listed["items"].as_array().unwrap().len(), 3);
    }

    async fn expired_tokens_stop_working(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let past = app.post(&format!("/api/v1/accounts/{}/tokens", acme.id), &acme.token, json!({"expires_at": "2026-11-25T11:00:00Z"})).await;
        past.assert_problem(422, "validation_failed");
        assert_eq!(past.error_fields(), ["expires_at"]);
        let body = json!({"expires_at": (app.clock_now() + Duration::hours(1)).to_rfc3339()});
        let token = app.post(&format!("/api/v1/accounts/{}/tokens", acme.id), &acme.token, body).await.expect(201);
        let secret = token["token"].as_str().unwrap();
        app.get("/api/v1/components", secret).await.expect(200);
        app.clock.advance(Duration::hours(2));
        app.get("/api/v1/components", secret).await.assert_problem(401, "unauthorized");
        app.get("/api/v1/components", &acme.token).await.expect(200);
    }
}
