//! Releases: the wizard's step 2 (`wizard`), changes to a scheduled release
//! (`changes`), histories and the schedule (`listing`), and carrying a release
//! out (`execution`), which the API does for immediate releases and the worker
//! for due ones.

mod changes;
mod execution;
mod listing;
mod wizard;

pub use changes::{cancel, reschedule};
pub(crate) use execution::in_savepoint;
pub use execution::{execute_due, execute_next_due, next_due_at, Executed};
pub(crate) use listing::release_for_records;
pub use listing::{get_release, list, pushes, upcoming, ListFilter, ScheduleCursor};
pub use wizard::{release_draft, release_latest, ScheduleRequest};

use super::Ctx;
use crate::db::DbConnection;
use crate::domain::event::DeliveryStatus;
use crate::domain::release::{PushOutcome, ReleaseStatus};
use crate::error::{AppError, AppResult};
use crate::store::installations;
use crate::store::releases::{self as store, NamedItem, Release};
use crate::store::Page;

#[derive(Clone)]
pub struct ReleaseView {
    pub release: Release,
    pub items: Vec<NamedItem>,
    pub counts: PushCounts,
    pub deliveries: DeliveryCounts,
    /// Its waves, when it rolls out in waves.
    pub rollout: Option<crate::service::rollouts::RolloutView>,
}

/// Where the webhook deliveries of a release's events stand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    pub pending: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub canceled: i64,
}

/// How far a release has reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PushCounts {
    /// Installations it was pushed to, or (while scheduled) will be: early appliers included.
    pub targeted: i64,
    pub applied: i64,
    pub applied_early: i64,
}

/// Refuses a change to the pack (its membership, another release) while a
/// release of it is scheduled (409 `release_already_scheduled`) or rolling
/// out (409 `release_in_progress`, until it completes or is aborted).
pub(crate) fn refuse_if_scheduled(conn: &mut DbConnection, pack_id: &str) -> AppResult<()> {
    match store::pending_for(conn, &[pack_id.to_string()])?.remove(pack_id) {
        Some(release) if release.status == ReleaseStatus::Scheduled => {
            Err(AppError::ReleaseAlreadyScheduled { release_id: release.id })
        }
        Some(release) => Err(AppError::conflict(
            "release_in_progress",
            format!(
                "release {} of this pack is rolling out ({}): complete or abort it first",
                release.id,
                release.status.as_str()
            ),
        )),
        None => Ok(()),
    }
}

/// The push counts of one release (applied and applied early; nothing awaits once it is carried out).
pub(crate) fn push_counts_of(conn: &mut DbConnection, release_id: &str) -> AppResult<PushCounts> {
    let pushes = installations::push_counts(conn, &[release_id.to_string()])?;
    let count = |outcome| pushes.get(&(release_id.to_string(), outcome)).copied().unwrap_or(0);
    let (applied, applied_early) = (count(PushOutcome::Applied), count(PushOutcome::AppliedEarly));
    Ok(PushCounts { targeted: applied + applied_early, applied, applied_early })
}

/// One release as the API shows it.
pub(crate) fn get_release_view(conn: &mut DbConnection, release: Release) -> AppResult<ReleaseView> {
    with_items(conn, release)
}

fn with_items(conn: &mut DbConnection, release: Release) -> AppResult<ReleaseView> {
    with_items_counted(conn, release, None)
}

/// One release as the API shows it, with its push counts when the caller
/// knows them already (a release just carried out: its pushes are not
/// counted again).
fn with_items_counted(conn: &mut DbConnection, release: Release, pushes: Option<PushCounts>) -> AppResult<ReleaseView> {
    let page = views(conn, Page { items: vec![release], next_cursor: None }, pushes)?;
    page.items.into_iter().next().ok_or(AppError::NotFound)
}

/// Items and push counts of a page of releases.
fn with_items_all(conn: &mut DbConnection, page: Page<Release>) -> AppResult<Page<ReleaseView>> {
    views(conn, page, None)
}

/// Items and push counts of a page of releases; when `known` (the page's one
/// release's counts) is given, those are its counts and no push is counted.
fn views(conn: &mut DbConnection, page: Page<Release>, known: Option<PushCounts>) -> AppResult<Page<ReleaseView>> {
    let ids: Vec<String> = page.items.iter().map(|r| r.id.clone()).collect();
    let mut items = store::items_for(conn, &ids)?;
    let pushes = match known {
        Some(_) => Default::default(),
        None => installations::push_counts(conn, &ids)?,
    };
    // Whom each scheduled release on the page will reach, in one statement.
    let scheduled: Vec<(&str, &str)> = page
        .items
        .iter()
        .filter(|r| r.status == ReleaseStatus::Scheduled)
        .map(|r| (r.pack_id.as_str(), r.id.as_str()))
        .collect();
    let awaiting = installations::awaiting(conn, &scheduled)?;
    let deliveries = crate::store::webhooks::counts_by_release(conn, &ids)?;
    let mut rollouts = crate::service::rollouts::views(conn, &ids)?;
    Ok(page.map(|release| {
        let count = |outcome| pushes.get(&(release.id.clone(), outcome)).copied().unwrap_or(0);
        let (applied, applied_early) = (count(PushOutcome::Applied), count(PushOutcome::AppliedEarly));
        let waiting = if release.status == ReleaseStatus::Scheduled {
            awaiting.get(&release.id).copied().unwrap_or(0)
        } else {
            0
        };
        let counts =
            known.unwrap_or(PushCounts { targeted: applied + applied_early + waiting, applied, applied_early });
        let delivered = |status| deliveries.get(&(release.id.clone(), status)).copied().unwrap_or(0);
        let deliveries = DeliveryCounts {
            pending: delivered(DeliveryStatus::Pending),
            succeeded: delivered(DeliveryStatus::Succeeded),
            failed: delivered(DeliveryStatus::Failed),
            canceled: delivered(DeliveryStatus::Canceled),
        };
        ReleaseView {
            items: items.remove(&release.id).unwrap_or_default(),
            counts,
            deliveries,
            rollout: rollouts.remove(&release.id),
            release,
        }
    }))
}

/// The release, if the caller sees its pack (404 otherwise).
pub(crate) fn visible_release(conn: &mut DbConnection, ctx: &Ctx, id: &str) -> AppResult<Release> {
    let release = store::find(conn, id)?.ok_or(AppError::NotFound)?;
    crate::service::packs::catalog_pack(conn, ctx, &release.pack_id)?;
    Ok(release)
}
