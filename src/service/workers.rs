//! Worker status: the operators' view of the workers' heartbeats and jobs.

use super::Ctx;
use crate::db::DbConnection;
use crate::error::{AppError, AppResult};
use crate::store::heartbeats::{self, Heartbeat, JobStats};
use crate::store::{Page, PageRequest};

/// A worker's heartbeat and its jobs.
pub struct WorkerView {
    pub heartbeat: Heartbeat,
    pub jobs: Vec<JobStats>,
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
    Ok(page.map(|heartbeat| WorkerView { jobs: jobs.remove(&heartbeat.id).unwrap_or_default(), heartbeat }))
}
