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
//! `BENCH_TRACE=1` prints each statement that takes over 2 ms with its time.
//! `BENCH_KEEP_DB=1` keeps the scratch database and a copy of it as it was
//! just before the timed release; on PostgreSQL the server log then holds the
//! release's statements (see `benches/release_push_psql.sh`, which replays
//! them in psql on that copy).

use std::time::Instant;

use diesel::prelude::*;
use packrelease::db::{self, DbConnection};
use packrelease::domain::event::{EventType, Side};
use packrelease::schema::{accounts, webhook_deliveries};
use packrelease::store::webhooks::{self as webhook_store, Endpoint};
use serde_json::json;

use api::{Api, Publisher, ReleasedPack};

#[path = "support/api.rs"]
mod api;
#[path = "support/database.rs"]
mod database;
#[path = "../tests/api/seed.rs"]
mod seed;

const PER_ACCOUNT: usize = 100;

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
    database::trace_statements();
    let n: usize = std::env::var("BENCH_INSTALLATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let (url, backend, cleanup) = database::database();
    let pool = db::open(&url, 8).expect("open database");
    actix_web::rt::System::new().block_on(async {
        let (api, handle) = Api::start(pool.clone());
        let publisher = Publisher::new(&api, "Bench publisher").await;
        let token = publisher.token.clone();
        let bench = ReleasedPack::new(&api, &publisher, "Bench").await;

        let seeding = Instant::now();
        let mut conn = pool.get().expect("connection");
        seed::installations(&mut conn, &publisher.id, &bench.group, &bench.pack, &bench.first_release, n, PER_ACCOUNT);
        let with_endpoints = std::env::var("BENCH_ENDPOINTS").is_ok_and(|v| !v.is_empty() && v != "0");
        let endpoint_count = if with_endpoints { endpoints(&mut conn, &publisher.id) } else { 0 };
        api::at_rest(&mut conn);
        drop(conn);
        eprintln!(
            "seeded {n} installations and {endpoint_count} webhook endpoints in {:.1}s",
            seeding.elapsed().as_secs_f64()
        );

        let draft = bench.draft_version(&api, &publisher, "2.0").await;
        if database::snapshot(&url).is_some() {
            // The pool's connections were closed for the copy: one call opens a new one.
            api.call("GET", &format!("/release-drafts/{draft}"), &token, None).await;
        }
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
