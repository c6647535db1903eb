//! Idempotency keys: a retried POST with the same key and body, from the same
//! account, gets the first answer again instead of doing the work twice.
//!
//! A key goes `in_progress` (claimed) → `committed` (the work's transaction,
//! which marks it, has committed) → `done` (the answer is stored). The mark is
//! written in the work's own transaction (`commit_with_work`), so a request that
//! died before committing left `in_progress` and may run again once its claim
//! lapses, while one that committed is never run again, even if its answer was
//! lost with the process.

use chrono::{DateTime, Duration, Utc};

use super::auth::{self, Caller};
use super::Settings;
use crate::db::DbConnection;
use crate::error::{AppError, AppResult};
pub use crate::store::idempotency::Claim;
use crate::store::idempotency::{self as store, StoredKey};

/// How long a key is remembered.
pub const RETENTION: Duration = Duration::hours(24);
/// A claim still `in_progress` after this was left by a request that died
/// before its work committed; another request may claim the key again.
const ABANDONED_AFTER: Duration = Duration::minutes(2);

pub enum Begin {
    /// Go ahead; do the work with `commit_with_work`, then `complete` or `abandon`.
    Started(Claim),
    /// The first answer, to replay.
    Replay(StoredKey),
    /// A request with this key is still running: wait (`is_running`), or refuse (`in_progress`).
    Running { scope: String },
}

/// Claims the key for this request, or finds what became of an earlier one.
pub fn begin(
    conn: &mut DbConnection,
    settings: &Settings,
    token: &str,
    key: &str,
    fingerprint: &str,
    now: DateTime<Utc>,
) -> AppResult<Begin> {
    let scope = match auth::authenticate(conn, settings, token, now)?.0 {
        Caller::Admin => "admin".to_string(),
        Caller::Account { account, .. } => account.id,
    };
    let result = conn.write_transaction(|conn| {
        if let Some(existing) = store::find(conn, &scope, key)? {
            let expired = existing.created_at < (now - RETENTION).naive_utc();
            let lapsed = existing.created_at < (now - ABANDONED_AFTER).naive_utc();
            let abandoned = existing.state == store::IN_PROGRESS && lapsed;
            if !expired && !abandoned {
                if existing.fingerprint != fingerprint {
                    return Err(AppError::rule(
                        "idempotency_key_reused",
                        "this Idempotency-Key was used for a different request; use a new key",
                    ));
                }
                return match existing.state.as_str() {
                    store::DONE => Ok(Begin::Replay(existing)),
                    store::COMMITTED if lapsed => Err(answer_lost()),
                    _ => Ok(Begin::Running { scope: scope.clone() }),
                };
            }
            store::delete(conn, &scope, key)?;
        }
        let claim = Claim { scope: scope.clone(), key: key.to_string(), claimed_at: now.naive_utc() };
        store::insert(
            conn,
            &StoredKey {
                scope: claim.scope.clone(),
                idempotency_key: claim.key.clone(),
                fingerprint: fingerprint.to_string(),
                state: store::IN_PROGRESS.to_string(),
                status: None,
                content_type: None,
                location: None,
                body: None,
                created_at: claim.claimed_at,
            },
        )?;
        Ok(Begin::Started(claim))
    });
    match result {
        // A concurrent twin inserted the key first.
        Err(AppError::Conflict { code: "conflict", .. }) => Ok(Begin::Running { scope }),
        other => other,
    }
}

/// The refusal of a twin that is still running.
pub fn in_progress() -> AppError {
    AppError::conflict("idempotency_in_progress", "a request with this Idempotency-Key is still running; retry shortly")
}

fn answer_lost() -> AppError {
    AppError::conflict(
        "idempotency_answer_lost",
        "the request with this Idempotency-Key was carried out, but the server stopped before storing its answer; \
         read the result (it is there) rather than sending the request again",
    )
}

/// Runs the work of a claimed request and marks the key `committed` in the
/// same transaction: both commit, or neither does. A claim that lapsed and was
/// taken by a retry meanwhile fails here, and its work is rolled back.
pub fn commit_with_work<T>(
    conn: &mut DbConnection,
    claim: &Claim,
    work: impl FnOnce(&mut DbConnection) -> AppResult<T>,
) -> AppResult<T> {
    conn.write_transaction(|conn| {
        let done = work(conn)?;
        match store::mark_committed(conn, claim)? {
            0 => Err(in_progress()),
            _ => Ok(done),
        }
    })
}

/// Whether the request holding this key is still running (or has committed
/// and is storing its answer). A read, so a twin waiting on it never queues
/// for the write lock (SQLite) behind the work.
pub fn is_running(conn: &mut DbConnection, scope: &str, key: &str) -> AppResult<bool> {
    let state = store::state_of(conn, scope, key)?;
    Ok(matches!(state.as_deref(), Some(store::IN_PROGRESS | store::COMMITTED)))
}

/// Stores the answer to replay.
pub fn complete(
    conn: &mut DbConnection,
    claim: &Claim,
    status: u16,
    content_type: Option<&str>,
    location: Option<&str>,
    body: &str,
) -> AppResult<()> {
    store::complete(conn, claim, i64::from(status), content_type, location, body)?;
    Ok(())
}

/// Gives the key up (nothing was done, or the request failed on the server's
/// side before committing): a retry runs the request again.
pub fn abandon(conn: &mut DbConnection, claim: &Claim) -> AppResult<()> {
    store::release_claim(conn, claim)?;
    Ok(())
}

/// Forgets keys past their retention (run by the worker's passes).
pub fn expire(conn: &mut DbConnection, now: DateTime<Utc>) -> AppResult<usize> {
    Ok(store::expire(conn, (now - RETENTION).naive_utc())?)
}
