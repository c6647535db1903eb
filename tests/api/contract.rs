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
                assert_eq!(operation["security"], serde_json::json!([{}]), "{method} {path} should need no token");
            }
        }
    }
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
