//! What the database tells operators: the release schedule and its lateness,
//! the workers' jobs (as each worker records them in its heartbeat rows), and
//! the webhook delivery queue. `/metrics` renders it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::db::DbConnection;
use crate::domain::event::DeliveryStatus;
use crate::domain::release::ReleaseStatus;
use crate::domain::{schedule, StoredWord};
use crate::error::AppResult;
use crate::store::heartbeats::{JobStats, RetiredTotals};
use crate::store::metrics::{self as store, StatusCounts};

/// One kind of job summed over every worker that has a heartbeat row.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct JobTotals {
    pub passes: i64,
    pub errors: i64,
    pub done: i64,
    pub failed: i64,
    pub last_pass_at: Option<DateTime<Utc>>,
}

/// Upper bounds, in seconds, of the lateness histogram's buckets: from the
/// sub-millisecond a punctual worker takes to a day.
pub const LATENESS_BUCKETS: [f64; 12] =
    [0.001, 0.01, 0.1, 1.0, 10.0, 60.0, 300.0, 900.0, 3600.0, 4.0 * 3600.0, 12.0 * 3600.0, 24.0 * 3600.0];

/// Dated releases carried out, as a histogram of `went out - due_at`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Lateness {
    /// Cumulative counts, one per bound of [`LATENESS_BUCKETS`].
    pub cumulative: Vec<u64>,
    pub count: u64,
    pub sum_seconds: f64,
    /// Those carried out after their window (`late: true` in the API).
    pub late: u64,
}

impl Lateness {
    pub fn of(carried_out: impl IntoIterator<Item = (DateTime<Utc>, DateTime<Utc>)>) -> Self {
        let mut lateness = Self { cumulative: vec![0; LATENESS_BUCKETS.len()], ..Self::default() };
        for (due_at, went_out) in carried_out {
            let seconds = (went_out - due_at).num_microseconds().map_or(f64::MAX, |us| us as f64 / 1e6).max(0.0);
            for (bound, count) in LATENESS_BUCKETS.iter().zip(&mut lateness.cumulative) {
                if seconds <= *bound {
                    *count += 1;
                }
            }
            lateness.count += 1;
            lateness.sum_seconds += seconds;
            lateness.late += u64::from(schedule::lateness(due_at, went_out).is_some());
        }
        lateness
    }
}

/// A point-in-time reading of the database, for one scrape.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Snapshot {
    pub releases_by_status: StatusCounts,
    pub releases_due_not_done: i64,
    pub waves_due_not_done: i64,
    pub lateness: Lateness,
    /// By job kind.
    pub jobs: BTreeMap<String, JobTotals>,
    pub deliveries_by_status: StatusCounts,
    pub oldest_pending_delivery_age_seconds: Option<f64>,
    pub sqlite_wal_bytes: Option<u64>,
}

/// Reads the snapshot in one read transaction.
pub fn snapshot(conn: &mut DbConnection, now: DateTime<Utc>) -> AppResult<Snapshot> {
    use diesel::Connection;
    let snapshot = conn.transaction(|conn| {
        let (releases_due_not_done, waves_due_not_done) = store::due_not_done(conn, now.naive_utc())?;
        let carried_out = store::carried_out(conn)?;
        Ok::<_, diesel::result::Error>(Snapshot {
            releases_by_status: every::<ReleaseStatus>(store::releases_by_status(conn)?),
            releases_due_not_done,
            waves_due_not_done,
            lateness: Lateness::of(carried_out.into_iter().map(|(due, out)| (due.and_utc(), out.and_utc()))),
            jobs: job_totals(store::worker_jobs(conn)?),
            deliveries_by_status: every::<DeliveryStatus>(store::deliveries_by_status(conn)?),
            oldest_pending_delivery_age_seconds: store::oldest_pending_delivery(conn)?
                .map(|made| (now - made.and_utc()).num_milliseconds().max(0) as f64 / 1e3),
            sqlite_wal_bytes: store::sqlite_wal_bytes(conn)?,
        })
    })?;
    Ok(snapshot)
}

/// A count for every status there is, 0 where no row has it, so each series
/// exists from the first scrape.
fn every<S: StoredWord>(counts: StatusCounts) -> StatusCounts {
    S::ALL
        .iter()
        .map(|status| {
            let n = counts.iter().find(|(word, _)| word == status.as_str()).map_or(0, |(_, n)| *n);
            (status.as_str().to_string(), n)
        })
        .collect()
}

/// Every kind of job (zero before any worker ran it), summed over the live
/// workers and those housekeeping removed, so no sum ever goes down.
fn job_totals((rows, retired): (Vec<JobStats>, Vec<RetiredTotals>)) -> BTreeMap<String, JobTotals> {
    let mut totals: BTreeMap<String, JobTotals> =
        crate::worker::JOB_KINDS.iter().map(|kind| (kind.to_string(), JobTotals::default())).collect();
    let live = rows.into_iter().map(|r| (r.job, [r.passes, r.errors, r.done, r.failed], r.last_pass_at));
    let gone = retired.into_iter().map(|r| (r.job, [r.passes, r.errors, r.done, r.failed], None));
    for (job, [passes, errors, done, failed], last_pass_at) in live.chain(gone) {
        let total = totals.entry(job).or_default();
        total.passes += passes;
        total.errors += errors;
        total.done += done;
        total.failed += failed;
        total.last_pass_at = total.last_pass_at.max(last_pass_at.map(|at| at.and_utc()));
    }
    totals
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn lateness_buckets_are_cumulative_and_late_means_past_the_window() {
        let due = at("2027-01-05T05:00:00Z");
        let lateness = Lateness::of([
            (due, at("2027-01-05T05:00:00.000150Z")),
            (due, at("2027-01-05T05:00:30Z")),
            (due, at("2027-01-05T06:00:00Z")),
            (due, at("2027-01-05T09:00:00Z")),
        ]);
        assert_eq!(lateness.count, 4);
        assert_eq!(lateness.late, 2, "at due + 1 h and after");
        assert_eq!(lateness.cumulative, vec![1, 1, 1, 1, 1, 2, 2, 2, 3, 4, 4, 4]);
        assert!((lateness.sum_seconds - (0.00015 + 30.0 + 3600.0 + 4.0 * 3600.0)).abs() < 1e-6);
    }
}
