//! The delivery job's use cases: claiming due deliveries with a lease (one
//! short transaction), and recording what each attempt led to (another), so
//! no transaction is ever held across a network call.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};

use super::webhooks::disable;
use crate::db::DbConnection;
use crate::delivery::{Attempt, OutboundMessage};
use crate::domain::event::{DeliveryStatus, DisabledReason};
use crate::domain::webhooks::{jittered, random_unit, RetrySchedule};
use crate::error::AppResult;
use crate::store::events as events_store;
use crate::store::webhooks::{self as store, AttemptRow, ClaimLimits, Endpoint, Outcome};

/// How deliveries are paced; every value configurable (`config::WebhookArgs`).
#[derive(Debug, Clone)]
pub struct DeliveryRules {
    pub schedule: RetrySchedule,
    /// ±this share of each retry delay, at random (0 under a test clock).
    pub jitter: f64,
    /// How long a claim holds a delivery; longer than the request timeout.
    pub lease: Duration,
    pub max_in_flight: usize,
    pub per_endpoint: i64,
    /// An endpoint that has known nothing but failures this long is disabled.
    pub disable_after: chrono::Duration,
}

impl Default for DeliveryRules {
    fn default() -> Self {
        Self {
            schedule: RetrySchedule::default(),
            jitter: 0.1,
            lease: Duration::from_secs(60),
            max_in_flight: 32,
            per_endpoint: 4,
            disable_after: chrono::Duration::days(5),
        }
    }
}

/// One claimed delivery, ready to send.
pub struct Outbound {
    pub delivery_id: String,
    pub endpoint_id: String,
    pub claim_token: String,
    /// Which attempt this is (1-based, over the delivery's whole life).
    pub number: i64,
    /// Failed attempts before this one in the current round of the schedule.
    pub round_failures: i64,
    pub claimed_at: NaiveDateTime,
    pub message: OutboundMessage,
}

/// How many sealed batches one transaction makes deliveries for at most.
const BATCHES_PER_PASS: i64 = 100;

/// Makes the deliveries of every event committed since the last pass (after
/// the transactions that wrote them, so a release pays nothing for them), a
/// transaction per `BATCHES_PER_PASS` batches. Returns how many were made.
pub fn make_deliveries(conn: &mut DbConnection, now: DateTime<Utc>) -> AppResult<usize> {
    let mut made = 0;
    // A read first: most passes find nothing to make and need no write.
    if !events_store::deliveries_to_make(conn)? {
        return Ok(0);
    }
    loop {
        let (batches, deliveries) =
            conn.write_transaction(|conn| events_store::make_deliveries(conn, now.naive_utc(), BATCHES_PER_PASS))?;
        made += deliveries;
        if batches < BATCHES_PER_PASS as usize {
            return Ok(made);
        }
    }
}

/// Claims up to `take` due deliveries and renders their bodies, in one transaction.
pub fn claim_due(
    conn: &mut DbConnection,
    now: DateTime<Utc>,
    rules: &DeliveryRules,
    take: usize,
) -> AppResult<Vec<Outbound>> {
    let at = now.naive_utc();
    if take == 0 || !store::any_due(conn, at)? {
        return Ok(Vec::new());
    }
    let lease = chrono::Duration::from_std(rules.lease).unwrap_or(chrono::Duration::seconds(60));
    let limits = ClaimLimits { take, per_endpoint: rules.per_endpoint, lease_until: at + lease };
    let claim_token = super::new_id();
    conn.write_transaction(|conn| {
        let claimed = store::claim(conn, at, &limits, &claim_token)?;
        let event_ids: Vec<String> = claimed.iter().map(|c| c.delivery.event_id.clone()).collect();
        let bodies = super::events::rendered(conn, &event_ids)?;
        // A redelivery of a delivery whose event went with retention has nothing to send.
        let (sendable, expired): (Vec<_>, Vec<_>) =
            claimed.into_iter().partition(|c| bodies.contains_key(&c.delivery.event_id));
        if !expired.is_empty() {
            let ids: Vec<String> = expired.into_iter().map(|c| c.delivery.id).collect();
            store::fail_unsendable(conn, &ids, at)?;
        }
        Ok(sendable
            .into_iter()
            .filter_map(|c| {
                let body = bodies.get(&c.delivery.event_id)?;
                Some(Outbound {
                    delivery_id: c.delivery.id,
                    endpoint_id: c.endpoint.id.clone(),
                    claim_token: claim_token.clone(),
                    number: c.delivery.attempts,
                    round_failures: c.delivery.attempts - 1 - c.delivery.retry_from,
                    claimed_at: at,
                    message: OutboundMessage {
                        url: c.endpoint.url.clone(),
                        webhook_id: c.delivery.event_id,
                        timestamp: now.timestamp(),
                        secrets: c.endpoint.signing_secrets(at),
                        body: serde_json::to_vec(body).unwrap_or_default(),
                    },
                })
            })
            .collect())
    })
}

/// What recording a batch of attempts did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// Rolling-out releases whose `installation.updated` deliveries have now
    /// failed 3 attempts: their health is checked again.
    pub unhealthy_candidates: Vec<String>,
    pub succeeded: usize,
    /// Attempts that failed (retried later or failed for good).
    pub failed: usize,
    /// Attempts whose claim had lapsed, so another worker owns the delivery now.
    pub stale: usize,
}

/// Records each attempt and what it leads to, in one transaction: success;
/// a retry on the schedule (or after `Retry-After`); failed when the schedule
/// is spent or the endpoint answered 410 (which disables it, as do
/// `disable_after` of nothing but failures).
pub fn record_attempts(
    conn: &mut DbConnection,
    now: DateTime<Utc>,
    rules: &DeliveryRules,
    results: &[(Outbound, Attempt)],
) -> AppResult<Recorded> {
    let at = now.naive_utc();
    let mut endpoint_ids: Vec<String> = results.iter().map(|(o, _)| o.endpoint_id.clone()).collect();
    endpoint_ids.sort_unstable();
    endpoint_ids.dedup();
    conn.write_transaction(|conn| {
        // The batch's endpoints, read once; only those whose health changes are written.
        let mut endpoints = store::endpoints_by_id(conn, &endpoint_ids)?;
        let mut recorded = Recorded::default();
        let mut failing = Vec::new();
        for (outbound, attempt) in results {
            let (status, next_attempt_at) = next_state(now, rules, outbound, attempt);
            let outcome = Outcome {
                attempt: AttemptRow {
                    delivery_id: outbound.delivery_id.clone(),
                    number: outbound.number,
                    attempted_at: outbound.claimed_at,
                    status_code: attempt.status_code.map(i64::from),
                    duration_ms: attempt.duration_ms,
                    error: attempt.error.map(|e| e.as_str().to_string()),
                    response_excerpt: attempt.response_excerpt.clone(),
                },
                status,
                next_attempt_at,
                claim_token: &outbound.claim_token,
            };
            if !store::record(conn, &outcome)? {
                recorded.stale += 1;
                continue;
            }
            if attempt.succeeded() {
                recorded.succeeded += 1;
            } else {
                recorded.failed += 1;
                if outbound.number >= crate::store::rollouts::FAILED_ATTEMPTS {
                    failing.push(outbound.delivery_id.clone());
                }
            }
            if let Some(endpoint) = endpoints.get_mut(&outbound.endpoint_id) {
                endpoint_health(conn, endpoint, attempt, at, rules)?;
            }
        }
        recorded.unhealthy_candidates = crate::store::rollouts::releases_with_failing_updates(conn, &failing)?;
        Ok(recorded)
    })
}

/// The delivery's status after this attempt, and when it is tried next.
fn next_state(
    now: DateTime<Utc>,
    rules: &DeliveryRules,
    outbound: &Outbound,
    attempt: &Attempt,
) -> (DeliveryStatus, Option<NaiveDateTime>) {
    if attempt.succeeded() {
        return (DeliveryStatus::Succeeded, None);
    }
    if attempt.gone() {
        return (DeliveryStatus::Failed, None);
    }
    let failures = usize::try_from(outbound.round_failures + 1).unwrap_or(usize::MAX);
    match rules.schedule.delay_after(failures) {
        None => (DeliveryStatus::Failed, None),
        Some(delay) => {
            let delay = jittered(delay, rules.jitter, random_unit()).max(attempt.retry_after.unwrap_or_default());
            let delay = chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::days(1));
            // Microseconds, as every stored instant (both backends keep the same value).
            (DeliveryStatus::Pending, Some((now + delay).trunc_subsecs(6).naive_utc()))
        }
    }
}

/// An endpoint's run of failures: cleared by a success; a 410, or failures
/// for `disable_after`, disable it (and cancel what it still had to receive).
fn endpoint_health(
    conn: &mut DbConnection,
    endpoint: &mut Endpoint,
    attempt: &Attempt,
    at: NaiveDateTime,
    rules: &DeliveryRules,
) -> AppResult<()> {
    if endpoint.deleted_at.is_some() {
        return Ok(());
    }
    if attempt.succeeded() {
        if endpoint.failing_since.take().is_some() {
            store::save_endpoint(conn, endpoint)?;
        }
        return Ok(());
    }
    if !endpoint.enabled {
        return Ok(());
    }
    if attempt.gone() {
        tracing::warn!(endpoint = %endpoint.id, "webhook endpoint answered 410 Gone; it is disabled");
        return disable(conn, endpoint, DisabledReason::Gone, at);
    }
    let since = match endpoint.failing_since {
        Some(since) => since,
        None => {
            endpoint.failing_since = Some(at);
            store::save_endpoint(conn, endpoint)?;
            at
        }
    };
    if at - since >= rules.disable_after {
        tracing::warn!(endpoint = %endpoint.id, failing_since = %since, "webhook endpoint failing too long; it is disabled");
        return disable(conn, endpoint, DisabledReason::Failing, at);
    }
    Ok(())
}

/// When the job next has work: now, when events wait for their deliveries;
/// otherwise when the next pending delivery is due (or its lease lapses).
pub fn next_due_at(conn: &mut DbConnection, now: DateTime<Utc>) -> AppResult<Option<DateTime<Utc>>> {
    if events_store::deliveries_to_make(conn)? {
        return Ok(Some(now));
    }
    Ok(store::next_attempt_at(conn)?.map(|at| at.and_utc()))
}

/// Removes events and finished deliveries older than `before`.
pub fn remove_older_than(conn: &mut DbConnection, before: DateTime<Utc>) -> AppResult<usize> {
    conn.write_transaction(|conn| {
        let deliveries = store::remove_older_than(conn, before.naive_utc())?;
        let events = crate::store::events::remove_older_than(conn, before.naive_utc())?;
        Ok(deliveries + events)
    })
}
