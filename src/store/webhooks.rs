//! Webhook endpoints, their deliveries and every attempt: registration, the
//! publisher's and subscriber's views, the worker's lease-based claim and the
//! outcome of each attempt.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::PageRequest;
use crate::db::DbConnection;
use crate::domain::event::{DeliveryStatus, DisabledReason, EventType};
use crate::schema::{
    event_counter, webhook_attempts, webhook_deliveries, webhook_endpoint_event_types, webhook_endpoints,
};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = webhook_endpoints, treat_none_as_null = true)]
pub struct Endpoint {
    pub id: String,
    pub account_id: String,
    pub url: String,
    pub description: Option<String>,
    pub enabled: bool,
    pub disabled_reason: Option<DisabledReason>,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<NaiveDateTime>,
    pub failing_since: Option<NaiveDateTime>,
    #[diesel(deserialize_as = super::columns::Stamp)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = super::columns::Stamp)]
    pub updated_at: NaiveDateTime,
    pub deleted_at: Option<NaiveDateTime>,
}

impl Endpoint {
    /// A new enabled endpoint of `account_id`, with a new secret, registered `at`.
    pub fn new(account_id: &str, url: String, description: Option<String>, at: NaiveDateTime) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            account_id: account_id.to_string(),
            url,
            description,
            enabled: true,
            disabled_reason: None,
            secret: crate::domain::webhooks::new_secret(),
            previous_secret: None,
            previous_secret_expires_at: None,
            failing_since: None,
            created_at: at,
            updated_at: at,
            deleted_at: None,
        }
    }

    /// The secrets that sign now: the current one, and the one it replaced
    /// until its grace period ends.
    pub fn signing_secrets(&self, now: NaiveDateTime) -> Vec<String> {
        let mut secrets = vec![self.secret.clone()];
        if let (Some(previous), Some(until)) = (&self.previous_secret, self.previous_secret_expires_at) {
            if now < until {
                secrets.push(previous.clone());
            }
        }
        secrets
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_deliveries)]
pub struct Delivery {
    pub id: String,
    pub event_id: String,
    pub endpoint_id: String,
    pub account_id: String,
    pub event_type: EventType,
    pub release_id: Option<String>,
    pub installation_id: Option<String>,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub retry_from: i64,
    pub next_attempt_at: Option<NaiveDateTime>,
    pub lease_until: Option<NaiveDateTime>,
    pub claim_token: Option<String>,
    pub last_attempt_at: Option<NaiveDateTime>,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    #[diesel(deserialize_as = super::columns::Stamp)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = super::columns::Stamp)]
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_attempts)]
pub struct AttemptRow {
    pub delivery_id: String,
    pub number: i64,
    #[diesel(deserialize_as = super::columns::Stamp)]
    pub attempted_at: NaiveDateTime,
    pub status_code: Option<i64>,
    pub duration_ms: i64,
    pub error: Option<String>,
    pub response_excerpt: String,
}

pub fn insert_endpoint(conn: &mut DbConnection, endpoint: &Endpoint, types: &[EventType]) -> QueryResult<()> {
    diesel::insert_into(webhook_endpoints::table).values(endpoint).execute(conn)?;
    set_event_types(conn, &endpoint.id, types)
}

pub fn set_event_types(conn: &mut DbConnection, endpoint_id: &str, types: &[EventType]) -> QueryResult<()> {
    diesel::delete(
        webhook_endpoint_event_types::table.filter(webhook_endpoint_event_types::endpoint_id.eq(endpoint_id)),
    )
    .execute(conn)?;
    let rows: Vec<_> = types
        .iter()
        .map(|t| {
            (webhook_endpoint_event_types::endpoint_id.eq(endpoint_id), webhook_endpoint_event_types::event_type.eq(*t))
        })
        .collect();
    super::on_backend!(conn, |c| diesel::insert_into(webhook_endpoint_event_types::table).values(&rows).execute(c))?;
    Ok(())
}

pub fn save_endpoint(conn: &mut DbConnection, endpoint: &Endpoint) -> QueryResult<usize> {
    diesel::update(webhook_endpoints::table.find(&endpoint.id)).set(endpoint).execute(conn)
}

/// An endpoint not deleted.
pub fn find_endpoint(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Endpoint>> {
    webhook_endpoints::table
        .find(id)
        .filter(webhook_endpoints::deleted_at.is_null())
        .select(Endpoint::as_select())
        .first(conn)
        .optional()
}

/// Endpoints by id, deleted ones included (a delivery's endpoint may be gone).
pub fn endpoints_by_id(conn: &mut DbConnection, ids: &[String]) -> QueryResult<HashMap<String, Endpoint>> {
    let rows: Vec<Endpoint> =
        webhook_endpoints::table.filter(webhook_endpoints::id.eq_any(ids)).select(Endpoint::as_select()).load(conn)?;
    Ok(rows.into_iter().map(|e| (e.id.clone(), e)).collect())
}

pub fn list_endpoints(conn: &mut DbConnection, account_id: &str, page: &PageRequest) -> QueryResult<Vec<Endpoint>> {
    let mut query = webhook_endpoints::table
        .filter(webhook_endpoints::account_id.eq(account_id.to_string()))
        .filter(webhook_endpoints::deleted_at.is_null())
        .select(Endpoint::as_select())
        .into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(webhook_endpoints::id.gt(after.clone()));
    }
    query.order(webhook_endpoints::id.asc()).limit(page.fetch()).load(conn)
}

/// The event types each endpoint subscribes to.
pub fn event_types_of(conn: &mut DbConnection, ids: &[String]) -> QueryResult<HashMap<String, Vec<EventType>>> {
    let rows: Vec<(String, EventType)> = webhook_endpoint_event_types::table
        .filter(webhook_endpoint_event_types::endpoint_id.eq_any(ids))
        .select((webhook_endpoint_event_types::endpoint_id, webhook_endpoint_event_types::event_type))
        .order((webhook_endpoint_event_types::endpoint_id, webhook_endpoint_event_types::event_type))
        .load(conn)?;
    let mut by_endpoint: HashMap<String, Vec<EventType>> = HashMap::new();
    for (id, event_type) in rows {
        by_endpoint.entry(id).or_default().push(event_type);
    }
    Ok(by_endpoint)
}

/// Cancels the endpoint's pending deliveries (it was disabled or deleted).
pub fn cancel_pending(conn: &mut DbConnection, endpoint_id: &str, at: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        webhook_deliveries::table
            .filter(webhook_deliveries::endpoint_id.eq(endpoint_id))
            .filter(webhook_deliveries::status.eq(DeliveryStatus::Pending)),
    )
    .set((
        webhook_deliveries::status.eq(DeliveryStatus::Canceled),
        webhook_deliveries::next_attempt_at.eq(None::<NaiveDateTime>),
        webhook_deliveries::lease_until.eq(None::<NaiveDateTime>),
        webhook_deliveries::claim_token.eq(None::<String>),
        webhook_deliveries::updated_at.eq(at),
    ))
    .execute(conn)
}

pub fn insert_delivery(conn: &mut DbConnection, delivery: &Delivery) -> QueryResult<()> {
    diesel::insert_into(webhook_deliveries::table).values(delivery).execute(conn).map(drop)
}

/// Which deliveries a list shows.
#[derive(Debug, Default)]
pub struct DeliveryFilter<'a> {
    /// The endpoints' account (a subscriber's or publisher's own deliveries).
    pub account: Option<&'a str>,
    pub release: Option<&'a str>,
    pub endpoint: Option<&'a str>,
    pub status: Option<DeliveryStatus>,
    pub event_type: Option<EventType>,
}

pub fn list_deliveries(
    conn: &mut DbConnection,
    filter: &DeliveryFilter,
    page: &PageRequest,
) -> QueryResult<Vec<Delivery>> {
    let mut query = webhook_deliveries::table.select(Delivery::as_select()).into_boxed();
    if let Some(account) = filter.account {
        query = query.filter(webhook_deliveries::account_id.eq(account.to_string()));
    }
    if let Some(release) = filter.release {
        query = query.filter(webhook_deliveries::release_id.eq(release.to_string()));
    }
    if let Some(endpoint) = filter.endpoint {
        query = query.filter(webhook_deliveries::endpoint_id.eq(endpoint.to_string()));
    }
    if let Some(status) = filter.status {
        query = query.filter(webhook_deliveries::status.eq(status));
    }
    if let Some(event_type) = filter.event_type {
        query = query.filter(webhook_deliveries::event_type.eq(event_type));
    }
    if let Some(after) = &page.after {
        query = query.filter(webhook_deliveries::id.gt(after.clone()));
    }
    query.order(webhook_deliveries::id.asc()).limit(page.fetch()).load(conn)
}

pub fn find_delivery(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Delivery>> {
    webhook_deliveries::table.find(id).select(Delivery::as_select()).first(conn).optional()
}

/// Every attempt of these deliveries, oldest first.
pub fn attempts_of(conn: &mut DbConnection, ids: &[String]) -> QueryResult<HashMap<String, Vec<AttemptRow>>> {
    let rows: Vec<AttemptRow> = webhook_attempts::table
        .filter(webhook_attempts::delivery_id.eq_any(ids))
        .order((webhook_attempts::delivery_id, webhook_attempts::number))
        .select(AttemptRow::as_select())
        .load(conn)?;
    let mut by_delivery: HashMap<String, Vec<AttemptRow>> = HashMap::new();
    for row in rows {
        by_delivery.entry(row.delivery_id.clone()).or_default().push(row);
    }
    Ok(by_delivery)
}

/// Deliveries of each status of these releases.
pub fn counts_by_release(
    conn: &mut DbConnection,
    release_ids: &[String],
) -> QueryResult<HashMap<(String, DeliveryStatus), i64>> {
    if release_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Option<String>, DeliveryStatus, i64)> = webhook_deliveries::table
        .filter(webhook_deliveries::release_id.eq_any(release_ids))
        .group_by((webhook_deliveries::release_id, webhook_deliveries::status))
        .select((webhook_deliveries::release_id, webhook_deliveries::status, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(rows.into_iter().filter_map(|(release, status, n)| Some(((release?, status), n))).collect())
}

/// What a requeue takes: failed deliveries of one endpoint or one release, or one delivery.
pub enum Requeue<'a> {
    One(&'a str),
    Endpoint { id: &'a str, since: Option<NaiveDateTime> },
    Release(&'a str),
}

/// Sends failed deliveries again, each as a new round of the retry schedule
/// under the same id (one delivery may also be redelivered after it
/// succeeded). Deliveries of disabled or deleted endpoints stay as they are.
pub fn requeue(conn: &mut DbConnection, which: Requeue, at: NaiveDateTime) -> QueryResult<usize> {
    let live_endpoints = webhook_endpoints::table
        .filter(webhook_endpoints::enabled.eq(true))
        .filter(webhook_endpoints::deleted_at.is_null())
        .select(webhook_endpoints::id);
    let mut query = webhook_deliveries::table
        .filter(webhook_deliveries::endpoint_id.eq_any(live_endpoints))
        .select(webhook_deliveries::id)
        .into_boxed();
    query = match which {
        Requeue::One(id) => {
            query.filter(webhook_deliveries::id.eq(id.to_string())).filter(webhook_deliveries::status.eq_any([
                DeliveryStatus::Failed,
                DeliveryStatus::Succeeded,
                DeliveryStatus::Canceled,
            ]))
        }
        Requeue::Endpoint { id, since } => {
            let mut q = query
                .filter(webhook_deliveries::endpoint_id.eq(id.to_string()))
                .filter(webhook_deliveries::status.eq(DeliveryStatus::Failed));
            if let Some(since) = since {
                q = q.filter(webhook_deliveries::created_at.ge(since));
            }
            q
        }
        Requeue::Release(id) => query
            .filter(webhook_deliveries::release_id.eq(id.to_string()))
            .filter(webhook_deliveries::status.eq(DeliveryStatus::Failed)),
    };
    let ids: Vec<String> = query.load(conn)?;
    if ids.is_empty() {
        return Ok(0);
    }
    diesel::update(webhook_deliveries::table.filter(webhook_deliveries::id.eq_any(&ids)))
        .set((
            webhook_deliveries::status.eq(DeliveryStatus::Pending),
            webhook_deliveries::retry_from.eq(webhook_deliveries::attempts),
            webhook_deliveries::next_attempt_at.eq(Some(at)),
            webhook_deliveries::lease_until.eq(None::<NaiveDateTime>),
            webhook_deliveries::claim_token.eq(None::<String>),
            webhook_deliveries::updated_at.eq(at),
        ))
        .execute(conn)
}

/// When a pending delivery next needs a worker: its next attempt, or the end
/// of the lease a worker holds it under (that worker may have died).
pub fn next_attempt_at(conn: &mut DbConnection) -> QueryResult<Option<NaiveDateTime>> {
    let pending = webhook_deliveries::table.filter(webhook_deliveries::status.eq(DeliveryStatus::Pending));
    let attempt: Option<NaiveDateTime> = pending
        .filter(webhook_deliveries::lease_until.is_null())
        .select(diesel::dsl::min(webhook_deliveries::next_attempt_at))
        .first(conn)?;
    let lease: Option<NaiveDateTime> = pending.select(diesel::dsl::min(webhook_deliveries::lease_until)).first(conn)?;
    Ok(attempt.into_iter().chain(lease).min())
}

/// Fails deliveries that can no longer be sent (their event is past retention).
pub fn fail_unsendable(conn: &mut DbConnection, ids: &[String], at: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(webhook_deliveries::table.filter(webhook_deliveries::id.eq_any(ids)))
        .set((
            webhook_deliveries::status.eq(DeliveryStatus::Failed),
            webhook_deliveries::next_attempt_at.eq(None::<NaiveDateTime>),
            webhook_deliveries::lease_until.eq(None::<NaiveDateTime>),
            webhook_deliveries::claim_token.eq(None::<String>),
            webhook_deliveries::last_error.eq(Some("event_expired")),
            webhook_deliveries::updated_at.eq(at),
        ))
        .execute(conn)
}

/// Whether any delivery is due and free to claim (a read, before a claim's write).
pub fn any_due(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        webhook_deliveries::table
            .filter(webhook_deliveries::status.eq(DeliveryStatus::Pending))
            .filter(webhook_deliveries::next_attempt_at.le(now))
            .filter(webhook_deliveries::lease_until.is_null().or(webhook_deliveries::lease_until.le(now))),
    ))
    .get_result(conn)
}

/// A delivery the worker claimed, with where it goes.
pub struct Claimed {
    pub delivery: Delivery,
    pub endpoint: Endpoint,
}

/// Limits of one claim.
pub struct ClaimLimits {
    /// Deliveries to take at most.
    pub take: usize,
    /// Deliveries one endpoint may have in flight at once, across workers.
    pub per_endpoint: i64,
    pub lease_until: NaiveDateTime,
}

/// Claims due deliveries with a lease: pending, due, not leased (or leased by
/// a worker whose lease lapsed: that attempt is recorded as `interrupted`),
/// at most `per_endpoint` in flight per endpoint. Claims are serialised by a
/// lock row, so the bound holds across workers; run inside a write transaction.
pub fn claim(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    limits: &ClaimLimits,
    claim_token: &str,
) -> QueryResult<Vec<Claimed>> {
    let lock = event_counter::table.find("delivery_claims");
    diesel::update(lock).set(event_counter::value.eq(event_counter::value + 1)).execute(conn)?;
    let due = webhook_deliveries::table
        .filter(webhook_deliveries::status.eq(DeliveryStatus::Pending))
        .filter(webhook_deliveries::next_attempt_at.le(now))
        .filter(webhook_deliveries::lease_until.is_null().or(webhook_deliveries::lease_until.le(now)))
        .order((webhook_deliveries::next_attempt_at.asc(), webhook_deliveries::id.asc()))
        .select(Delivery::as_select())
        // Enough to fill the claim even when a few endpoints hold most of the queue.
        .limit(i64::try_from(limits.take).unwrap_or(i64::MAX).saturating_mul(8).max(256));
    let candidates: Vec<Delivery> = due.load(conn)?;
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let mut endpoint_ids: Vec<String> = candidates.iter().map(|d| d.endpoint_id.clone()).collect();
    endpoint_ids.sort_unstable();
    endpoint_ids.dedup();
    let busy: Vec<(String, i64)> = webhook_deliveries::table
        .filter(webhook_deliveries::endpoint_id.eq_any(&endpoint_ids))
        .filter(webhook_deliveries::status.eq(DeliveryStatus::Pending))
        .filter(webhook_deliveries::lease_until.gt(now))
        .group_by(webhook_deliveries::endpoint_id)
        .select((webhook_deliveries::endpoint_id, diesel::dsl::count_star()))
        .load(conn)?;
    let mut in_flight: HashMap<String, i64> = busy.into_iter().collect();
    let mut chosen = Vec::new();
    for delivery in candidates {
        let n = in_flight.entry(delivery.endpoint_id.clone()).or_insert(0);
        if *n < limits.per_endpoint {
            *n += 1;
            chosen.push(delivery);
            if chosen.len() == limits.take {
                break;
            }
        }
    }
    let ids: Vec<String> = chosen.iter().map(|d| d.id.clone()).collect();
    // An attempt whose worker died mid-send, found by its lapsed lease.
    let interrupted: Vec<AttemptRow> = chosen
        .iter()
        .filter(|d| d.lease_until.is_some())
        .map(|d| AttemptRow {
            delivery_id: d.id.clone(),
            number: d.attempts,
            attempted_at: d.last_attempt_at.unwrap_or(now),
            status_code: None,
            duration_ms: 0,
            error: Some("interrupted".into()),
            response_excerpt: String::new(),
        })
        .collect();
    if !interrupted.is_empty() {
        super::on_backend!(conn, |c| diesel::insert_into(webhook_attempts::table).values(&interrupted).execute(c))?;
    }
    diesel::update(webhook_deliveries::table.filter(webhook_deliveries::id.eq_any(&ids)))
        .set((
            webhook_deliveries::lease_until.eq(Some(limits.lease_until)),
            webhook_deliveries::claim_token.eq(Some(claim_token)),
            webhook_deliveries::attempts.eq(webhook_deliveries::attempts + 1),
            webhook_deliveries::last_attempt_at.eq(Some(now)),
            webhook_deliveries::updated_at.eq(now),
        ))
        .execute(conn)?;
    let endpoints = endpoints_by_id(conn, &endpoint_ids)?;
    Ok(chosen
        .into_iter()
        .filter_map(|mut delivery| {
            delivery.attempts += 1;
            delivery.lease_until = Some(limits.lease_until);
            delivery.claim_token = Some(claim_token.to_string());
            let endpoint = endpoints.get(&delivery.endpoint_id)?.clone();
            Some(Claimed { delivery, endpoint })
        })
        .collect())
}

/// What one attempt leads to.
pub struct Outcome<'a> {
    pub attempt: AttemptRow,
    pub status: DeliveryStatus,
    pub next_attempt_at: Option<NaiveDateTime>,
    pub claim_token: &'a str,
}

/// Records an attempt, if the claim that made it still holds the delivery
/// (otherwise its lease lapsed and another worker took it). Returns whether it did.
pub fn record(conn: &mut DbConnection, outcome: &Outcome) -> QueryResult<bool> {
    let attempt = &outcome.attempt;
    let updated = diesel::update(
        webhook_deliveries::table
            .filter(webhook_deliveries::id.eq(&attempt.delivery_id))
            .filter(webhook_deliveries::claim_token.eq(outcome.claim_token))
            .filter(webhook_deliveries::status.eq(DeliveryStatus::Pending)),
    )
    .set((
        webhook_deliveries::status.eq(outcome.status),
        webhook_deliveries::next_attempt_at.eq(outcome.next_attempt_at),
        webhook_deliveries::lease_until.eq(None::<NaiveDateTime>),
        webhook_deliveries::claim_token.eq(None::<String>),
        webhook_deliveries::last_status_code.eq(attempt.status_code),
        webhook_deliveries::last_error.eq(&attempt.error),
        webhook_deliveries::updated_at.eq(attempt.attempted_at),
    ))
    .execute(conn)?;
    if updated == 0 {
        return Ok(false);
    }
    diesel::insert_into(webhook_attempts::table).values(attempt).execute(conn)?;
    Ok(true)
}

/// Removes deliveries (and their attempts) created before `before` that are
/// no longer pending. Returns how many went.
pub fn remove_older_than(conn: &mut DbConnection, before: NaiveDateTime) -> QueryResult<usize> {
    let old = webhook_deliveries::table
        .filter(webhook_deliveries::created_at.lt(before))
        .filter(webhook_deliveries::status.ne(DeliveryStatus::Pending))
        .select(webhook_deliveries::id);
    diesel::delete(webhook_attempts::table.filter(webhook_attempts::delivery_id.eq_any(old))).execute(conn)?;
    diesel::delete(
        webhook_deliveries::table
            .filter(webhook_deliveries::created_at.lt(before))
            .filter(webhook_deliveries::status.ne(DeliveryStatus::Pending)),
    )
    .execute(conn)
}
