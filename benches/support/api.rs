//! The API of a benchmark: a real server on 127.0.0.1 over the bench's
//! database, a client, and the publisher, pack and group a release bench
//! starts from.

use std::sync::Arc;

use actix_web::dev::ServerHandle;
use packrelease::app::{Application, ServerConfig};
use packrelease::clock::SystemClock;
use packrelease::db::DbPool;
use packrelease::domain::webhooks::AddressPolicy;
use packrelease::service::webhooks::UrlGuard;
use serde_json::{json, Value};

pub const ADMIN: &str = "bench-admin-token";

pub struct Api {
    client: awc::Client,
    base: String,
}

impl Api {
    /// Starts the server (inside an actix system) and returns its client.
    pub fn start(pool: DbPool) -> (Api, ServerHandle) {
        let config = ServerConfig {
            bind: "127.0.0.1:0".into(),
            admin_token: Some(ADMIN.into()),
            max_body_bytes: 1 << 20,
            body_read_timeout: packrelease::config::DEFAULT_BODY_READ_TIMEOUT,
            release_time_zone: packrelease::domain::schedule::DEFAULT_TIME_ZONE,
            cors_allowed_origins: Vec::new(),
            idempotency_wait: packrelease::config::IDEMPOTENCY_WAIT,
            doorbell: Default::default(),
            webhook_guard: UrlGuard::new(AddressPolicy::from_allowed_networks(Some("127.0.0.0/8")).expect("allowlist")),
            metrics: packrelease::http::metrics::MetricsAt::Api,
        };
        let app = Application::build(&config, pool, Arc::new(SystemClock)).expect("server");
        // The client drops a connection idle for 3 s, before the server's
        // keep-alive (5 s) closes it under a request (seeding takes longer).
        let connector = awc::Connector::new().conn_keep_alive(std::time::Duration::from_secs(3));
        let client = awc::Client::builder().connector(connector).timeout(std::time::Duration::from_secs(300)).finish();
        let api = Api { client, base: format!("http://127.0.0.1:{}", app.port()) };
        let handle = app.handle();
        actix_web::rt::spawn(app.run());
        (api, handle)
    }

    pub async fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Value {
        self.call_keyed(method, path, token, body, None).await
    }

    pub async fn call_keyed(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> Value {
        let method = awc::http::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.client.request(method, format!("{}/api/v1{path}", self.base)).bearer_auth(token);
        if let Some(key) = key {
            request = request.insert_header(("idempotency-key", key));
        }
        let mut response = match body {
            Some(body) => request.send_json(&body).await,
            None => request.send().await,
        }
        .expect("request");
        let bytes = response.body().limit(1 << 26).await.expect("body");
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        assert!(response.status().is_success(), "{path}: {} {value}", response.status());
        value
    }
}

pub fn id(value: &Value) -> String {
    value["id"].as_str().expect("id").to_string()
}

/// A publisher and its token.
pub struct Publisher {
    pub id: String,
    pub token: String,
}

impl Publisher {
    pub async fn new(api: &Api, name: &str) -> Self {
        let id = id(&api.call("POST", "/accounts", ADMIN, Some(json!({"name": name}))).await);
        let token = api.call("POST", &format!("/accounts/{id}/tokens"), ADMIN, None).await["token"]
            .as_str()
            .unwrap()
            .to_string();
        Self { id, token }
    }
}

/// A `multiple` pack of one process component, released once (1.0), shared
/// with a new group.
pub struct ReleasedPack {
    pub pack: String,
    pub component: String,
    pub first_release: String,
    pub group: String,
}

impl ReleasedPack {
    pub async fn new(api: &Api, publisher: &Publisher, name: &str) -> Self {
        let token = publisher.token.as_str();
        let component = id(&api
            .call("POST", "/components", token, Some(json!({"name": format!("{name} process"), "type": "process"})))
            .await);
        api.call("POST", &format!("/components/{component}/versions"), token, Some(json!({"version": "1.0"}))).await;
        let pack = id(&api
            .call("POST", "/integration-packs", token, Some(json!({"name": name, "installation_type": "multiple"})))
            .await);
        api.call(
            "POST",
            &format!("/integration-packs/{pack}/components"),
            token,
            Some(json!({"component_id": component})),
        )
        .await;
        let draft = id(&api.call("POST", &format!("/integration-packs/{pack}/release-drafts"), token, None).await);
        let first_release = id(&api
            .call("POST", &format!("/release-drafts/{draft}/release"), token, Some(json!({"schedule": "immediately"})))
            .await);
        let group =
            id(&api.call("POST", "/account-groups", token, Some(json!({"name": format!("{name} group")}))).await);
        api.call(
            "POST",
            &format!("/account-groups/{group}/integration-packs"),
            token,
            Some(json!({"integration_pack_id": pack})),
        )
        .await;
        Self { pack, component, first_release, group }
    }

    /// Adds version `version` and drafts it; returns the draft's id.
    pub async fn draft_version(&self, api: &Api, publisher: &Publisher, version: &str) -> String {
        let token = publisher.token.as_str();
        api.call("POST", &format!("/components/{}/versions", self.component), token, Some(json!({"version": version})))
            .await;
        id(&api.call("POST", &format!("/integration-packs/{}/release-drafts", self.pack), token, None).await)
    }
}

/// Fresh statistics, and (SQLite) the WAL checkpointed: a database at rest.
pub fn at_rest(conn: &mut packrelease::db::DbConnection) {
    use diesel::RunQueryDsl;
    diesel::sql_query("ANALYZE").execute(conn).expect("analyze");
    if let packrelease::db::DbConnection::Sqlite(_) = conn {
        diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)").execute(conn).expect("checkpoint");
    }
}
