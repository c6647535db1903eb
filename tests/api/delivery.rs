//! Delivery: events in the same transaction as the change, the pull feed,
//! webhook endpoints and who may touch them, and the delivery job end to end
//! against a receiver on 127.0.0.1.

use chrono::Duration;
use diesel::prelude::*;
use packrelease::schema::{event_members, events, webhook_deliveries};
use serde_json::{json, Value};

use crate::helpers::{backend_tests, running, test_rules, Actor, TestApp};
use crate::receiver::{Answer, Receiver};

fn feed_path(account: &Actor) -> String {
    format!("/api/v1/accounts/{}/events", account.id)
}

/// Every event of the account's feed, paging with the cursor; and the last cursor.
async fn whole_feed(app: &TestApp, reader: &str, account: &Actor) -> (Vec<Value>, String) {
    let mut items = Vec::new();
    let mut cursor = String::new();
    loop {
        let path = format!("{}?limit=2&after={cursor}", feed_path(account));
        let page = app.get(&path, reader).await.expect(200);
        let got = page["items"].as_array().unwrap().clone();
        cursor = page["next_cursor"].as_str().expect("next_cursor is always given").to_string();
        if got.is_empty() {
            return (items, cursor);
        }
        items.extend(got);
    }
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

fn count_events(app: &TestApp) -> i64 {
    app.db(|c| {
        events::table.count().get_result::<i64>(c).unwrap() + event_members::table.count().get_result::<i64>(c).unwrap()
    })
}

async fn endpoint(app: &TestApp, account: &Actor, url: &str, event_types: Option<Value>) -> Value {
    let mut body = json!({"url": url, "description": "ours"});
    if let Some(types) = event_types {
        body["event_types"] = types;
    }
    app.post(&format!("/api/v1/accounts/{}/webhook-endpoints", account.id), &account.token, body).await.expect(201)
}

/// What the delivery job does first: the deliveries of events committed since.
fn make_deliveries(app: &TestApp) -> usize {
    app.db(|c| packrelease::service::deliveries::make_deliveries(c, app.clock_now()).unwrap())
}

async fn has_pending_update(app: &TestApp, subscriber: &Actor, installation_path: &str) -> bool {
    app.get(installation_path, &subscriber.token).await.expect(200)["pending_update"].is_object()
}

fn deliveries_of(app: &TestApp, status: &str) -> i64 {
    app.db(|c| webhook_deliveries::table.filter(webhook_deliveries::status.eq(status)).count().get_result(c).unwrap())
}

backend_tests! {
    async fn releases_raise_events_for_publishers_and_each_installation_in_commit_order(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, _component, _group, subscribers, installations) = app.installed_pack(&acme, 2).await;
        let release = app.schedule(&acme, &pack, "2026-12-10").await;
        let id = release["id"].as_str().unwrap();
        let rescheduled = json!({"release_on": "2026-12-11"});
        app.patch(&format!("/api/v1/releases/{id}"), &acme.token, rescheduled).await.expect(200);
        app.post(&format!("/api/v1/releases/{id}/cancel"), &acme.token, json!({})).await.expect(200);
        app.release_now(&acme, &pack).await;

        let (subscriber_events, _) = whole_feed(&app, &subscribers[0].token, &subscribers[0]).await;
        assert_eq!(
            types(&subscriber_events),
            ["installation.update_scheduled", "installation.update_scheduled", "installation.update_canceled", "installation.updated"]
        );
        let updated = &subscriber_events[3];
        assert_eq!(updated["data"]["installation_id"], installations[0]["id"]);
        assert_eq!(updated["data"]["account_id"], json!(subscribers[0].id));
        assert_eq!(updated["data"]["outcome"], "applied");
        assert_eq!(updated["data"]["versions"][0]["version"], "1.1");
        assert_eq!(updated["data"]["previous_versions"][0]["version"], "1.0");
        assert_eq!(subscriber_events[0]["data"]["due_at"], "2026-12-10T05:00:00Z");
        assert_eq!(subscriber_events[1]["data"]["due_at"], "2026-12-11T05:00:00Z", "a reschedule is a new fact");
        assert_ne!(subscriber_events[0]["id"], subscriber_events[1]["id"]);
        assert!(subscriber_events.iter().all(|e| e["id"].as_str().unwrap().starts_with("evt_")));

        let (publisher_events, _) = whole_feed(&app, &acme.token, &acme).await;
        let publisher_types = types(&publisher_events);
        assert_eq!(publisher_types.iter().filter(|t| **t == "release.released").count(), 2, "{publisher_types:?}");
        assert!(publisher_types.ends_with(&["release.scheduled", "release.scheduled", "release.canceled", "release.released"]));
        assert_eq!(publisher_events.last().unwrap()["data"]["installations_applied"], 2);
        assert!(publisher_types.iter().all(|t| t.starts_with("release.")), "installation events go to subscribers only");

        // The publisher reads its subscribers' feeds; nobody else reads another's.
        app.get(&feed_path(&subscribers[0]), &acme.token).await.expect(200);
        app.get(&feed_path(&acme), &subscribers[0].token).await.assert_problem(404, "not_found");
        app.get(&feed_path(&subscribers[1]), &subscribers[0].token).await.assert_problem(404, "not_found");
        let other = app.publisher("Other").await;
        app.get(&feed_path(&subscribers[0]), &other.token).await.assert_problem(404, "not_found");
        // Filter by type; a bad cursor is a 422.
        let path = format!("{}?type=installation.updated", feed_path(&subscribers[0]));
        assert_eq!(app.get(&path, &subscribers[0].token).await.expect(200)["items"].as_array().unwrap().len(), 1);
        let bad = format!("{}?after=12-nonsense", feed_path(&subscribers[0]));
        app.get(&bad, &subscribers[0].token).await.assert_problem(422, "validation_failed");
    }

    async fn the_feed_pages_one_by_one_through_member_events_and_events_written_alone(app: TestApp) {
        // Three installations of one account: a schedule tells them as members of
        // one group; an installation made while it is scheduled is told on its
        // own; its cancel and the release after it tell all four as members.
        // Paged one at a time, each comes once, in commit and id order.
        let acme = app.publisher("Acme").await;
        let (pack, component, group) = app.shared_multiple_pack(&acme).await;
        let subscriber = app.subscriber(&acme, "Customer").await;
        app.join(&acme, &group, &subscriber).await;
        let path = format!("/api/v1/accounts/{}/installations", subscriber.id);
        for name in ["a", "b", "c"] {
            let body = json!({"integration_pack_id": pack, "override_name": name});
            app.post(&path, &subscriber.token, body).await.expect(201);
        }
        app.version(&acme, &component, "1.1").await;
        let scheduled = app.schedule(&acme, &pack, "2026-12-10").await;
        let body = json!({"integration_pack_id": pack, "override_name": "d"});
        app.post(&path, &subscriber.token, body).await.expect(201);
        let cancel = format!("/api/v1/releases/{}/cancel", scheduled["id"].as_str().unwrap());
        app.post(&cancel, &acme.token, json!({})).await.expect(200);
        app.release_now(&acme, &pack).await;

        let mut items = Vec::new();
        let mut cursor = "0".to_string();
        loop {
            let page = format!("{}?limit=1&after={cursor}", feed_path(&subscriber));
            let page = app.get(&page, &subscriber.token).await.expect(200);
            let got = page["items"].as_array().unwrap().clone();
            cursor = page["next_cursor"].as_str().unwrap().to_string();
            if got.is_empty() {
                break;
            }
            assert_eq!(got.len(), 1);
            items.extend(got);
        }
        let (all, _) = whole_feed(&app, &subscriber.token, &subscriber).await;
        assert_eq!(items, all, "pages of one and pages of two list the same events");
        let kinds = types(&items);
        assert_eq!(
            kinds,
            [["installation.update_scheduled"; 4], ["installation.update_canceled"; 4], ["installation.updated"; 4]].concat()
        );
        let ids: Vec<&str> = items.iter().map(|e| e["id"].as_str().unwrap()).collect();
        let unique: std::collections::HashSet<&&str> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "{ids:?}");
        assert!(ids.iter().all(|id| id.len() == 36 && id[4..].bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())));
        // The last release's events, one per installation, in id order.
        let updated: Vec<&Value> = items.iter().filter(|e| e["type"] == "installation.updated").collect();
        let mut told: Vec<&str> = updated.iter().map(|e| e["data"]["installation_id"].as_str().unwrap()).collect();
        told.sort_unstable();
        told.dedup();
        assert_eq!(told.len(), 4);
        let updated_ids: Vec<&str> = updated.iter().map(|e| e["id"].as_str().unwrap()).collect();
        assert!(updated_ids.windows(2).all(|w| w[0] < w[1]), "{updated_ids:?}");
        // Filtered by type, the same events of that type.
        let page = format!("{}?type=installation.updated&limit=3&after=0", feed_path(&subscriber));
        let first = app.get(&page, &subscriber.token).await.expect(200);
        assert_eq!(first["items"].as_array().unwrap().iter().collect::<Vec<_>>(), updated[..3]);
    }

    async fn the_feed_always_returns_a_cursor_to_poll_with(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, _, _, subscribers, _) = app.installed_pack(&acme, 1).await;
        let subscriber = &subscribers[0];
        let (events, cursor) = whole_feed(&app, &subscriber.token, subscriber).await;
        assert!(events.is_empty());
        assert_eq!(cursor, "0");
        app.release_now(&acme, &pack).await;
        let page = app.get(&format!("{}?after={cursor}", feed_path(subscriber)), &subscriber.token).await.expect(200);
        assert_eq!(types(page["items"].as_array().unwrap()), ["installation.updated"]);
        let next = page["next_cursor"].as_str().unwrap().to_string();
        let again = app.get(&format!("{}?after={next}", feed_path(subscriber)), &subscriber.token).await.expect(200);
        assert_eq!(again["items"], json!([]));
        assert_eq!(again["next_cursor"], json!(next), "an empty page hands back the same cursor");
    }

    async fn a_release_that_is_rolled_back_leaves_no_events_and_a_rerun_writes_none(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, component, _, _, _) = app.installed_pack(&acme, 2).await;
        let draft = app.draft(&acme, &pack).await;
        let before = count_events(&app);
        // The selected version goes away before the release: it fails and is undone.
        app.version(&acme, &component, "1.2").await;
        let path = format!("/api/v1/release-drafts/{}", draft["id"].as_str().unwrap());
        app.patch(&path, &acme.token, json!({"items": [{"component_id": component, "version": "1.2"}]})).await.expect(200);
        app.delete(&format!("/api/v1/components/{component}/versions/1.2"), &acme.token).await.expect(204);
        app.release(&acme, &draft, json!({"schedule": "immediately"})).await.assert_problem(409, "draft_stale");
        assert_eq!(count_events(&app), before, "a rolled-back release leaves no event");

        app.schedule(&acme, &pack, "2026-12-10").await;
        app.execute_due("2026-12-10T05:00:00Z");
        let after = count_events(&app);
        assert_eq!(app.execute_due("2026-12-10T06:00:00Z").len(), 0);
        assert_eq!(count_events(&app), after, "running the job again writes no second event");
    }

    async fn endpoints_are_registered_with_a_secret_shown_once_and_managed_by_their_account(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let subscriber = app.subscriber(&acme, "Customer").await;
        let base = format!("/api/v1/accounts/{}/webhook-endpoints", subscriber.id);
        let created = app.post(&base, &subscriber.token, json!({"url": "http://127.0.0.1:9/hooks"})).await;
        assert_eq!(created.status, 201, "{}", created.body);
        assert_eq!(created.header("cache-control").as_deref(), Some("no-store"));
        let id = created.body["id"].as_str().unwrap().to_string();
        assert_eq!(created.header("location").unwrap(), format!("{base}/{id}"));
        assert!(created.body["secret"].as_str().unwrap().starts_with("whsec_"));
        assert_eq!(
            created.body["event_types"],
            json!(["installation.update_scheduled", "installation.update_canceled", "installation.updated"])
        );
        let read = app.get(&format!("{base}/{id}"), &subscriber.token).await.expect(200);
        assert!(read.get("secret").is_none(), "never shown again");
        let listed = app.get(&base, &acme.token).await.expect(200);
        assert_eq!(listed["items"][0]["id"], json!(id), "the publisher sees its subscriber's endpoints");
        assert!(listed["items"][0].get("secret").is_none());

        // Only the account itself changes them.
        app.patch(&format!("{base}/{id}"), &acme.token, json!({"enabled": false})).await.assert_problem(403, "forbidden");
        app.post(&format!("{base}/{id}/rotate-secret"), &acme.token, json!({})).await.assert_problem(403, "forbidden");
        app.post(&base, &acme.token, json!({"url": "http://127.0.0.1:9/"})).await.assert_problem(403, "forbidden");
        let stranger = app.publisher("Stranger").await;
        app.get(&format!("{base}/{id}"), &stranger.token).await.assert_problem(404, "not_found");

        let changed = app
            .patch(&format!("{base}/{id}"), &subscriber.token, json!({"event_types": ["installation.updated"], "description": "prod"}))
            .await
            .expect(200);
        assert_eq!(changed["event_types"], json!(["installation.updated"]));
        assert_eq!(changed["description"], "prod");
        let rotated = app.post(&format!("{base}/{id}/rotate-secret"), &subscriber.token, json!({})).await;
        assert_eq!(rotated.status, 200);
        assert_eq!(rotated.header("cache-control").as_deref(), Some("no-store"));
        assert_ne!(rotated.body["secret"], created.body["secret"]);
        assert_eq!(rotated.body["endpoint"]["previous_secret_expires_at"], "2026-11-26T12:00:00Z");

        app.delete(&format!("{base}/{id}"), &subscriber.token).await.expect(204);
        app.get(&format!("{base}/{id}"), &subscriber.token).await.assert_problem(404, "not_found");
    }

    async fn endpoint_urls_and_event_types_break_clear_rules(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let subscriber = app.subscriber(&acme, "Customer").await;
        let base = format!("/api/v1/accounts/{}/webhook-endpoints", subscriber.id);
        for (url, code) in [
            ("http://10.0.0.1/hooks", "address_not_allowed"),
            ("https://hooks.example.com/", "host_not_allowed"),
            ("ftp://127.0.0.1/", "scheme_not_allowed"),
            ("not a url", "url_invalid"),
            ("http://user:pw@127.0.0.1/", "url_invalid"),
        ] {
            let refused = app.post(&base, &subscriber.token, json!({"url": url})).await;
            refused.assert_problem(422, "validation_failed");
            assert_eq!(refused.body["errors"][0]["field"], "url", "{url}");
            assert_eq!(refused.body["errors"][0]["code"], code, "{url}: {}", refused.body);
        }
        let other_side = app.post(&base, &subscriber.token, json!({"url": "http://127.0.0.1:9/", "event_types": ["release.released", "nope"]})).await;
        other_side.assert_problem(422, "validation_failed");
        assert_eq!(other_side.error_fields(), ["event_types[0]", "event_types[1]"]);
        let publisher_side = format!("/api/v1/accounts/{}/webhook-endpoints", acme.id);
        let created = app.post(&publisher_side, &acme.token, json!({"url": "http://localhost:9/"})).await.expect(201);
        assert_eq!(created["event_types"].as_array().unwrap().len(), 8, "a publisher's side: release.*");
        // A secret is never stored to be replayed.
        let keyed = app.post_with_key(&publisher_side, &acme.token, "k1", json!({"url": "http://localhost:9/a"})).await;
        let again = app.post_with_key(&publisher_side, &acme.token, "k1", json!({"url": "http://localhost:9/a"})).await;
        assert_eq!((keyed.status, again.status), (201, 201));
        assert_ne!(keyed.body["id"], again.body["id"]);
        assert!(again.header("idempotent-replayed").is_none());
    }

    async fn a_release_reaches_the_subscribers_receiver_signed_and_exactly_as_the_feed_shows_it(app: TestApp) {
        let receiver = Receiver::start();
        let acme = app.publisher("Acme").await;
        let (pack, _, _, subscribers, _) = app.installed_pack(&acme, 2).await;
        let hook = endpoint(&app, &subscribers[0], &receiver.url("/hooks"), None).await;
        let secret = hook["secret"].as_str().unwrap().to_string();
        let release = app.release_now(&acme, &pack).await;
        let none = json!({"pending": 0, "succeeded": 0, "failed": 0, "canceled": 0});
        assert_eq!(release["delivery_counts"], none, "the delivery job makes them once the release has committed");

        let mut worker = app.delivery_worker(test_rules());
        assert_eq!(worker.deliver(), 1);
        let received = receiver.received();
        assert_eq!(received.len(), 1, "one installation of that account, one delivery");
        let got = &received[0];
        assert_eq!(got.path, "/hooks");
        assert!(got.signed_by(&secret), "signed with the endpoint's secret");
        let (feed, _) = whole_feed(&app, &subscribers[0].token, &subscribers[0]).await;
        assert_eq!(got.json(), feed[0], "the body is the event as the feed shows it");
        assert_eq!(got.webhook_id, feed[0]["id"].as_str().unwrap());
        assert_eq!(got.timestamp, app.clock_now().timestamp().to_string());

        let id = release["id"].as_str().unwrap();
        let read = app.get(&format!("/api/v1/releases/{id}"), &acme.token).await.expect(200);
        assert_eq!(read["delivery_counts"], json!({"pending": 0, "succeeded": 1, "failed": 0, "canceled": 0}));
        let deliveries = app.get(&format!("/api/v1/releases/{id}/deliveries"), &acme.token).await.expect(200);
        let delivery = &deliveries["items"][0];
        assert_eq!(delivery["status"], "succeeded");
        assert_eq!(delivery["event_id"], feed[0]["id"]);
        assert_eq!(delivery["attempts"][0]["status_code"], 200);
        assert_eq!(delivery["attempts"][0]["response_excerpt"], "answered");
        let path = format!("/api/v1/webhook-deliveries/{}", delivery["id"].as_str().unwrap());
        app.get(&path, &subscribers[0].token).await.expect(200);
        app.get(&path, &subscribers[1].token).await.assert_problem(404, "not_found");
        let listed = format!("/api/v1/accounts/{}/webhook-deliveries?status=succeeded", subscribers[0].id);
        assert_eq!(app.get(&listed, &subscribers[0].token).await.expect(200)["items"].as_array().unwrap().len(), 1);
    }

    async fn a_receiver_that_fails_twice_sees_three_attempts_of_one_id_freshly_signed(app: TestApp) {
        let receiver = Receiver::start();
        receiver.script([Answer::Status(500), Answer::Status(500)]);
        let acme = app.publisher("Acme").await;
        let (pack, _, _, subscribers, _) = app.installed_pack(&acme, 1).await;
        let secret = endpoint(&app, &subscribers[0], &receiver.url("/"), None).await["secret"].as_str().unwrap().to_string();
        app.release_now(&acme, &pack).await;
        let mut worker = app.delivery_worker(test_rules());
        assert_eq!(worker.deliver(), 1);
        assert_eq!(worker.deliver(), 0, "the retry waits for its time");
        app.clock.advance(Duration::seconds(1));
        assert_eq!(worker.deliver(), 1);
        app.clock.advance(Duration::seconds(1));
        assert_eq!(worker.deliver(), 1);
        let received = receiver.received();
        assert_eq!(received.len(), 3);
        assert!(received.iter().all(|r| r.webhook_id == received[0].webhook_id), "one webhook-id");
        assert!(received.iter().all(|r| r.signed_by(&secret)));
        let stamps: Vec<&str> = received.iter().map(|r| r.timestamp.as_str()).collect();
        assert!(stamps[0] < stamps[1] && stamps[1] < stamps[2], "fresh timestamps: {stamps:?}");
        let deliveries = app.get(&format!("/api/v1/accounts/{}/webhook-deliveries", subscribers[0].id), &subscribers[0].token).await.expect(200);
        let delivery = &deliveries["items"][0];
        assert_eq!(delivery["status"], "succeeded");
        let codes: Vec<&Value> = delivery["attempts"].as_array().unwrap().iter().map(|a| &a["status_code"]).collect();
        assert_eq!(codes, [&json!(500), &json!(500), &json!(200)]);
        assert_eq!(delivery["attempts"][0]["error"], "http_status");
    }

    async fn a_spent_schedule_fails_the_delivery_and_the_publisher_requeues_it(app: TestApp) {
        let receiver = Receiver::start();
        receiver.script(std::iter::repeat_n(Answer::Status(503), 4));
        let acme = app.publisher("Acme").await;
        let (pack, _, _, subscribers, _) = app.installed_pack(&acme, 1).await;
        endpoint(&app, &subscribers[0], &receiver.url("/"), None).await;
        let release = app.release_now(&acme, &pack).await;
        let id = release["id"].as_str().unwrap();
        let mut worker = app.delivery_worker(test_rules());
        for _ in 0..4 {
            worker.deliver();
            app.clock.advance(Duration::seconds(2));
        }
        assert_eq!(receiver.received().len(), 4, "one attempt and three retries");
        let failed = app.get(&format!("/api/v1/releases/{id}/deliveries?status=failed"), &acme.token).await.expect(200);
        assert_eq!(failed["items"].as_array().unwrap().len(), 1);
        assert_eq!(failed["items"][0]["next_attempt_at"], Value::Null);
        assert_eq!(app.get(&format!("/api/v1/releases/{id}"), &acme.token).await.expect(200)["delivery_counts"]["failed"], 1);
        // Subscribers may not requeue a release's; its publisher may.
        app.post(&format!("/api/v1/releases/{id}/redeliver-failed"), &subscribers[0].token, json!({})).await.assert_problem(404, "not_found");
        let requeued = app.post(&format!("/api/v1/releases/{id}/redeliver-failed"), &acme.token, json!({})).await.expect(200);
        assert_eq!(requeued["requeued"], 1);
        worker.deliver();
        let received = receiver.received();
        assert_eq!(received.len(), 5);
        assert_eq!(received[4].webhook_id, received[0].webhook_id, "a redelivery keeps the webhook-id");
        assert_eq!(deliveries_of(&app, "succeeded"), 1);
        let one = &app.get(&format!("/api/v1/releases/{id}/deliveries"), &acme.token).await.expect(200)["items"][0];
        assert_eq!(one["attempts"].as_array().unwrap().len(), 5);
        // One delivery again, by the subscriber whose endpoint it is.
        let path = format!("/api/v1/webhook-deliveries/{}/redeliver", one["id"].as_str().unwrap());
        assert_eq!(app.post(&path, &subscribers[0].token, json!({})).await.expect(200)["status"], "pending");
        app.post(&path, &subscribers[0].token, json!({})).await.assert_problem(409, "delivery_pending");
        worker.deliver();
        assert_eq!(receiver.received().len(), 6);
    }

    async fn retry_after_is_honoured_and_a_410_disables_the_endpoint(app: TestApp) {
        let receiver = Receiver::start();
        receiver.script([Answer::RetryAfter(503, 120), Answer::Status(410)]);
        let acme = app.publisher("Acme").await;
        let (pack, component, _, subscribers, _) = app.installed_pack(&acme, 1).await;
        let hook = endpoint(&app, &subscribers[0], &receiver.url("/"), None).await;
        app.release_now(&acme, &pack).await;
        let mut worker = app.delivery_worker(test_rules());
        worker.deliver();
        app.clock.advance(Duration::seconds(60));
        assert_eq!(worker.deliver(), 0, "Retry-After: 120 outweighs the schedule's 1 s");
        app.clock.advance(Duration::seconds(61));
        assert_eq!(worker.deliver(), 1);
        let path = format!("/api/v1/accounts/{}/webhook-endpoints/{}", subscribers[0].id, hook["id"].as_str().unwrap());
        let read = app.get(&path, &subscribers[0].token).await.expect(200);
        assert_eq!((read["enabled"].clone(), read["disabled_reason"].clone()), (json!(false), json!("gone")));
        assert_eq!(deliveries_of(&app, "failed"), 1);
        // A disabled endpoint gets no new deliveries.
        app.version(&acme, &component, "1.2").await;
        app.release_now(&acme, &pack).await;
        assert_eq!(app.db(|c| webhook_deliveries::table.count().get_result::<i64>(c).unwrap()), 1);
    }

    async fn disabling_an_endpoint_cancels_its_pending_deliveries(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, _, _, subscribers, _) = app.installed_pack(&acme, 1).await;
        let hook = endpoint(&app, &subscribers[0], "http://127.0.0.1:9/", None).await;
        app.release_now(&acme, &pack).await;
        make_deliveries(&app);
        assert_eq!(deliveries_of(&app, "pending"), 1);
        let path = format!("/api/v1/accounts/{}/webhook-endpoints/{}", subscribers[0].id, hook["id"].as_str().unwrap());
        let off = app.patch(&path, &subscribers[0].token, json!({"enabled": false})).await.expect(200);
        assert_eq!(off["disabled_reason"], "by_request");
        assert_eq!((deliveries_of(&app, "pending"), deliveries_of(&app, "canceled")), (0, 1));
        app.post(&format!("{path}/test"), &subscribers[0].token, json!({})).await.assert_problem(409, "endpoint_disabled");
        let on = app.patch(&path, &subscribers[0].token, json!({"enabled": true})).await.expect(200);
        assert_eq!(on["disabled_reason"], Value::Null);
    }

    async fn an_endpoint_failing_for_the_configured_time_is_disabled(app: TestApp) {
        let receiver = Receiver::start();
        receiver.script(std::iter::repeat_n(Answer::Status(500), 10));
        let acme = app.publisher("Acme").await;
        let subscriber = app.subscriber(&acme, "Customer").await;
        let hook = endpoint(&app, &subscriber, &receiver.url("/"), None).await;
        let path = format!("/api/v1/accounts/{}/webhook-endpoints/{}", subscriber.id, hook["id"].as_str().unwrap());
        let mut rules = test_rules();
        rules.disable_after = Duration::hours(1);
        rules.schedule = "1h,1h,1h".parse().unwrap();
        let mut worker = app.delivery_worker(rules);
        app.post(&format!("{path}/test"), &subscriber.token, json!({})).await.expect(201);
        worker.deliver();
        assert!(app.get(&path, &subscriber.token).await.expect(200)["failing_since"].is_string());
        app.clock.advance(Duration::hours(1));
        worker.deliver();
        let read = app.get(&path, &subscriber.token).await.expect(200);
        assert_eq!((read["enabled"].clone(), read["disabled_reason"].clone()), (json!(false), json!("failing")));
        assert_eq!(deliveries_of(&app, "canceled"), 1, "its retry was canceled");
    }

    async fn a_test_send_reaches_the_endpoint_and_a_blocked_address_is_an_attempt_that_failed(app: TestApp) {
        let receiver = Receiver::start();
        let acme = app.publisher("Acme").await;
        let hook = endpoint(&app, &acme, &receiver.url("/p"), None).await;
        let path = format!("/api/v1/accounts/{}/webhook-endpoints/{}/test", acme.id, hook["id"].as_str().unwrap());
        let sent = app.post(&path, &acme.token, json!({})).await;
        assert_eq!(sent.status, 201, "{}", sent.body);
        assert_eq!(sent.body["event_type"], "webhook.test");
        let delivery = sent.header("location").unwrap();
        app.delivery_worker(test_rules()).deliver();
        assert_eq!(receiver.received()[0].json()["type"], "webhook.test");
        assert_eq!(app.get(&delivery, &acme.token).await.expect(200)["status"], "succeeded");

        // The worker refuses at connect time what its own allowlist does not hold.
        app.post(&path, &acme.token, json!({})).await.expect(201);
        app.delivery_worker_to("10.0.0.0/8", test_rules()).deliver();
        assert_eq!(receiver.received().len(), 1, "nothing was sent");
        let listed = app.get(&format!("/api/v1/accounts/{}/webhook-deliveries?status=pending", acme.id), &acme.token).await.expect(200);
        assert_eq!(listed["items"][0]["attempts"][0]["error"], "blocked");
    }

    async fn a_worker_that_dies_mid_send_leaves_the_delivery_to_be_sent_again_under_the_same_id(app: TestApp) {
        let receiver = Receiver::start();
        let acme = app.publisher("Acme").await;
        let hook = endpoint(&app, &acme, &receiver.url("/"), None).await;
        let path = format!("/api/v1/accounts/{}/webhook-endpoints/{}/test", acme.id, hook["id"].as_str().unwrap());
        let delivery = app.post(&path, &acme.token, json!({})).await.expect(201);
        // A worker claims it and dies before recording anything.
        let claimed = app.db(|c| packrelease::service::deliveries::claim_due(c, app.clock_now(), &test_rules(), 32).unwrap());
        assert_eq!(claimed.len(), 1);
        let mut worker = app.delivery_worker(test_rules());
        assert_eq!(worker.deliver(), 0, "the lease holds it");
        app.clock.advance(Duration::seconds(61));
        assert_eq!(worker.deliver(), 1, "the lease lapsed");
        assert_eq!(receiver.received()[0].webhook_id, delivery["event_id"].as_str().unwrap());
        let read = app.get(&format!("/api/v1/webhook-deliveries/{}", delivery["id"].as_str().unwrap()), &acme.token).await.expect(200);
        assert_eq!(read["status"], "succeeded");
        let errors: Vec<&Value> = read["attempts"].as_array().unwrap().iter().map(|a| &a["error"]).collect();
        assert_eq!(errors, [&json!("interrupted"), &Value::Null]);
        // The dead worker's late outcome changes nothing.
        let attempt = packrelease::delivery::Attempt { status_code: Some(500), duration_ms: 1, error: None, response_excerpt: String::new(), retry_after: None };
        let recorded = app.db(|c| packrelease::service::deliveries::record_attempts(c, app.clock_now(), &test_rules(), &[(claimed.into_iter().next().unwrap(), attempt)]).unwrap());
        assert_eq!(recorded.stale, 1);
        assert_eq!(app.get(&format!("/api/v1/webhook-deliveries/{}", delivery["id"].as_str().unwrap()), &acme.token).await.expect(200)["status"], "succeeded");
    }

    async fn housekeeping_removes_events_and_deliveries_past_retention(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, _, _, subscribers, _) = app.installed_pack(&acme, 1).await;
        let hook = endpoint(&app, &subscribers[0], "http://127.0.0.1:9/", None).await;
        app.release_now(&acme, &pack).await;
        let path = format!("/api/v1/accounts/{}/webhook-endpoints/{}", subscribers[0].id, hook["id"].as_str().unwrap());
        app.patch(&path, &subscribers[0].token, json!({"enabled": false})).await.expect(200);
        assert!(count_events(&app) > 0);
        app.clock.advance(Duration::days(29));
        app.delivery_worker(test_rules()).worker.pass();
        assert!(count_events(&app) > 0, "kept 30 days");
        app.clock.advance(Duration::days(2));
        app.delivery_worker(test_rules()).worker.pass();
        assert_eq!(count_events(&app), 0);
        assert_eq!(app.db(|c| webhook_deliveries::table.count().get_result::<i64>(c).unwrap()), 0);
        let (feed, _) = whole_feed(&app, &subscribers[0].token, &subscribers[0]).await;
        assert!(feed.is_empty());
    }

    async fn applying_early_tells_the_subscriber_once(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, _, _, subscribers, installations) = app.installed_pack(&acme, 1).await;
        app.schedule(&acme, &pack, "2026-12-10").await;
        let path = format!("/api/v1/accounts/{}/installations/{}/apply-update", subscribers[0].id, installations[0]["id"].as_str().unwrap());
        let applied = app.post(&path, &subscribers[0].token, json!({})).await.expect(200);
        assert_eq!(running(&applied), "1.1");
        app.execute_due("2026-12-10T05:00:00Z");
        let (feed, _) = whole_feed(&app, &subscribers[0].token, &subscribers[0]).await;
        assert_eq!(types(&feed), ["installation.update_scheduled", "installation.updated"], "the release does not tell it twice");
        assert_eq!(feed[1]["data"]["outcome"], "applied_early");
    }

    async fn a_delivery_whose_event_went_with_retention_fails_instead_of_waiting_forever(app: TestApp) {
        let receiver = Receiver::start();
        let acme = app.publisher("Acme").await;
        let hook = endpoint(&app, &acme, &receiver.url("/"), None).await;
        let path = format!("/api/v1/accounts/{}/webhook-endpoints/{}/test", acme.id, hook["id"].as_str().unwrap());
        let delivery = app.post(&path, &acme.token, json!({})).await.expect(201);
        let mut worker = app.delivery_worker(test_rules());
        worker.deliver();
        app.clock.advance(Duration::days(29));
        let redeliver = format!("/api/v1/webhook-deliveries/{}/redeliver", delivery["id"].as_str().unwrap());
        app.post(&redeliver, &acme.token, json!({})).await.expect(200);
        app.clock.advance(Duration::days(2));
        // Housekeeping takes the event; the pending delivery stays, and is failed when claimed.
        worker.deliver();
        assert_eq!(receiver.received().len(), 1);
        let read = app.get(&format!("/api/v1/webhook-deliveries/{}", delivery["id"].as_str().unwrap()), &acme.token).await.expect(200);
        assert_eq!(read["status"], "failed");
        assert_eq!(read["next_attempt_at"], Value::Null);
    }

    async fn an_installation_made_while_a_release_is_scheduled_hears_of_its_pending_update(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, _, group, _, _) = app.installed_pack(&acme, 1).await;
        app.schedule(&acme, &pack, "2026-12-10").await;
        let late = app.subscriber(&acme, "Late customer").await;
        app.join(&acme, &group, &late).await;
        let installation = app.install(&late, &pack).await;
        assert!(installation["pending_update"].is_object());
        let (feed, _) = whole_feed(&app, &late.token, &late).await;
        assert_eq!(types(&feed), ["installation.update_scheduled"]);
        assert_eq!(feed[0]["data"]["installation_id"], installation["id"]);
        assert_eq!(feed[0]["data"]["due_at"], "2026-12-10T05:00:00Z");
    }

    async fn a_subscription_that_starts_or_ends_while_a_release_is_scheduled_tells_the_installations(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, _, first, subscribers, installations) = app.installed_pack(&acme, 1).await;
        let (customer, installation) = (&subscribers[0], &installations[0]);
        let bystander = app.subscriber(&acme, "Not installed").await;
        app.join(&acme, &first, &bystander).await;
        app.schedule(&acme, &pack, "2026-12-10").await;
        let path = format!("/api/v1/accounts/{}/installations/{}", customer.id, installation["id"].as_str().unwrap());
        let first_members = format!("/api/v1/account-groups/{first}/members");
        let second = app.group(&acme, "Early adopters").await;

        // The customer leaves its only group: the update will not reach it,
        // and this process's worker is woken to deliver that at once.
        let no_wait = std::time::Duration::ZERO;
        app.doorbell.wait(no_wait);
        app.delete(&format!("{first_members}/{}", customer.id), &acme.token).await.expect(204);
        assert!(!has_pending_update(&app, customer, &path).await);
        assert_eq!(app.doorbell.wait(no_wait), packrelease::worker::Wake::Rung(vec![packrelease::worker::DELIVERIES]));
        // It comes back, then also joins a second group that has the pack too.
        app.join(&acme, &first, customer).await;
        app.share(&acme, &second, &pack).await;
        app.join(&acme, &second, customer).await;
        // Leaving one of its two groups, or the pack leaving one, changes nothing.
        app.delete(&format!("{first_members}/{}", customer.id), &acme.token).await.expect(204);
        app.delete(&format!("/api/v1/account-groups/{first}/integration-packs/{pack}"), &acme.token).await.expect(204);
        assert!(has_pending_update(&app, customer, &path).await);
        // The last group that gives it the pack goes; the pack comes back to the first group.
        app.delete(&format!("/api/v1/account-groups/{second}"), &acme.token).await.expect(204);
        assert!(!has_pending_update(&app, customer, &path).await);
        app.join(&acme, &first, customer).await;
        app.share(&acme, &first, &pack).await;
        assert!(has_pending_update(&app, customer, &path).await);

        let (feed, _) = whole_feed(&app, &customer.token, customer).await;
        assert_eq!(
            types(&feed),
            [
                "installation.update_scheduled",
                "installation.update_canceled",
                "installation.update_scheduled",
                "installation.update_canceled",
                "installation.update_scheduled",
            ]
        );
        let reasons: Vec<&Value> = feed.iter().map(|e| &e["data"]["reason"]).collect();
        assert_eq!(reasons, [&Value::Null, &json!("unsubscribed"), &json!("subscribed"), &json!("unsubscribed"), &json!("subscribed")]);
        for event in &feed {
            assert_eq!(event["data"]["installation_id"], installation["id"]);
            assert_eq!(event["data"]["due_at"], "2026-12-10T05:00:00Z");
            assert_eq!(event["data"]["previous_versions"][0]["version"], "1.0");
        }
        let ids: std::collections::HashSet<&Value> = feed.iter().map(|e| &e["id"]).collect();
        assert_eq!(ids.len(), feed.len(), "each change is a new fact");
        let (bystander_feed, _) = whole_feed(&app, &bystander.token, &bystander).await;
        assert!(bystander_feed.is_empty(), "an account without installations hears nothing: {bystander_feed:?}");

        // The release reaches it, once.
        assert_eq!(app.execute_due("2026-12-10T05:00:00Z").len(), 1);
        let (feed, _) = whole_feed(&app, &customer.token, customer).await;
        assert_eq!(types(&feed).last(), Some(&"installation.updated"));
    }

    async fn deliveries_are_made_once_for_endpoints_enabled_when_the_job_runs_and_registered_before_the_event(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, component, _, subscribers, _) = app.installed_pack(&acme, 3).await;
        let hooks = [
            endpoint(&app, &subscribers[0], "http://127.0.0.1:9/a", None).await,
            endpoint(&app, &subscribers[1], "http://127.0.0.1:9/b", Some(json!(["installation.update_canceled"]))).await,
            endpoint(&app, &subscribers[2], "http://127.0.0.1:9/c", None).await,
        ];
        app.release_now(&acme, &pack).await;
        // Disabled before the job ran: nothing is made for it.
        let path = format!("/api/v1/accounts/{}/webhook-endpoints/{}", subscribers[2].id, hooks[2]["id"].as_str().unwrap());
        app.patch(&path, &subscribers[2].token, json!({"enabled": false})).await.expect(200);
        // Registered after the event: it does not get it.
        app.clock.advance(Duration::seconds(1));
        endpoint(&app, &acme, "http://127.0.0.1:9/late", None).await;
        endpoint(&app, &subscribers[1], "http://127.0.0.1:9/late", None).await;
        assert_eq!(make_deliveries(&app), 1, "only the subscribed, enabled endpoint that existed then");
        assert_eq!(make_deliveries(&app), 0, "each batch once");
        let made = app.get(&format!("/api/v1/accounts/{}/webhook-deliveries", subscribers[0].id), &subscribers[0].token).await.expect(200);
        assert_eq!(made["items"][0]["endpoint_id"], hooks[0]["id"]);
        // The next release reaches the late endpoints too.
        app.version(&acme, &component, "1.2").await;
        app.release_now(&acme, &pack).await;
        assert_eq!(make_deliveries(&app), 1 + 1 + 1, "subscriber 0, subscriber 1's new endpoint, the publisher's release.released");
    }

    async fn an_account_requeues_its_endpoints_failed_deliveries_since_an_instant(app: TestApp) {
        let receiver = Receiver::start();
        receiver.script(std::iter::repeat_n(Answer::Status(500), 4));
        let acme = app.publisher("Acme").await;
        let hook = endpoint(&app, &acme, &receiver.url("/"), None).await;
        let base = format!("/api/v1/accounts/{}/webhook-endpoints/{}", acme.id, hook["id"].as_str().unwrap());
        app.post(&format!("{base}/test"), &acme.token, json!({})).await.expect(201);
        let mut worker = app.delivery_worker(test_rules());
        for _ in 0..4 {
            worker.deliver();
            app.clock.advance(Duration::seconds(2));
        }
        assert_eq!(deliveries_of(&app, "failed"), 1);
        let later = json!({"since": "2026-11-26T00:00:00Z"});
        assert_eq!(app.post(&format!("{base}/redeliver-failed"), &acme.token, later).await.expect(200)["requeued"], 0);
        let subscriber = app.subscriber(&acme, "Customer").await;
        let theirs = format!("/api/v1/accounts/{}/webhook-endpoints/{}/redeliver-failed", subscriber.id, hook["id"].as_str().unwrap());
        app.post(&theirs, &subscriber.token, json!({})).await.assert_problem(404, "not_found");
        assert_eq!(app.post(&format!("{base}/redeliver-failed"), &acme.token, json!({})).await.expect(200)["requeued"], 1);
        worker.deliver();
        assert_eq!(deliveries_of(&app, "succeeded"), 1);
        assert_eq!(receiver.received().len(), 5);
    }
}
