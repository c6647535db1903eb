//! Events (the transactional outbox): payloads shared by the events of one
//! fact, the events themselves, the seal that gives a transaction's events
//! their commit-ordered position and their deliveries, and the feed.
//!
//! An event is stored one of two ways. Written one at a time, it is a row of
//! `events`. Written for many installations at once (`insert_target_events`),
//! what the events share is one `event_groups` row and each is a member row
//! of `event_members` (group, ordinal, account, installation), its id the
//! group's id followed by its ordinal in 8 hex digits (`member_id`): a fifth of
//! what a full row and its indexes write, for a release to 100,000
//! installations. Every reader here reads both.

use chrono::NaiveDateTime;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};

use crate::db::{Backend, DbConnection};
use crate::domain::event::{DeliveryStatus, EventType};
use crate::schema::{
    event_batches, event_counter, event_groups, event_members, event_payloads, events, webhook_deliveries,
    webhook_endpoint_event_types, webhook_endpoints,
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

/// What the member events of one group share.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = event_groups)]
pub struct EventGroup {
    pub id: String,
    pub batch_id: String,
    pub event_type: EventType,
    #[diesel(deserialize_as = super::columns::Stamp)]
    pub created_at: NaiveDateTime,
    pub release_id: String,
    pub payload_id: String,
}

/// A group's id: `evt_` and 24 hex digits.
pub const GROUP_ID_LEN: usize = 28;

/// The id of a group's member: the group's id and the ordinal in 8 hex digits
/// (the form of every event id: `evt_` and 32 hex digits).
pub fn member_id(group_id: &str, ordinal: i64) -> String {
    format!("{group_id}{ordinal:08x}")
}

/// `member_id` in SQL, over `event_groups` and `event_members`.
fn member_id_sql(backend: Backend) -> diesel::expression::SqlLiteral<Text> {
    sql::<Text>(match backend {
        Backend::Sqlite => "(event_groups.id || printf('%08x', event_members.ordinal))",
        Backend::Postgres => "(event_groups.id || lpad(to_hex(event_members.ordinal), 8, '0'))",
    })
}

/// The group and ordinal an event id would have as a member (any event id
/// splits so; only members' ids name a member).
fn split_id(id: &str) -> Option<(&str, i64)> {
    let (group, ordinal) = (id.get(..GROUP_ID_LEN)?, id.get(GROUP_ID_LEN..)?);
    (ordinal.len() == 8).then(|| i64::from_str_radix(ordinal, 16).ok().map(|n| (group, n))).flatten()
}

/// A member event as an `EventRow` (its fact is its id).
fn member_event(group: EventGroup, ordinal: i64, account_id: String, installation_id: String) -> EventRow {
    let id = member_id(&group.id, ordinal);
    EventRow {
        fact: id.clone(),
        id,
        batch_id: group.batch_id,
        account_id,
        event_type: group.event_type,
        created_at: group.created_at,
        release_id: Some(group.release_id),
        installation_id: Some(installation_id),
        payload_id: group.payload_id,
    }
}

type MemberColumns = (
    diesel::dsl::AsSelect<EventGroup, crate::db::MultiBackend>,
    event_members::ordinal,
    event_members::account_id,
    event_members::installation_id,
    event_batches::position,
    event_payloads::data,
);

/// The columns `stored_member` reads.
fn member_columns() -> MemberColumns {
    (
        EventGroup::as_select(),
        event_members::ordinal,
        event_members::account_id,
        event_members::installation_id,
        event_batches::position,
        event_payloads::data,
    )
}

type MemberRow = (EventGroup, i64, String, String, i64, String);

fn stored_member((group, ordinal, account_id, installation_id, position, payload): MemberRow) -> StoredEvent {
    StoredEvent { event: member_event(group, ordinal, account_id, installation_id), position, payload }
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

/// Writes a group of member events (after its members).
pub fn insert_group(conn: &mut DbConnection, group: &EventGroup) -> QueryResult<()> {
    diesel::insert_into(event_groups::table).values(group).execute(conn).map(drop)
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

/// Inserts the pending deliveries that `rows` selects (`make_deliveries`' columns).
macro_rules! insert_deliveries {
    ($conn:expr, $rows:expr) => {
        super::on_backend!($conn, |c| diesel::insert_into(webhook_deliveries::table)
            .values($rows)
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
            .execute(c))
    };
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
    let backend = conn.backend();
    if let DbConnection::Postgresql(pg) = conn {
        // The join orders below, as written (until the end of this transaction).
        diesel::sql_query("SET LOCAL join_collapse_limit = 1").execute(pg)?;
    }
    // Each event meets its own account's endpoints, then their types by
    // (endpoint, type); never the types by type alone, which PostgreSQL picks
    // when it thinks a batch just written holds one event (10^8 rows at 100,000).
    let endpoint_types = webhook_endpoint_event_types::table.on(webhook_endpoint_event_types::endpoint_id
        .eq(webhook_endpoints::id)
        .and(webhook_endpoint_event_types::event_type.eq(events::event_type)));
    let rows = events::table
        .inner_join(webhook_endpoints::table.on(webhook_endpoints::account_id.eq(events::account_id)))
        .inner_join(endpoint_types)
        .filter(events::batch_id.eq_any(&ids))
        .filter(webhook_endpoints::enabled.eq(true))
        .filter(webhook_endpoints::deleted_at.is_null())
        .filter(webhook_endpoints::created_at.le(events::created_at))
        .select((
            sql_id(backend, "dlv_", at),
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
    let mut made = insert_deliveries!(conn, rows)?;
    // The member events of the batches' groups, the same way.
    let member_types = webhook_endpoint_event_types::table.on(webhook_endpoint_event_types::endpoint_id
        .eq(webhook_endpoints::id)
        .and(webhook_endpoint_event_types::event_type.eq(event_groups::event_type)));
    let rows = event_groups::table
        .inner_join(event_members::table)
        .inner_join(webhook_endpoints::table.on(webhook_endpoints::account_id.eq(event_members::account_id)))
        .inner_join(member_types)
        .filter(event_groups::batch_id.eq_any(&ids))
        .filter(webhook_endpoints::enabled.eq(true))
        .filter(webhook_endpoints::deleted_at.is_null())
        .filter(webhook_endpoints::created_at.le(event_groups::created_at))
        .select((
            sql_id(backend, "dlv_", at),
            member_id_sql(backend),
            webhook_endpoints::id,
            webhook_endpoints::account_id,
            event_groups::event_type,
            event_groups::release_id.nullable(),
            event_members::installation_id.nullable(),
            DeliveryStatus::Pending.into_sql::<Text>(),
            0i64.into_sql::<BigInt>(),
            0i64.into_sql::<BigInt>(),
            Some(at).into_sql::<Nullable<Timestamp>>(),
            at.into_sql::<Timestamp>(),
            at.into_sql::<Timestamp>(),
        ));
    made += insert_deliveries!(conn, rows)?;
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

/// The account's events after `after`, in commit order: its events and its
/// member events, each up to `limit`, merged.
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
    // A member's id is its group's id then its ordinal in fixed-width hex:
    // ordered as (group, ordinal).
    let mut members = event_members::table
        .inner_join(event_groups::table.inner_join(event_batches::table).inner_join(event_payloads::table))
        .filter(event_members::account_id.eq(account_id))
        .select(member_columns())
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(
            event_batches::position
                .gt(after.position)
                .or(event_batches::position.eq(after.position).and(events::id.gt(after.event_id.clone()))),
        );
        let (group, ordinal) = split_id(&after.event_id).unwrap_or((after.event_id.as_str(), i64::MAX));
        members = members.filter(
            event_batches::position.gt(after.position).or(event_batches::position.eq(after.position).and(
                event_members::group_id
                    .gt(group.to_string())
                    .or(event_members::group_id.eq(group.to_string()).and(event_members::ordinal.gt(ordinal))),
            )),
        );
    }
    if !types.is_empty() {
        query = query.filter(events::event_type.eq_any(types.to_vec()));
        members = members.filter(event_groups::event_type.eq_any(types.to_vec()));
    }
    let rows: Vec<(EventRow, i64, String)> =
        query.order((event_batches::position.asc(), events::id.asc())).limit(limit).load(conn)?;
    let member_rows: Vec<MemberRow> = members
        .order((event_batches::position.asc(), event_members::group_id.asc(), event_members::ordinal.asc()))
        .limit(limit)
        .load(conn)?;
    let mut all: Vec<StoredEvent> = rows
        .into_iter()
        .map(|(event, position, payload)| StoredEvent { event, position, payload })
        .chain(member_rows.into_iter().map(stored_member))
        .collect();
    all.sort_by(|a, b| (a.position, &a.event.id).cmp(&(b.position, &b.event.id)));
    all.truncate(usize::try_from(limit).unwrap_or(0));
    Ok(all)
}

/// Events of these ids, with their payloads (the bodies of a batch of deliveries).
pub fn find_many(conn: &mut DbConnection, ids: &[String]) -> QueryResult<Vec<StoredEvent>> {
    let rows: Vec<(EventRow, i64, String)> = events::table
        .inner_join(event_batches::table)
        .inner_join(event_payloads::table)
        .filter(events::id.eq_any(ids))
        .select((EventRow::as_select(), event_batches::position, event_payloads::data))
        .load(conn)?;
    let wanted: std::collections::HashSet<(&str, i64)> = ids.iter().filter_map(|id| split_id(id)).collect();
    let groups: Vec<&str> = wanted.iter().map(|(group, _)| *group).collect();
    let ordinals: Vec<i64> = wanted.iter().map(|(_, ordinal)| *ordinal).collect();
    // Every (group, ordinal) pair of the two lists, then only those asked for.
    let member_rows: Vec<MemberRow> = event_members::table
        .inner_join(event_groups::table.inner_join(event_batches::table).inner_join(event_payloads::table))
        .filter(event_members::group_id.eq_any(&groups))
        .filter(event_members::ordinal.eq_any(&ordinals))
        .select(member_columns())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(event, position, payload)| StoredEvent { event, position, payload })
        .chain(
            member_rows
                .into_iter()
                .filter(|(group, ordinal, ..)| wanted.contains(&(group.id.as_str(), *ordinal)))
                .map(stored_member),
        )
        .collect())
}

/// Removes the events of batches committed before `before` (member events
/// and their groups too), their payloads and the batches. Returns how many
/// events went.
pub fn remove_older_than(conn: &mut DbConnection, before: NaiveDateTime) -> QueryResult<usize> {
    let old_batches = event_batches::table.filter(event_batches::committed_at.lt(before)).select(event_batches::id);
    let old_groups = event_groups::table.filter(event_groups::batch_id.eq_any(old_batches)).select(event_groups::id);
    let removed = diesel::delete(event_members::table.filter(event_members::group_id.eq_any(old_groups)))
        .execute(conn)?
        + diesel::delete(events::table.filter(events::batch_id.eq_any(old_batches))).execute(conn)?;
    if removed > 0 {
        diesel::delete(event_groups::table.filter(event_groups::batch_id.eq_any(old_batches))).execute(conn)?;
        diesel::delete(event_payloads::table.filter(
            diesel::dsl::not(
                diesel::dsl::exists(events::table.filter(events::payload_id.eq(event_payloads::id))).or(
                    diesel::dsl::exists(event_groups::table.filter(event_groups::payload_id.eq(event_payloads::id))),
                ),
            ),
        ))
        .execute(conn)?;
    }
    // A batch's position is never reused: the feed's and the delivery job's
    // cursors stay valid without it.
    diesel::delete(event_batches::table.filter(event_batches::committed_at.lt(before))).execute(conn)?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_id_splits_back_into_its_group_and_ordinal() {
        let group = "evt_0123456789abcdef01234567";
        assert_eq!(group.len(), GROUP_ID_LEN);
        let id = member_id(group, 0x1_86a0);
        assert_eq!(id, "evt_0123456789abcdef01234567000186a0");
        assert_eq!(split_id(&id), Some((group, 100_000)));
        assert_eq!(split_id("evt_short"), None);
        assert_eq!(split_id(&format!("{group}0000zz00")), None);
        assert_eq!(split_id(&format!("{group}000000001")), None);
    }
}
