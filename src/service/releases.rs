//! Release wizard step 2 and everything after: releasing a draft now or on a
//! date, rescheduling, canceling, the history, and carrying out what is due.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use super::auth::CatalogScope;
use super::drafts::{owned_draft, view};
use super::pack_lock::lock_pack;
use super::precondition::{self, IfMatch};
use super::{new_id, Ctx};
use crate::db::DbConnection;
use crate::domain::release::{ReleaseStatus, Schedule};
use crate::domain::schedule;
use crate::error::{AppError, AppResult};
use crate::store::packs;
use crate::store::releases::{self as store, NamedItem, Release, ReleaseFilter, ReleaseItem};
use crate::store::{drafts, installations};
use crate::store::{Page, PageRequest};

#[derive(Clone)]
pub struct ReleaseView {
    pub release: Release,
    pub items: Vec<NamedItem>,
    pub counts: PushCounts,
}

/// How far a release has reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PushCounts {
    /// Installations it was pushed to, or (while scheduled) will be: early appliers included.
    pub targeted: i64,
    pub applied: i64,
    pub applied_early: i64,
}

/// What the caller asked for in step 2.
pub struct ScheduleRequest {
    pub schedule: Schedule,
    pub release_on: Option<NaiveDate>,
}

/// Refuses a change to the pack while a release of it is scheduled.
pub(crate) fn refuse_if_scheduled(conn: &mut DbConnection, pack_id: &str) -> AppResult<()> {
    match store::scheduled_for(conn, &[pack_id.to_string()])?.remove(pack_id) {
        Some(release) => Err(AppError::ReleaseAlreadyScheduled { release_id: release.id }),
        None => Ok(()),
    }
}

/// The due instant the request names: now for an immediate release, the start
/// of `release_on` in the release zone for a dated one.
fn due_at(request: &ScheduleRequest, ctx: &Ctx) -> AppResult<DateTime<Utc>> {
    match (request.schedule, request.release_on) {
        (Schedule::Immediately, None) => Ok(ctx.now),
        (Schedule::Immediately, Some(_)) => {
            Err(AppError::invalid("release_on", "not_allowed", "release_on is only for \"schedule\": \"on_date\""))
        }
        (Schedule::OnDate, None) => {
            Err(AppError::invalid("release_on", "required", "release_on is required for on_date"))
        }
        (Schedule::OnDate, Some(date)) => schedule::check_release_on("release_on", date, ctx.now, ctx.time_zone)
            .map_err(|e| AppError::Validation(vec![e])),
    }
}

/// Releases a draft: at once (the pack's released versions change in this
/// transaction) or on a date (the release waits, `scheduled`).
pub fn release_draft(
    conn: &mut DbConnection,
    ctx: &Ctx,
    draft_id: &str,
    if_match: Option<&IfMatch>,
    request: ScheduleRequest,
) -> AppResult<ReleaseView> {
    let due_at = due_at(&request, ctx)?;
    conn.write_transaction(|conn| {
        let (draft, pack) = owned_draft(conn, ctx, draft_id)?;
        // Concurrent releases of one pack queue here; what follows sees the winner's work.
        let pack = lock_pack(conn, &pack.id)?;
        // Then the draft (always pack, then draft): its edits and deletion wait, or are waited for.
        drafts::lock(conn, &draft.id)?;
        let draft = drafts::find(conn, &draft.id)?.ok_or(AppError::NotFound)?;
        precondition::require(if_match, || view(conn, draft.clone(), &pack))?;
        if let Some(release) = &draft.release_id {
            return Err(AppError::conflict("draft_already_released", format!("this draft was released as {release}")));
        }
        refuse_if_scheduled(conn, &pack.id)?;
        let draft = view(conn, draft, &pack)?;
        if draft.stale {
            return Err(AppError::conflict(
                "draft_stale",
                "the pack was released or its components changed after this draft was made; make a new draft",
            ));
        }
        if !draft.has_changes() {
            return Err(AppError::conflict("nothing_to_release", "the draft changes no component's version"));
        }
        let release = Release {
            id: new_id(),
            pack_id: pack.id.clone(),
            draft_id: Some(draft.draft.id.clone()),
            status: match request.schedule {
                Schedule::Immediately => ReleaseStatus::Released,
                Schedule::OnDate => ReleaseStatus::Scheduled,
            }
            .as_str()
            .into(),
            schedule: request.schedule.as_str().into(),
            release_on: request.release_on,
            due_at: due_at.naive_utc(),
            time_zone: ctx.time_zone.name().into(),
            requested_by: ctx.caller.account_id().unwrap_or_default().to_string(),
            created_at: ctx.now(),
            updated_at: ctx.now(),
            released_at: (request.schedule == Schedule::Immediately).then(|| ctx.now()),
            canceled_at: None,
            failure_reason: None,
        };
        // The full version set after the release; components that never had a version are left out.
        let items: Vec<ReleaseItem> = draft
            .items
            .iter()
            .filter(|item| item.pending_version_id.is_some() || item.released_version_id.is_some())
            .map(|item| ReleaseItem {
                release_id: release.id.clone(),
                component_id: item.component_id.clone(),
                version_id: item.pending_version_id.clone(),
                previous_version_id: item.released_version_id.clone(),
            })
            .collect();
        // Lock the selected versions (as deleting one does) before checking none was deleted.
        let selected: Vec<String> = items.iter().filter_map(|item| item.version_id.clone()).collect();
        crate::store::versions::lock(conn, &selected)?;
        store::insert(conn, &release, &items)?;
        if let Some(reason) = undeliverable(conn, &release.id)? {
            return Err(AppError::conflict("draft_stale", reason));
        }
        if request.schedule == Schedule::Immediately {
            carry_out(conn, &release, ctx.now())?;
        }
        drafts::mark_released(conn, &draft.draft.id, &release.id, ctx.now())?;
        with_items(conn, release)
    })
}

/// Why a release cannot be carried out, if it cannot: a version it names was deleted since.
fn undeliverable(conn: &mut DbConnection, release_id: &str) -> AppResult<Option<String>> {
    let deleted = store::deleted_versions(conn, release_id)?;
    Ok((!deleted.is_empty()).then(|| {
        let named: Vec<String> = deleted.iter().map(|(component, version)| format!("{component} {version}")).collect();
        format!("selected versions were deleted: {}", named.join(", "))
    }))
}

/// The release's effect, all in the caller's transaction: the pack's released
/// versions and dropped components, a new revision (so drafts made before it
/// go stale), and a push to every subscribed installation not on it yet.
/// Returns the number of installations pushed.
fn carry_out(conn: &mut DbConnection, release: &Release, now: NaiveDateTime) -> AppResult<usize> {
    store::apply_to_pack(conn, &release.id, &release.pack_id)?;
    packs::bump_revision(conn, &release.pack_id, now)?;
    Ok(installations::push_release(conn, &release.id, &release.pack_id, &release.requested_by, now)?)
}

fn with_items(conn: &mut DbConnection, release: Release) -> AppResult<ReleaseView> {
    let page = with_items_all(conn, Page { items: vec![release], next_cursor: None })?;
    page.items.into_iter().next().ok_or(AppError::NotFound)
}

/// Items and push counts of a page of releases.
fn with_items_all(conn: &mut DbConnection, page: Page<Release>) -> AppResult<Page<ReleaseView>> {
    let ids: Vec<String> = page.items.iter().map(|r| r.id.clone()).collect();
    let mut items = store::items_for(conn, &ids)?;
    let pushes = installations::push_counts(conn, &ids)?;
    // One count per scheduled release on the page (a pack has at most one): the
    // per-pack form is the one PostgreSQL plans well even without statistics.
    let mut awaiting = std::collections::HashMap::new();
    for release in page.items.iter().filter(|r| r.status == ReleaseStatus::Scheduled.as_str()) {
        awaiting.insert(release.id.clone(), installations::awaiting(conn, &release.pack_id, &release.id)?);
    }
    Ok(page.map(|release| {
        let count = |outcome: &str| pushes.get(&(release.id.clone(), outcome.to_string())).copied().unwrap_or(0);
        let (applied, applied_early) = (count(installations::APPLIED), count(installations::APPLIED_EARLY));
        let waiting = if release.status == ReleaseStatus::Scheduled.as_str() {
            awaiting.get(&release.id).copied().unwrap_or(0)
        } else {
            0
        };
        let counts = PushCounts { targeted: applied + applied_early + waiting, applied, applied_early };
        ReleaseView { items: items.remove(&release.id).unwrap_or_default(), counts, release }
    }))
}

/// The release, if the caller sees its pack (404 otherwise).
fn visible_release(conn: &mut DbConnection, ctx: &Ctx, id: &str) -> AppResult<Release> {
    let release = store::find(conn, id)?.ok_or(AppError::NotFound)?;
    super::packs::catalog_pack(conn, ctx, &release.pack_id)?;
    Ok(release)
}

pub fn get_release(conn: &mut DbConnection, ctx: &Ctx, id: &str) -> AppResult<ReleaseView> {
    let release = visible_release(conn, ctx, id)?;
    with_items(conn, release)
}

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

pub struct ListFilter {
    pub pack: Option<String>,
    pub status: Option<ReleaseStatus>,
    pub due_from: Option<DateTime<Utc>>,
    pub due_before: Option<DateTime<Utc>>,
}

/// The caller's releases, newest first.
pub fn list(
    conn: &mut DbConnection,
    ctx: &Ctx,
    filter: ListFilter,
    page: &PageRequest,
) -> AppResult<Page<ReleaseView>> {
    if let Some(pack) = &filter.pack {
        super::packs::catalog_pack(conn, ctx, pack)?;
    }
    let Some(publisher) = ctx.caller.catalog_scope().owner_filter() else {
        return Ok(Page { items: Vec::new(), next_cursor: None });
    };
    let store_filter = ReleaseFilter {
        publisher,
        pack: filter.pack.as_deref(),
        status: filter.status,
        due_from: filter.due_from.map(|at| at.naive_utc()),
        due_before: filter.due_before.map(|at| at.naive_utc()),
    };
    let rows = store::list(conn, &store_filter, page)?;
    with_items_all(conn, Page::from_rows(rows, page, |r| &r.id))
}

/// The position in the schedule after which a page starts.
pub struct ScheduleCursor {
    pub due_at: NaiveDateTime,
    pub id: String,
}

/// The caller's scheduled releases, soonest first.
pub fn upcoming(
    conn: &mut DbConnection,
    ctx: &Ctx,
    after: Option<ScheduleCursor>,
    limit: i64,
) -> AppResult<(Vec<ReleaseView>, Option<ScheduleCursor>)> {
    let Some(publisher) = ctx.caller.catalog_scope().owner_filter() else { return Ok((Vec::new(), None)) };
    let mut rows = store::schedule(conn, publisher, after.map(|c| (c.due_at, c.id)), limit)?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| ScheduleCursor { due_at: r.due_at, id: r.id.clone() })
    } else {
        None
    };
    let page = with_items_all(conn, Page { items: rows, next_cursor: None })?;
    Ok((page.items, next))
}

/// What became of one due release.
#[derive(Debug)]
pub struct Executed {
    pub release_id: String,
    pub pack_id: String,
    /// Seconds after `due_at`, when carried out after its window closed.
    pub late_by_seconds: Option<i64>,
    /// Why it failed, when it could not be carried out.
    pub failure: Option<String>,
    /// Installations pushed.
    pub pushed: usize,
}

/// Carries out every scheduled release due at `now`, oldest first, each in its
/// own transaction: it is wholly done, marked failed, or still scheduled.
pub fn execute_due(conn: &mut DbConnection, now: DateTime<Utc>) -> AppResult<Vec<Executed>> {
    let mut executed = Vec::new();
    while let Some(outcome) = execute_next_due(conn, now)? {
        executed.push(outcome);
    }
    Ok(executed)
}

/// Claims and carries out the oldest due release, if any.
pub fn execute_next_due(conn: &mut DbConnection, now: DateTime<Utc>) -> AppResult<Option<Executed>> {
    let at = now.naive_utc();
    conn.write_transaction(|conn| {
        let Some(release) = store::claim_next_due(conn, at)? else { return Ok(None) };
        lock_pack(conn, &release.pack_id)?;
        tracing::info!(release = %release.id, pack = %release.pack_id, "claimed due release");
        let mut outcome = Executed {
            release_id: release.id.clone(),
            pack_id: release.pack_id.clone(),
            late_by_seconds: None,
            failure: undeliverable(conn, &release.id)?,
            pushed: 0,
        };
        match &outcome.failure {
            Some(reason) => {
                store::mark_failed(conn, &release.id, reason, at)?;
            }
            None => {
                outcome.pushed = carry_out(conn, &release, at)?;
                store::set_status(conn, &release.id, ReleaseStatus::Released, at)?;
                outcome.late_by_seconds = schedule::lateness(release.due_at.and_utc(), now);
            }
        }
        Ok(Some(outcome))
    })
}

/// A release's pushes: all of them for its publisher (and the admin); a
/// subscriber whose groups have the pack sees its own.
pub fn pushes(
    conn: &mut DbConnection,
    ctx: &Ctx,
    id: &str,
    outcome: Option<&str>,
    page: &PageRequest,
) -> AppResult<Page<installations::Push>> {
    let release = store::find(conn, id)?.ok_or(AppError::NotFound)?;
    let account = match ctx.caller.catalog_scope() {
        CatalogScope::Nothing => {
            super::packs::visible_pack(conn, ctx, &release.pack_id)?;
            ctx.caller.account_id()
        }
        _ => {
            super::packs::catalog_pack(conn, ctx, &release.pack_id)?;
            None
        }
    };
    let filter = installations::PushFilter { release: &release.id, outcome, account };
    let rows = installations::pushes_of_release(conn, &filter, page)?;
    Ok(Page::from_rows(rows, page, |p| &p.installation_id))
}

/// The workers' heartbeats (operators' view: the admin and publishers).
pub fn workers(
    conn: &mut DbConnection,
    ctx: &Ctx,
    page: &PageRequest,
) -> AppResult<Page<crate::store::heartbeats::Heartbeat>> {
    if ctx.caller.catalog_scope().owner_filter().is_none() {
        return Err(AppError::forbidden("worker status is for publishers and the admin"));
    }
    let rows = crate::store::heartbeats::list(conn, page)?;
    Ok(Page::from_rows(rows, page, |h| &h.id))
}
