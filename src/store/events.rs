//! Events (the transactional outbox): payloads shared by the events of one
//! fact, the events themselves, the seal that gives a transaction's events
//! their commit-ordered position and their deliveries, and the feed.

use chrono::NaiveDateTime;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};

use crate::db::{Backend, DbConnection};
use crate::domain::event::{DeliveryStatus, EventType};
use crate::schema::{
    event_batches, event_counter, event_payloads, events, webhook_deliveries, webhook_endpoint_event_types,
    webhook_endpoints,
};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = events)]
pub struct EventRow {
    pub id: String,
    pub batch_id: String,
    pub account_id: String,
    pub event_type: EventType,
    #[diesel(deserialize_as = super::columns::Stamp)]
    pub created_at: NaiveDateTime,
    pub release_id: Option<String>,
    pub installation_id: Option<String>,
    pub payload_id: String,
    pub fact: String,
}

/// An event as the feed and webhooks show it: the row, where it stands in
/// commit order, and the payload it shares with the other events of its fact.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub event: EventRow,
    pub position: i64,
    pub payload: String,
}

/// An id minted in SQL, one per row, in the same shape as `service::prefixed_id`:
/// the prefix, the statement's instant in milliseconds (12 hex digits, so ids
/// sort by time) and 80 random bits. The random bits come from each backend's
/// own generator, seeded from the operating system's: SQLite's `randomblob`,
/// PostgreSQL's `random()` (two draws of 40 bits). `gen_random_uuid()` asks
/// the operating system's generator for every row instead, which was a
/// tenth of a release to 100,000 installations; the ids need only be unique
/// and unguessable enough to leak nothing, not secret.
pub fn sql_id(backend: Backend, prefix: &str, at: NaiveDateTime) -> diesel::expression::SqlLiteral<Text> {
    let millis = format!("{:012x}", at.and_utc().timestamp_millis());
    let random = match backend {
        Backend::Sqlite => "lower(hex(randomblob(10)))",
        Backend::Postgres => {
            "lpad(to_hex(floor(random() * 1099511627776)::bigint), 10, '0') \
             || lpad(to_hex(floor(random() * 1099511627776)::bigint), 10, '0')"
        }
    };
    // Both parts are made here from hex digits and a fixed prefix: nothing to escape.
    sql::<Text>(&format!("('{prefix}{millis}' || {random})"))
}

pub fn insert_payload(conn: &mut DbConnection, id: &str, data: &str) -> QueryResult<()> {
    diesel::insert_into(event_payloads::table)
        .values((event_payloads::id.eq(id), event_payloads::data.eq(data)))
        .execute(conn)
        .map(drop)
}

/// Writes one event, unless one was already written for its fact.
pub fn insert(conn: &mut DbConnection, event: &EventRow) -> QueryResult<usize> {
    let exists = diesel::select(diesel::dsl::exists(events::table.filter(events::fact.eq(&event.fact))))
        .get_result::<bool>(conn)?;
    if exists {
        return Ok(0);
    }
    diesel::insert_into(events::table).values(event).execute(conn)
}

/// How many events of this type were written for the release: a reschedule's revision.
pub fn count_for_release(conn: &mut DbConnection, release_id: &str, event_type: EventType) -> QueryResult<i64> {
    events::table
        .filter(events::release_id.eq(release_id))
        .filter(events::event_type.eq(event_type))
        .count()
        .get_result(conn)
}

/// Seals the events of `batch_id`: takes the next position, whose lock this
/// transaction holds until it commits, so positions follow commit order. The
/// last statement of a transaction that wrote events.
pub fn seal(conn: &mut DbConnection, batch_id: &str, at: NaiveDateTime) -> QueryResult<()> {
    let position = next_counter(conn, "events")?;
    diesel::insert_into(event_batches::table)
        .values((
            event_batches::id.eq(batch_id),
            event_batches::position.eq(position),
            event_batches::committed_at.eq(at),
        ))
        .execute(conn)
        .map(drop)
}

/// Moves a counter on by one and returns its new value; its row stays locked
/// until the transaction ends.
fn next_counter(conn: &mut DbConnection, name: &str) -> QueryResult<i64> {
    diesel::update(event_counter::table.find(name))
        .set(event_counter::value.eq(event_counter::value + 1))
        .execute(conn)?;
    event_counter::table.find(name).select(event_counter::value).first(conn)
}

/// Makes the deliveries of the sealed batches not done yet, oldest position
/// first, up to `max_batches`: one per event and enabled endpoint of its
/// account that subscribes to its type and existed when the event was
/// written. Serialised by the `deliveries_made` row, which records the last
/// position done in the same transaction, so each batch is done exactly once
/// and none is skipped (a batch commits with its position, in order). Returns
/// (batches, deliveries) made.
pub fn make_deliveries(conn: &mut DbConnection, at: NaiveDateTime, max_batches: i64) -> QueryResult<(usize, usize)> {
    diesel::update(event_counter::table.find("deliveries_made"))
        .set(event_counter::value.eq(event_counter::value))
        .execute(conn)?;
    let done: i64 = event_counter::table.find("deliveries_made").select(event_counter::value).first(conn)?;
    let batches: Vec<(String, i64)> = event_batches::table
        .filter(event_batches::position.gt(done))
        .order(event_batches::position.asc())
        .limit(max_batches)
        .select((event_batches::id, event_batches::position))
        .load(conn)?;
    let Some(last) = batches.last().map(|(_, position)| *position) else { return Ok((0, 0)) };
    let ids: Vec<String> = batches.iter().map(|(id, _)| id.clone()).collect();
    let delivery_id = sql_id(conn.backend(), "dlv_", at);
    // Each event meets its own account's endpoints, then their types by
    // (endpoint, type); never the types by type alone, which PostgreSQL picks
    // when it thinks a batch just written holds one event (10^8 rows at 100,000).
    let rows = events::table
        .inner_join(webhook_endpoints::table.on(webhook_endpoints::account_id.eq(events::account_id)))
        .inner_join(
            webhook_endpoint_event_types::table.on(webhook_endpoint_event_types::endpoint_id
                .eq(webhook_endpoints::id)
                .and(webhook_endpoint_event_types::event_type.eq(events::event_type))),
        )
        .filter(events::batch_id.eq_any(&ids))
        .filter(webhook_endpoints::enabled.eq(true))
        .filter(webhook_endpoints::deleted_at.is_null())
        .filter(webhook_endpoints::created_at.le(events::created_at))
        .select((
            delivery_id,
            events::id,
            webhook_endpoints::id,
            webhook_endpoints::account_id,
            events::event_type,
            events::release_id,
            events::installation_id,
            DeliveryStatus::Pending.into_sql::<Text>(),
            0i64.into_sql::<BigInt>(),
            0i64.into_sql::<BigInt>(),
            Some(at).into_sql::<Nullable<Timestamp>>(),
            at.into_sql::<Timestamp>(),
            at.into_sql::<Timestamp>(),
        ));
    if let DbConnection::Postgresql(pg) = conn {
        // The join order above, as written (until the end of this transaction).
        diesel::sql_query("SET LOCAL join_collapse_limit = 1").execute(pg)?;
    }
    let made = super::on_backend!(conn, |c| diesel::insert_into(webhook_deliveries::table)
        .values(rows)
        .into_columns((
            webhook_deliveries::id,
            webhook_deliveries::event_id,
            webhook_deliveries::endpoint_id,
            webhook_deliveries::account_id,
            webhook_deliveries::event_type,
            webhook_deliveries::release_id,
            webhook_deliveries::installation_id,
            webhook_deliveries::status,
            webhook_deliveries::attempts,
            webhook_deliveries::retry_from,
            webhook_deliveries::next_attempt_at,
            webhook_deliveries::created_at,
            webhook_deliveries::updated_at,
        ))
        .execute(c))?;
    diesel::update(event_counter::table.find("deliveries_made")).set(event_counter::value.eq(last)).execute(conn)?;
    Ok((batches.len(), made))
}

/// Whether sealed batches wait for their deliveries to be made.
pub fn deliveries_to_make(conn: &mut DbConnection) -> QueryResult<bool> {
    let done: i64 = event_counter::table.find("deliveries_made").select(event_counter::value).first(conn)?;
    diesel::select(diesel::dsl::exists(event_batches::table.filter(event_batches::position.gt(done)))).get_result(conn)
}

/// Where a feed page starts: after this event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedCursor {
    pub position: i64,
    pub event_id: String,
}

/// The account's events after `after`, in commit order.
pub fn feed(
    conn: &mut DbConnection,
    account_id: &str,
    after: Option<&FeedCursor>,
    types: &[EventType],
    limit: i64,
) -> QueryResult<Vec<StoredEvent>> {
    let mut query = events::table
        .inner_join(event_batches::table)
        .inner_join(event_payloads::table)
        .filter(events::account_id.eq(account_id))
        .select((EventRow::as_select(), event_batches::position, event_payloads::data))
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(
            event_batches::position
                .gt(after.position)
                .or(event_batches::position.eq(after.position).and(events::id.gt(after.event_id.clone()))),
        );
    }
    if !types.is_empty() {
        query = query.filter(events::event_type.eq_any(types.to_vec()));
    }
    let rows: Vec<(EventRow, i64, String)> =
        query.order((event_batches::position.asc(), events::id.asc())).limit(limit).load(conn)?;
    Ok(rows.into_iter().map(|(event, position, payload)| StoredEvent { event, position, payload }).collect())
}

/// Events of these ids, with their payloads (the bodies of a batch of deliveries).
pub fn find_many(conn: &mut DbConnection, ids: &[String]) -> QueryResult<Vec<StoredEvent>> {
    let rows: Vec<(EventRow, i64, String)> = events::table
        .inner_join(event_batches::table)
        .inner_join(event_payloads::table)
        .filter(events::id.eq_any(ids))
        .select((EventRow::as_select(), event_batches::position, event_payloads::data))
        .load(conn)?;
    Ok(rows.into_iter().map(|(event, position, payload)| StoredEvent { event, position, payload }).collect())
}

/// Removes the events of batches committed before `before`, their payloads
/// and the batches. Returns how many events went.
pub fn remove_older_than(conn: &mut DbConnection, before: NaiveDateTime) -> QueryResult<usize> {
    let old_batches = event_batches::table.filter(event_batches::committed_at.lt(before)).select(event_batches::id);
    let removed = diesel::delete(events::table.filter(events::batch_id.eq_any(old_batches))).execute(conn)?;
    if removed > 0 {
        diesel::delete(event_payloads::table.filter(diesel::dsl::not(diesel::dsl::exists(
            events::table.filter(events::payload_id.eq(event_payloads::id)),
        ))))
        .execute(conn)?;
    }
    // A batch's position is never reused: the feed's and the delivery job's
    // cursors stay valid without it.
    diesel::delete(event_batches::table.filter(event_batches::committed_at.lt(before))).execute(conn)?;
    Ok(removed)
}
