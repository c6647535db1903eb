//! Delivery under crashes and concurrency: a worker killed mid-send, two
//! workers on one queue, and feed readers while transactions commit out of order.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::helpers::{backend_tests, test_rules, TestApp};
use crate::receiver::{Answer, Receiver};

const WORKER: &str = env!("CARGO_BIN_EXE_packrelease-worker");

/// The worker binary, delivering to 127.0.0.0/8 with a 2 s timeout and a 3 s lease.
fn delivery_worker_process(app: &TestApp) -> std::process::Child {
    Command::new(WORKER)
        .args(["--poll-interval", "0.2"])
        .env("PACKRELEASE_DATABASE_URL", &app.database_url)
        .env("PACKRELEASE_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8")
        .env("PACKRELEASE_WEBHOOK_TIMEOUT", "2")
        .env("PACKRELEASE_WEBHOOK_LEASE", "3")
        .env("PACKRELEASE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the worker")
}

async fn test_send(app: &TestApp, account: &crate::helpers::Actor, endpoint: &serde_json::Value) -> serde_json::Value {
    let path = format!("/api/v1/accounts/{}/webhook-endpoints/{}/test", account.id, endpoint["id"].as_str().unwrap());
    app.post(&path, &account.token, json!({})).await.expect(201)
}

async fn endpoint_of(app: &TestApp, account: &crate::helpers::Actor, url: &str) -> serde_json::Value {
    let path = format!("/api/v1/accounts/{}/webhook-endpoints", account.id);
    app.post(&path, &account.token, json!({"url": url})).await.expect(201)
}

backend_tests! {
    async fn a_worker_killed_while_the_receiver_holds_the_request_is_replaced_and_the_delivery_succeeds(app: TestApp) {
        let receiver = Receiver::start();
        receiver.script([Answer::Hold(Duration::from_secs(30))]);
        let acme = app.publisher("Acme").await;
        let endpoint = endpoint_of(&app, &acme, &receiver.url("/")).await;
        let delivery = test_send(&app, &acme, &endpoint).await;
        let mut first = delivery_worker_process(&app);
        assert_eq!(receiver.wait_for(1).len(), 1, "the first worker sent it");
        first.kill().expect("SIGKILL");
        first.wait().unwrap();
        let mut second = delivery_worker_process(&app);
        let received = receiver.wait_for(2);
        assert_eq!(received.len(), 2, "sent again once the lease lapsed");
        assert_eq!(received[0].webhook_id, received[1].webhook_id, "the same webhook-id");
        assert_eq!(received[1].webhook_id, delivery["event_id"].as_str().unwrap());
        let path = format!("/api/v1/webhook-deliveries/{}", delivery["id"].as_str().unwrap());
        let mut read = app.get(&path, &acme.token).await.expect(200);
        // The second worker records its attempt just after the receiver answers.
        for _ in 0..100 {
            if read["status"] == "succeeded" {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
            read = app.get(&path, &acme.token).await.expect(200);
        }
        second.kill().unwrap();
        second.wait().unwrap();
        assert_eq!(read["status"], "succeeded", "{read}");
        let errors: Vec<&serde_json::Value> = read["attempts"].as_array().unwrap().iter().map(|a| &a["error"]).collect();
        assert_eq!(errors, [&json!("interrupted"), &serde_json::Value::Null]);
    }

    async fn two_workers_never_send_one_delivery_at_once_and_respect_the_per_endpoint_bound(app: TestApp) {
        let receiver = Receiver::start();
        receiver.script(std::iter::repeat_n(Answer::Hold(Duration::from_millis(20)), 60));
        let acme = app.publisher("Acme").await;
        let endpoint = endpoint_of(&app, &acme, &receiver.url("/")).await;
        for _ in 0..60 {
            test_send(&app, &acme, &endpoint).await;
        }
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let mut worker = app.delivery_worker(test_rules());
                std::thread::spawn(move || while worker.deliver() > 0 {})
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        let received = receiver.received();
        let mut ids: Vec<&str> = received.iter().map(|r| r.webhook_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!((received.len(), ids.len()), (60, 60), "each delivery sent exactly once");
        assert!(receiver.most_in_flight() <= 4, "at most 4 at once to one endpoint, not {}", receiver.most_in_flight());
        let listed = app.get(&format!("/api/v1/accounts/{}/webhook-deliveries?status=succeeded&limit=200", acme.id), &acme.token).await.expect(200);
        assert_eq!(listed["items"].as_array().unwrap().len(), 60);
    }

    async fn a_feed_reader_never_skips_an_event_that_commits_after_a_later_one(app: TestApp) {
        use packrelease::domain::event::EventType;
        use packrelease::service::events::Outbox;
        let acme = app.publisher("Acme").await;
        let write = |pool: packrelease::db::DbPool, account: String, label: String, hold: Duration| {
            std::thread::spawn(move || {
                let mut conn = pool.get().unwrap();
                conn.write_transaction::<_, packrelease::error::AppError, _>(|conn| {
                    let mut outbox = Outbox::new(chrono::Utc::now().naive_utc());
                    outbox.record(conn, &account, EventType::WebhookTest, (None, None), label, &json!({}))?;
                    std::thread::sleep(hold);
                    outbox.seal(conn)
                })
                .unwrap();
            })
        };
        // On SQLite writers queue for the one write lock, so the slow one is
        // simply first; on PostgreSQL the quick ones commit while it waits.
        let slow = write(app.pool.clone(), acme.id.clone(), "slow".into(), Duration::from_millis(400));
        std::thread::sleep(Duration::from_millis(50));
        let quick: Vec<_> = (0..10)
            .map(|i| write(app.pool.clone(), acme.id.clone(), format!("quick {i}"), Duration::ZERO))
            .collect();
        let mut seen = Vec::new();
        let mut cursor = "0".to_string();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while seen.len() < 11 && std::time::Instant::now() < deadline {
            let page = app.get(&format!("/api/v1/accounts/{}/events?after={cursor}", acme.id), &acme.token).await.expect(200);
            for item in page["items"].as_array().unwrap() {
                seen.push(item["id"].as_str().unwrap().to_string());
            }
            cursor = page["next_cursor"].as_str().unwrap().to_string();
            std::thread::sleep(Duration::from_millis(5));
        }
        slow.join().unwrap();
        for writer in quick {
            writer.join().unwrap();
        }
        let page = app.get(&format!("/api/v1/accounts/{}/events?after={cursor}", acme.id), &acme.token).await.expect(200);
        seen.extend(page["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_string()));
        let mut unique = seen.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!((seen.len(), unique.len()), (11, 11), "every event once: {seen:?}");
    }
}
