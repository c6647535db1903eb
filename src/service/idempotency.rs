//! Idempotency keys: a retried POST with the same key and body, from the same
//! account, gets the first answer again instead of doing the work twice.

use chrono::{DateTime, Duration, Utc};

use super::auth::{self, Caller};
use super::Settings;
use crate::db::DbConnection;
use crate::error::{AppError, AppResult};
use crate::store::idempotency::{self as store, StoredKey};

/// How long a key is remembered.
pub const RETENTION: Duration = Duration::hours(24);
/// A key still "in progress" after this was left by a crashed request; it may start again.
const ABANDONED_AFTER: Duration = Duration::minutes(2);

pub enum Begin {
    /// Go ahead; finish with `complete` or `abandon` under this scope.
    Started { scope: String },
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
    let scope = match auth::authenticate(conn, settings, token, now)? {
        Caller::Admin => "admin".to_string(),
        Caller::Account { account, .. } => account.id,
    };
    let result = conn.write_transaction(|conn| {
        if let Some(existing) = store::find(conn, &scope, key)? {
            let expired = existing.created_at < (now - RETENTION).naive_utc();
            let abandoned =
                existing.state == store::IN_PROGRESS && existing.created_at < (now - ABANDONED_AFTER).naive_utc();
            if !expired && !abandoned {
                if existing.fingerprint != fingerprint {
                    return Err(AppError::rule(
                        "idempotency_key_reused",
                        "this Idempotency-Key was used for a different request; use a new key",
                    ));
                }
                if existing.state == store::IN_PROGRESS {
                    return Ok(Begin::Running { scope: scope.clone() });
                }
                return Ok(Begin::Replay(existing));
            }
            store::delete(conn, &scope, key)?;
        }
        store::insert(
            conn,
            &StoredKey {
                scope: scope.clone(),
                idempotency_key: key.to_string(),
                fingerprint: fingerprint.to_string(),
                state: store::IN_PROGRESS.to_string(),
                status: None,
                content_type: None,
                location: None,
                body: None,
                created_at: now.naive_utc(),
            },
        )?;
        Ok(Begin::Started { scope: scope.clone() })
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

/// Whether the request holding this key is still running. A read, so a twin
/// waiting on it never queues for the write lock (SQLite) behind the work.
pub fn is_running(conn: &mut DbConnection, scope: &str, key: &str) -> AppResult<bool> {
    Ok(store::state_of(conn, scope, key)?.as_deref() == Some(store::IN_PROGRESS))
}

/// Stores the answer to replay.
pub fn complete(
    conn: &mut DbConnection,
    scope: &str,
    key: &str,
    status: u16,
    content_type: Option<&str>,
    location: Option<&str>,
    body: &str,
) -> AppResult<()> {
    store::complete(conn, scope, key, i64::from(status), content_type, location, body)?;
    Ok(())
}

/// Forgets the key (the request failed on the server's side; a retry runs it again).
pub fn abandon(conn: &mut DbConnection, scope: &str, key: &str) -> AppResult<()> {
    store::delete(conn, scope, key)?;
    Ok(())
}

/// Forgets keys past their retention (run by the worker's passes).
pub fn expire(conn: &mut DbConnection, now: DateTime<Utc>) -> AppResult<usize> {
    Ok(store::expire(conn, (now - RETENTION).naive_utc())?)
}
