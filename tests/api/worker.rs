//! The release worker: the library loop with a test clock, and the
//! `packrelease-worker` binary against the test database (racing, SIGKILL
//! mid-release, SIGTERM, a database outage).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use packrelease::schema::{installations, pushes, releases};
use packrelease::worker::Worker;
use serde_json::json;

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

fn count_pushes(app: &TestApp, release: &str) -> i64 {
    app.db(|c| pushes::table.filter(pushes::release_id.eq(release)).count().get_result(c).unwrap())
}

fn status_of(app: &TestApp, release: &str) -> String {
    app.db(|c| releases::table.find(release).select(releases::status).first(c).unwrap())
}

/// `packs` packs, each installed by the same `subscribers` accounts, each with a scheduled release.
async fn scheduled_packs(app: &TestApp, owner: &Actor, packs: usize, subscribers: usize) -> Vec<String> {
    let group = app.group(owner, "Everyone").await;
    let mut accounts = Vec::new();
    for i in 0..subscribers {
        let subscriber = app.subscriber(owner, &format!("Subscriber {i}")).await;
        app.join(owner, &group, &subscriber).await;
        accounts.push(subscriber);
    }
    let mut scheduled = Vec::new();
    for p in 0..packs {
        let (pack, component) = app.pack_with_component(owner, &format!("Pack {p}")).await;
        app.release_now(owner, &pack).await;
        app.share(owner, &group, &pack).await;
        for subscriber in &accounts {
            app.install(subscriber, &pack).await;
        }
        app.version(owner, &component, "2.0").await;
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
        let worker = Worker::register(app.pool.clone(), Arc::new(app.clock.clone()), Duration::from_secs(1), false).unwrap();
        assert!(worker.pass().unwrap().is_empty(), "not due yet at the test clock's now");
        app.clock.set("2026-12-01T05:00:00Z".parse().unwrap());
        assert_eq!(worker.pass().unwrap().len(), 1);
        let status = app.get("/api/v1/worker", &acme.token).await.expect(200);
        let me = &status["items"][0];
        assert_eq!((me["passes"].clone(), me["releases_carried_out"].clone()), (json!(2), json!(1)));
        assert_eq!(me["last_pass_at"], "2026-12-01T05:00:00Z");
        assert_eq!(me["embedded"], false);
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
        let children: Vec<Child> = (0..3).map(|_| worker(&app, &["--once"]).spawn().unwrap()).collect();
        let mut carried_out = 0;
        for child in children {
            let output = child.wait_with_output().unwrap();
            let log = String::from_utf8_lossy(&output.stderr);
            assert!(output.status.success(), "{log}");
            carried_out += log.matches("carried out release").count();
        }
        assert_eq!(carried_out, scheduled.len(), "each release carried out by exactly one worker");
        for release in &scheduled {
            assert_eq!(status_of(&app, release), "released");
            assert_eq!(count_pushes(&app, release), 3, "each installation pushed once");
        }
        let behind: i64 = app.db(|c| installations::table.filter(installations::release_id.ne_all(&scheduled)).count().get_result(c).unwrap());
        assert_eq!(behind, 0);
    }

    async fn a_worker_killed_mid_release_leaves_it_whole_and_a_restart_finishes_it(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, component) = app.pack_with_component(&acme, "Big").await;
        let first = app.release_now(&acme, &pack).await;
        let group = app.group(&acme, "Everyone").await;
        app.share(&acme, &group, &pack).await;
        let n = 20_000;
        app.db(|c| crate::seed::installations(c, &acme.id, &group, &pack, first["id"].as_str().unwrap(), n, 1));
        app.version(&acme, &component, "2.0").await;
        let release = app.schedule(&acme, &pack, "2026-12-01").await;
        let release = release["id"].as_str().unwrap().to_string();
        make_due(&app);

        let mut child = worker(&app, &["--poll-interval", "0.2"]).spawn().unwrap();
        let lines = log_lines(&mut child);
        wait_for(&lines, "claimed due release", Duration::from_secs(30));
        child.kill().unwrap(); // SIGKILL, in the middle of the release's transaction
        child.wait().unwrap();
        let after_crash = (status_of(&app, &release), count_pushes(&app, &release));
        assert!(
            after_crash == ("scheduled".to_string(), 0) || after_crash == ("released".to_string(), n as i64),
            "a crash leaves the release wholly done or untouched, not {after_crash:?}"
        );

        let output = worker(&app, &["--once"]).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        assert_eq!(status_of(&app, &release), "released");
        assert_eq!(count_pushes(&app, &release), n as i64, "one push per installation");
        let on_it: i64 = app.db(|c| installations::table.filter(installations::release_id.eq(&release)).count().get_result(c).unwrap());
        assert_eq!(on_it, n as i64);
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
    wait_for(&lines, "worker pass failed", Duration::from_secs(30));
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
