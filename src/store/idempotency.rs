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
    pub created_at: NaiveDateTime,
}

pub const IN_PROGRESS: &str = "in_progress";
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

pub fn complete(
    conn: &mut DbConnection,
    scope: &str,
    key: &str,
    status: i64,
    content_type: Option<&str>,
    location: Option<&str>,
    body: &str,
) -> QueryResult<usize> {
    diesel::update(idempotency_keys::table.find((scope, key)))
        .set((
            idempotency_keys::state.eq(DONE),
            idempotency_keys::status.eq(Some(status)),
            idempotency_keys::content_type.eq(content_type),
            idempotency_keys::location.eq(location),
            idempotency_keys::body.eq(Some(body)),
        ))
        .execute(conn)
}

/// Forgets keys older than `before`.
pub fn expire(conn: &mut DbConnection, before: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.lt(before))).execute(conn)
}
