//! Changes to a scheduled release: another date, or canceled.

use chrono::NaiveDate;

use super::{visible_release, with_items, ReleaseView};
use crate::db::DbConnection;
use crate::domain::release::ReleaseStatus;
use crate::domain::schedule;
use crate::error::{AppError, AppResult};
use crate::service::precondition::{self, IfMatch};
use crate::service::Ctx;
use crate::store::releases::{self as store, Release};

/// A release the caller may change, still scheduled, locked, and passing `If-Match`.
fn scheduled_release(conn: &mut DbConnection, ctx: &Ctx, id: &str, if_match: Option<&IfMatch>) -> AppResult<Release> {
    let release = visible_release(conn, ctx, id)?;
    ctx.caller.publisher_id()?;
    // The release row first, as the worker takes it: no lock-order deadlock.
    let release = store::lock(conn, &release.id)?.ok_or(AppError::NotFound)?;
    precondition::require(if_match, || with_items(conn, release.clone()))?;
    if release.status != ReleaseStatus::Scheduled.as_str() {
        return Err(AppError::conflict(
            "release_not_scheduled",
            format!("the release is {}; only a scheduled release can be changed", release.status),
        ));
    }
    Ok(release)
}

/// Moves a scheduled release to another date (the same date rules apply).
pub fn reschedule(
    conn: &mut DbConnection,
    ctx: &Ctx,
    id: &str,
    if_match: Option<&IfMatch>,
    release_on: NaiveDate,
) -> AppResult<ReleaseView> {
    let due_at = schedule::check_release_on("release_on", release_on, ctx.now, ctx.time_zone)
        .map_err(|e| AppError::Validation(vec![e]))?;
    conn.write_transaction(|conn| {
        let release = scheduled_release(conn, ctx, id, if_match)?;
        store::reschedule(conn, &release.id, release_on, due_at.naive_utc(), ctx.time_zone.name(), ctx.now())?;
        let release = store::find(conn, id)?.ok_or(AppError::NotFound)?;
        with_items(conn, release)
    })
}

pub fn cancel(conn: &mut DbConnection, ctx: &Ctx, id: &str, if_match: Option<&IfMatch>) -> AppResult<ReleaseView> {
    conn.write_transaction(|conn| {
        let release = scheduled_release(conn, ctx, id, if_match)?;
        store::set_status(conn, &release.id, ReleaseStatus::Canceled, ctx.now())?;
        let release = store::find(conn, id)?.ok_or(AppError::NotFound)?;
        with_items(conn, release)
    })
}
