//! Worker status: the operators' view of the workers' heartbeats and jobs.

use chrono::{DateTime, Utc};

use super::Ctx;
use crate::db::DbConnection;
use crate::error::{AppError, AppResult};
use crate::store::heartbeats::{self, Heartbeat, JobStats};
use crate::store::{Page, PageRequest};

/// A worker's heartbeat and its jobs.
pub struct WorkerView {
    pub heartbeat: Heartbeat,
    pub jobs: Vec<JobStats>,
    /// Whether the caller may see where it runs (its host and process id): the admin only.
    pub shows_host: bool,
}

/// The workers, most recently started first (operators' view: the admin and publishers).
pub fn workers(conn: &mut DbConnection, ctx: &Ctx, page: &PageRequest) -> AppResult<Page<WorkerView>> {
    if ctx.caller.catalog_scope().owner_filter().is_none() {
        return Err(AppError::forbidden("worker status is for publishers and the admin"));
    }
    let rows = heartbeats::list(conn, page)?;
    let page = Page::from_rows(rows, page, |h| &h.id);
    let ids: Vec<String> = page.items.iter().map(|h| h.id.clone()).collect();
    let mut jobs = heartbeats::jobs_of(conn, &ids)?;
    let shows_host = matches!(ctx.caller, super::Caller::Admin);
    Ok(page.map(|heartbeat| WorkerView { jobs: jobs.remove(&heartbeat.id).unwrap_or_default(), heartbeat, shows_host }))
}

/// Removes the heartbeats of workers stopped, or silent, since before
/// `cutoff`, but never that of the worker asking (`me`).
pub fn remove_stale(conn: &mut DbConnection, cutoff: DateTime<Utc>, me: &str) -> AppResult<usize> {
    Ok(conn.write_transaction(|conn| heartbeats::remove_stale(conn, cutoff.naive_utc(), me))?)
}
