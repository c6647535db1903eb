//! Changes to a scheduled release: another date, or canceled.

use chrono::NaiveDate;

use super::{visible_release, with_items, ReleaseView};
use crate::db::DbConnection;
use crate::domain::release::ReleaseStatus;
use crate::domain::schedule;
use crate::error::{AppError, AppResult};
use crate::service::events::{self, Outbox};
use crate::service::precondition::{self, IfMatch};
use crate::service::Ctx;
use crate::store::releases::{self as store, Release};

/// A release the caller may change, locked, passing `If-Match` and then the
/// request's own rules (`body_rules`), and still scheduled, in the order
/// DESIGN.md settles: 404, 403, 412, 422, 409.
fn scheduled_release<T>(
    conn: &mut DbConnection,
    ctx: &Ctx,
    id: &str,
    if_match: Option<&IfMatch>,
    body_rules: impl FnOnce() -> AppResult<T>,
) -> AppResult<(Release, T)> {
    let release = visible_release(conn, ctx, id)?;
    ctx.caller.publisher_id()?;
    // The release row first, as the worker takes it: no lock-order deadlock.
    let release = store::lock(conn, &release.id)?.ok_or(AppError::NotFound)?;
    precondition::require(if_match, || with_items(conn, release.clone()))?;
    let checked = body_rules()?;
    if release.status != ReleaseStatus::Scheduled {
        return Err(AppError::conflict(
            "release_not_scheduled",
            format!("the release is {}; only a scheduled release can be changed", release.status.as_str()),
        ));
    }
    Ok((release, checked))
}

/// Moves a scheduled release to another date (the same date rules apply).
pub fn reschedule(
    conn: &mut DbConnection,
    ctx: &Ctx,
    id: &str,
    if_match: Option<&IfMatch>,
    release_on: NaiveDate,
) -> AppResult<ReleaseView> {
    conn.write_transaction(|conn| {
        let (release, due_at) = scheduled_release(conn, ctx, id, if_match, || {
            schedule::check_release_on("release_on", release_on, ctx.now, ctx.time_zone)
                .map_err(|e| AppError::Validation(vec![e]))
        })?;
        store::reschedule(conn, &release.id, release_on, due_at.naive_utc(), ctx.time_zone.name(), ctx.now())?;
        let release = store::find(conn, id)?.ok_or(AppError::NotFound)?;
        crate::service::rollouts::release_changed(conn, &release)?;
        let mut outbox = Outbox::new(ctx.now());
        events::release_scheduled(conn, &mut outbox, &release)?;
        outbox.seal(conn)?;
        with_items(conn, release)
    })
}

pub fn cancel(conn: &mut DbConnection, ctx: &Ctx, id: &str, if_match: Option<&IfMatch>) -> AppResult<ReleaseView> {
    conn.write_transaction(|conn| {
        let (release, ()) = scheduled_release(conn, ctx, id, if_match, || Ok(()))?;
        store::set_status(conn, &release.id, ReleaseStatus::Canceled, ctx.now())?;
        let release = store::find(conn, id)?.ok_or(AppError::NotFound)?;
        crate::service::rollouts::release_changed(conn, &release)?;
        let mut outbox = Outbox::new(ctx.now());
        events::release_canceled(conn, &mut outbox, &release)?;
        outbox.seal(conn)?;
        with_items(conn, release)
    })
}
