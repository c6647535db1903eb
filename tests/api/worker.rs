//! The release worker: the library loop with a test clock, and the
//! `packrelease-worker` binary against the test database (racing, SIGKILL
//! mid-release, SIGTERM, a database outage).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use packrelease::schema::{events, installations, pushes, releases, rollouts, worker_heartbeats, worker_jobs};
use packrelease::worker::{Worker, DUE_RELEASES};
use serde_json::{json, Value};

use crate::helpers::{backend_tests, Actor, Backend, TestApp, ADMIN_TOKEN};

const WORKER: &str = env!("CARGO_BIN_EXE_packrelease-worker");

fn worker(app: &TestApp, args: &[&str]) -> Command {
    let mut command = Command::new(WORKER);
    command
        .args(args)
        .env("PACKRELEASE_DATABASE_URL", &app.database_url)
        .env("PACKRELEASE_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// The worker's log lines, as they come.
fn log_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    let stderr = child.stderr.take().expect("piped stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// Waits for a log line containing `needle`.
fn wait_for(lines: &mpsc::Receiver<String>, needle: &str, timeout: Duration) -> String {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => continue,
            Err(_) => panic!("no log line with {needle:?} within {timeout:?}"),
        }
    }
}

/// Scheduled releases become due for a process on the real clock: the API
/// rightly refuses past dates, so the test moves `due_at` in the database.
fn make_due(app: &TestApp) {
    set_due_at(app, chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap().and_hms_opt(5, 0, 0).unwrap());
}

fn set_due_at(app: &TestApp, due_at: chrono::NaiveDateTime) {
    app.db(|c| {
        diesel::update(releases::table.filter(releases::status.eq("scheduled")))
            .set(releases::due_at.eq(due_at))
            .execute(c)
            .unwrap()
    });
}

/// Whether a transaction holds the release's claim: on PostgreSQL its row
/// lock, on SQLite the write lock.
fn claim_is_held(app: &TestApp, release: &str) -> bool {
    let url = packrelease::db::DatabaseUrl::parse(&app.database_url).unwrap();
    match url.establish().unwrap() {
        packrelease::db::DbConnection::Postgresql(mut pg) => {
            let tried = pg.transaction(|c| {
                diesel::sql_query("SELECT id FROM releases WHERE id = $1 FOR UPDATE NOWAIT")
                    .bind::<diesel::sql_types::Text, _>(release)
                    .execute(c)
            });
            match tried {
                Ok(_) => false,
                Err(error) if error.to_string().contains("could not obtain lock") => true,
                Err(error) => panic!("{error}"),
            }
        }
        packrelease::db::DbConnection::Sqlite(mut sqlite) => {
            match diesel::connection::SimpleConnection::batch_execute(
                &mut sqlite,
                "PRAGMA busy_timeout = 0; BEGIN IMMEDIATE; ROLLBACK;",
            ) {
                Ok(()) => false,
                Err(error) if error.to_string().contains("locked") => true,
                Err(error) => panic!("{error}"),
            }
        }
    }
}

/// Waits (up to `timeout`) until `done` holds.
fn wait_until(timeout: Duration, done: impl Fn() -> bool) {
    let started = std::time::Instant::now();
    while !done() {
        assert!(started.elapsed() < timeout, "not done within {timeout:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A released pack (1.0, with 2.0 made since) shared with a group of
/// `per_account`-installation accounts holding `n` installations in all; returns it.
async fn big_pack(app: &TestApp, owner: &Actor, n: usize, per_account: usize) -> String {
    let (pack, component) = app.pack_with_component(owner, "Big").await;
    let first = app.release_now(owner, &pack).await;
    let group = app.group(owner, "Everyone").await;
    app.share(owner, &group, &pack).await;
    app.db(|c| crate::seed::installations(c, &owner.id, &group, &pack, first["id"].as_str().unwrap(), n, per_account));
    app.version(owner, &component, "2.0").await;
    pack
}

/// A worker held at `failpoint` (paused) inside the transaction that claims
/// `release`: it holds the claim.
fn worker_paused_at(app: &TestApp, failpoint: &str, release: &str) -> Child {
    let mut child = worker(app, &["--poll-interval", "0.2"])
        .env("PACKRELEASE_FAILPOINT", format!("{failpoint}:pause"))
        .spawn()
        .unwrap();
    let lines = log_lines(&mut child);
    wait_for(&lines, "failpoint reached", Duration::from_secs(30));
    assert!(claim_is_held(app, release), "the worker holds the release's claim when it is killed");
    child
}

/// SIGKILLs the worker inside its transaction and waits until the claim is
/// free: a killed client's backend lets go of its locks a moment later, so
/// wait for it, never race it.
fn kill_inside_transaction(app: &TestApp, mut child: Child, release: &str) {
    child.kill().unwrap();
    child.wait().unwrap();
    let released_lock = std::time::Instant::now();
    while claim_is_held(app, release) {
        assert!(released_lock.elapsed() < Duration::from_secs(30), "the dead worker's claim was never released");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Three `--once` workers at the same time; how many log lines with `done` they wrote together.
fn racing_workers(app: &TestApp, done: &str) -> usize {
    let children: Vec<Child> = (0..3).map(|_| worker(app, &["--once"]).spawn().unwrap()).collect();
    let mut count = 0;
    for child in children {
        let output = child.wait_with_output().unwrap();
        let log = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{log}");
        count += log.matches(done).count();
    }
    count
}

fn heartbeat_passes(app: &TestApp) -> i64 {
    app.db(|c| worker_heartbeats::table.select(worker_heartbeats::passes).first(c).unwrap())
}

fn count_pushes(app: &TestApp, release: &str) -> i64 {
    app.db(|c| pushes::table.filter(pushes::release_id.eq(release)).count().get_result(c).unwrap())
}

fn status_of(app: &TestApp, release: &str) -> String {
    app.db(|c| releases::table.find(release).select(releases::status).first(c).unwrap())
}

/// A group "Everyone" of `n` new subscribers.
async fn everyone(app: &TestApp, owner: &Actor, n: usize) -> (String, Vec<Actor>) {
    let group = app.group(owner, "Everyone").await;
    let mut accounts = Vec::new();
    for i in 0..n {
        let subscriber = app.subscriber(owner, &format!("Subscriber {i}")).await;
        app.join(owner, &group, &subscriber).await;
        accounts.push(subscriber);
    }
    (group, accounts)
}

/// A released pack (1.0, with 2.0 made since) shared with `groups` and
/// installed by every one of `accounts`; returns it.
async fn installed_everywhere(app: &TestApp, owner: &Actor, name: &str, groups: &[&str], accounts: &[Actor]) -> String {
    let (pack, component) = app.pack_with_component(owner, name).await;
    app.release_now(owner, &pack).await;
    for group in groups {
        app.share(owner, group, &pack).await;
    }
    for subscriber in accounts {
        app.install(subscriber, &pack).await;
    }
    app.version(owner, &component, "2.0").await;
    pack
}

/// `packs` packs, each installed by the same `subscribers` accounts, each with a scheduled release.
async fn scheduled_packs(app: &TestApp, owner: &Actor, packs: usize, subscribers: usize) -> Vec<String> {
    let (group, accounts) = everyone(app, owner, subscribers).await;
    let mut scheduled = Vec::new();
    for p in 0..packs {
        let pack = installed_everywhere(app, owner, &format!("Pack {p}"), &[&group], &accounts).await;
        let release = app.schedule(owner, &pack, "2026-12-01").await;
        scheduled.push(release["id"].as_str().unwrap().to_string());
    }
    // Dated by the test clock, these would come due on the real clock that a
    // worker process runs on: keep them out of its reach until `make_due`.
    set_due_at(app, chrono::NaiveDate::from_ymd_opt(2999, 1, 1).unwrap().and_hms_opt(5, 0, 0).unwrap());
    scheduled
}

backend_tests! {
    async fn the_worker_loop_carries_out_due_releases_and_reports_its_passes(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, _) = app.pack_with_component(&acme, "Orders").await;
        app.schedule(&acme, &pack, "2026-12-01").await;
        let mut worker = Worker::register(app.pool.clone(), Arc::new(app.clock.clone()), Duration::from_secs(1), false).unwrap();
        assert_eq!(worker.pass().done(DUE_RELEASES), 0, "not due yet at the test clock's now");
        app.clock.set("2026-12-01T05:00:00Z".parse().unwrap());
        assert_eq!(worker.pass().done(DUE_RELEASES), 1);
        let status = app.get("/api/v1/worker", &acme.token).await.expect(200);
        let me = &status["items"][0];
        assert_eq!((me["passes"].clone(), me["releases_carried_out"].clone()), (json!(2), json!(1)));
        assert_eq!(me["last_pass_at"], "2026-12-01T05:00:00Z");
        assert_eq!(me["embedded"], false);
        let jobs: Vec<(Value, Value, Value)> = me["jobs"].as_array().unwrap().iter().map(|j| (j["kind"].clone(), j["passes"].clone(), j["done"].clone())).collect();
        assert_eq!(jobs, [(json!("due_releases"), json!(2), json!(1)), (json!("housekeeping"), json!(2), json!(0))]);
        app.get("/api/v1/worker", ADMIN_TOKEN).await.expect(200);
        let customer = app.subscriber(&acme, "Customer").await;
        app.get("/api/v1/worker", &customer.token).await.assert_problem(403, "forbidden");
    }

    async fn due_instants_follow_local_midnight_across_dst_changes(app: TestApp) {
        let acme = app.publisher("Acme").await;
        app.clock.set("2026-01-15T12:00:00Z".parse().unwrap());
        for (date, due) in [("2026-03-08", "2026-03-08T05:00:00Z"), ("2026-03-09", "2026-03-09T04:00:00Z"), ("2026-11-01", "2026-11-01T04:00:00Z"), ("2026-11-02", "2026-11-02T05:00:00Z")] {
            let (pack, _) = app.pack_with_component(&acme, date).await;
            let release = app.schedule(&acme, &pack, date).await;
            assert_eq!(release["due_at"], due, "{date}");
            let due_at: chrono::DateTime<chrono::Utc> = due.parse().unwrap();
            let just_before = (due_at - chrono::Duration::seconds(1)).to_rfc3339();
            assert!(app.execute_due(&just_before).is_empty(), "{date}: 23:59:59 the day before is not due");
            let done = app.execute_due(due);
            assert_eq!((done.len(), done[0].late_by_seconds), (1, None), "{date}: due at 00:00:00 local");
        }
    }

    async fn a_worker_pass_as_a_separate_process_exits_zero(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let scheduled = scheduled_packs(&app, &acme, 2, 1).await;
        make_due(&app);
        let output = worker(&app, &["--once"]).output().unwrap();
        let log = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{log}");
        assert_eq!(log.matches("carried out release").count(), 2, "{log}");
        assert!(log.contains("late=true"), "a release carried out after its window is logged late: {log}");
        for release in &scheduled {
            assert_eq!(status_of(&app, release), "released");
            assert_eq!(count_pushes(&app, release), 1);
        }
        let read = app.get(&format!("/api/v1/releases/{}", scheduled[0]), &acme.token).await.expect(200);
        assert_eq!(read["late"], true);
    }

    async fn racing_workers_carry_out_each_release_exactly_once(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let scheduled = scheduled_packs(&app, &acme, 12, 3).await;
        make_due(&app);
        let carried_out = racing_workers(&app, "carried out release");
        assert_eq!(carried_out, scheduled.len(), "each release carried out by exactly one worker");
        for release in &scheduled {
            assert_eq!(status_of(&app, release), "released");
            assert_eq!(count_pushes(&app, release), 3, "each installation pushed once");
        }
        let behind: i64 = app.db(|c| installations::table.filter(installations::release_id.ne_all(&scheduled)).count().get_result(c).unwrap());
        assert_eq!(behind, 0);
    }

    async fn a_worker_killed_inside_a_release_leaves_it_untouched_and_a_restart_finishes_it(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let n = 5_000;
        let pack = big_pack(&app, &acme, n, 1).await;
        let release = app.schedule(&acme, &pack, "2026-12-01").await;
        let release = release["id"].as_str().unwrap().to_string();
        make_due(&app);

        // The failpoint holds the worker inside the release's transaction, its pushes written.
        let child = worker_paused_at(&app, "carry_out", &release);
        assert_eq!((status_of(&app, &release), count_pushes(&app, &release)), ("scheduled".to_string(), 0), "nothing is visible before the commit");
        kill_inside_transaction(&app, child, &release);
        assert_eq!((status_of(&app, &release), count_pushes(&app, &release)), ("scheduled".to_string(), 0), "the crash undid the release wholly");

        let output = worker(&app, &["--once"]).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        assert_eq!(status_of(&app, &release), "released");
        assert_eq!(count_pushes(&app, &release), n as i64, "one push per installation");
        let on_it: i64 = app.db(|c| installations::table.filter(installations::release_id.eq(&release)).count().get_result(c).unwrap());
        assert_eq!(on_it, n as i64);
    }

    async fn a_release_that_errors_or_panics_is_set_aside_and_the_others_go_on(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let scheduled = scheduled_packs(&app, &acme, 3, 2).await;
        make_due(&app);
        let pack_of = |release: &str| -> String { app.db(|c| releases::table.find(release).select(releases::pack_id).first(c).unwrap()) };
        let (erring, panicking, fine) = (&scheduled[0], &scheduled[1], &scheduled[2]);
        let failpoints = format!("carry_out@{}:error,carry_out@{}:panic", pack_of(erring), pack_of(panicking));
        let output = worker(&app, &["--once"]).env("PACKRELEASE_FAILPOINT", failpoints).output().unwrap();
        let log = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{log}");
        for bad in [erring, panicking] {
            let read = app.get(&format!("/api/v1/releases/{bad}"), &acme.token).await.expect(200);
            assert_eq!(read["status"], "failed", "{read}");
            assert!(read["failure_reason"].as_str().unwrap().contains("set aside"), "{read}");
            assert!(!read["failure_reason"].as_str().unwrap().contains("failpoint"), "the cause stays in the log");
            assert_eq!(count_pushes(&app, bad), 0, "its work was undone");
            let pack = pack_of(bad);
            assert_eq!(app.released_versions(&acme, &pack).await[0].1, json!("1.1"), "the pack keeps its released versions");
        }
        assert_eq!(status_of(&app, fine), "released");
        assert_eq!(count_pushes(&app, fine), 2);
        assert_eq!(log.matches("set aside as failed").count(), 2, "{log}");
        let jobs: Vec<(String, i64, i64, i64)> = app.db(|c| {
            worker_jobs::table.select((worker_jobs::job, worker_jobs::passes, worker_jobs::done, worker_jobs::failed)).order(worker_jobs::job).load(c).unwrap()
        });
        assert_eq!(
            jobs,
            [("deliveries".into(), 1, 0, 0), ("due_releases".into(), 1, 1, 2), ("housekeeping".into(), 1, 0, 0)],
            "housekeeping and deliveries ran regardless"
        );
    }

    async fn the_embedded_worker_wakes_at_the_due_instant_that_the_api_scheduled(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, component) = app.pack_with_component(&acme, "Punctual").await;
        app.release_now(&acme, &pack).await;
        app.version(&acme, &component, "2.0").await;
        // 23:59:58 in New York; the poll (15 s) alone would come too late.
        app.clock.set("2026-12-01T04:59:58Z".parse().unwrap());
        let worker = Worker::register(app.pool.clone(), Arc::new(app.clock.clone()), Duration::from_secs(15), true).unwrap();
        let handle = worker.with_doorbell(app.doorbell.clone()).spawn();
        wait_until(Duration::from_secs(10), || heartbeat_passes(&app) >= 1);
        let release = app.schedule(&acme, &pack, "2026-12-01").await;
        let release = release["id"].as_str().unwrap().to_string();
        // The doorbell woke the worker, which now sleeps until 05:00:00Z (two seconds).
        app.clock.set("2026-12-01T05:00:00Z".parse().unwrap());
        wait_until(Duration::from_secs(8), || status_of(&app, &release) == "released");
        handle.stop();
        let read = app.get(&format!("/api/v1/releases/{release}"), &acme.token).await.expect(200);
        assert_eq!((read["released_at"].clone(), read["late"].clone()), (json!("2026-12-01T05:00:00Z"), json!(false)));
    }

    async fn sigterm_stops_the_worker_cleanly(app: TestApp) {
        let mut child = worker(&app, &["--poll-interval", "0.2"]).spawn().unwrap();
        let lines = log_lines(&mut child);
        wait_for(&lines, "release worker started", Duration::from_secs(30));
        Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(started.elapsed() < Duration::from_secs(5), "the worker did not stop within 5 s");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "exit status {status:?}");
        wait_for(&lines, "release worker stopped", Duration::from_secs(1));
        let stopped: Option<chrono::NaiveDateTime> =
            app.db(|c| packrelease::schema::worker_heartbeats::table.select(packrelease::schema::worker_heartbeats::stopped_at).first(c).unwrap());
        assert!(stopped.is_some());
    }
}

/// While its database refuses connections the worker logs, backs off and keeps
/// running; when the database returns it carries on.
#[actix_web::test]
async fn the_worker_rides_out_a_database_outage() {
    let Some(app) = TestApp::spawn(Backend::Postgres).await else { return };
    let acme = app.publisher("Acme").await;
    let scheduled = scheduled_packs(&app, &acme, 1, 1).await;
    let database: String = app.db(|c| {
        diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>("current_database()")).get_result(c).unwrap()
    });
    let server = crate::helpers::postgres_server().unwrap();
    let admin = |sql: String| {
        let mut conn = PgConnection::establish(&server).unwrap();
        diesel::sql_query(sql).execute(&mut conn).unwrap();
    };
    let mut child = worker(&app, &["--poll-interval", "0.2"]).spawn().unwrap();
    let lines = log_lines(&mut child);
    wait_for(&lines, "release worker started", Duration::from_secs(30));

    admin(format!("ALTER DATABASE \"{database}\" ALLOW_CONNECTIONS false"));
    admin(format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"));
    wait_for(&lines, "worker job failed", Duration::from_secs(30));
    assert!(child.try_wait().unwrap().is_none(), "the worker keeps running through the outage");

    admin(format!("ALTER DATABASE \"{database}\" ALLOW_CONNECTIONS true"));
    make_due(&app);
    wait_for(&lines, "carried out release", Duration::from_secs(60));
    assert_eq!(status_of(&app, &scheduled[0]), "released");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_worker_pass_fails_fast_on_a_bad_database() {
    for url in ["mysql://localhost/db", "postgres://no_such_role_for_packrelease@127.0.0.1:5432/postgres"] {
        let output = Command::new(WORKER).args(["--once"]).env("PACKRELEASE_DATABASE_URL", url).output().unwrap();
        assert!(!output.status.success(), "{url}");
        assert!(String::from_utf8_lossy(&output.stderr).contains("error:"), "{url}");
    }
}

/// Rollouts' due waves, for worker processes on the real clock: their next
/// wave's due instant is moved in the database (`None`: out of reach).
fn set_waves_due(app: &TestApp, due: Option<&str>) {
    let at = due.map_or_else(
        || chrono::NaiveDate::from_ymd_opt(2999, 1, 1).unwrap().and_hms_opt(5, 0, 0).unwrap(),
        |at| at.parse::<chrono::DateTime<chrono::Utc>>().unwrap().naive_utc(),
    );
    app.db(|c| {
        diesel::update(rollouts::table.filter(rollouts::next_due_at.is_not_null()))
            .set(rollouts::next_due_at.eq(at))
            .execute(c)
            .unwrap()
    });
}

/// `packs` packs, each installed by the same `subscribers` accounts, each
/// rolling out (nightly) to a canary (the first subscriber), then everyone.
async fn rolling_packs(app: &TestApp, owner: &Actor, packs: usize, subscribers: usize) -> Vec<String> {
    let (group, accounts) = everyone(app, owner, subscribers).await;
    let canary = app.group(owner, "Canary").await;
    app.join(owner, &canary, &accounts[0]).await;
    let mut rolling = Vec::new();
    for p in 0..packs {
        let pack = installed_everywhere(app, owner, &format!("Pack {p}"), &[&group, &canary], &accounts).await;
        let draft = app.draft(owner, &pack).await;
        let plan = json!({"waves": [{"account_group_id": canary}, {"percent": 100}], "advance": "nightly"});
        let release = app.release(owner, &draft, json!({"schedule": "immediately", "rollout": plan})).await.expect(201);
        assert_eq!(release["rollout"]["current_wave"], 1);
        rolling.push(release["id"].as_str().unwrap().to_string());
    }
    set_waves_due(app, None);
    rolling
}

fn wave_events(app: &TestApp, release: &str) -> i64 {
    app.db(|c| {
        events::table
            .filter(events::release_id.eq(release))
            .filter(events::event_type.eq("release.wave_started"))
            .count()
            .get_result(c)
            .unwrap()
    })
}

backend_tests! {
    async fn racing_workers_carry_out_each_wave_exactly_once(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let rolling = rolling_packs(&app, &acme, 10, 3).await;
        set_waves_due(&app, Some("2020-01-01T05:00:00Z"));
        let carried_out = racing_workers(&app, "carried out a rollout wave");
        assert_eq!(carried_out, rolling.len(), "each wave carried out by exactly one worker");
        for release in &rolling {
            assert_eq!(status_of(&app, release), "released");
            assert_eq!(count_pushes(&app, release), 3, "each installation pushed once");
            assert_eq!(wave_events(&app, release), 2, "one wave_started per wave");
        }
    }

    async fn a_worker_killed_inside_a_wave_leaves_it_untouched_and_a_restart_finishes_it(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let n = 5_000;
        let pack = big_pack(&app, &acme, n, 50).await;
        let draft = app.draft(&acme, &pack).await;
        let plan = json!({"waves": [{"percent": 20}, {"percent": 100}], "advance": "nightly"});
        let release = app.release(&acme, &draft, json!({"schedule": "immediately", "rollout": plan})).await.expect(201);
        let release = release["id"].as_str().unwrap().to_string();
        let after_wave_1 = count_pushes(&app, &release);
        assert!(after_wave_1 > 0 && after_wave_1 < n as i64, "{after_wave_1}");
        set_waves_due(&app, Some("2020-01-01T05:00:00Z"));

        // The failpoint holds the worker inside the wave's transaction, its pushes written.
        let child = worker_paused_at(&app, "wave", &release);
        kill_inside_transaction(&app, child, &release);
        assert_eq!((status_of(&app, &release), count_pushes(&app, &release), wave_events(&app, &release)), ("in_progress".to_string(), after_wave_1, 1), "the crash undid the wave wholly");

        let output = worker(&app, &["--once"]).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        assert_eq!(status_of(&app, &release), "released");
        assert_eq!(count_pushes(&app, &release), n as i64, "one push per installation");
        assert_eq!(wave_events(&app, &release), 2);
        let on_it: i64 = app.db(|c| installations::table.filter(installations::release_id.eq(&release)).count().get_result(c).unwrap());
        assert_eq!(on_it, n as i64);
    }
}
