//! Release wizard step 2: a draft released now or scheduled for a date.

use chrono::{DateTime, NaiveDate, Utc};

use super::execution::{carry_out, undeliverable};
use super::{refuse_if_scheduled, with_items_counted, ReleaseView};
use crate::db::DbConnection;
use crate::domain::release::{ReleaseStatus, Schedule};
use crate::domain::rollout::Plan;
use crate::domain::schedule;
use crate::error::{AppError, AppResult};
use crate::service::drafts::{new_draft, owned_draft, view};
use crate::service::events::{self, Outbox};
use crate::service::pack_lock::lock_pack;
use crate::service::packs::owned_pack;
use crate::service::precondition::{self, IfMatch};
use crate::service::rollouts;
use crate::service::{new_id, Ctx};
use crate::store::drafts::{self, Draft};
use crate::store::packs::Pack;
use crate::store::releases::{self as store, Release, ReleaseItem};

/// What the caller asked for in step 2.
pub struct ScheduleRequest {
    pub schedule: Schedule,
    pub release_on: Option<NaiveDate>,
    /// Waves to roll out in, instead of reaching every installation at once.
    pub rollout: Option<Plan>,
}

/// The request's rules (422): its date, then its rollout plan.
fn checked_due_at(
    conn: &mut DbConnection,
    request: &ScheduleRequest,
    ctx: &Ctx,
    pack: &Pack,
) -> AppResult<DateTime<Utc>> {
    let due_at = due_at(request, ctx)?;
    if let Some(plan) = &request.rollout {
        rollouts::check_plan(conn, pack, plan)?;
    }
    Ok(due_at)
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
    conn.write_transaction(|conn| {
        let (draft, pack) = owned_draft(conn, ctx, draft_id)?;
        // Concurrent releases of one pack queue here; what follows sees the winner's work.
        let pack = lock_pack(conn, &pack.id)?;
        // Then the draft (always pack, then draft): its edits and deletion wait, or are waited for.
        drafts::lock(conn, &draft.id)?;
        let draft = drafts::find(conn, &draft.id)?.ok_or(AppError::NotFound)?;
        precondition::require(if_match, || view(conn, draft.clone(), &pack))?;
        // The body's rules (422) come after what the caller may see and do, before state conflicts (409).
        let due_at = checked_due_at(conn, &request, ctx, &pack)?;
        if let Some(release) = &draft.release_id {
            return Err(AppError::conflict("draft_already_released", format!("this draft was released as {release}")));
        }
        release_locked(conn, ctx, draft, &pack, &request, due_at)
    })
}

/// The one-call release: a draft of every member's latest version, made and
/// released in one transaction, with the same rules and answers as the
/// wizard's (for both deployment models; CI pipelines publish a version and
/// release it so).
pub fn release_latest(
    conn: &mut DbConnection,
    ctx: &Ctx,
    pack_id: &str,
    request: ScheduleRequest,
) -> AppResult<ReleaseView> {
    conn.write_transaction(|conn| {
        let pack = owned_pack(conn, ctx, pack_id)?;
        let pack = lock_pack(conn, &pack.id)?;
        let due_at = checked_due_at(conn, &request, ctx, &pack)?;
        let draft = new_draft(conn, ctx, &pack)?;
        release_locked(conn, ctx, draft, &pack, &request, due_at)
    })
}

/// Releases `draft` of the locked `pack`, due at `due_at`: the state checks
/// (409s), the release and its items, and for an immediate release its effect.
fn release_locked(
    conn: &mut DbConnection,
    ctx: &Ctx,
    draft: Draft,
    pack: &Pack,
    request: &ScheduleRequest,
    due_at: DateTime<Utc>,
) -> AppResult<ReleaseView> {
    refuse_if_scheduled(conn, &pack.id)?;
    let draft = view(conn, draft, pack)?;
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
        // An immediate release is carried out below, which marks it.
        status: match request.schedule {
            Schedule::Immediately => ReleaseStatus::InProgress,
            Schedule::OnDate => ReleaseStatus::Scheduled,
        },
        schedule: request.schedule,
        release_on: request.release_on,
        due_at: due_at.naive_utc(),
        time_zone: ctx.time_zone.name().into(),
        requested_by: ctx.caller.account_id().unwrap_or_default().to_string(),
        created_at: ctx.now(),
        updated_at: ctx.now(),
        released_at: None,
        canceled_at: None,
        failure_reason: None,
        requested_with_token: ctx.token_id.clone(),
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
    if let Some(plan) = &request.rollout {
        rollouts::create(conn, &release, plan, ctx.now())?;
    }
    drafts::mark_released(conn, &draft.draft.id, &release.id, ctx.now())?;
    let (failure, counts) = match request.schedule {
        Schedule::Immediately => {
            let executed = carry_out(conn, &release, ctx.now)?;
            (executed.failure, executed.counts)
        }
        Schedule::OnDate => match undeliverable(conn, &release.id)? {
            None => {
                let mut outbox = Outbox::new(ctx.now());
                events::release_scheduled(conn, &mut outbox, &release)?;
                outbox.seal(conn)?;
                (None, None)
            }
            failure => (failure, None),
        },
    };
    if let Some(reason) = failure {
        return Err(AppError::conflict("draft_stale", reason));
    }
    let release = store::find(conn, &release.id)?.ok_or(AppError::NotFound)?;
    with_items_counted(conn, release, counts)
}
