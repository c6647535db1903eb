//! Benchmark: PACKS packs with PER_PACK installations each, all due at one
//! midnight; seconds from the window opening until `packrelease-worker --once`
//! processes have carried out every release.
//!
//! `cargo bench --bench worker_midnight` runs one worker on SQLite; with
//! `BENCH_POSTGRES_URL=postgres://...` it runs one and then two workers on
//! PostgreSQL. `BENCH_PACKS` and `BENCH_PER_PACK` change the sizes (default 1,000 × 100).

use std::process::{Command, Stdio};
use std::time::Instant;

use chrono::{Days, Utc};
use diesel::prelude::*;
use packrelease::db::{self, DatabaseUrl, DbConnection};
use packrelease::domain::component::ComponentType;
use packrelease::domain::pack::InstallationType;
use packrelease::domain::release::Schedule;
use packrelease::domain::schedule::DEFAULT_TIME_ZONE;
use packrelease::domain::webhooks::AddressPolicy;
use packrelease::schema::{pushes, releases};
use packrelease::service::components::{self, NewVersion};
use packrelease::service::packs::{self, NewPack};
use packrelease::service::releases::{self as release_service, ScheduleRequest};
use packrelease::service::webhooks::UrlGuard;
use packrelease::service::{accounts, auth, drafts, groups, Ctx, Settings};

#[path = "../tests/api/seed.rs"]
mod seed;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The packs, their installations and one scheduled release each, due now.
fn setup(conn: &mut DbConnection, packs_wanted: usize, per_pack: usize) {
    let now = Utc::now();
    let (publisher, token) = accounts::create_publisher(conn, now, "Bench publisher").expect("publisher");
    let guard = UrlGuard::new(AddressPolicy::from_allowed_networks(Some("127.0.0.0/8")).expect("allowlist"));
    let settings = Settings { admin_token_hash: None, release_time_zone: DEFAULT_TIME_ZONE, webhook_guard: guard };
    let (caller, token_id) = auth::authenticate(conn, &settings, &token, now).expect("token");
    let ctx = Ctx { caller, token_id, now, time_zone: DEFAULT_TIME_ZONE };
    let group = groups::create_group(conn, &ctx, "Everyone").expect("group");
    let tomorrow = now.date_naive().checked_add_days(Days::new(2)).expect("date");
    for p in 0..packs_wanted {
        let input = NewPack {
            name: format!("Pack {p}"),
            description: None,
            installation_type: InstallationType::Multiple,
            deployment: Default::default(),
        };
        let pack = packs::create_pack(conn, &ctx, input).expect("pack").pack;
        let component = components::create_component(conn, &ctx, &format!("Process {p}"), ComponentType::Process)
            .expect("component")
            .component;
        let version = |v: &str| NewVersion { version: v.into(), notes: None, shareable: None };
        components::create_version(conn, &ctx, &component.id, version("1.0")).expect("version");
        packs::add_member(conn, &ctx, &pack.id, None, &component.id).expect("member");
        let draft = drafts::create_draft(conn, &ctx, &pack.id).expect("draft");
        let now_request = ScheduleRequest { schedule: Schedule::Immediately, release_on: None, rollout: None };
        let first = release_service::release_draft(conn, &ctx, &draft.draft.id, None, now_request).expect("release");
        groups::add_pack(conn, &ctx, &group.id, &pack.id).expect("share");
        seed::installations(conn, &publisher.id, &group.id, &pack.id, &first.release.id, per_pack, per_pack);
        components::create_version(conn, &ctx, &component.id, version("2.0")).expect("version");
        let draft = drafts::create_draft(conn, &ctx, &pack.id).expect("draft");
        let dated = ScheduleRequest { schedule: Schedule::OnDate, release_on: Some(tomorrow), rollout: None };
        release_service::release_draft(conn, &ctx, &draft.draft.id, None, dated).expect("schedule");
    }
    // Midnight: every release comes due at once.
    diesel::update(releases::table.filter(releases::status.eq("scheduled")))
        .set(releases::due_at.eq(Utc::now().naive_utc()))
        .execute(conn)
        .expect("make due");
    // A database at rest: fresh statistics, and (SQLite) the WAL checkpointed.
    diesel::sql_query("ANALYZE").execute(conn).expect("analyze");
    if let DbConnection::Sqlite(_) = conn {
        diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)").execute(conn).expect("checkpoint");
    }
}

fn run(backend: &str, url: &str, workers: usize, packs_wanted: usize, per_pack: usize) {
    let parsed = DatabaseUrl::parse(url).expect("url");
    let pool = db::open(&parsed, 2).expect("open");
    let seeding = Instant::now();
    setup(&mut pool.get().expect("connection"), packs_wanted, per_pack);
    eprintln!("seeded {packs_wanted} packs x {per_pack} installations in {:.1}s", seeding.elapsed().as_secs_f64());
    let started = Instant::now();
    let children: Vec<_> = (0..workers)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_packrelease-worker"))
                .arg("--once")
                .env("PACKRELEASE_DATABASE_URL", url)
                .env("PACKRELEASE_LOG", "warn")
                .stdout(Stdio::null())
                .spawn()
                .expect("worker")
        })
        .collect();
    for mut child in children {
        assert!(child.wait().expect("wait").success(), "a worker failed");
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut conn = pool.get().expect("connection");
    let left: i64 = releases::table.filter(releases::status.eq("scheduled")).count().get_result(&mut conn).unwrap();
    let pushed: i64 = pushes::table.count().get_result(&mut conn).unwrap();
    assert_eq!(left, 0, "every release carried out");
    assert_eq!(pushed as usize, packs_wanted * per_pack, "every installation pushed once");
    println!(
        "backend={backend} workers={workers} packs={packs_wanted} installations={} seconds={seconds:.2}",
        packs_wanted * per_pack
    );
}

fn main() {
    packrelease::db::prepare_postgres_client();
    let packs_wanted = env_number("BENCH_PACKS", 1_000);
    let per_pack = env_number("BENCH_PER_PACK", 100);
    match std::env::var("BENCH_POSTGRES_URL") {
        Ok(server) if !server.is_empty() => {
            for workers in [1, 2] {
                let name = format!("packrelease_bench_{}", uuid::Uuid::now_v7().simple());
                let mut admin = PgConnection::establish(&server).expect("connect");
                diesel::sql_query(format!("CREATE DATABASE \"{name}\"")).execute(&mut admin).expect("create");
                let base = server.split('?').next().unwrap_or(&server);
                let url = format!("{}/{name}", base.rsplit_once('/').map_or(base, |(head, _)| head));
                run("postgres", &url, workers, packs_wanted, per_pack);
                diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&mut admin).ok();
            }
        }
        _ => {
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("bench.db");
            run("sqlite", path.to_str().expect("path"), 1, packs_wanted, per_pack);
        }
    }
}
