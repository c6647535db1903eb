//! ETags, `If-None-Match` (304), `If-Match` (412) and HEAD.

use diesel::prelude::*;
use packrelease::schema::{integration_packs, pack_components, release_drafts, releases};
use serde_json::{json, Value};

use crate::helpers::{backend_tests, TestApp, TestResponse};

fn etag(response: &TestResponse) -> String {
    response.header("etag").unwrap_or_else(|| panic!("no ETag; status {}, body {}", response.status, response.body))
}

impl TestApp {
    /// A JSON request with `If-Match`.
    async fn if_match(&self, method: &str, path: &str, token: &str, tag: &str, body: Option<Value>) -> TestResponse {
        let body = body.map(|b| ("application/json", b.to_string().into_bytes()));
        self.request_with(method, path, Some(token), &[("if-match", tag)], body).await
    }

    async fn if_none_match(&self, path: &str, token: &str, tag: &str) -> TestResponse {
        self.request_with("GET", path, Some(token), &[("if-none-match", tag)], None).await
    }
}

backend_tests! {
    async fn a_get_answers_304_while_its_etag_is_current(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let pack = app.pack(&acme, "Orders", "single").await;
        let path = format!("/api/v1/integration-packs/{pack}");
        let read = app.get(&path, &acme.token).await;
        assert_eq!(read.status, 200);
        let tag = etag(&read);
        assert!(tag.starts_with('"') && tag.ends_with('"') && tag.len() == 34, "{tag}");
        assert_eq!(read.header("cache-control").as_deref(), Some("private, no-cache"));
        assert_eq!(etag(&app.get(&path, &acme.token).await), tag, "the same representation has the same tag");

        for held in [tag.clone(), format!("W/{tag}"), format!("\"other\", {tag}"), "*".to_string()] {
            let fresh = app.if_none_match(&path, &acme.token, &held).await;
            assert_eq!(fresh.status, 304, "If-None-Match: {held}");
            assert_eq!(fresh.body, Value::Null);
            assert_eq!(etag(&fresh), tag);
        }
        let changed = app.patch(&path, &acme.token, json!({"description": "new"})).await;
        assert_eq!(changed.status, 200);
        let new_tag = etag(&changed);
        assert_ne!(new_tag, tag);
        let stale = app.if_none_match(&path, &acme.token, &tag).await;
        assert_eq!(stale.status, 200);
        assert_eq!(stale.body["description"], "new");
        assert_eq!(etag(&stale), new_tag, "a PATCH answers with the tag a GET then gives");

        // Lists and HEAD too; errors carry no tag.
        let list = app.get("/api/v1/integration-packs", &acme.token).await;
        assert_eq!(app.if_none_match("/api/v1/integration-packs", &acme.token, &etag(&list)).await.status, 304);
        let head = app.request("HEAD", &path, Some(&acme.token), None).await;
        assert_eq!((head.status, head.body.clone()), (200, Value::Null));
        assert_eq!(etag(&head), new_tag);
        let missing = app.get("/api/v1/integration-packs/00000000-0000-7000-8000-000000000000", &acme.token).await;
        missing.assert_problem(404, "not_found");
        assert!(missing.header("etag").is_none());
        assert_eq!(app.request("HEAD", "/api/v1/nothing-here", Some(&acme.token), None).await.status, 404);
    }

    async fn of_two_tabs_editing_a_pack_the_second_gets_412(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let pack = app.pack(&acme, "Orders", "single").await;
        let path = format!("/api/v1/integration-packs/{pack}");
        let seen = etag(&app.get(&path, &acme.token).await);

        let first = app.if_match("PATCH", &path, &acme.token, &seen, Some(json!({"name": "Tab A"}))).await;
        assert_eq!(first.status, 200, "{}", first.body);
        let second = app.if_match("PATCH", &path, &acme.token, &seen, Some(json!({"name": "Tab B"}))).await;
        second.assert_problem(412, "precondition_failed");
        let name: String = app.db(|c| integration_packs::table.select(integration_packs::name).first(c).unwrap());
        assert_eq!(name, "Tab A");

        // A weak tag never matches If-Match; `*` always does.
        let current = etag(&first);
        app.if_match("PATCH", &path, &acme.token, &format!("W/{current}"), Some(json!({"name": "Weak"}))).await.assert_problem(412, "precondition_failed");
        app.if_match("PATCH", &path, &acme.token, "*", Some(json!({"description": "any"}))).await.expect(200);
        // The precondition comes before the body's own rules, after visibility.
        app.if_match("PATCH", &path, &acme.token, &seen, Some(json!({"name": ""}))).await.assert_problem(412, "precondition_failed");
        let other = app.publisher("Other").await;
        app.if_match("PATCH", &path, &other.token, &seen, Some(json!({"name": "x"}))).await.assert_problem(404, "not_found");

        let current = etag(&app.get(&path, &acme.token).await);
        app.if_match("DELETE", &path, &acme.token, &seen, None).await.assert_problem(412, "precondition_failed");
        let packs: i64 = app.db(|c| integration_packs::table.count().get_result(c).unwrap());
        assert_eq!(packs, 1);
        assert_eq!(app.if_match("DELETE", &path, &acme.token, &current, None).await.status, 204);
    }

    async fn of_concurrent_changes_holding_one_etag_exactly_one_wins(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let pack = app.pack(&acme, "Orders", "single").await;
        let path = format!("/api/v1/integration-packs/{pack}");
        let seen = etag(&app.get(&path, &acme.token).await);
        let attempts = (0..6).map(|i| app.if_match("PATCH", &path, &acme.token, &seen, Some(json!({"description": format!("tab {i}")}))));
        let answers = futures_util::future::join_all(attempts).await;
        let mut statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 412, 412, 412, 412, 412], "{:?}", answers.iter().map(|a| &a.body).collect::<Vec<_>>());
        let winner = answers.iter().find(|a| a.status == 200).unwrap();
        let stored: String = app.db(|c| integration_packs::table.select(integration_packs::description).first(c).unwrap());
        assert_eq!(winner.body["description"], stored.as_str());
    }

    async fn if_match_where_it_is_not_honoured_is_refused_not_ignored(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let group = app.group(&acme, "Retail").await;
        let path = format!("/api/v1/account-groups/{group}");
        let seen = etag(&app.get(&path, &acme.token).await);
        let refused = app.if_match("PATCH", &path, &acme.token, &seen, Some(json!({"name": "Wholesale"}))).await;
        refused.assert_problem(400, "if_match_unsupported");
        app.if_match("DELETE", &path, &acme.token, "*", None).await.assert_problem(400, "if_match_unsupported");
        assert_eq!(app.get(&path, &acme.token).await.expect(200)["name"], "Retail");
        // Reads ignore it; unknown routes still answer 404.
        assert_eq!(app.if_match("GET", &path, &acme.token, "\"nope\"", None).await.status, 200);
        app.if_match("DELETE", "/api/v1/nothing/here", &acme.token, "*", None).await.assert_problem(404, "not_found");
    }

    async fn a_412_is_not_replayed_to_a_retry_with_a_fresh_etag(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, component) = app.pack_with_component(&acme, "Orders").await;
        let draft = app.draft(&acme, &pack).await;
        let draft_path = format!("/api/v1/release-drafts/{}", draft["id"].as_str().unwrap());
        let stale = etag(&app.get(&draft_path, &acme.token).await);
        let pick = json!({"items": [{"component_id": component, "version": "1.0"}]});
        let fresh = etag(&app.patch(&draft_path, &acme.token, pick).await);
        let release = |tag: String| {
            let (app, token, path) = (&app, acme.token.clone(), format!("{draft_path}/release"));
            async move {
                let body = Some(("application/json", json!({"schedule": "immediately"}).to_string().into_bytes()));
                app.request_with("POST", &path, Some(&token), &[("if-match", &tag), ("idempotency-key", "ci-42")], body).await
            }
        };
        release(stale).await.assert_problem(412, "precondition_failed");
        let retried = release(fresh.clone()).await;
        assert_eq!(retried.status, 201, "{}", retried.body);
        assert!(retried.header("idempotent-replayed").is_none());
        let replayed = release(fresh).await;
        assert_eq!((replayed.status, replayed.header("idempotent-replayed").as_deref()), (201, Some("true")));
    }

    async fn if_match_lists_may_span_header_lines_and_304s_keep_cache_control(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let pack = app.pack(&acme, "Orders", "single").await;
        let path = format!("/api/v1/integration-packs/{pack}");
        let seen = etag(&app.get(&path, &acme.token).await);
        let body = Some(("application/json", json!({"description": "two lines"}).to_string().into_bytes()));
        let headers = [("if-match", "\"other\""), ("if-match", seen.as_str())];
        let mut request = app.request_with("PATCH", &path, Some(&acme.token), &headers[..1], body.clone()).await;
        request.assert_problem(412, "precondition_failed");
        request = app.request_with("PATCH", &path, Some(&acme.token), &headers, body).await;
        assert_eq!(request.status, 200, "{}", request.body);
        let fresh = app.if_none_match(&path, &acme.token, &etag(&request)).await;
        assert_eq!((fresh.status, fresh.header("cache-control").as_deref()), (304, Some("private, no-cache")));
    }

    async fn a_draft_edited_while_it_is_released_with_one_etag_lets_exactly_one_win(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, component) = app.pack_with_component(&acme, "Orders").await;
        for round in 0..4 {
            // A new latest version, so the draft changes something whichever side wins.
            app.version(&acme, &component, &format!("2.{round}")).await;
            let draft = app.draft(&acme, &pack).await;
            let draft_path = format!("/api/v1/release-drafts/{}", draft["id"].as_str().unwrap());
            let release_path = format!("{draft_path}/release");
            let seen = etag(&app.get(&draft_path, &acme.token).await);
            let rollback = json!({"items": [{"component_id": component, "version": "1.0"}]});
            let edit = app.if_match("PATCH", &draft_path, &acme.token, &seen, Some(rollback));
            let release = app.if_match("POST", &release_path, &acme.token, &seen, Some(json!({"schedule": "immediately"})));
            let (edit, release) = futures_util::future::join(edit, release).await;
            let winners = [edit.status == 200, release.status == 201].iter().filter(|won| **won).count();
            assert_eq!(winners, 1, "round {round}: edit {} {}, release {} {}", edit.status, edit.body, release.status, release.body);
            let loser = if edit.status == 200 { &release } else { &edit };
            loser.assert_problem(412, "precondition_failed");
        }
    }

    async fn membership_changes_are_conditional_on_the_packs_etag(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, component) = app.pack_with_component(&acme, "Orders").await;
        let path = format!("/api/v1/integration-packs/{pack}");
        let seen = etag(&app.get(&path, &acme.token).await);
        let billing = app.shareable_component(&acme, "Billing").await;
        let members = format!("{path}/components");
        let added = app.if_match("POST", &members, &acme.token, &seen, Some(json!({"component_id": billing}))).await;
        assert_eq!(added.status, 201, "{}", added.body);
        // The pack's revision moved, so its tag did.
        let refused = app.if_match("DELETE", &format!("{members}/{component}"), &acme.token, &seen, None).await;
        refused.assert_problem(412, "precondition_failed");
        let held: i64 = app.db(|c| pack_components::table.filter(pack_components::member.eq(true)).count().get_result(c).unwrap());
        assert_eq!(held, 2);
        let current = etag(&app.get(&path, &acme.token).await);
        assert_eq!(app.if_match("DELETE", &format!("{members}/{component}"), &acme.token, &current, None).await.status, 204);
    }

    async fn drafts_and_releases_change_only_while_their_etag_is_current(app: TestApp) {
        let acme = app.publisher("Acme").await;
        let (pack, component) = app.pack_with_component(&acme, "Orders").await;
        let created = app.request("POST", &format!("/api/v1/integration-packs/{pack}/release-drafts"), Some(&acme.token), None).await;
        assert_eq!(created.status, 201);
        let draft_path = format!("/api/v1/release-drafts/{}", created.body["id"].as_str().unwrap());
        let seen = etag(&created);
        assert_eq!(etag(&app.get(&draft_path, &acme.token).await), seen, "a 201 carries the resource's tag");

        let pick = json!({"items": [{"component_id": component, "version": "1.0"}]});
        let picked = app.if_match("PATCH", &draft_path, &acme.token, &seen, Some(pick.clone())).await;
        assert_eq!(picked.status, 200, "{}", picked.body);
        let picked_tag = etag(&picked);
        app.if_match("PATCH", &draft_path, &acme.token, &seen, Some(pick)).await.assert_problem(412, "precondition_failed");

        // Releasing a draft someone changed since you read it is refused, and nothing is released.
        let release_path = format!("{draft_path}/release");
        let on_date = json!({"schedule": "on_date", "release_on": "2026-12-01"});
        app.if_match("POST", &release_path, &acme.token, &seen, Some(on_date.clone())).await.assert_problem(412, "precondition_failed");
        let count: i64 = app.db(|c| releases::table.count().get_result(c).unwrap());
        assert_eq!(count, 0);
        let released = app.if_match("POST", &release_path, &acme.token, &picked_tag, Some(on_date)).await;
        assert_eq!(released.status, 201, "{}", released.body);
        let release_path = format!("/api/v1/releases/{}", released.body["id"].as_str().unwrap());
        let release_tag = etag(&released);
        assert_eq!(etag(&app.get(&release_path, &acme.token).await), release_tag);

        let moved = app.if_match("PATCH", &release_path, &acme.token, &release_tag, Some(json!({"release_on": "2026-12-02"}))).await;
        assert_eq!(moved.status, 200, "{}", moved.body);
        let cancel_path = format!("{release_path}/cancel");
        app.if_match("POST", &cancel_path, &acme.token, &release_tag, None).await.assert_problem(412, "precondition_failed");
        let status: String = app.db(|c| releases::table.select(releases::status).first(c).unwrap());
        assert_eq!(status, "scheduled");
        let canceled = app.if_match("POST", &cancel_path, &acme.token, &etag(&moved), None).await;
        assert_eq!((canceled.status, canceled.body["status"].as_str()), (200, Some("canceled")));

        // A stale tag on a draft delete leaves the draft.
        let other = app.draft(&acme, &pack).await;
        let other_path = format!("/api/v1/release-drafts/{}", other["id"].as_str().unwrap());
        app.if_match("DELETE", &other_path, &acme.token, &seen, None).await.assert_problem(412, "precondition_failed");
        let drafts: i64 = app.db(|c| release_drafts::table.count().get_result(c).unwrap());
        assert_eq!(drafts, 2);
    }
}
