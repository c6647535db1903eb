use diesel::prelude::*;
use serde_json::json;

use crate::helpers::{backend_tests, Backend, TestApp};

backend_tests! {
    async fn unreadable_bodies_are_400_problems(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let post = |content_type: &'static str, body: &'static str| {
            let token = acme.token.clone();
            let app = &app;
            async move { app.request("POST", "/api/v1/components", Some(&token), Some((content_type, body.as_bytes().to_vec()))).await }
        };
        post("application/json", "{\"name\":").await.assert_problem(400, "malformed_json");
        post("application/json", "{\"name\":\"x\",\"type\":\"process\"} trailing").await.assert_problem(400, "malformed_json");
        post("text/plain", "{\"name\":\"x\",\"type\":\"process\"}").await.assert_problem(400, "unsupported_content_type");
        post("application/x-www-form-urlencoded", "name=x").await.assert_problem(400, "unsupported_content_type");
        post("application/json", "").await.assert_problem(400, "malformed_json");
        post("application/json; charset=utf-8", "{\"name\":\"x\",\"type\":\"process\"}").await.expect(201);
    }

    async fn bodies_of_the_wrong_shape_are_422_naming_the_field(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let cases = [
            (json!({"name": "x"}), "type", "required"),
            (json!({"name": 5, "type": "process"}), "name", "invalid_type"),
            (json!({"name": "x", "type": "widget"}), "type", "invalid_value"),
            (json!({"name": "x", "type": "process", "colour": "red"}), "colour", "unknown_field"),
            (json!(["not", "an", "object"]), "body", "invalid_type"),
        ];
        for (body, field, code) in cases {
            let refused = app.post("/api/v1/components", &acme.token, body.clone()).await;
            refused.assert_problem(422, "validation_failed");
            assert_eq!(refused.body["errors"][0]["field"], field, "for {body}");
            assert_eq!(refused.body["errors"][0]["code"], code, "for {body}");
        }
    }

    async fn nul_characters_are_refused_not_stored(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let body = r#"{"name":"Pack","installation_type":"single","description":"a\u0000b"}"#;
        let refused = app.request("POST", "/api/v1/integration-packs", Some(&acme.token), Some(("application/json", body.as_bytes().to_vec()))).await;
        refused.assert_problem(422, "validation_failed");
        assert_eq!(refused.body["errors"][0]["code"], "invalid_character");
    }

    async fn unknown_routes_methods_and_ids_are_problems(app: TestApp) {
        let acme = app.publisher("Acme").await;
        app.get("/api/v1/nothing-here", &acme.token).await.assert_problem(404, "not_found");
        app.request("GET", "/nope", None, None).await.assert_problem(404, "not_found");
        let put = app.request("PUT", "/api/v1/components", Some(&acme.token), None).await;
        put.assert_problem(405, "method_not_allowed");
        assert_eq!(put.header("allow").unwrap(), "GET, POST");
        let put_one = app.request("PUT", &format!("/api/v1/integration-packs/{}", uuid::Uuid::now_v7()), Some(&acme.token), None).await;
        put_one.assert_problem(405, "method_not_allowed");
        assert_eq!(put_one.header("allow").unwrap(), "GET, PATCH, DELETE");
        app.get("/api/v1/components/not-a-uuid", &acme.token).await.assert_problem(404, "not_found");
        app.get("/api/v1/components/not-a-uuid/versions/1.0", &acme.token).await.assert_problem(404, "not_found");
        app.get("/api/v1/components?limit=abc", &acme.token).await.assert_problem(422, "validation_failed");
        app.get("/api/v1/components?limit=201", &acme.token).await.assert_problem(422, "validation_failed");
    }

    async fn request_ids_are_echoed_or_generated(app: TestApp) {
        let generated = app.request("GET", "/healthz", None, None).await;
        assert_eq!(generated.header("x-request-id").unwrap().len(), 36);
        let echoed = app.request_with("GET", "/healthz", None, &[("x-request-id", "ci-run-42")], None).await;
        assert_eq!(echoed.header("x-request-id").unwrap(), "ci-run-42");
    }

    async fn internal_errors_reveal_nothing(app: TestApp) {
        let acme = app.publisher("Acme").await;
        app.db(|c| diesel::sql_query("DROP TABLE pack_components").execute(c).unwrap());
        let pack = app.pack(&acme, "Pack", "single").await;
        let failed = app.get(&format!("/api/v1/integration-packs/{pack}/components"), &acme.token).await;
        failed.assert_problem(500, "internal_error");
        let text = failed.body.to_string();
        assert!(!text.contains("pack_components") && !text.to_lowercase().contains("sql") && !text.contains("relation"), "{text}");
    }
}

#[actix_web::test]
async fn oversized_bodies_are_413_problems() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = TestApp::spawn_with(backend, |config| config.max_body_bytes = 1024).await else {
            continue;
        };
        let acme = app.publisher("Acme").await;
        let big = json!({"name": "x".repeat(2000), "type": "process"});
        app.post("/api/v1/components", &acme.token, big).await.assert_problem(413, "payload_too_large");
    }
}

#[actix_web::test]
async fn cors_answers_only_the_configured_origins() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let origin = "https://app.example.com";
        let Some(app) = TestApp::spawn_with(backend, |config| config.cors_allowed_origins = vec![origin.into()]).await
        else {
            continue;
        };
        let acme = app.publisher("Acme").await;
        let preflight = |from: &'static str, method: &'static str, headers: &'static str| {
            let app = &app;
            let asked = [
                ("origin", from),
                ("access-control-request-method", method),
                ("access-control-request-headers", headers),
            ];
            async move { app.request_with("OPTIONS", "/api/v1/integration-packs/x", None, &asked, None).await }
        };
        let allowed = preflight(origin, "PATCH", "authorization, content-type, if-match, idempotency-key").await;
        assert!(allowed.status == 200 || allowed.status == 204, "{}: {}", allowed.status, allowed.body);
        assert_eq!(allowed.header("access-control-allow-origin").as_deref(), Some(origin));
        assert!(allowed.header("access-control-allow-methods").unwrap().contains("PATCH"));
        assert!(allowed.header("access-control-allow-headers").unwrap().to_lowercase().contains("if-match"));
        assert_eq!(allowed.header("access-control-max-age").as_deref(), Some("3600"));
        preflight("https://evil.example", "GET", "authorization").await.assert_problem(400, "cors_refused");
        preflight(origin, "PUT", "authorization").await.assert_problem(400, "cors_refused");

        let read =
            app.request_with("GET", "/api/v1/integration-packs", Some(&acme.token), &[("origin", origin)], None).await;
        assert_eq!(read.status, 200);
        assert_eq!(read.header("access-control-allow-origin").as_deref(), Some(origin));
        let exposed = read.header("access-control-expose-headers").unwrap().to_lowercase();
        for name in ["etag", "location", "x-request-id", "idempotent-replayed", "retry-after"] {
            assert!(exposed.contains(name), "{name} not exposed: {exposed}");
        }
        // Another origin is answered (a browser then withholds it), without CORS headers.
        let other = app
            .request_with(
                "GET",
                "/api/v1/integration-packs",
                Some(&acme.token),
                &[("origin", "https://evil.example")],
                None,
            )
            .await;
        assert_eq!(other.status, 200);
        assert!(other.header("access-control-allow-origin").is_none());
    }
}

backend_tests! {
    async fn without_configured_origins_there_is_no_cors(app: TestApp) {
        let asked = [("origin", "https://app.example.com"), ("access-control-request-method", "GET")];
        let preflight = app.request_with("OPTIONS", "/api/v1/integration-packs", None, &asked, None).await;
        preflight.assert_problem(405, "method_not_allowed");
        assert!(preflight.header("access-control-allow-origin").is_none());
        let acme = app.publisher("Acme").await;
        let read = app.request_with("GET", "/api/v1/integration-packs", Some(&acme.token), &asked[..1], None).await;
        assert_eq!(read.status, 200);
        assert!(read.header("access-control-allow-origin").is_none());
    }
}
