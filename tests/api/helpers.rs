//! `TestApp`: a real server on port 0 over its own database (a temp SQLite
//! file, or a fresh PostgreSQL database when `PACKRELEASE_TEST_POSTGRES_URL`
//! is set), with a fixed clock the test moves.

use std::sync::Arc;

use actix_web::dev::ServerHandle;
use chrono::{DateTime, TimeZone, Utc};
use diesel::prelude::*;
use packrelease::app::{Application, ServerConfig};
use packrelease::clock::FixedClock;
use packrelease::db::{self, DatabaseUrl, DbConnection, DbPool};
use serde_json::{json, Value};

pub const ADMIN_TOKEN: &str = "test-admin-token";
pub const POSTGRES_URL_VAR: &str = "PACKRELEASE_TEST_POSTGRES_URL";
/// Where tests let webhooks go: receivers they start on 127.0.0.1.
pub const LOOPBACK: &str = "127.0.0.0/8";

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each test body once on SQLite and once on PostgreSQL.
macro_rules! backend_tests {
    ($( $(#[$meta:meta])* async fn $name:ident($app:ident: TestApp) $body:block )*) => {$(
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn body($app: $crate::helpers::TestApp) $body

            #[actix_web::test]
            async fn sqlite() {
                body($crate::helpers::TestApp::spawn($crate::helpers::Backend::Sqlite).await.expect("sqlite")).await
            }

            #[actix_web::test]
            async fn postgres() {
                if let Some(app) = $crate::helpers::TestApp::spawn($crate::helpers::Backend::Postgres).await {
                    body(app).await
                }
            }
        }
    )*};
}
pub(crate) use backend_tests;

/// A test database that removes itself.
pub enum TestDb {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { server: String, name: String },
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { server, name } = self {
            if let Ok(mut conn) = PgConnection::establish(server) {
                let _ =
                    diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&mut conn);
            }
        }
    }
}

/// The PostgreSQL server tests run against, if any. With `CI=true` its absence is a failure.
pub fn postgres_server() -> Option<String> {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.is_empty() => {
            db::prepare_postgres_client();
            Some(url)
        }
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but {POSTGRES_URL_VAR} is not set: PostgreSQL tests must run in CI")
        }
        _ => None,
    }
}

/// A fresh, empty database (not migrated) and its URL.
pub fn fresh_database(backend: Backend) -> Option<(TestDb, DatabaseUrl)> {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("test.db");
            let url = DatabaseUrl::parse(path.to_str().expect("utf-8 path")).expect("sqlite url");
            Some((TestDb::Sqlite(dir), url))
        }
        Backend::Postgres => {
            let server = postgres_server()?;
            let name = format!("packrelease_test_{}", uuid::Uuid::now_v7().simple());
            let mut conn = PgConnection::establish(&server).expect("connect to the PostgreSQL test server");
            diesel::sql_query(format!("CREATE DATABASE \"{name}\"")).execute(&mut conn).expect("create test database");
            let (base, query) = server.split_once('?').map_or((server.as_str(), None), |(b, q)| (b, Some(q)));
            let base = base.rsplit_once('/').map_or(base, |(head, _)| head);
            let url = match query {
                Some(query) => format!("{base}/{name}?{query}"),
                None => format!("{base}/{name}"),
            };
            let url = DatabaseUrl::parse(&url).expect("postgres url");
            Some((TestDb::Postgres { server, name }, url))
        }
    }
}

/// Endpoints may point at 127.0.0.0/8 only, as in every test.
pub fn loopback_guard() -> packrelease::service::webhooks::UrlGuard {
    packrelease::service::webhooks::UrlGuard::new(
        packrelease::domain::webhooks::AddressPolicy::from_allowed_networks(Some(LOOPBACK)).expect("allowlist"),
    )
}

pub struct TestResponse {
    pub status: u16,
    pub headers: awc::http::header::HeaderMap,
    pub body: Value,
}

impl TestResponse {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
    }

    pub fn content_type(&self) -> String {
        self.header("content-type").unwrap_or_default()
    }

    /// Asserts a problem+json answer with this status and code.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.body);
        assert_eq!(self.content_type(), "application/problem+json", "body: {}", self.body);
        assert_eq!(self.body["code"], code, "body: {}", self.body);
        assert_eq!(self.body["status"], status);
        assert_eq!(self.body["type"], format!("urn:packrelease:problem:{code}"));
    }

    /// Asserts the status and returns the body.
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.body);
        self.body
    }

    /// The `errors[].field` of a validation problem.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| errors.iter().map(|e| e["field"].as_str().unwrap_or_default().to_string()).collect())
            .unwrap_or_default()
    }
}

/// An account with a token.
#[derive(Clone, Debug)]
pub struct Actor {
    pub id: String,
    pub token: String,
}

pub struct TestApp {
    pub base: String,
    /// What the binaries are given as `PACKRELEASE_DATABASE_URL`.
    pub database_url: String,
    pub clock: FixedClock,
    pub pool: DbPool,
    /// The bell the server rings when its release schedule changes.
    pub doorbell: packrelease::worker::Doorbell,
    /// `/metrics`'s own listener, when the configuration gives it one.
    pub metrics_base: Option<String>,
    client: awc::Client,
    handle: ServerHandle,
    _db: TestDb,
}

pub fn test_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).single().expect("valid instant")
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, |_| {}).await
    }

    /// A server whose configuration `configure` changes first.
    pub async fn spawn_with(backend: Backend, configure: impl FnOnce(&mut ServerConfig)) -> Option<TestApp> {
        let (test_db, url) = fresh_database(backend)?;
        let pool = db::open(&url, 4).expect("open test database");
        let clock = FixedClock::new(test_now());
        let doorbell = packrelease::worker::Doorbell::default();
        let mut config = ServerConfig {
            bind: "127.0.0.1:0".into(),
            admin_token: Some(ADMIN_TOKEN.into()),
            max_body_bytes: packrelease::config::DEFAULT_MAX_BODY_BYTES,
            body_read_timeout: packrelease::config::DEFAULT_BODY_READ_TIMEOUT,
            release_time_zone: packrelease::domain::schedule::DEFAULT_TIME_ZONE,
            cors_allowed_origins: Vec::new(),
            idempotency_wait: packrelease::config::IDEMPOTENCY_WAIT,
            doorbell: doorbell.clone(),
            webhook_guard: loopback_guard(),
            metrics: packrelease::http::metrics::MetricsAt::Api,
        };
        configure(&mut config);
        let database_url = url.target.clone();
        let app = Application::build(&config, pool.clone(), Arc::new(clock.clone())).expect("build server");
        let base = format!("http://127.0.0.1:{}", app.port());
        let metrics_base = app.metrics_port().map(|port| format!("http://127.0.0.1:{port}"));
        let handle = app.handle();
        actix_web::rt::spawn(app.run());
        let client = awc::Client::builder().disable_redirects().timeout(std::time::Duration::from_secs(30)).finish();
        Some(TestApp { base, metrics_base, database_url, clock, pool, doorbell, client, handle, _db: test_db })
    }

    /// Direct database access, for seeding and for asserting on stored state.
    pub fn db<T>(&self, f: impl FnOnce(&mut DbConnection) -> T) -> T {
        let mut conn = self.pool.get().expect("database connection");
        f(&mut conn)
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
    ) -> TestResponse {
        self.request_with(method, path, token, &[], body).await
    }

    /// A request with extra headers (appended: a name may repeat).
    pub async fn request_with(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<(&str, Vec<u8>)>,
    ) -> TestResponse {
        let method = awc::http::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.client.request(method, format!("{}{}", self.base, path));
        if let Some(token) = token {
            request = request.insert_header(("authorization", format!("Bearer {token}")));
        }
        for &(name, value) in headers {
            request = request.append_header((name, value));
        }
        let response = match body {
            Some((content_type, bytes)) => request.insert_header(("content-type", content_type)).send_body(bytes).await,
            None => request.send().await,
        };
        Self::read(response.expect("request sent")).await
    }

    async fn read(
        mut response: awc::ClientResponse<
            impl futures_util::Stream<Item = Result<actix_web::web::Bytes, awc::error::PayloadError>> + Unpin,
        >,
    ) -> TestResponse {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.body().limit(64 * 1024 * 1024).await.expect("response body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        TestResponse { status, headers, body }
    }

    /// A GET of a whole URL, with no token (another listener of this server).
    pub async fn get_url(&self, url: &str) -> TestResponse {
        Self::read(self.client.get(url).send().await.expect("request sent")).await
    }

    pub async fn get(&self, path: &str, token: &str) -> TestResponse {
        self.request("GET", path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> TestResponse {
        self.request("POST", path, Some(token), Some(("application/json", body.to_string().into_bytes()))).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> TestResponse {
        self.request("PATCH", path, Some(token), Some(("application/json", body.to_string().into_bytes()))).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> TestResponse {
        self.request("DELETE", path, Some(token), None).await
    }

    pub async fn publisher(&self, name: &str) -> Actor {
        let account =
            self.post("/api/v1/accounts", ADMIN_TOKEN, json!({"name": name, "kind": "publisher"})).await.expect(201);
        self.actor(&account, ADMIN_TOKEN).await
    }

    pub async fn subscriber(&self, publisher: &Actor, name: &str) -> Actor {
        let account = self.post("/api/v1/accounts", &publisher.token, json!({"name": name})).await.expect(201);
        self.actor(&account, &publisher.token).await
    }

    async fn actor(&self, account: &Value, minter: &str) -> Actor {
        let id = account["id"].as_str().expect("account id").to_string();
        let token = self.post(&format!("/api/v1/accounts/{id}/tokens"), minter, json!({})).await.expect(201);
        Actor { id, token: token["token"].as_str().expect("token").to_string() }
    }

    pub async fn component(&self, owner: &Actor, name: &str, component_type: &str) -> String {
        let body = json!({"name": name, "type": component_type});
        let component = self.post("/api/v1/components", &owner.token, body).await.expect(201);
        component["id"].as_str().expect("component id").to_string()
    }

    pub async fn version(&self, owner: &Actor, component_id: &str, version: &str) -> Value {
        let path = format!("/api/v1/components/{component_id}/versions");
        self.post(&path, &owner.token, json!({"version": version, "notes": format!("notes of {version}")}))
            .await
            .expect(201)
    }

    /// A process component with one shareable version.
    pub async fn shareable_component(&self, owner: &Actor, name: &str) -> String {
        let id = self.component(owner, name, "process").await;
        self.version(owner, &id, "1.0").await;
        id
    }

    pub async fn pack(&self, owner: &Actor, name: &str, installation_type: &str) -> String {
        let body = json!({"name": name, "description": "", "installation_type": installation_type});
        let pack = self.post("/api/v1/integration-packs", &owner.token, body).await.expect(201);
        pack["id"].as_str().expect("pack id").to_string()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stops accepting at once; the database goes with `_db`.
        drop(self.handle.stop(false));
    }
}

impl TestApp {
    pub fn clock_now(&self) -> DateTime<Utc> {
        packrelease::clock::Clock::now(&self.clock)
    }
}

impl TestApp {
    pub async fn add_member(&self, owner: &Actor, pack: &str, component: &str) {
        let path = format!("/api/v1/integration-packs/{pack}/components");
        self.post(&path, &owner.token, json!({"component_id": component})).await.expect(201);
    }

    pub async fn draft(&self, owner: &Actor, pack: &str) -> Value {
        let path = format!("/api/v1/integration-packs/{pack}/release-drafts");
        self.request("POST", &path, Some(&owner.token), None).await.expect(201)
    }

    pub async fn release(&self, owner: &Actor, draft: &Value, body: Value) -> TestResponse {
        let path = format!("/api/v1/release-drafts/{}/release", draft["id"].as_str().expect("draft id"));
        self.post(&path, &owner.token, body).await
    }

    /// Drafts and releases the pack at once; returns the release.
    pub async fn release_now(&self, owner: &Actor, pack: &str) -> Value {
        let draft = self.draft(owner, pack).await;
        self.release(owner, &draft, json!({"schedule": "immediately"})).await.expect(201)
    }

    /// Drafts the pack and schedules the release for `date`; returns the release.
    pub async fn schedule(&self, owner: &Actor, pack: &str, date: &str) -> Value {
        let draft = self.draft(owner, pack).await;
        self.release(owner, &draft, json!({"schedule": "on_date", "release_on": date})).await.expect(201)
    }

    /// A pack holding one process component (versions 1.0 and 1.1); returns (pack, component).
    pub async fn pack_with_component(&self, owner: &Actor, name: &str) -> (String, String) {
        let pack = self.pack(owner, name, "single").await;
        let component = self.shareable_component(owner, &format!("{name} process")).await;
        self.version(owner, &component, "1.1").await;
        self.add_member(owner, &pack, &component).await;
        (pack, component)
    }

    /// `(component name, released version)` of each pack member, as the API shows them.
    pub async fn released_versions(&self, owner: &Actor, pack: &str) -> Vec<(String, Value)> {
        let list = self.get(&format!("/api/v1/integration-packs/{pack}/components"), &owner.token).await.expect(200);
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|m| (m["name"].as_str().unwrap_or_default().to_string(), m["released_version"].clone()))
            .collect()
    }

    /// Runs the due-release executor as the worker would, at `at`.
    pub fn execute_due(&self, at: &str) -> Vec<packrelease::service::releases::Executed> {
        let at: DateTime<Utc> = at.parse().expect("instant");
        self.db(|c| packrelease::service::releases::execute_due(c, at).expect("execute due releases"))
    }
}

impl TestApp {
    pub async fn group(&self, owner: &Actor, name: &str) -> String {
        let group = self.post("/api/v1/account-groups", &owner.token, json!({"name": name})).await.expect(201);
        group["id"].as_str().expect("group id").to_string()
    }

    pub async fn join(&self, owner: &Actor, group: &str, account: &Actor) {
        let path = format!("/api/v1/account-groups/{group}/members");
        self.post(&path, &owner.token, json!({"account_id": account.id})).await.expect(201);
    }

    pub async fn share(&self, owner: &Actor, group: &str, pack: &str) {
        let path = format!("/api/v1/account-groups/{group}/integration-packs");
        self.post(&path, &owner.token, json!({"integration_pack_id": pack})).await.expect(201);
    }

    pub async fn install(&self, subscriber: &Actor, pack: &str) -> Value {
        let path = format!("/api/v1/accounts/{}/installations", subscriber.id);
        self.post(&path, &subscriber.token, json!({"integration_pack_id": pack})).await.expect(201)
    }

    pub async fn installation(&self, subscriber: &Actor, installation: &Value) -> Value {
        let path =
            format!("/api/v1/accounts/{}/installations/{}", subscriber.id, installation["id"].as_str().expect("id"));
        self.get(&path, &subscriber.token).await.expect(200)
    }

    /// A released pack (Sync) of installation type `multiple`, its process
    /// released at 1.0, shared with an empty group (Everyone). Returns (pack, component, group).
    pub async fn shared_multiple_pack(&self, owner: &Actor) -> (String, String, String) {
        let pack = self.pack(owner, "Sync", "multiple").await;
        let component = self.shareable_component(owner, "Sync process").await;
        self.add_member(owner, &pack, &component).await;
        self.release_now(owner, &pack).await;
        let group = self.group(owner, "Everyone").await;
        self.share(owner, &group, &pack).await;
        (pack, component, group)
    }

    /// A released pack (Orders: 1.0 released, 1.1 newer) shared with a group holding
    /// `n` subscribers, each with it installed. Returns (pack, component, group, subscribers, installations).
    pub async fn installed_pack(&self, owner: &Actor, n: usize) -> (String, String, String, Vec<Actor>, Vec<Value>) {
        let pack = self.pack(owner, "Orders", "single").await;
        let component = self.shareable_component(owner, "Orders process").await;
        self.add_member(owner, &pack, &component).await;
        self.release_now(owner, &pack).await;
        self.version(owner, &component, "1.1").await;
        let group = self.group(owner, "Customers").await;
        self.share(owner, &group, &pack).await;
        let mut subscribers = Vec::new();
        let mut installations = Vec::new();
        for i in 0..n {
            let subscriber = self.subscriber(owner, &format!("Customer {i}")).await;
            self.join(owner, &group, &subscriber).await;
            installations.push(self.install(&subscriber, &pack).await);
            subscribers.push(subscriber);
        }
        (pack, component, group, subscribers, installations)
    }
}

/// The single version an installation runs.
pub fn running(installation: &Value) -> Value {
    installation["versions"][0]["version"].clone()
}

impl TestApp {
    /// A JSON POST with an `Idempotency-Key`.
    pub async fn post_with_key(&self, path: &str, token: &str, key: &str, body: Value) -> TestResponse {
        let body = Some(("application/json", body.to_string().into_bytes()));
        self.request_with("POST", path, Some(token), &[("idempotency-key", key)], body).await
    }
}

/// A worker whose deliveries the test drives: `deliver` sends what is due at
/// the test clock's instant and returns once every attempt is recorded.
pub struct DeliveryWorker {
    pub worker: packrelease::worker::Worker,
    in_flight: Arc<std::sync::atomic::AtomicUsize>,
}

/// Delivery rules for tests: retries after 1 s, 1 s and 2 s, no jitter.
pub fn test_rules() -> packrelease::service::deliveries::DeliveryRules {
    packrelease::service::deliveries::DeliveryRules {
        schedule: "1s,1s,2s".parse().expect("schedule"),
        jitter: 0.0,
        ..Default::default()
    }
}

impl TestApp {
    /// A worker that delivers to 127.0.0.0/8 only, by `rules`.
    pub fn delivery_worker(&self, rules: packrelease::service::deliveries::DeliveryRules) -> DeliveryWorker {
        self.delivery_worker_to(LOOPBACK, rules)
    }

    /// A worker whose deliveries may go to `networks` only.
    pub fn delivery_worker_to(
        &self,
        networks: &str,
        rules: packrelease::service::deliveries::DeliveryRules,
    ) -> DeliveryWorker {
        use packrelease::domain::webhooks::AddressPolicy;
        let policy = AddressPolicy::from_allowed_networks(Some(networks)).expect("allowlist");
        let mut config = packrelease::delivery::SenderConfig::new(policy);
        config.request_timeout = std::time::Duration::from_secs(5);
        let sender = packrelease::delivery::Sender::new(config, Arc::new(packrelease::delivery::SystemResolver))
            .expect("sender");
        let clock: Arc<dyn packrelease::clock::Clock> = Arc::new(self.clock.clone());
        let job = packrelease::worker::Deliveries::new(self.pool.clone(), clock.clone(), sender, rules).expect("job");
        let in_flight = job.in_flight();
        let worker =
            packrelease::worker::Worker::register(self.pool.clone(), clock, std::time::Duration::from_secs(1), false)
                .and_then(|w| w.with_job(Box::new(job)))
                .expect("worker");
        DeliveryWorker { worker, in_flight }
    }
}

impl DeliveryWorker {
    /// Sends every delivery due now and waits until each attempt is recorded;
    /// returns how many attempts were made.
    pub fn deliver(&mut self) -> usize {
        let mut attempts = 0;
        loop {
            let report = self.worker.pass();
            let claimed = report.done(packrelease::worker::DELIVERIES);
            self.wait_idle();
            attempts += claimed;
            if claimed == 0 {
                return attempts;
            }
        }
    }

    /// Waits for real I/O (at most 30 s) until nothing is in flight.
    pub fn wait_idle(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while self.in_flight.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            assert!(std::time::Instant::now() < deadline, "deliveries still in flight after 30 s");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}
