//! Stored first answers to POSTs that carried an `Idempotency-Key`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::schema::idempotency_keys;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = idempotency_keys)]
pub struct StoredKey {
    pub scope: String,
    pub idempotency_key: String,
    pub fingerprint: String,
    pub state: String,
    pub status: Option<i64>,
    pub content_type: Option<String>,
    pub location: Option<String>,
    pub body: Option<String>,
    #[diesel(deserialize_as = super::columns::Stamp)]
    pub created_at: NaiveDateTime,
}

/// One request's hold on a key: its scope (the account, or the admin) and the
/// instant it claimed the key, which tells its claim's row from a later one's.
#[derive(Debug, Clone)]
pub struct Claim {
    pub scope: String,
    pub key: String,
    pub claimed_at: NaiveDateTime,
}

/// The row of this claim (not of a later claim of the same key).
#[diesel::dsl::auto_type(no_type_alias)]
fn claimed<'a>(claim: &'a Claim) -> _ {
    let (scope, key): (&'a str, &'a str) = (&claim.scope, &claim.key);
    let claimed_at: NaiveDateTime = claim.claimed_at;
    idempotency_keys::table.find((scope, key)).filter(idempotency_keys::created_at.eq(claimed_at))
}

pub const IN_PROGRESS: &str = "in_progress";
pub const COMMITTED: &str = "committed";
pub const DONE: &str = "done";

pub fn find(conn: &mut DbConnection, scope: &str, key: &str) -> QueryResult<Option<StoredKey>> {
    idempotency_keys::table.find((scope, key)).select(StoredKey::as_select()).first(conn).optional()
}

/// The state of a key alone (no stored answer), for a twin waiting on it.
pub fn state_of(conn: &mut DbConnection, scope: &str, key: &str) -> QueryResult<Option<String>> {
    idempotency_keys::table.find((scope, key)).select(idempotency_keys::state).first(conn).optional()
}

pub fn insert(conn: &mut DbConnection, row: &StoredKey) -> QueryResult<()> {
    diesel::insert_into(idempotency_keys::table).values(row).execute(conn).map(drop)
}

pub fn delete(conn: &mut DbConnection, scope: &str, key: &str) -> QueryResult<usize> {
    diesel::delete(idempotency_keys::table.find((scope, key))).execute(conn)
}

/// Marks the claim's work committed (in the work's transaction); 0 when the
/// claim is no longer this request's.
pub fn mark_committed(conn: &mut DbConnection, claim: &Claim) -> QueryResult<usize> {
    diesel::update(claimed(claim).filter(idempotency_keys::state.eq_any([IN_PROGRESS, COMMITTED])))
        .set(idempotency_keys::state.eq(COMMITTED))
        .execute(conn)
}

pub fn complete(
    conn: &mut DbConnection,
    claim: &Claim,
    status: i64,
    content_type: Option<&str>,
    location: Option<&str>,
    body: &str,
) -> QueryResult<usize> {
    diesel::update(claimed(claim))
        .set((
            idempotency_keys::state.eq(DONE),
            idempotency_keys::status.eq(Some(status)),
            idempotency_keys::content_type.eq(content_type),
            idempotency_keys::location.eq(location),
            idempotency_keys::body.eq(Some(body)),
        ))
        .execute(conn)
}

/// Deletes the claim while its work has not committed (a committed one stays).
pub fn release_claim(conn: &mut DbConnection, claim: &Claim) -> QueryResult<usize> {
    diesel::delete(claimed(claim).filter(idempotency_keys::state.eq(IN_PROGRESS))).execute(conn)
}

/// Forgets keys older than `before`.
pub fn expire(conn: &mut DbConnection, before: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.lt(before))).execute(conn)
}
