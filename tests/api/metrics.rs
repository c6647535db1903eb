//! `GET /metrics` (Prometheus text format) and the logs for machines
//! (`PACKRELEASE_LOG_FORMAT=json`).

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use packrelease::http::metrics::MetricsAt;
use packrelease::worker::{Worker, DUE_RELEASES};
use serde_json::Value;

use crate::helpers::{backend_tests, Backend, TestApp, TestResponse};

const SERVER: &str = env!("CARGO_BIN_EXE_packrelease");

/// Every metric the README lists.
const NAMES: [&str; 18] = [
    "packrelease_http_requests_total",
    "packrelease_http_request_duration_seconds",
    "packrelease_releases",
    "packrelease_releases_carried_out_total",
    "packrelease_release_lateness_seconds",
    "packrelease_releases_due_not_done",
    "packrelease_rollout_waves_due_not_done",
    "packrelease_worker_passes_total",
    "packrelease_worker_errors_total",
    "packrelease_worker_items_total",
    "packrelease_worker_last_pass_timestamp_seconds",
    "packrelease_db_pool_connections",
    "packrelease_db_pool_max_connections",
    "packrelease_database_up",
    "packrelease_webhook_deliveries",
    "packrelease_webhook_queue_depth",
    "packrelease_webhook_oldest_pending_age_seconds",
    "packrelease_sqlite_wal_bytes",
];

/// The samples of a scrape: `name{labels}` to value.
fn samples(response: &TestResponse) -> Vec<(String, f64)> {
    let Value::String(text) = &response.body else { panic!("a text body: {:?}", response.body) };
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a sample line");
            (series.to_string(), value.parse().expect("a number"))
        })
        .collect()
}

fn value(samples: &[(String, f64)], series: &str) -> f64 {
    samples.iter().find(|(s, _)| s == series).map(|(_, v)| *v).unwrap_or_else(|| panic!("no sample {series}"))
}

async fn scrape(app: &TestApp) -> (TestResponse, Vec<(String, f64)>) {
    let response = app.request("GET", "/metrics", None, None).await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    let samples = samples(&response);
    (response, samples)
}

backend_tests! {
    async fn metrics_show_the_schedule_its_lateness_the_workers_and_the_requests_by_route(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, _) = app.pack_with_component(&acme, "Orders").await;
        app.schedule(&acme, &pack, "2026-12-01").await;
        app.get(&format!("/api/v1/integration-packs/{pack}"), &acme.token).await.expect(200);
        app.get("/api/v1/integration-packs/not-a-pack", &acme.token).await.assert_problem(404, "not_found");

        let (response, before) = scrape(&app).await;
        assert_eq!(response.content_type(), "text/plain; version=0.0.4");
        let route = "/api/v1/integration-packs/{id}";
        assert_eq!(value(&before, &format!("packrelease_http_requests_total{{method=\"GET\",route=\"{route}\",status=\"200\"}}")), 1.0);
        assert_eq!(value(&before, &format!("packrelease_http_requests_total{{method=\"GET\",route=\"{route}\",status=\"404\"}}")), 1.0);
        assert_eq!(value(&before, "packrelease_releases{status=\"scheduled\"}"), 1.0);
        assert_eq!(value(&before, "packrelease_releases_due_not_done"), 0.0);
        assert_eq!(value(&before, "packrelease_database_up"), 1.0);

        // Due at 05:00Z; the worker comes 30 s later.
        app.clock.set("2026-12-01T05:00:30Z".parse().unwrap());
        let (_, due) = scrape(&app).await;
        assert_eq!(value(&due, "packrelease_releases_due_not_done"), 1.0);
        let mut worker = Worker::register(app.pool.clone(), Arc::new(app.clock.clone()), Duration::from_secs(1), false).unwrap();
        assert_eq!(worker.pass().done(DUE_RELEASES), 1);

        let (response, after) = scrape(&app).await;
        let Value::String(text) = &response.body else { unreachable!() };
        for name in NAMES {
            let expected = match name {
                "packrelease_sqlite_wal_bytes" => !app.database_url.starts_with("postgres"),
                _ => true,
            };
            let present = text.lines().any(|line| line.starts_with(&format!("# TYPE {name} ")));
            assert_eq!(present, expected, "{name} in\n{text}");
        }
        assert!(!text.contains(&pack) && !text.contains("not-a-pack"), "route templates, never raw paths");
        assert_eq!(value(&after, "packrelease_releases_due_not_done"), 0.0);
        assert_eq!(value(&after, "packrelease_releases{status=\"released\"}"), 1.0);
        assert_eq!(value(&after, "packrelease_releases_carried_out_total{late=\"false\"}"), 1.0);
        assert_eq!(value(&after, "packrelease_releases_carried_out_total{late=\"true\"}"), 0.0);
        assert_eq!(value(&after, "packrelease_release_lateness_seconds_bucket{le=\"10\"}"), 0.0);
        assert_eq!(value(&after, "packrelease_release_lateness_seconds_bucket{le=\"60\"}"), 1.0);
        assert_eq!(value(&after, "packrelease_release_lateness_seconds_sum"), 30.0);
        assert_eq!(value(&after, "packrelease_worker_passes_total{job=\"due_releases\"}"), 1.0);
        assert_eq!(value(&after, "packrelease_worker_items_total{job=\"due_releases\",outcome=\"done\"}"), 1.0);
        assert_eq!(value(&after, "packrelease_worker_errors_total{job=\"due_releases\"}"), 0.0);
        let last_pass = "2026-12-01T05:00:30Z".parse::<chrono::DateTime<chrono::Utc>>().unwrap().timestamp() as f64;
        assert_eq!(value(&after, "packrelease_worker_last_pass_timestamp_seconds{job=\"due_releases\"}"), last_pass);
        assert_eq!(value(&after, "packrelease_webhook_queue_depth"), 0.0);
        assert!(value(&after, "packrelease_db_pool_max_connections") >= 1.0);
        // The scrapes themselves count, under their own template.
        assert_eq!(value(&after, "packrelease_http_requests_total{method=\"GET\",route=\"/metrics\",status=\"200\"}"), 2.0);
    }

    async fn worker_sums_never_go_down_when_housekeeping_removes_a_stopped_worker(app: TestApp) {
        let clock = Arc::new(app.clock.clone());
        let mut first = Worker::register(app.pool.clone(), clock.clone(), Duration::from_secs(1), false).unwrap();
        first.pass();
        first.pass();
        drop(first);
        let passes = |samples: &[(String, f64)]| value(samples, "packrelease_worker_passes_total{job=\"housekeeping\"}");
        let (_, before) = scrape(&app).await;
        assert_eq!(passes(&before), 2.0);
        // Two days later a new worker's housekeeping removes the silent one's rows.
        app.clock.advance(chrono::Duration::days(2));
        let mut second = Worker::register(app.pool.clone(), clock, Duration::from_secs(1), false).unwrap();
        second.pass();
        let workers: i64 = app.db(|conn| {
            use diesel::prelude::*;
            packrelease::schema::worker_heartbeats::table.count().get_result(conn).unwrap()
        });
        assert_eq!(workers, 1, "the first worker's rows are gone");
        let (_, after) = scrape(&app).await;
        assert_eq!(passes(&after), 3.0, "its two passes still count");
    }

    async fn metrics_count_the_delivery_queue_and_its_oldest_delivery(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, _, _, subscribers, _) = app.installed_pack(&acme, 2).await;
        for subscriber in &subscribers {
            let endpoint = serde_json::json!({"url": "http://127.0.0.1:9/hook", "event_types": ["installation.updated"]});
            app.post(&format!("/api/v1/accounts/{}/webhook-endpoints", subscriber.id), &subscriber.token, endpoint).await.expect(201);
        }
        app.release_now(&acme, &pack).await;
        let made = app.db(|conn| packrelease::service::deliveries::make_deliveries(conn, app.clock_now()).unwrap());
        assert_eq!(made, 2);
        app.clock.advance(chrono::Duration::seconds(90));
        let (_, samples) = scrape(&app).await;
        assert_eq!(value(&samples, "packrelease_webhook_queue_depth"), 2.0);
        assert_eq!(value(&samples, "packrelease_webhook_deliveries{status=\"pending\"}"), 2.0);
        assert_eq!(value(&samples, "packrelease_webhook_oldest_pending_age_seconds"), 90.0);
    }
}

#[actix_web::test]
async fn metrics_can_have_an_address_of_their_own_or_be_off() {
    let moved = TestApp::spawn_with(Backend::Sqlite, |config| config.metrics = MetricsAt::Bind("127.0.0.1:0".into()))
        .await
        .unwrap();
    moved.request("GET", "/metrics", None, None).await.assert_problem(404, "not_found");
    let base = moved.metrics_base.clone().expect("a listener of its own");
    let response = moved.get_url(&format!("{base}/metrics")).await;
    assert_eq!(response.status, 200);
    // The API's requests are counted there; nothing else is served there.
    assert!(samples(&response).iter().any(|(series, _)| series.contains("route=\"/metrics\",status=\"404\"")));
    moved.get_url(&format!("{base}/api/v1/integration-packs")).await.assert_problem(404, "not_found");

    let off = TestApp::spawn_with(Backend::Sqlite, |config| config.metrics = MetricsAt::Off).await.unwrap();
    off.request("GET", "/metrics", None, None).await.assert_problem(404, "not_found");
    assert!(off.metrics_base.is_none());
}

/// `serve` with `PACKRELEASE_LOG_FORMAT=json`: every line is one JSON object,
/// and a request's lines carry its id.
#[test]
fn json_logs_are_one_object_per_line_with_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(SERVER)
        .env("PACKRELEASE_DATABASE_URL", dir.path().join("logs.db"))
        .env("PACKRELEASE_BIND", "127.0.0.1:0")
        .env("PACKRELEASE_LOG_FORMAT", "json")
        .env("PACKRELEASE_NO_WORKER", "true")
        .env("PACKRELEASE_ADMIN_TOKEN", "pr_admin_for_the_log_test")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen: Vec<Value> = Vec::new();
    let port = loop {
        let line = lines.next().expect("serve logs that it listens").unwrap();
        let object: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        let message = object["fields"]["message"].as_str().unwrap_or_default().to_string();
        seen.push(object);
        if let Some(rest) = message.strip_prefix("packrelease listening on http://127.0.0.1:") {
            break rest.split_whitespace().next().unwrap().parse::<u16>().unwrap();
        }
    };
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(stream, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: log-test-42\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    for line in lines {
        let line = line.unwrap();
        seen.push(serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")));
    }
    assert!(child.wait().unwrap().success());
    let access = seen
        .iter()
        .find(|line| line["span"]["request_id"] == "log-test-42")
        .unwrap_or_else(|| panic!("a line with the request id in {seen:#?}"));
    assert_eq!(access["fields"]["message"], "request");
    assert_eq!(access["fields"]["status"], 200);
    assert_eq!(access["span"]["path"], "/healthz");
    assert_eq!(access["level"], "INFO");
    assert!(access["timestamp"].is_string());
}
