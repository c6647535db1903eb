//! Staged rollouts: a release that reaches its installations in waves. Each
//! wave is carried out like a release, in one transaction (its pushes,
//! installation moves, events and counts, chosen set-based by the cohort
//! predicate), by the API (the first wave of an immediate release, `advance`,
//! `complete`) or by the worker (a dated release's first wave, nightly waves).
//! The health rule halts a rollout whose current wave fails; the publisher
//! halts, resumes, completes or aborts it.
//!
//! Lock order, as for releases: the release row, then the pack.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};

use super::events::{self, Outbox};
use super::pack_lock::lock_pack;
use super::precondition::{self, IfMatch};
use super::releases::{self, ReleaseView};
use super::Ctx;
use crate::db::DbConnection;
use crate::domain::release::ReleaseStatus;
use crate::domain::rollout::{self as rules, Advance, Cohort, Plan, ReportOutcome, Selector, WaveStatus};
use crate::domain::schedule;
use crate::error::{AppError, AppResult, FieldError};
use crate::store::installations::{self, Installation, Targets};
use crate::store::packs::{self, Pack};
use crate::store::releases::{self as release_store, Release};
use crate::store::rollouts::{self as store, Report, ReportFilter, Rollout, Wave};
use crate::store::{groups, Page, PageRequest};

/// A rollout as a release shows it.
#[derive(Debug, Clone)]
pub struct RolloutView {
    pub rollout: Rollout,
    pub waves: Vec<WaveView>,
}

#[derive(Debug, Clone)]
pub struct WaveView {
    pub wave: Wave,
    /// Installations of the wave whose latest report says `succeeded`.
    pub applied: i64,
    /// Installations of the wave that count as failed (see `store::rollouts::failed_by_wave`).
    pub failed: i64,
}

/// The rollouts of a page of releases, with per-wave counts, in a fixed
/// number of queries whatever the number of releases.
pub(crate) fn views(conn: &mut DbConnection, release_ids: &[String]) -> AppResult<HashMap<String, RolloutView>> {
    let plans = store::for_releases(conn, release_ids)?;
    let rolling: Vec<String> = plans.keys().cloned().collect();
    let failed = store::failed_by_wave(conn, &rolling, None, None)?;
    let succeeded = store::succeeded_by_wave(conn, &rolling)?;
    let count = |counts: &HashMap<(String, i64), i64>, wave: &Wave| {
        counts.get(&(wave.release_id.clone(), wave.wave)).copied().unwrap_or(0)
    };
    Ok(plans
        .into_iter()
        .map(|(release_id, (rollout, waves))| {
            let waves = waves
                .into_iter()
                .map(|wave| WaveView { applied: count(&succeeded, &wave), failed: count(&failed, &wave), wave })
                .collect();
            (release_id, RolloutView { rollout, waves })
        })
        .collect())
}

/// The plan's rules (422 with the field): its own, then its groups, which
/// must be the publisher's and share the pack.
pub(crate) fn check_plan(conn: &mut DbConnection, pack: &Pack, plan: &Plan) -> AppResult<()> {
    plan.check().map_err(AppError::Validation)?;
    let mut errors = Vec::new();
    let selectors = plan.selectors();
    for (i, selector) in selectors.iter().enumerate() {
        let Selector::Group(group_id) = selector else { continue };
        let field = format!("rollout.waves[{i}].account_group_id");
        match groups::find(conn, group_id)? {
            Some(group) if group.publisher_id == pack.publisher_id => {
                if !groups::has_pack(conn, group_id, &pack.id)? {
                    errors.push(FieldError::new(field, "not_sharing_pack", "this group does not share the pack"));
                }
            }
            _ => errors.push(FieldError::new(field, "not_found", "no account group of yours has this id")),
        }
        if selectors[..i].contains(selector) {
            errors.push(FieldError::new(
                format!("rollout.waves[{i}].account_group_id"),
                "duplicate",
                "this group is already an earlier wave",
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(errors))
    }
}

/// Stores the plan of a new release: every wave pending, due as far as is known.
pub(crate) fn create(conn: &mut DbConnection, release: &Release, plan: &Plan, at: NaiveDateTime) -> AppResult<()> {
    let rollout = Rollout {
        release_id: release.id.clone(),
        advance: plan.advance,
        halt_at_failed_percent: plan.halt_at_failed_percent,
        previous_release_id: installations::last_released(conn, &release.pack_id)?,
        current_wave: 0,
        next_due_at: None,
        halted_reason: None,
        halted_at: None,
        health_since: at,
        updated_at: at,
    };
    let zone = zone_of(release);
    let waves: Vec<Wave> = plan
        .selectors()
        .iter()
        .enumerate()
        .map(|(i, selector)| {
            let (account_group_id, percent) = match selector {
                Selector::Group(id) => (Some(id.clone()), None),
                Selector::Percent(p) => (None, Some(*p)),
            };
            Wave {
                release_id: release.id.clone(),
                wave: i as i64 + 1,
                account_group_id,
                percent,
                status: WaveStatus::Pending,
                due_at: wave_due(plan.advance, release.due_at.and_utc(), i as u64, zone),
                started_at: None,
                targeted: None,
            }
        })
        .collect();
    store::insert(conn, &rollout, &waves)?;
    Ok(())
}

/// When the wave `after` waves past the next one (due at `next`) is due: the
/// next at `next`, later ones one local midnight apart (nightly) or when the
/// publisher advances (manual: unknown).
fn wave_due(advance: Advance, next: DateTime<Utc>, after: u64, zone: chrono_tz::Tz) -> Option<NaiveDateTime> {
    match (advance, after) {
        (_, 0) => Some(next.naive_utc()),
        (Advance::Manual, _) => None,
        (Advance::Nightly, n) => Some(rules::nights_after(next, n, zone).naive_utc()),
    }
}

fn zone_of(release: &Release) -> chrono_tz::Tz {
    release.time_zone.parse().unwrap_or(schedule::DEFAULT_TIME_ZONE)
}

fn selectors(waves: &[Wave]) -> Vec<Selector> {
    waves
        .iter()
        .map(|wave| match (&wave.account_group_id, wave.percent) {
            (Some(group), _) => Selector::Group(group.clone()),
            (None, percent) => Selector::Percent(percent.unwrap_or(100)),
        })
        .collect()
}

/// Gives every subscribed account of the pack that has none its bucket
/// (computed here, stored once): one read, one batched insert.
fn ensure_buckets(conn: &mut DbConnection, pack_id: &str) -> AppResult<()> {
    let missing = store::accounts_without_bucket(conn, pack_id)?;
    let buckets: Vec<(String, i64)> = missing
        .into_iter()
        .map(|account| {
            let bucket = rules::bucket(pack_id, &account);
            (account, bucket)
        })
        .collect();
    store::insert_buckets(conn, pack_id, &buckets)?;
    Ok(())
}

/// What starting waves did.
#[derive(Debug, Default, Clone, Copy)]
pub struct WavesOut {
    /// Installations moved.
    pub pushed: usize,
    /// The last wave went out: the release is `released`.
    pub finished: bool,
}

/// Starts the release's next wave in the caller's transaction (the pack's
/// released versions are already the release's): its cohort's installations
/// get their events and pushes and move, the wave is marked with how many it
/// moved, and the publisher hears `release.wave_started`. A wave that adds
/// nobody is done at once and the next follows in the same transaction. After
/// the last wave the release is `released`; otherwise a nightly rollout's next
/// wave is due at the next local midnight.
pub(crate) fn start_next_wave(
    conn: &mut DbConnection,
    release: &Release,
    outbox: &mut Outbox,
    now: DateTime<Utc>,
) -> AppResult<WavesOut> {
    let at = now.naive_utc();
    let (mut rollout, waves) = store::find(conn, &release.id)?.ok_or(AppError::NotFound)?;
    let selectors = selectors(&waves);
    let last = waves.len() as i64;
    ensure_buckets(conn, &release.pack_id)?;
    let mut out = WavesOut::default();
    while rollout.current_wave < last {
        let wave = rollout.current_wave + 1;
        let cohort = Cohort::of(&selectors, wave as usize);
        let targets = match cohort.below {
            None => Targets::Release,
            Some(_) => {
                // The cohort so far, of the accounts subscribed now.
                store::prune_cohort(conn, &release.id, &release.pack_id)?;
                store::extend_cohort(conn, &release.id, &release.pack_id, &cohort)?;
                Targets::Wave
            }
        };
        let told = events::installations_updated(conn, outbox, release, targets)?;
        let pushed = installations::push_release(conn, release, targets, Some(wave), at)?;
        if told != pushed {
            return Err(AppError::internal(std::io::Error::other(format!(
                "wave {wave} of release {} pushed {pushed} installations but wrote {told} events",
                release.id
            ))));
        }
        store::start_wave(conn, &release.id, wave, at, pushed as i64)?;
        rollout.current_wave = wave;
        out.pushed += pushed;
        events::wave_started(conn, outbox, release, wave, &selectors[wave as usize - 1], pushed)?;
        if pushed > 0 {
            break;
        }
    }
    out.finished = rollout.current_wave >= last;
    rollout.next_due_at = None;
    rollout.updated_at = at;
    if !out.finished {
        let next = match rollout.advance {
            Advance::Nightly => Some(rules::next_night(now, zone_of(release))),
            Advance::Manual => None,
        };
        rollout.next_due_at = next.map(|n| n.naive_utc());
        reschedule_pending(conn, release, &rollout, &waves, next)?;
    }
    store::save(conn, &rollout)?;
    if out.finished {
        release_store::set_status(conn, &release.id, ReleaseStatus::Released, at)?;
        let counts = releases::push_counts_of(conn, &release.id)?;
        let first_out = waves.first().and_then(|w| w.started_at).unwrap_or(at).and_utc();
        let late = schedule::lateness(release.due_at.and_utc(), first_out);
        events::release_released(conn, outbox, release, counts, late)?;
    } else if release.status != ReleaseStatus::InProgress {
        release_store::set_status(conn, &release.id, ReleaseStatus::InProgress, at)?;
    }
    Ok(out)
}

/// A dated release was moved: its waves are due from its new date (and
/// canceled with it, when it is canceled).
pub(crate) fn release_changed(conn: &mut DbConnection, release: &Release) -> AppResult<()> {
    let Some((rollout, waves)) = store::find(conn, &release.id)? else { return Ok(()) };
    match release.status {
        ReleaseStatus::Canceled => {
            store::cancel_pending_waves(conn, &release.id)?;
        }
        _ => reschedule_pending(conn, release, &rollout, &waves, Some(release.due_at.and_utc()))?,
    }
    Ok(())
}

/// Sets the due instants of the waves not gone out: the next at `next`, each
/// later one a night after (nightly); none while unknown (manual, halted).
fn reschedule_pending(
    conn: &mut DbConnection,
    release: &Release,
    rollout: &Rollout,
    waves: &[Wave],
    next: Option<DateTime<Utc>>,
) -> AppResult<()> {
    let zone = zone_of(release);
    let due: Vec<(i64, Option<NaiveDateTime>)> = waves
        .iter()
        .filter(|w| w.wave > rollout.current_wave)
        .map(|w| {
            let after = (w.wave - rollout.current_wave - 1) as u64;
            (w.wave, next.and_then(|next| wave_due(rollout.advance, next, after, zone)))
        })
        .collect();
    store::set_wave_due(conn, &release.id, &due)?;
    Ok(())
}

/// Why the rollout must halt now, if it must: the failed installations of
/// its current wave (since its start or last resume) reach the threshold.
fn unhealthy_reason(conn: &mut DbConnection, rollout: &Rollout, waves: &[Wave]) -> AppResult<Option<String>> {
    let wave = rollout.current_wave;
    let Some(current) = waves.iter().find(|w| w.wave == wave) else { return Ok(None) };
    let moved = current.targeted.unwrap_or(0);
    let release = std::slice::from_ref(&rollout.release_id);
    let failed = store::failed_by_wave(conn, release, Some(rollout.health_since), Some(wave))?.values().sum::<i64>();
    if !rules::unhealthy(failed, moved, rollout.halt_at_failed_percent) {
        return Ok(None);
    }
    Ok(Some(format!(
        "{failed} of the {moved} installations of wave {wave} failed, reaching halt_at_failed_percent ({}%)",
        rollout.halt_at_failed_percent.unwrap_or_default()
    )))
}

/// Halts the rollout in the caller's transaction: no further wave, the pack's
/// released versions back to the previous release's (what a new installation
/// gets), the publisher told why.
fn halt_locked(
    conn: &mut DbConnection,
    release: &Release,
    reason: &str,
    outbox: &mut Outbox,
    at: NaiveDateTime,
) -> AppResult<()> {
    let (mut rollout, waves) = store::find(conn, &release.id)?.ok_or(AppError::NotFound)?;
    rollout.halted_reason = Some(reason.to_string());
    rollout.halted_at = Some(at);
    rollout.next_due_at = None;
    rollout.updated_at = at;
    store::save(conn, &rollout)?;
    reschedule_pending(conn, release, &rollout, &waves, None)?;
    release_store::set_status(conn, &release.id, ReleaseStatus::Halted, at)?;
    release_store::restore_pack(conn, &release.id, &release.pack_id, at)?;
    packs::bump_revision(conn, &release.pack_id, at)?;
    events::rollout_event(conn, outbox, release, crate::domain::event::EventType::ReleaseHalted, Some(reason))
}

/// Halts the rollout of `release` (locked, with its pack) if its current wave
/// is unhealthy. Returns whether it halted.
fn halt_if_unhealthy(
    conn: &mut DbConnection,
    release: &Release,
    outbox: &mut Outbox,
    at: NaiveDateTime,
) -> AppResult<bool> {
    if release.status != ReleaseStatus::InProgress {
        return Ok(false);
    }
    let Some((rollout, waves)) = store::find(conn, &release.id)? else { return Ok(false) };
    match unhealthy_reason(conn, &rollout, &waves)? {
        Some(reason) => {
            halt_locked(conn, release, &reason, outbox, at)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Checks the health of these releases' rollouts again (deliveries of their
/// updates have just failed 3 attempts), each in its own transaction.
pub fn check_health(conn: &mut DbConnection, release_ids: &[String], now: DateTime<Utc>) -> AppResult<usize> {
    let mut halted = 0;
    for id in release_ids {
        halted += usize::from(conn.write_transaction(|conn| {
            let Some(release) = release_store::lock(conn, id)? else { return Ok::<_, AppError>(false) };
            lock_pack(conn, &release.pack_id)?;
            let mut outbox = Outbox::new(now.naive_utc());
            let halted = halt_if_unhealthy(conn, &release, &mut outbox, now.naive_utc())?;
            outbox.seal(conn)?;
            Ok(halted)
        })?);
    }
    Ok(halted)
}

/// What the worker did with one due wave.
#[derive(Debug)]
pub enum WaveRun {
    Started {
        release_id: String,
        pushed: usize,
        finished: bool,
    },
    Halted {
        release_id: String,
        reason: String,
    },
    /// Another worker took it first.
    Skipped,
}

/// Claims the rollout whose next wave is due first and carries the wave out:
/// unless the current wave is unhealthy, when it halts instead. A missed
/// night goes out late, once; the next is due the midnight after. An
/// unexpected error halts that rollout (with the reason) instead of stopping
/// the others; only an unavailable database fails the call.
pub fn execute_next_due_wave(conn: &mut DbConnection, now: DateTime<Utc>) -> AppResult<Option<WaveRun>> {
    let at = now.naive_utc();
    conn.write_transaction(|conn| {
        let Some(release) = release_store::claim_rolling_due(conn, at)? else { return Ok(None) };
        lock_pack(conn, &release.pack_id)?;
        // Again under the locks: another worker may have carried it out meanwhile.
        let Some((rollout, waves)) = store::find(conn, &release.id)? else { return Ok(Some(WaveRun::Skipped)) };
        if release.status != ReleaseStatus::InProgress || rollout.next_due_at.is_none_or(|d| d > at) {
            return Ok(Some(WaveRun::Skipped));
        }
        let mut outbox = Outbox::new(at);
        if let Some(reason) = unhealthy_reason(conn, &rollout, &waves)? {
            halt_locked(conn, &release, &reason, &mut outbox, at)?;
            outbox.seal(conn)?;
            return Ok(Some(WaveRun::Halted { release_id: release.id, reason }));
        }
        let started = releases::in_savepoint(conn, |conn| {
            let mut inner = Outbox::new(at);
            let out = start_next_wave(conn, &release, &mut inner, now)?;
            crate::failpoint::hit("wave", &release.pack_id)?;
            inner.seal(conn)?;
            Ok(out)
        });
        match started {
            Ok(out) => Ok(Some(WaveRun::Started { release_id: release.id, pushed: out.pushed, finished: out.finished })),
            Err(error) if error.is_retryable() => Err(error),
            Err(error) => {
                tracing::error!(release = %release.id, pack = %release.pack_id, error = %error.chain(), "unexpected error carrying out a wave; the rollout is halted");
                halt_locked(conn, &release, WAVE_SET_ASIDE_REASON, &mut outbox, at)?;
                outbox.seal(conn)?;
                Ok(Some(WaveRun::Halted { release_id: release.id, reason: WAVE_SET_ASIDE_REASON.into() }))
            }
        }
    })
}

/// Why a rollout whose wave met an unexpected error was halted; the cause
/// goes to the log only (it may hold SQL).
pub const WAVE_SET_ASIDE_REASON: &str =
    "an unexpected error stopped a wave, so the rollout was halted; the worker's log has the cause";

/// When the next wave of any rollout is due.
pub fn next_due_at(conn: &mut DbConnection) -> AppResult<Option<DateTime<Utc>>> {
    Ok(store::next_due_at(conn)?.map(|at| at.and_utc()))
}

/// What the publisher asks of a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Advance,
    Halt,
    Resume,
    Complete,
    Abort,
}

/// Carries out a publisher's control of its release's rollout, in the order
/// DESIGN.md settles: 404, 403, 412, then 409 for a release that has no
/// rollout (`not_a_rollout`) or is not in a state the control applies to.
pub fn control(
    conn: &mut DbConnection,
    ctx: &Ctx,
    id: &str,
    if_match: Option<&IfMatch>,
    control: Control,
) -> AppResult<ReleaseView> {
    conn.write_transaction(|conn| {
        let release = releases::visible_release(conn, ctx, id)?;
        ctx.caller.publisher_id()?;
        let release = release_store::lock(conn, &release.id)?.ok_or(AppError::NotFound)?;
        precondition::require(if_match, || releases::get_release_view(conn, release.clone()))?;
        lock_pack(conn, &release.pack_id)?;
        let Some((rollout, _)) = store::find(conn, &release.id)? else {
            return Err(AppError::conflict("not_a_rollout", "this release does not roll out in waves"));
        };
        let at = ctx.now();
        let mut outbox = Outbox::new(at);
        let status = release.status;
        let refuse = |expected: &str| {
            AppError::conflict(
                "rollout_not_in_progress",
                format!("the release is {}; {} needs a rollout that is {expected}", status.as_str(), name(control)),
            )
        };
        match control {
            Control::Advance => {
                if status != ReleaseStatus::InProgress {
                    return Err(refuse("in_progress"));
                }
                // The next wave comes due now: the health rule is checked first.
                if !halt_if_unhealthy(conn, &release, &mut outbox, at)? {
                    start_next_wave(conn, &release, &mut outbox, ctx.now)?;
                }
            }
            Control::Halt => {
                if status != ReleaseStatus::InProgress {
                    return Err(refuse("in_progress"));
                }
                halt_locked(conn, &release, HALTED_BY_REQUEST, &mut outbox, at)?;
            }
            Control::Resume => {
                if status != ReleaseStatus::Halted {
                    return Err(AppError::conflict(
                        "rollout_not_halted",
                        format!("the release is {}; only a halted rollout resumes", status.as_str()),
                    ));
                }
                resume_locked(conn, &release, rollout, &mut outbox, ctx.now)?;
            }
            Control::Complete => {
                if !matches!(status, ReleaseStatus::InProgress | ReleaseStatus::Halted) {
                    return Err(refuse("in_progress or halted"));
                }
                if status == ReleaseStatus::Halted {
                    resume_locked(conn, &release, rollout, &mut outbox, ctx.now)?;
                }
                let release = Release { status: ReleaseStatus::InProgress, ..release.clone() };
                while !start_next_wave(conn, &release, &mut outbox, ctx.now)?.finished {}
            }
            Control::Abort => {
                if !matches!(status, ReleaseStatus::InProgress | ReleaseStatus::Halted) {
                    return Err(refuse("in_progress or halted"));
                }
                abort_locked(conn, &release, &mut outbox, at)?;
            }
        }
        outbox.seal(conn)?;
        let release = release_store::find(conn, &release.id)?.ok_or(AppError::NotFound)?;
        releases::get_release_view(conn, release)
    })
}

/// The reason a rollout halted by its publisher shows.
pub const HALTED_BY_REQUEST: &str = "halted by the publisher";

fn name(control: Control) -> &'static str {
    match control {
        Control::Advance => "advance",
        Control::Halt => "halt",
        Control::Resume => "resume",
        Control::Complete => "complete",
        Control::Abort => "abort",
    }
}

/// Resumes a halted rollout with the same cohort: the pack's released
/// versions are the release's again, only failures from now on count, and a
/// nightly rollout goes on at the next local midnight.
fn resume_locked(
    conn: &mut DbConnection,
    release: &Release,
    mut rollout: Rollout,
    outbox: &mut Outbox,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let at = now.naive_utc();
    let (_, waves) = store::find(conn, &release.id)?.ok_or(AppError::NotFound)?;
    let next = match rollout.advance {
        Advance::Nightly => Some(rules::next_night(now, zone_of(release))),
        Advance::Manual => None,
    };
    rollout.halted_reason = None;
    rollout.halted_at = None;
    rollout.health_since = at;
    rollout.next_due_at = next.map(|n| n.naive_utc());
    rollout.updated_at = at;
    store::save(conn, &rollout)?;
    reschedule_pending(conn, release, &rollout, &waves, next)?;
    release_store::set_status(conn, &release.id, ReleaseStatus::InProgress, at)?;
    release_store::apply_to_pack(conn, &release.id, &release.pack_id)?;
    packs::bump_revision(conn, &release.pack_id, at)?;
    events::rollout_event(conn, outbox, release, crate::domain::event::EventType::ReleaseResumed, None)
}

/// Aborts: no more waves; the pack's released versions return to the previous
/// release's; installations already reached keep the new versions; the
/// others' pending updates disappear, and they are told.
fn abort_locked(conn: &mut DbConnection, release: &Release, outbox: &mut Outbox, at: NaiveDateTime) -> AppResult<()> {
    events::unreached_canceled(conn, outbox, release)?;
    store::cancel_pending_waves(conn, &release.id)?;
    let (mut rollout, _) = store::find(conn, &release.id)?.ok_or(AppError::NotFound)?;
    rollout.next_due_at = None;
    rollout.updated_at = at;
    store::save(conn, &rollout)?;
    if release.status == ReleaseStatus::InProgress {
        release_store::restore_pack(conn, &release.id, &release.pack_id, at)?;
        packs::bump_revision(conn, &release.pack_id, at)?;
    }
    release_store::set_status(conn, &release.id, ReleaseStatus::Aborted, at)?;
    events::rollout_event(conn, outbox, release, crate::domain::event::EventType::ReleaseAborted, None)
}

/// What a subscriber reports.
pub struct NewReport {
    pub release_id: String,
    pub outcome: ReportOutcome,
    pub detail: Option<String>,
}

pub const MAX_DETAIL_CHARS: usize = 2000;

/// Records the subscriber's report of applying a release to its installation
/// (the latest wins). A `failed` one during a rollout may halt it.
pub fn report(
    conn: &mut DbConnection,
    ctx: &Ctx,
    account_id: &str,
    installation_id: &str,
    input: NewReport,
) -> AppResult<Report> {
    conn.write_transaction(|conn| {
        let (account, installation) = super::installations::own_installation(conn, ctx, account_id, installation_id)?;
        if input.detail.as_ref().is_some_and(|d| d.chars().count() > MAX_DETAIL_CHARS) {
            return Err(AppError::invalid(
                "detail",
                "too_long",
                format!("detail is at most {MAX_DETAIL_CHARS} characters"),
            ));
        }
        let not_running = || {
            AppError::conflict(
                "release_not_running",
                "the installation does not run this release: report on the release it runs",
            )
        };
        if installation.release_id.as_deref() != Some(input.release_id.as_str()) {
            return Err(not_running());
        }
        let release = release_store::find(conn, &input.release_id)?.ok_or_else(not_running)?;
        // A failure may halt a rollout in progress: then the release row, and
        // the pack, as every rollout writer takes them, and the installation
        // read again under them. Other reports lock nothing.
        let may_halt = input.outcome == ReportOutcome::Failed && release.status == ReleaseStatus::InProgress;
        let (release, installation) = if may_halt {
            let release = release_store::lock(conn, &release.id)?.ok_or_else(not_running)?;
            lock_pack(conn, &release.pack_id)?;
            let installation: Installation =
                installations::find_live(conn, &installation.id)?.ok_or(AppError::NotFound)?;
            if installation.release_id.as_deref() != Some(release.id.as_str()) {
                return Err(not_running());
            }
            (release, installation)
        } else {
            (release, installation)
        };
        let report = Report {
            release_id: release.id.clone(),
            installation_id: installation.id.clone(),
            account_id: account.id,
            outcome: input.outcome,
            detail: input.detail,
            reported_at: ctx.now(),
        };
        store::upsert_report(conn, &report)?;
        if may_halt {
            let mut outbox = Outbox::new(ctx.now());
            halt_if_unhealthy(conn, &release, &mut outbox, ctx.now())?;
            outbox.seal(conn)?;
        }
        Ok(report)
    })
}

/// A release's reports: every one to its publisher, a subscriber's own to it.
pub fn reports(
    conn: &mut DbConnection,
    ctx: &Ctx,
    release_id: &str,
    outcome: Option<ReportOutcome>,
    page: &PageRequest,
) -> AppResult<Page<Report>> {
    let (release, account) = releases::release_for_records(conn, ctx, release_id)?;
    let filter = ReportFilter { release: &release.id, outcome, account };
    let rows = store::reports(conn, &filter, page)?;
    Ok(Page::from_rows(rows, page, |r| &r.installation_id))
}

/// When each of these installations (not yet on `release`, subscribed) is
/// expected to get it: its wave's due instant, or `None` while that is
/// unknown (a manual wave, a halted rollout). Keyed by installation id.
pub(crate) fn expected_at(
    conn: &mut DbConnection,
    release: &Release,
    installations: &[&Installation],
) -> AppResult<HashMap<String, Option<NaiveDateTime>>> {
    let Some((rollout, waves)) = store::find(conn, &release.id)? else {
        let due = (release.status == ReleaseStatus::Scheduled).then_some(release.due_at);
        return Ok(installations.iter().map(|i| (i.id.clone(), due)).collect());
    };
    let mut accounts: Vec<String> = installations.iter().map(|i| i.account_id.clone()).collect();
    accounts.sort_unstable();
    accounts.dedup();
    let buckets = store::buckets_of(conn, &release.pack_id, &accounts)?;
    let wave_groups: Vec<String> = waves.iter().filter_map(|w| w.account_group_id.clone()).collect();
    let memberships = store::memberships(conn, &accounts, &wave_groups)?;
    let selectors = selectors(&waves);
    let no_groups = Vec::new();
    Ok(installations
        .iter()
        .map(|installation| {
            let account = &installation.account_id;
            let bucket = buckets.get(account).copied().unwrap_or_else(|| rules::bucket(&release.pack_id, account));
            let groups = memberships.get(account).unwrap_or(&no_groups);
            // The first wave not gone out whose cohort holds the account.
            let due = waves
                .iter()
                .filter(|w| w.status == WaveStatus::Pending)
                .find(|w| Cohort::of(&selectors, w.wave as usize).holds(groups, bucket))
                .and_then(|w| w.due_at)
                .filter(|_| rollout.halted_at.is_none());
            (installation.id.clone(), due)
        })
        .collect())
}
