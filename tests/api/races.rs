//! Writers that change whom a release reaches, racing a release: every
//! installation ends on the release it should run, with a push for each move.
//! The races bite on PostgreSQL (SQLite serialises writers); both backends run them.

use diesel::prelude::*;
use futures_util::future::join_all;
use packrelease::schema::{installations, pushes};
use serde_json::json;

use crate::helpers::{backend_tests, Actor, TestApp};

/// The pack's live installations and the release each runs.
fn installations_of(app: &TestApp, pack: &str) -> Vec<(String, Option<String>)> {
    app.db(|c| {
        installations::table
            .filter(installations::pack_id.eq(pack))
            .filter(installations::uninstalled_at.is_null())
            .select((installations::id, installations::release_id))
            .load(c)
            .unwrap()
    })
}

/// Releases `pack` `rounds` times (a new version of `component` each time); returns the last release's id.
async fn release_repeatedly(app: &TestApp, owner: &Actor, pack: &str, component: &str, rounds: usize) -> String {
    let mut last = String::new();
    for round in 0..rounds {
        app.version(owner, component, &format!("2.{round}")).await;
        last = app.release_now(owner, pack).await["id"].as_str().unwrap().to_string();
    }
    last
}

backend_tests! {
    async fn installs_made_while_a_pack_is_released_all_end_on_its_latest_release(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, component, group) = app.shared_multiple_pack(&acme).await;
        let mut subscribers = Vec::new();
        for i in 0..8 {
            let subscriber = app.subscriber(&acme, &format!("Subscriber {i}")).await;
            app.join(&acme, &group, &subscriber).await;
            subscribers.push(subscriber);
        }
        let done = std::cell::Cell::new(false);
        let releasing = async {
            let last = release_repeatedly(&app, &acme, &pack, &component, 12).await;
            done.set(true);
            last
        };
        let installing = join_all(subscribers.iter().enumerate().map(|(i, subscriber)| {
            let (app, pack, done) = (&app, &pack, &done);
            async move {
                let path = format!("/api/v1/accounts/{}/installations", subscriber.id);
                let mut made = 0;
                while !done.get() {
                    let body = json!({"integration_pack_id": pack, "override_name": format!("copy {i}-{made}")});
                    app.post(&path, &subscriber.token, body).await.expect(201);
                    made += 1;
                }
                made
            }
        }));
        let (last, made) = futures_util::future::join(releasing, installing).await;
        let made: usize = made.iter().sum();
        let all = installations_of(&app, &pack);
        assert_eq!(all.len(), made);
        let behind: Vec<_> = all.iter().filter(|(_, release)| release.as_deref() != Some(last.as_str())).collect();
        assert!(behind.is_empty(), "{} of {made} installations were left on an older release: {behind:?}", behind.len());
        // Each installation not made on the last release was moved by it, with its push.
        let pushed: i64 = app.db(|c| pushes::table.filter(pushes::release_id.eq(&last)).count().get_result(c).unwrap());
        let made_on_last: i64 = app.db(|c| {
            installations::table
                .filter(installations::pack_id.eq(&pack))
                .filter(installations::id.ne_all(pushes::table.filter(pushes::release_id.eq(&last)).select(pushes::installation_id)))
                .count()
                .get_result(c)
                .unwrap()
        });
        assert_eq!(pushed + made_on_last, made as i64);
    }

    async fn accounts_joining_while_a_pack_is_released_are_reached_or_left_consistent(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, component) = app.pack_with_component(&acme, "Billing").await;
        app.release_now(&acme, &pack).await;
        let everyone = app.group(&acme, "Everyone").await;
        app.share(&acme, &everyone, &pack).await;
        let late = app.group(&acme, "Late joiners").await;
        app.share(&acme, &late, &pack).await;
        let mut subscribers = Vec::new();
        for i in 0..6 {
            let subscriber = app.subscriber(&acme, &format!("Subscriber {i}")).await;
            app.join(&acme, &everyone, &subscriber).await;
            app.install(&subscriber, &pack).await;
            // Leave the pack's groups: the installation stays, unsubscribed.
            app.delete(&format!("/api/v1/account-groups/{everyone}/members/{}", subscriber.id), &acme.token).await.expect(204);
            subscribers.push(subscriber);
        }
        let releasing = release_repeatedly(&app, &acme, &pack, &component, 6);
        let joining = join_all(subscribers.iter().map(|subscriber| app.join(&acme, &late, subscriber)));
        let (last, _) = futures_util::future::join(releasing, joining).await;
        // A release that ran after a join reached that installation (with its
        // push); one that ran before it did not: never a move without a push.
        let moved_without_push: i64 = app.db(|c| {
            installations::table
                .filter(installations::pack_id.eq(&pack))
                .filter(installations::release_id.eq(&last))
                .filter(installations::id.ne_all(pushes::table.filter(pushes::release_id.eq(&last)).select(pushes::installation_id)))
                .count()
                .get_result(c)
                .unwrap()
        });
        assert_eq!(moved_without_push, 0);
    }

    async fn installing_while_the_pack_is_deleted_is_a_404_or_a_409(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let group = app.group(&acme, "Everyone").await;
        let customer = app.subscriber(&acme, "Customer").await;
        app.join(&acme, &group, &customer).await;
        let path = format!("/api/v1/accounts/{}/installations", customer.id);
        for round in 0..10 {
            let (pack, _) = app.pack_with_component(&acme, &format!("Doomed {round}")).await;
            app.release_now(&acme, &pack).await;
            app.share(&acme, &group, &pack).await;
            let installing = app.post(&path, &customer.token, json!({"integration_pack_id": pack}));
            let pack_path = format!("/api/v1/integration-packs/{pack}");
            let deleting = app.delete(&pack_path, &acme.token);
            let (installed, deleted) = futures_util::future::join(installing, deleting).await;
            match (installed.status, deleted.status) {
                (201, 409) => assert_eq!(deleted.body["code"], "pack_in_use"),
                (404, 204) => assert_eq!(installed.body["code"], "not_found"),
                other => panic!("round {round}: {other:?}: {} / {}", installed.body, deleted.body),
            }
        }
    }
}
