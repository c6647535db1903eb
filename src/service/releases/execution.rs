//! Carrying a release out: the one function that changes the pack, moves and
//! pushes its installations and marks the release, called by the API for an
//! immediate release and by the worker for due ones; and the worker's claim
//! of the next due release, where an unexpected error sets that release aside
//! instead of stopping the others.

use std::panic::AssertUnwindSafe;

use chrono::{DateTime, Utc};
use diesel::connection::TransactionManager;

use super::PushCounts;
use crate::db::DbConnection;
use crate::domain::release::ReleaseStatus;
use crate::domain::schedule;
use crate::error::{AppError, AppResult};
use crate::failpoint;
use crate::service::events::{self, Outbox};
use crate::service::pack_lock::lock_pack;
use crate::service::rollouts;
use crate::store::installations::{self, Targets};
use crate::store::packs;
use crate::store::releases::{self as store, Release};

/// Why a release cannot be carried out, if it cannot: a version it names was deleted since.
pub(super) fn undeliverable(conn: &mut DbConnection, release_id: &str) -> AppResult<Option<String>> {
    let deleted = store::deleted_versions(conn, release_id)?;
    Ok((!deleted.is_empty()).then(|| {
        let named: Vec<String> = deleted.iter().map(|(component, version)| format!("{component} {version}")).collect();
        format!("selected versions were deleted: {}", named.join(", "))
    }))
}

/// Carries the release out in the caller's transaction and marks it. The
/// pack's released versions and dropped components change, its revision moves
/// on (drafts made before go stale), every subscribed installation not on the
/// release yet moves to it with a push, and the release becomes `released`.
/// When a version it names was deleted since, it becomes `failed` with the
/// reason instead and nothing else changes.
pub(super) fn carry_out(conn: &mut DbConnection, release: &Release, now: DateTime<Utc>) -> AppResult<Executed> {
    let at = now.naive_utc();
    let mut outcome = Executed::of(release);
    let mut outbox = Outbox::new(at);
    if let Some(reason) = undeliverable(conn, &release.id)? {
        store::mark_failed(conn, &release.id, &reason, at)?;
        events::release_failed(conn, &mut outbox, release, &reason)?;
        outbox.seal(conn)?;
        outcome.failure = Some(reason);
        return Ok(outcome);
    }
    store::apply_to_pack(conn, &release.id, &release.pack_id)?;
    packs::bump_revision(conn, &release.pack_id, at)?;
    // The events name what each installation ran before: written before they move.
    if crate::store::rollouts::find(conn, &release.id)?.is_some() {
        // A rollout: its first wave goes out now (and the ones after it, if
        // they add nobody); the release is `in_progress` until the last.
        let out = rollouts::start_next_wave(conn, release, &mut outbox, now)?;
        outcome.pushed = out.pushed;
        failpoint::hit("carry_out", &release.pack_id)?;
        outcome.late_by_seconds = schedule::lateness(release.due_at.and_utc(), now);
        outbox.seal(conn)?;
        return Ok(outcome);
    }
    // Its pushes so far (early appliers' only): the ones it writes now are all `applied`.
    let before = super::push_counts_of(conn, &release.id)?;
    let told = events::installations_updated(conn, &mut outbox, release, Targets::Release)?;
    outcome.pushed = installations::push_release(conn, release, Targets::Release, None, at)?;
    if told != outcome.pushed {
        return Err(AppError::internal(std::io::Error::other(format!(
            "release {} pushed {} installations but wrote {told} events",
            release.id, outcome.pushed
        ))));
    }
    failpoint::hit("carry_out", &release.pack_id)?;
    store::set_status(conn, &release.id, ReleaseStatus::Released, at)?;
    outcome.late_by_seconds = schedule::lateness(release.due_at.and_utc(), now);
    let applied = before.applied + outcome.pushed as i64;
    let counts = PushCounts { targeted: applied + before.applied_early, applied, ..before };
    events::release_released(conn, &mut outbox, release, counts, outcome.late_by_seconds)?;
    outcome.counts = Some(counts);
    outbox.seal(conn)?;
    Ok(outcome)
}

/// The reason a release that met an unexpected error is failed with; the
/// cause goes to the log only (it may hold SQL).
pub const SET_ASIDE_REASON: &str =
    "an unexpected error stopped this release, so it was set aside; the worker's log has the cause";

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
    /// The release's push counts once carried out (not for a rollout's first wave, nor a failure).
    pub counts: Option<PushCounts>,
}

impl Executed {
    fn of(release: &Release) -> Self {
        Self {
            release_id: release.id.clone(),
            pack_id: release.pack_id.clone(),
            late_by_seconds: None,
            failure: None,
            pushed: 0,
            counts: None,
        }
    }
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

/// Claims and carries out the oldest due release, if any. An unexpected error
/// (or a panic) while carrying it out undoes its work and marks it `failed`,
/// so the next pass goes on with the others; only an unavailable database
/// fails the call, leaving the release scheduled for a later try.
pub fn execute_next_due(conn: &mut DbConnection, now: DateTime<Utc>) -> AppResult<Option<Executed>> {
    conn.write_transaction(|conn| {
        let Some(release) = store::claim_next_due(conn, now.naive_utc())? else { return Ok(None) };
        lock_pack(conn, &release.pack_id)?;
        tracing::info!(release = %release.id, pack = %release.pack_id, "claimed due release");
        match in_savepoint(conn, |conn| carry_out(conn, &release, now)) {
            Ok(outcome) => Ok(Some(outcome)),
            Err(error) if error.is_retryable() => Err(error),
            Err(error) => {
                tracing::error!(release = %release.id, pack = %release.pack_id, error = %error.chain(), "unexpected error carrying out a release; it is set aside as failed");
                store::mark_failed(conn, &release.id, SET_ASIDE_REASON, now.naive_utc())?;
                let mut outbox = Outbox::new(now.naive_utc());
                events::release_failed(conn, &mut outbox, &release, SET_ASIDE_REASON)?;
                outbox.seal(conn)?;
                Ok(Some(Executed { failure: Some(SET_ASIDE_REASON.into()), ..Executed::of(&release) }))
            }
        }
    })
}

/// Runs `work` in a savepoint of the open transaction: an error, or a panic,
/// inside it rolls back only what `work` did.
pub(crate) fn in_savepoint<T>(
    conn: &mut DbConnection,
    work: impl FnOnce(&mut DbConnection) -> AppResult<T>,
) -> AppResult<T> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| conn.write_transaction(work))) {
        Ok(result) => result,
        Err(panic) => {
            // The panic skipped the savepoint's own rollback.
            <DbConnection as TransactionManager<DbConnection>>::rollback_transaction(conn)?;
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into());
            Err(AppError::internal(std::io::Error::other(format!("panicked: {message}"))))
        }
    }
}

/// When the next scheduled release comes due, if any is scheduled.
pub fn next_due_at(conn: &mut DbConnection) -> AppResult<Option<DateTime<Utc>>> {
    Ok(store::next_due_at(conn)?.map(|at| at.and_utc()))
}
