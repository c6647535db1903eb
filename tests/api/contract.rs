use serde_json::Value;

use crate::helpers::backend_tests;

const COMMITTED: &str = include_str!("../../openapi/openapi.json");

/// The committed contract is what the code generates. To refresh it:
/// `cargo run -q -- openapi > openapi/openapi.json`.
#[test]
fn committed_openapi_matches_the_code() {
    let generated = serde_json::to_value(packrelease::http::openapi()).unwrap();
    let committed: Value = serde_json::from_str(COMMITTED).expect("openapi/openapi.json is JSON");
    assert!(
        generated == committed,
        "openapi/openapi.json is stale: run `cargo run -q -- openapi > openapi/openapi.json` and commit it"
    );
}

#[test]
fn every_api_operation_requires_a_bearer_token_and_documents_its_errors() {
    let contract = serde_json::to_value(packrelease::http::openapi()).unwrap();
    assert_eq!(contract["security"][0]["bearer"], serde_json::json!([]));
    for (path, item) in contract["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            if path.starts_with("/api/v1") {
                assert!(responses.contains_key("500"), "{method} {path} documents no 500");
                assert!(operation.get("security").is_none(), "{method} {path} overrides the bearer requirement");
                assert!(responses.contains_key("401"), "{method} {path} documents no 401");
            } else {
                assert_eq!(operation["security"], serde_json::json!([]), "{method} {path} should need no token");
            }
        }
    }
}

/// What a client generator needs: unique operation ids, ids typed as UUIDs,
/// optional bodies that are objects (not `null`), enums where values are closed.
#[test]
fn the_contract_is_precise_enough_to_generate_clients_from() {
    let contract = serde_json::to_value(packrelease::http::openapi()).unwrap();
    let mut operation_ids = std::collections::HashSet::new();
    for (path, item) in contract["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(operation_ids.insert(id.to_string()), "operationId {id} is used twice");
            if let Some(body) = operation.get("requestBody") {
                let schema = &body["content"]["application/json"]["schema"];
                assert!(schema.get("oneOf").is_none(), "{method} {path}: a request body is never null: {schema}");
            }
        }
    }
    let schemas = contract["components"]["schemas"].as_object().unwrap();
    for (name, schema) in schemas {
        for (field, property) in schema["properties"].as_object().into_iter().flatten() {
            let is_id = field == "id" || field.ends_with("_id") || field.ends_with("_by");
            // Events and deliveries have prefixed ids (`evt_...`, `dlv_...`), documented by their pattern.
            let prefixed =
                property["pattern"].as_str().is_some_and(|p| p.starts_with("^evt_") || p.starts_with("^dlv_"));
            if is_id && !prefixed {
                assert_eq!(property["format"], "uuid", "{name}.{field} is an id: format uuid");
            }
        }
    }
    assert_eq!(schemas["Push"]["properties"]["outcome"]["$ref"], "#/components/schemas/PushOutcome");
    assert_eq!(schemas["PushOutcome"]["enum"], serde_json::json!(["applied", "applied_early"]));
}

backend_tests! {
    async fn the_served_contract_and_swagger_ui_are_available(app: TestApp) {
        let served = app.request("GET", "/api-docs/openapi.json", None, None).await.expect(200);
        assert_eq!(served, serde_json::to_value(packrelease::http::openapi()).unwrap());
        let ui = app.request("GET", "/swagger-ui/", None, None).await;
        assert_eq!(ui.status, 200);
        assert!(ui.body.as_str().unwrap_or_default().contains("swagger-ui"));
        let redirect = app.request("GET", "/swagger-ui", None, None).await;
        assert_eq!(redirect.status, 307);
        assert_eq!(redirect.header("location").unwrap(), "/swagger-ui/");
    }
}
