//! Webhook endpoints, the deliveries they receive and the pull feed: who may
//! see and change them (DESIGN.md's table), secrets shown once, and requeues.

use std::sync::Arc;

use chrono::{Duration, NaiveDateTime};
use serde_json::{json, Value};

use super::accounts::get_account;
use super::events::{prefixed_id, render, Outbox};
use super::Ctx;
use crate::db::DbConnection;
use crate::delivery::resolver::{addresses_for, Resolver};
use crate::domain::account::AccountKind;
use crate::domain::event::{DeliveryStatus, DisabledReason, EventType, Side};
use crate::domain::text;
use crate::domain::webhooks::{self as rules, AddressPolicy};
use crate::error::{AppError, AppResult, FieldError};
use crate::store::accounts::Account;
use crate::store::events::{self as events_store, FeedCursor};
use crate::store::webhooks::{self as store, AttemptRow, Delivery, DeliveryFilter, Endpoint, Requeue};
use crate::store::{Page, PageRequest};

/// How long a rotated-out secret still signs.
pub const ROTATION_GRACE: Duration = Duration::hours(24);
pub const MAX_DESCRIPTION_CHARS: usize = 500;

/// Where endpoints may point: the address policy and the resolver it is checked through.
#[derive(Clone)]
pub struct UrlGuard {
    pub policy: AddressPolicy,
    pub resolver: Arc<dyn Resolver>,
}

impl UrlGuard {
    /// The guard of `policy`, resolving names with the system's resolver.
    pub fn new(policy: AddressPolicy) -> Self {
        Self { policy, resolver: Arc::new(crate::delivery::SystemResolver) }
    }

    /// The URL, if deliveries may go there (a clear 422 otherwise).
    fn check(&self, field: &str, raw: &str) -> AppResult<String> {
        let refused = |code: &str, message: String| AppError::Validation(vec![FieldError::new(field, code, message)]);
        let url = rules::check_url_syntax(raw, &self.policy).map_err(|r| refused(r.code, r.message))?;
        addresses_for(&url, &self.policy, self.resolver.as_ref()).map_err(|r| refused(r.code, r.message))?;
        Ok(url.url)
    }
}

pub struct EndpointView {
    pub endpoint: Endpoint,
    pub event_types: Vec<EventType>,
    /// Until when the secret a rotation replaced still signs, if it still does.
    pub previous_secret_expires_at: Option<NaiveDateTime>,
}

pub struct DeliveryView {
    pub delivery: Delivery,
    pub attempts: Vec<AttemptRow>,
}

/// The side of the catalog an account's endpoints listen to.
fn side_of(account: &Account) -> Side {
    match account.kind {
        AccountKind::Publisher => Side::Publisher,
        AccountKind::Subscriber => Side::Subscriber,
    }
}

/// The account whose endpoints these are, when the caller sees it (404
/// otherwise); to change them, the caller must be that account (403).
fn endpoints_account(conn: &mut DbConnection, ctx: &Ctx, account_id: &str, change: bool) -> AppResult<Account> {
    let account = get_account(conn, ctx, account_id)?;
    if change && ctx.caller.account_id() != Some(account.id.as_str()) {
        return Err(AppError::forbidden("only the account itself manages its webhook endpoints"));
    }
    Ok(account)
}

fn endpoint_of(conn: &mut DbConnection, account: &Account, id: &str) -> AppResult<Endpoint> {
    match store::find_endpoint(conn, id)? {
        Some(endpoint) if endpoint.account_id == account.id => Ok(endpoint),
        _ => Err(AppError::NotFound),
    }
}

/// The event types asked for: each known and of the account's side, none twice.
fn event_types(account: &Account, asked: Option<Vec<String>>) -> AppResult<Vec<EventType>> {
    let side = side_of(account);
    let Some(asked) = asked else { return Ok(EventType::subscribable(side)) };
    let mut errors = Vec::new();
    let mut types = Vec::new();
    for (i, raw) in asked.iter().enumerate() {
        let field = format!("event_types[{i}]");
        match <EventType as crate::domain::StoredWord>::parse(raw) {
            Some(t) if t.side() == Some(side) => {
                if !types.contains(&t) {
                    types.push(t);
                }
            }
            Some(_) => errors.push(FieldError::new(
                field,
                "not_allowed",
                format!("'{raw}' is not an event of a {} account", account.kind.as_str()),
            )),
            None => errors.push(FieldError::new(field, "unknown_event_type", format!("'{raw}' is not an event type"))),
        }
    }
    if asked.is_empty() {
        errors.push(FieldError::new(
            "event_types",
            "required",
            "name at least one event type, or leave it out for all",
        ));
    }
    if errors.is_empty() {
        Ok(types)
    } else {
        Err(AppError::Validation(errors))
    }
}

fn description(raw: Option<String>) -> AppResult<Option<String>> {
    if let Some(d) = &raw {
        text::limit_length("description", d, MAX_DESCRIPTION_CHARS).map_err(|e| AppError::Validation(vec![e]))?;
    }
    Ok(raw)
}

fn views(conn: &mut DbConnection, ctx: &Ctx, endpoints: Vec<Endpoint>) -> AppResult<Vec<EndpointView>> {
    let ids: Vec<String> = endpoints.iter().map(|e| e.id.clone()).collect();
    let mut types = store::event_types_of(conn, &ids)?;
    Ok(endpoints
        .into_iter()
        .map(|endpoint| EndpointView {
            event_types: types.remove(&endpoint.id).unwrap_or_default(),
            previous_secret_expires_at: endpoint.previous_secret_expires_at.filter(|until| *until > ctx.now()),
            endpoint,
        })
        .collect())
}

fn view(conn: &mut DbConnection, ctx: &Ctx, endpoint: Endpoint) -> AppResult<EndpointView> {
    Ok(views(conn, ctx, vec![endpoint])?.remove(0))
}

pub struct NewEndpoint {
    pub url: String,
    pub description: Option<String>,
    pub event_types: Option<Vec<String>>,
}

/// Registers an endpoint; the answer carries its secret, never shown again.
pub fn create_endpoint(
    conn: &mut DbConnection,
    ctx: &Ctx,
    guard: &UrlGuard,
    account_id: &str,
    input: NewEndpoint,
) -> AppResult<(EndpointView, String)> {
    let account = endpoints_account(conn, ctx, account_id, true)?;
    let (url, description, types) = validate_all(
        || guard.check("url", &input.url),
        || description(input.description),
        || event_types(&account, input.event_types),
    )?;
    let endpoint = Endpoint::new(&account.id, url, description, ctx.now());
    let secret = endpoint.secret.clone();
    conn.write_transaction(|conn| store::insert_endpoint(conn, &endpoint, &types))?;
    Ok((EndpointView { endpoint, event_types: types, previous_secret_expires_at: None }, secret))
}

/// Runs three field checks and reports every failure at once.
fn validate_all<A, B, C>(
    a: impl FnOnce() -> AppResult<A>,
    b: impl FnOnce() -> AppResult<B>,
    c: impl FnOnce() -> AppResult<C>,
) -> AppResult<(A, B, C)> {
    match (a(), b(), c()) {
        (Ok(a), Ok(b), Ok(c)) => Ok((a, b, c)),
        (a, b, c) => {
            let mut errors = Vec::new();
            for error in [a.err(), b.err(), c.err()].into_iter().flatten() {
                match error {
                    AppError::Validation(mut e) => errors.append(&mut e),
                    other => return Err(other),
                }
            }
            Err(AppError::Validation(errors))
        }
    }
}

pub fn list_endpoints(
    conn: &mut DbConnection,
    ctx: &Ctx,
    account_id: &str,
    page: &PageRequest,
) -> AppResult<Page<EndpointView>> {
    let account = endpoints_account(conn, ctx, account_id, false)?;
    let rows = store::list_endpoints(conn, &account.id, page)?;
    let page = Page::from_rows(rows, page, |e| &e.id);
    let items = views(conn, ctx, page.items)?;
    Ok(Page { items, next_cursor: page.next_cursor })
}

pub fn get_endpoint(conn: &mut DbConnection, ctx: &Ctx, account_id: &str, id: &str) -> AppResult<EndpointView> {
    let account = endpoints_account(conn, ctx, account_id, false)?;
    let endpoint = endpoint_of(conn, &account, id)?;
    view(conn, ctx, endpoint)
}

pub struct EndpointChanges {
    pub url: Option<String>,
    /// `Some(None)`: remove the description.
    pub description: Option<Option<String>>,
    pub event_types: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

/// Changes an endpoint; disabling it cancels its pending deliveries.
pub fn update_endpoint(
    conn: &mut DbConnection,
    ctx: &Ctx,
    guard: &UrlGuard,
    account_id: &str,
    id: &str,
    changes: EndpointChanges,
) -> AppResult<EndpointView> {
    conn.write_transaction(|conn| {
        let account = endpoints_account(conn, ctx, account_id, true)?;
        let mut endpoint = endpoint_of(conn, &account, id)?;
        let (url, description, types) = validate_all(
            || changes.url.as_deref().map(|u| guard.check("url", u)).transpose(),
            || changes.description.map(description).transpose(),
            || changes.event_types.map(|t| event_types(&account, Some(t))).transpose(),
        )?;
        if let Some(url) = url {
            endpoint.url = url;
        }
        if let Some(description) = description {
            endpoint.description = description;
        }
        if let Some(types) = types {
            store::set_event_types(conn, &endpoint.id, &types)?;
        }
        match changes.enabled {
            Some(false) if endpoint.enabled => {
                disable(conn, &mut endpoint, DisabledReason::ByRequest, ctx.now())?;
            }
            Some(true) if !endpoint.enabled => {
                endpoint.enabled = true;
                endpoint.disabled_reason = None;
                endpoint.failing_since = None;
            }
            _ => {}
        }
        endpoint.updated_at = ctx.now();
        store::save_endpoint(conn, &endpoint)?;
        view(conn, ctx, endpoint)
    })
}

/// Turns the endpoint off and cancels what it still had to receive.
pub(crate) fn disable(
    conn: &mut DbConnection,
    endpoint: &mut Endpoint,
    reason: DisabledReason,
    at: NaiveDateTime,
) -> AppResult<()> {
    endpoint.enabled = false;
    endpoint.disabled_reason = Some(reason);
    endpoint.updated_at = at;
    store::save_endpoint(conn, endpoint)?;
    store::cancel_pending(conn, &endpoint.id, at)?;
    Ok(())
}

/// Deletes an endpoint: its pending deliveries are canceled, its log stays until retention.
pub fn delete_endpoint(conn: &mut DbConnection, ctx: &Ctx, account_id: &str, id: &str) -> AppResult<()> {
    conn.write_transaction(|conn| {
        let account = endpoints_account(conn, ctx, account_id, true)?;
        let mut endpoint = endpoint_of(conn, &account, id)?;
        endpoint.deleted_at = Some(ctx.now());
        disable(conn, &mut endpoint, DisabledReason::ByRequest, ctx.now())
    })
}

/// A new secret; the old one keeps signing for `ROTATION_GRACE`.
pub fn rotate_secret(
    conn: &mut DbConnection,
    ctx: &Ctx,
    account_id: &str,
    id: &str,
) -> AppResult<(EndpointView, String)> {
    conn.write_transaction(|conn| {
        let account = endpoints_account(conn, ctx, account_id, true)?;
        let mut endpoint = endpoint_of(conn, &account, id)?;
        let secret = rules::new_secret();
        endpoint.previous_secret = Some(std::mem::replace(&mut endpoint.secret, secret.clone()));
        endpoint.previous_secret_expires_at = Some(ctx.now() + ROTATION_GRACE);
        endpoint.updated_at = ctx.now();
        store::save_endpoint(conn, &endpoint)?;
        Ok((view(conn, ctx, endpoint)?, secret))
    })
}

/// Sends a `webhook.test` event to this endpoint alone.
pub fn test_endpoint(conn: &mut DbConnection, ctx: &Ctx, account_id: &str, id: &str) -> AppResult<DeliveryView> {
    conn.write_transaction(|conn| {
        let account = endpoints_account(conn, ctx, account_id, true)?;
        let endpoint = endpoint_of(conn, &account, id)?;
        if !endpoint.enabled {
            return Err(AppError::conflict("endpoint_disabled", "enable the endpoint before sending it a test"));
        }
        let mut outbox = Outbox::new(ctx.now());
        let data = json!({"endpoint_id": endpoint.id, "message": "a test event from packrelease"});
        let fact = format!("{}/{}/{}", EventType::WebhookTest.as_str(), endpoint.id, super::new_id());
        let event_id = outbox.record(conn, &account.id, EventType::WebhookTest, (None, None), fact, &data)?;
        let delivery = Delivery {
            id: prefixed_id("dlv_"),
            event_id,
            endpoint_id: endpoint.id.clone(),
            account_id: account.id.clone(),
            event_type: EventType::WebhookTest,
            release_id: None,
            installation_id: None,
            status: DeliveryStatus::Pending,
            attempts: 0,
            retry_from: 0,
            next_attempt_at: Some(ctx.now()),
            lease_until: None,
            claim_token: None,
            last_attempt_at: None,
            last_status_code: None,
            last_error: None,
            created_at: ctx.now(),
            updated_at: ctx.now(),
        };
        store::insert_delivery(conn, &delivery)?;
        outbox.seal(conn)?;
        Ok(DeliveryView { delivery, attempts: Vec::new() })
    })
}

/// Requeues the endpoint's failed deliveries (made since `since`, if given).
pub fn redeliver_failed_of_endpoint(
    conn: &mut DbConnection,
    ctx: &Ctx,
    account_id: &str,
    id: &str,
    since: Option<NaiveDateTime>,
) -> AppResult<usize> {
    conn.write_transaction(|conn| {
        let account = endpoints_account(conn, ctx, account_id, true)?;
        let endpoint = endpoint_of(conn, &account, id)?;
        if !endpoint.enabled {
            return Err(AppError::conflict("endpoint_disabled", "enable the endpoint before redelivering to it"));
        }
        Ok(store::requeue(conn, Requeue::Endpoint { id: &endpoint.id, since }, ctx.now())?)
    })
}

fn delivery_views(conn: &mut DbConnection, deliveries: Vec<Delivery>) -> AppResult<Vec<DeliveryView>> {
    let ids: Vec<String> = deliveries.iter().map(|d| d.id.clone()).collect();
    let mut attempts = store::attempts_of(conn, &ids)?;
    Ok(deliveries
        .into_iter()
        .map(|delivery| DeliveryView { attempts: attempts.remove(&delivery.id).unwrap_or_default(), delivery })
        .collect())
}

fn delivery_page(
    conn: &mut DbConnection,
    filter: &DeliveryFilter,
    page: &PageRequest,
) -> AppResult<Page<DeliveryView>> {
    let rows = store::list_deliveries(conn, filter, page)?;
    let page = Page::from_rows(rows, page, |d| &d.id);
    let items = delivery_views(conn, page.items)?;
    Ok(Page { items, next_cursor: page.next_cursor })
}

/// The deliveries of an account's endpoints.
pub fn list_account_deliveries(
    conn: &mut DbConnection,
    ctx: &Ctx,
    account_id: &str,
    filter: DeliveryFilter,
    page: &PageRequest,
) -> AppResult<Page<DeliveryView>> {
    let account = endpoints_account(conn, ctx, account_id, false)?;
    delivery_page(conn, &DeliveryFilter { account: Some(&account.id), ..filter }, page)
}

/// Whether the caller may redeliver it: its endpoint's account, or the
/// publisher whose release it tells of.
fn may_redeliver(conn: &mut DbConnection, ctx: &Ctx, delivery: &Delivery) -> AppResult<bool> {
    if ctx.caller.account_id() == Some(delivery.account_id.as_str()) {
        return Ok(true);
    }
    let Some(release_id) = &delivery.release_id else { return Ok(false) };
    let Ok(publisher) = ctx.caller.publisher_id() else { return Ok(false) };
    let release = crate::store::releases::find(conn, release_id)?;
    let pack = match release {
        Some(release) => crate::store::packs::find(conn, &release.pack_id)?,
        None => None,
    };
    Ok(pack.is_some_and(|pack| pack.publisher_id == publisher))
}

/// One delivery the caller sees: of its own endpoints, of its subscribers', or the admin.
fn visible_delivery(conn: &mut DbConnection, ctx: &Ctx, id: &str) -> AppResult<Delivery> {
    let delivery = store::find_delivery(conn, id)?.ok_or(AppError::NotFound)?;
    get_account(conn, ctx, &delivery.account_id)?;
    Ok(delivery)
}

pub fn get_delivery(conn: &mut DbConnection, ctx: &Ctx, id: &str) -> AppResult<DeliveryView> {
    let delivery = visible_delivery(conn, ctx, id)?;
    Ok(delivery_views(conn, vec![delivery])?.remove(0))
}

/// Sends one delivery again, under the same id, as a new round of retries.
pub fn redeliver(conn: &mut DbConnection, ctx: &Ctx, id: &str) -> AppResult<DeliveryView> {
    conn.write_transaction(|conn| {
        let delivery = visible_delivery(conn, ctx, id)?;
        if !may_redeliver(conn, ctx, &delivery)? {
            return Err(AppError::forbidden("only the endpoint's account or the release's publisher redelivers it"));
        }
        if delivery.status == DeliveryStatus::Pending {
            return Err(AppError::conflict("delivery_pending", "the delivery is still pending: it will be sent"));
        }
        if store::requeue(conn, Requeue::One(&delivery.id), ctx.now())? == 0 {
            return Err(AppError::conflict("endpoint_disabled", "its endpoint is disabled or deleted"));
        }
        let delivery = store::find_delivery(conn, id)?.ok_or(AppError::NotFound)?;
        Ok(delivery_views(conn, vec![delivery])?.remove(0))
    })
}

/// A release's deliveries, for its publisher.
pub fn release_deliveries(
    conn: &mut DbConnection,
    ctx: &Ctx,
    release_id: &str,
    status: Option<DeliveryStatus>,
    page: &PageRequest,
) -> AppResult<Page<DeliveryView>> {
    let release = super::releases::visible_release(conn, ctx, release_id)?;
    delivery_page(conn, &DeliveryFilter { release: Some(&release.id), status, ..Default::default() }, page)
}

/// Requeues every failed delivery of a release.
pub fn redeliver_release_failed(conn: &mut DbConnection, ctx: &Ctx, release_id: &str) -> AppResult<usize> {
    conn.write_transaction(|conn| {
        let release = super::releases::visible_release(conn, ctx, release_id)?;
        ctx.caller.publisher_id()?;
        Ok(store::requeue(conn, Requeue::Release(&release.id), ctx.now())?)
    })
}

/// A page of the feed; `next_cursor` is always given: poll again with it.
pub struct FeedPage {
    pub items: Vec<Value>,
    pub next_cursor: String,
}

/// The cursor of the feed's start.
pub const FEED_START: &str = "0";

pub fn format_cursor(cursor: &FeedCursor) -> String {
    format!("{}.{}", cursor.position, cursor.event_id)
}

/// A cursor this feed handed out (422 for anything else).
pub fn parse_cursor(raw: &str) -> AppResult<Option<FeedCursor>> {
    let invalid = || AppError::invalid("after", "invalid_cursor", "pass the next_cursor of a previous page");
    if raw == FEED_START {
        return Ok(None);
    }
    let (position, event_id) = raw.split_once('.').ok_or_else(invalid)?;
    let position: i64 = position.parse().map_err(|_| invalid())?;
    if position < 1 || !super::events::is_prefixed_id("evt_", event_id) {
        return Err(invalid());
    }
    Ok(Some(FeedCursor { position, event_id: event_id.to_string() }))
}

/// The account's events after the cursor, in commit order.
pub fn feed(
    conn: &mut DbConnection,
    ctx: &Ctx,
    account_id: &str,
    after: Option<FeedCursor>,
    types: &[EventType],
    limit: i64,
) -> AppResult<FeedPage> {
    let account = endpoints_account(conn, ctx, account_id, false)?;
    let events = events_store::feed(conn, &account.id, after.as_ref(), types, limit)?;
    let next = events.last().map(|e| FeedCursor { position: e.position, event_id: e.event.id.clone() }).or(after);
    Ok(FeedPage {
        items: events.iter().map(render).collect(),
        next_cursor: next.as_ref().map_or_else(|| FEED_START.to_string(), format_cursor),
    })
}
