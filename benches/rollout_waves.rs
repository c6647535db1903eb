//! Benchmark: a staged rollout of one pack to N installations in waves of
//! 1%, 10%, 50% and 100% of its subscribed accounts (advanced by hand), each
//! wave timed from its HTTP request to its response, next to an immediate
//! release of a pack whose installations number what that wave moved (the
//! goal: each wave within 1.5x of it).
//!
//! `cargo bench --bench rollout_waves` (SQLite, N = 100,000, 100 installations
//! per account). `BENCH_INSTALLATIONS=N`; `BENCH_POSTGRES_URL=postgres://...`
//! (a server where a scratch database may be created) runs it on PostgreSQL;
//! `BENCH_TRACE=1` prints each statement that takes over 2 ms with its time.

use std::time::Instant;

use serde_json::{json, Value};

use api::{Api, Publisher, ReleasedPack};

#[path = "support/api.rs"]
mod api;
#[path = "support/database.rs"]
mod database;
#[path = "../tests/api/seed.rs"]
mod seed;

const PER_ACCOUNT: usize = 100;
const WAVES: [i64; 4] = [1, 10, 50, 100];

/// Seeds `n` installations of a new released pack (at rest); returns it.
async fn seeded_pack(
    api: &Api,
    pool: &packrelease::db::DbPool,
    publisher: &Publisher,
    name: &str,
    n: usize,
) -> ReleasedPack {
    let pack = ReleasedPack::new(api, publisher, name).await;
    let mut conn = pool.get().expect("connection");
    seed::installations(&mut conn, &publisher.id, &pack.group, &pack.pack, &pack.first_release, n, PER_ACCOUNT);
    api::at_rest(&mut conn);
    pack
}

/// Times one call; returns its answer and seconds.
async fn timed(api: &Api, path: &str, token: &str, body: Option<Value>) -> (Value, f64) {
    let started = Instant::now();
    let answer = api.call("POST", path, token, body).await;
    (answer, started.elapsed().as_secs_f64())
}

fn main() {
    database::trace_statements();
    let n: usize = std::env::var("BENCH_INSTALLATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let (url, backend, cleanup) = database::database();
    let pool = packrelease::db::open(&url, 8).expect("open database");
    actix_web::rt::System::new().block_on(async {
        let (api, handle) = Api::start(pool.clone());
        let publisher = Publisher::new(&api, "Bench publisher").await;
        let token = publisher.token.as_str();
        let seeding = Instant::now();
        let rolling = seeded_pack(&api, &pool, &publisher, "Rolling", n).await;
        eprintln!("seeded {n} installations in {:.1}s", seeding.elapsed().as_secs_f64());

        let draft = rolling.draft_version(&api, &publisher, "2.0").await;
        let waves: Vec<Value> = WAVES.iter().map(|p| json!({"percent": p})).collect();
        let body = json!({"schedule": "immediately", "rollout": {"waves": waves, "advance": "manual"}});
        let (mut release, first) = timed(&api, &format!("/release-drafts/{draft}/release"), token, Some(body)).await;
        let release_id = api::id(&release);
        let mut seconds = vec![first];
        for _ in 1..WAVES.len() {
            let (answer, took) = timed(&api, &format!("/releases/{release_id}/advance"), token, None).await;
            release = answer;
            seconds.push(took);
        }
        assert_eq!(release["status"], "released", "{release}");
        let moved: Vec<i64> = release["rollout"]["waves"]
            .as_array()
            .expect("waves")
            .iter()
            .map(|w| w["targeted"].as_i64().expect("targeted"))
            .collect();
        assert_eq!(moved.iter().sum::<i64>(), n as i64, "every installation moved by one wave");

        println!("backend={backend} installations={n} per_account={PER_ACCOUNT}");
        println!("wave  percent  moved    wave_s   immediate_s  ratio");
        for (i, (&moved, &wave_seconds)) in moved.iter().zip(&seconds).enumerate() {
            // An immediate release that moves as many installations, on a pack of their own.
            let same_size = seeded_pack(&api, &pool, &publisher, &format!("Immediate {i}"), moved as usize).await;
            let draft = same_size.draft_version(&api, &publisher, "2.0").await;
            let body = json!({"schedule": "immediately"});
            let (immediate, immediate_seconds) =
                timed(&api, &format!("/release-drafts/{draft}/release"), token, Some(body)).await;
            assert_eq!(immediate["push_counts"]["applied"].as_i64(), Some(moved));
            println!(
                "{:<5} {:<8} {:<8} {:<8.3} {:<12.3} {:.2}",
                i + 1,
                WAVES[i],
                moved,
                wave_seconds,
                immediate_seconds,
                wave_seconds / immediate_seconds
            );
        }
        handle.stop(true).await;
    });
    drop(pool);
    cleanup();
}
