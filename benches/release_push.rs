//! Benchmark: an immediate release of one pack to N installations, timed from
//! the HTTP request to its response.
//!
//! `cargo bench --bench release_push` (SQLite, N = 100,000). Options through
//! the environment: `BENCH_INSTALLATIONS=N`, `BENCH_POSTGRES_URL=postgres://...`
//! (a server where a scratch database may be created) to run on PostgreSQL,
//! `BENCH_IDEMPOTENCY_KEY=1` to send the release with an `Idempotency-Key`
//! and time its replay too, and `BENCH_ENDPOINTS=1` to give every subscriber
//! account a webhook endpoint first (all subscriber event types, to
//! `http://127.0.0.1:9/hook`: no worker runs, nothing is sent), so the release
//! also makes one delivery per installation; it prints how many it made.

use std::sync::Arc;
use std::time::Instant;

use diesel::prelude::*;
use packrelease::app::{Application, ServerConfig};
use packrelease::clock::SystemClock;
use packrelease::db::{self, DbConnection};
use packrelease::domain::event::{EventType, Side};
use packrelease::domain::webhooks::AddressPolicy;
use packrelease::schema::{accounts, webhook_deliveries};
use packrelease::service::webhooks::UrlGuard;
use packrelease::store::webhooks::{self as webhook_store, Endpoint};
use serde_json::{json, Value};

#[path = "support/database.rs"]
mod database;
#[path = "../tests/api/seed.rs"]
mod seed;

const ADMIN: &str = "bench-admin-token";
const PER_ACCOUNT: usize = 100;

struct Api {
    client: awc::Client,
    base: String,
}

impl Api {
    async fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Value {
        self.call_keyed(method, path, token, body, None).await
    }

    async fn call_keyed(&self, method: &str, path: &str, token: &str, body: Option<Value>, key: Option<&str>) -> Value {
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

fn id(value: &Value) -> String {
    value["id"].as_str().expect("id").to_string()
}

/// One enabled endpoint, subscribed to every subscriber event type, on each
/// subscriber account of `publisher`, written as `service::webhooks::create_endpoint`
/// writes them, in one transaction. Returns how many.
fn endpoints(conn: &mut DbConnection, publisher: &str) -> usize {
    let now = chrono::Utc::now().naive_utc();
    let subscribers: Vec<String> = accounts::table
        .filter(accounts::parent_id.eq(publisher))
        .filter(accounts::kind.eq("subscriber"))
        .select(accounts::id)
        .load(conn)
        .expect("subscribers");
    let types = EventType::subscribable(Side::Subscriber);
    conn.write_transaction::<_, diesel::result::Error, _>(|conn| {
        for account in &subscribers {
            let endpoint = Endpoint::new(account, "http://127.0.0.1:9/hook".into(), None, now);
            webhook_store::insert_endpoint(conn, &endpoint, &types)?;
        }
        Ok(())
    })
    .expect("endpoints");
    subscribers.len()
}

fn main() {
    let n: usize = std::env::var("BENCH_INSTALLATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let (url, backend, cleanup) = database::database();
    let pool = db::open(&url, 8).expect("open database");
    actix_web::rt::System::new().block_on(async {
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
        };
        let app = Application::build(&config, pool.clone(), Arc::new(SystemClock)).expect("server");
        let client = awc::Client::builder().timeout(std::time::Duration::from_secs(300)).finish();
        let api = Api { client, base: format!("http://127.0.0.1:{}", app.port()) };
        let handle = app.handle();
        actix_web::rt::spawn(app.run());

        let publisher = id(&api.call("POST", "/accounts", ADMIN, Some(json!({"name": "Bench publisher"}))).await);
        let token = api.call("POST", &format!("/accounts/{publisher}/tokens"), ADMIN, None).await["token"]
            .as_str()
            .unwrap()
            .to_string();
        let component =
            id(&api.call("POST", "/components", &token, Some(json!({"name": "Orders", "type": "process"}))).await);
        api.call("POST", &format!("/components/{component}/versions"), &token, Some(json!({"version": "1.0"}))).await;
        let pack = id(&api
            .call("POST", "/integration-packs", &token, Some(json!({"name": "Bench", "installation_type": "multiple"})))
            .await);
        api.call(
            "POST",
            &format!("/integration-packs/{pack}/components"),
            &token,
            Some(json!({"component_id": component})),
        )
        .await;
        let draft = id(&api.call("POST", &format!("/integration-packs/{pack}/release-drafts"), &token, None).await);
        let first = id(&api
            .call("POST", &format!("/release-drafts/{draft}/release"), &token, Some(json!({"schedule": "immediately"})))
            .await);
        let group = id(&api.call("POST", "/account-groups", &token, Some(json!({"name": "Everyone"}))).await);
        api.call(
            "POST",
            &format!("/account-groups/{group}/integration-packs"),
            &token,
            Some(json!({"integration_pack_id": pack})),
        )
        .await;

        let seeding = Instant::now();
        let mut conn = pool.get().expect("connection");
        seed::installations(&mut conn, &publisher, &group, &pack, &first, n, PER_ACCOUNT);
        let with_endpoints = std::env::var("BENCH_ENDPOINTS").is_ok_and(|v| !v.is_empty() && v != "0");
        let endpoint_count = if with_endpoints { endpoints(&mut conn, &publisher) } else { 0 };
        // A database at rest: fresh statistics, and (SQLite) the WAL checkpointed.
        diesel::sql_query("ANALYZE").execute(&mut conn).expect("analyze");
        if let packrelease::db::DbConnection::Sqlite(_) = &*conn {
            diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut conn).expect("checkpoint");
        }
        drop(conn);
        eprintln!(
            "seeded {n} installations and {endpoint_count} webhook endpoints in {:.1}s",
            seeding.elapsed().as_secs_f64()
        );

        api.call("POST", &format!("/components/{component}/versions"), &token, Some(json!({"version": "2.0"}))).await;
        let draft = id(&api.call("POST", &format!("/integration-packs/{pack}/release-drafts"), &token, None).await);
        let key = std::env::var("BENCH_IDEMPOTENCY_KEY").ok().filter(|v| !v.is_empty()).map(|_| "bench-release");
        let (path, body) = (format!("/release-drafts/{draft}/release"), json!({"schedule": "immediately"}));
        let started = Instant::now();
        let release = api.call_keyed("POST", &path, &token, Some(body.clone()), key).await;
        let seconds = started.elapsed().as_secs_f64();
        assert_eq!(release["push_counts"]["applied"].as_i64(), Some(n as i64), "every installation pushed");
        // The delivery job makes the release's deliveries once it has committed
        // (outside the release's transaction): timed on its own.
        let mut conn = pool.get().expect("connection");
        let making = Instant::now();
        let made = packrelease::service::deliveries::make_deliveries(&mut conn, chrono::Utc::now()).expect("make");
        let making_seconds = making.elapsed().as_secs_f64();
        let deliveries: i64 = webhook_deliveries::table.count().get_result(&mut conn).expect("count deliveries");
        drop(conn);
        if with_endpoints {

            assert_eq!(made as i64, deliveries);
        }
        println!(
            "backend={backend} installations={n} keyed={} seconds={seconds:.3} endpoints={endpoint_count} deliveries={deliveries} making_deliveries_seconds={making_seconds:.3}",
            key.is_some()
        );
        if key.is_some() {
            let started = Instant::now();
            let replay = api.call_keyed("POST", &path, &token, Some(body), key).await;
            assert_eq!(replay["id"], release["id"], "the retry replays the release");
            println!("backend={backend} replay_seconds={:.4}", started.elapsed().as_secs_f64());
        }
        handle.stop(true).await;
    });
    drop(pool);
    cleanup();
}
