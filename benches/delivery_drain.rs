//! Benchmark: how fast one worker's delivery job drains a queue of pending
//! webhook deliveries to a receiver on 127.0.0.1.
//!
//! Seeds BENCH_DELIVERIES (10,000) pending deliveries spread over
//! BENCH_ENDPOINTS (100) endpoints, one per subscriber account, each with its
//! own path on the receiver, as a release's fan-out leaves them (each an
//! `installation.updated` event with a shared payload, sealed, its delivery
//! due now); then runs a real worker with the deliveries job (real clock,
//! real sender under the 127.0.0.0/8 allowlist) until none is pending, and
//! prints deliveries per second.
//!
//! `cargo bench --bench delivery_drain` (SQLite; starts its own receiver in
//! process). `BENCH_POSTGRES_URL=postgres://...` runs on a scratch PostgreSQL
//! database; `BENCH_RECEIVER=127.0.0.1:PORT` sends to a receiver already
//! running (`benches/delivery_drain.sh` starts `webhook_receiver`).
//! `BENCH_MAX_IN_FLIGHT`, `BENCH_PER_ENDPOINT` and `BENCH_POOL_SIZE` change
//! the job's bounds (defaults 32, 4) and the pool (10, as `serve`'s).
//! `BENCH_TRACE=1` prints each statement that takes over 2 ms with its time.

use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use diesel::prelude::*;
use packrelease::clock::SystemClock;
use packrelease::db::{self, DbConnection};
use packrelease::delivery::{Sender, SenderConfig, SystemResolver};
use packrelease::domain::event::{DeliveryStatus, EventType, Side};
use packrelease::domain::webhooks::AddressPolicy;
use packrelease::schema::{accounts, event_batches, event_counter, event_payloads, webhook_deliveries, worker_jobs};
use packrelease::service::accounts as account_service;
use packrelease::service::deliveries::DeliveryRules;
use packrelease::store::events::EventRow;
use packrelease::store::webhooks::{self as webhook_store, Delivery, Endpoint};
use packrelease::worker::{Deliveries, Worker, DELIVERIES};
use serde_json::json;

#[path = "support/database.rs"]
mod database;
#[path = "support/receiver.rs"]
mod receiver;

/// Where deliveries may go: the same allowlist the benches' servers run with.
const ALLOWED_NETWORKS: &str = "127.0.0.0/8";

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// An id shaped like `store::events::sql_id`'s: the prefix, the instant in
/// milliseconds, 80 random bits (so one fan-out's deliveries interleave their
/// endpoints in id order, as the seal's INSERT ... SELECT leaves them).
fn fanout_id(prefix: &str, millis: i64) -> String {
    let mut random = [0u8; 10];
    getrandom::fill(&mut random).expect("random");
    let random: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}{millis:012x}{random}")
}

/// Subscriber accounts with one endpoint each (its own path on `receiver`),
/// and `n` pending deliveries of sealed `installation.updated` events, the
/// k-th to endpoint k mod `endpoints`.
fn seed(conn: &mut DbConnection, receiver: &str, endpoints: usize, n: usize) {
    let now = Utc::now();
    let at = now.naive_utc();
    let (publisher, _) = account_service::create_publisher(conn, now, "Bench publisher").expect("publisher");
    let account_ids: Vec<String> = (0..endpoints).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    let account_rows: Vec<_> = account_ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            (
                accounts::id.eq(id.clone()),
                accounts::name.eq(format!("Subscriber {i}")),
                accounts::kind.eq("subscriber"),
                accounts::parent_id.eq(Some(publisher.id.clone())),
                accounts::created_at.eq(at),
            )
        })
        .collect();
    let endpoint_rows: Vec<Endpoint> = account_ids
        .iter()
        .enumerate()
        .map(|(i, account)| Endpoint::new(account, format!("http://{receiver}/hooks/{i}"), None, at))
        .collect();
    let (batch_id, payload_id, release_id) =
        (uuid::Uuid::now_v7().to_string(), uuid::Uuid::now_v7().to_string(), uuid::Uuid::now_v7().to_string());
    let payload = json!({
        "release_id": release_id,
        "integration_pack_id": uuid::Uuid::now_v7().to_string(),
        "schedule": "immediately",
        "outcome": "applied",
        "versions": [{"component_id": uuid::Uuid::now_v7().to_string(), "name": "Orders", "version": "2.0"}],
        "previous_versions": [{"component_id": uuid::Uuid::now_v7().to_string(), "name": "Orders", "version": "1.0"}],
    });
    let millis = now.timestamp_millis();
    let mut event_rows = Vec::with_capacity(n);
    let mut delivery_rows = Vec::with_capacity(n);
    for k in 0..n {
        let endpoint = &endpoint_rows[k % endpoints];
        let installation = uuid::Uuid::now_v7().to_string();
        let event = EventRow {
            id: fanout_id("evt_", millis),
            batch_id: batch_id.clone(),
            account_id: endpoint.account_id.clone(),
            event_type: EventType::InstallationUpdated,
            created_at: at,
            release_id: Some(release_id.clone()),
            installation_id: Some(installation.clone()),
            payload_id: payload_id.clone(),
            fact: format!("installation.updated/{release_id}/{installation}/0"),
        };
        delivery_rows.push(Delivery {
            id: fanout_id("dlv_", millis),
            event_id: event.id.clone(),
            endpoint_id: endpoint.id.clone(),
            account_id: endpoint.account_id.clone(),
            event_type: EventType::InstallationUpdated,
            release_id: Some(release_id.clone()),
            installation_id: Some(installation),
            status: DeliveryStatus::Pending,
            attempts: 0,
            retry_from: 0,
            next_attempt_at: Some(at),
            lease_until: None,
            claim_token: None,
            last_attempt_at: None,
            last_status_code: None,
            last_error: None,
            created_at: at,
            updated_at: at,
        });
        event_rows.push(event);
    }
    // Batches stay under SQLite's limit of bound variables per statement;
    // batch inserts need the concrete connection.
    macro_rules! insert_all {
        ($c:expr) => {{
            diesel::insert_into(accounts::table).values(&account_rows).execute($c)?;
            for batch in event_rows.chunks(1_000) {
                diesel::insert_into(packrelease::schema::events::table).values(batch).execute($c)?;
            }
            for batch in delivery_rows.chunks(1_000) {
                diesel::insert_into(webhook_deliveries::table).values(batch).execute($c)?;
            }
        }};
    }
    conn.write_transaction::<_, diesel::result::Error, _>(|conn| {
        match conn {
            DbConnection::Sqlite(c) => insert_all!(c),
            DbConnection::Postgresql(c) => insert_all!(c),
        }
        for endpoint in &endpoint_rows {
            webhook_store::insert_endpoint(conn, endpoint, &EventType::subscribable(Side::Subscriber))?;
        }
        diesel::insert_into(event_payloads::table)
            .values((event_payloads::id.eq(&payload_id), event_payloads::data.eq(payload.to_string())))
            .execute(conn)?;
        // The seal: the batch's commit-ordered position.
        diesel::update(event_counter::table.find("events"))
            .set(event_counter::value.eq(event_counter::value + 1))
            .execute(conn)?;
        let position: i64 = event_counter::table.find("events").select(event_counter::value).first(conn)?;
        diesel::insert_into(event_batches::table)
            .values((
                event_batches::id.eq(&batch_id),
                event_batches::position.eq(position),
                event_batches::committed_at.eq(at),
            ))
            .execute(conn)?;
        // The deliveries above stand for those the delivery job made of this batch.
        diesel::update(event_counter::table.find("deliveries_made"))
            .set(event_counter::value.eq(position))
            .execute(conn)?;
        Ok(())
    })
    .expect("seed deliveries");
    // A database at rest: fresh statistics, and (SQLite) the WAL checkpointed.
    diesel::sql_query("ANALYZE").execute(conn).expect("analyze");
    if let DbConnection::Sqlite(_) = conn {
        diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)").execute(conn).expect("checkpoint");
    }
}

/// Whether any delivery is still pending (stops at the first: polling must
/// not load the database it measures).
fn any_pending(conn: &mut DbConnection) -> bool {
    diesel::select(diesel::dsl::exists(
        webhook_deliveries::table.filter(webhook_deliveries::status.eq(DeliveryStatus::Pending)),
    ))
    .get_result(conn)
    .expect("any pending")
}

fn main() {
    database::trace_statements();
    let n = env_number("BENCH_DELIVERIES", 10_000);
    let endpoints = env_number("BENCH_ENDPOINTS", 100).max(1);
    let pool_size = env_number("BENCH_POOL_SIZE", 10) as u32;
    let defaults = DeliveryRules::default();
    let rules = DeliveryRules {
        max_in_flight: env_number("BENCH_MAX_IN_FLIGHT", defaults.max_in_flight),
        per_endpoint: env_number("BENCH_PER_ENDPOINT", defaults.per_endpoint as usize) as i64,
        ..defaults
    };
    let (max_in_flight, per_endpoint) = (rules.max_in_flight, rules.per_endpoint);

    // The receiver: the one given, or one started here on a free port.
    let own_receiver = match std::env::var("BENCH_RECEIVER") {
        Ok(addr) if !addr.is_empty() => (addr, None),
        _ => {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
            let addr = listener.local_addr().expect("address").to_string();
            let thread = std::thread::spawn(move || {
                actix_web::rt::System::new().block_on(async move {
                    receiver::server(listener, 1).expect("receiver").await.expect("receiver runs");
                })
            });
            (addr, Some(thread))
        }
    };
    let (receiver_addr, _receiver_thread) = own_receiver;
    assert!(receiver_addr.starts_with("127.0.0.1:"), "the receiver must listen on 127.0.0.1");
    let received_before = receiver::count(&receiver_addr).expect("the receiver answers /count");

    let (url, backend, cleanup) = database::database();
    let pool = db::open(&url, pool_size).expect("open database");
    let seeding = Instant::now();
    seed(&mut pool.get().expect("connection"), &receiver_addr, endpoints, n);
    eprintln!("seeded {n} deliveries over {endpoints} endpoints in {:.1}s", seeding.elapsed().as_secs_f64());

    let clock: Arc<dyn packrelease::clock::Clock> = Arc::new(SystemClock);
    let policy = AddressPolicy::from_allowed_networks(Some(ALLOWED_NETWORKS)).expect("allowlist");
    let sender = Sender::new(SenderConfig::new(policy), Arc::new(SystemResolver)).expect("sender");
    let job = Deliveries::new(pool.clone(), clock.clone(), sender, rules).expect("deliveries job");
    let in_flight = job.in_flight();
    let worker = Worker::register(pool.clone(), clock, Duration::from_secs(10), false)
        .and_then(|worker| worker.with_job(Box::new(job)))
        .expect("worker");

    let mut conn = pool.get().expect("connection");
    let started = Instant::now();
    let handle = worker.spawn();
    let mut peak_in_flight = 0;
    while any_pending(&mut conn) {
        peak_in_flight = peak_in_flight.max(in_flight.load(Ordering::SeqCst));
        assert!(started.elapsed() < Duration::from_secs(600), "the queue did not drain in 10 minutes");
        std::thread::sleep(Duration::from_millis(20));
    }
    let seconds = started.elapsed().as_secs_f64();
    handle.stop();

    let succeeded: i64 = webhook_deliveries::table
        .filter(webhook_deliveries::status.eq(DeliveryStatus::Succeeded))
        .count()
        .get_result(&mut conn)
        .expect("count succeeded");
    let received = receiver::count(&receiver_addr).expect("the receiver answers /count") - received_before;
    let (passes, done): (i64, i64) = worker_jobs::table
        .filter(worker_jobs::job.eq(DELIVERIES))
        .select((worker_jobs::passes, worker_jobs::done))
        .first(&mut conn)
        .expect("job stats");
    assert_eq!(succeeded as usize, n, "every delivery succeeded");
    println!(
        "backend={backend} deliveries={n} endpoints={endpoints} max_in_flight={max_in_flight} \
         per_endpoint={per_endpoint} pool={pool_size} seconds={seconds:.3} per_second={:.0} \
         received={received} claim_passes={passes} claimed_per_pass={:.1} peak_in_flight={peak_in_flight}",
        n as f64 / seconds,
        done as f64 / passes.max(1) as f64,
    );
    drop(conn);
    drop(pool);
    cleanup();
}
