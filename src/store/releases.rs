//! Releases and their items; carrying a release into the pack's released versions.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::PageRequest;
use crate::db::DbConnection;
use crate::domain::release::ReleaseStatus;
use crate::schema::{
    component_versions, components, integration_packs, pack_components, release_items, releases, rollouts,
};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = releases)]
pub struct Release {
    pub id: String,
    pub pack_id: String,
    pub draft_id: Option<String>,
    pub status: ReleaseStatus,
    pub schedule: crate::domain::release::Schedule,
    pub release_on: Option<chrono::NaiveDate>,
    #[diesel(deserialize_as = super::columns::Stamp)]
    pub due_at: NaiveDateTime,
    pub time_zone: String,
    pub requested_by: String,
    #[diesel(deserialize_as = super::columns::Stamp)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = super::columns::Stamp)]
    pub updated_at: NaiveDateTime,
    pub released_at: Option<NaiveDateTime>,
    pub canceled_at: Option<NaiveDateTime>,
    pub failure_reason: Option<String>,
    /// The token that requested the release (its pushes name it).
    pub requested_with_token: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = release_items)]
pub struct ReleaseItem {
    pub release_id: String,
    pub component_id: String,
    pub version_id: Option<String>,
    pub previous_version_id: Option<String>,
}

/// An item as a release shows it: component name and version strings.
#[derive(Debug, Clone)]
pub struct NamedItem {
    pub component_id: String,
    pub name: String,
    pub version: Option<String>,
    pub previous_version: Option<String>,
}

pub fn insert(conn: &mut DbConnection, release: &Release, items: &[ReleaseItem]) -> QueryResult<()> {
    diesel::insert_into(releases::table).values(release).execute(conn)?;
    if !items.is_empty() {
        super::on_backend!(conn, |c| diesel::insert_into(release_items::table).values(items).execute(c))?;
    }
    Ok(())
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Release>> {
    releases::table.find(id).select(Release::as_select()).first(conn).optional()
}

/// The scheduled release of each of these packs, if any (at most one each).
pub fn scheduled_for(conn: &mut DbConnection, pack_ids: &[String]) -> QueryResult<HashMap<String, Release>> {
    by_pack(conn, pack_ids, &[ReleaseStatus::Scheduled])
}

/// The release in one of `statuses` of each of these packs (at most one each).
fn by_pack(
    conn: &mut DbConnection,
    pack_ids: &[String],
    statuses: &[ReleaseStatus],
) -> QueryResult<HashMap<String, Release>> {
    if pack_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<Release> = releases::table
        .filter(releases::pack_id.eq_any(pack_ids))
        .filter(releases::status.eq_any(statuses))
        .select(Release::as_select())
        .load(conn)?;
    Ok(rows.into_iter().map(|r| (r.pack_id.clone(), r)).collect())
}

/// The release each of these packs' installations are waiting for, if any:
/// scheduled, or rolling out (in progress or halted); at most one each.
pub fn pending_for(conn: &mut DbConnection, pack_ids: &[String]) -> QueryResult<HashMap<String, Release>> {
    by_pack(conn, pack_ids, &ReleaseStatus::PENDING)
}

pub struct ReleaseFilter<'a> {
    /// `None`: every publisher's (the admin's view).
    pub publisher: Option<&'a str>,
    pub pack: Option<&'a str>,
    pub status: Option<ReleaseStatus>,
    pub due_from: Option<NaiveDateTime>,
    pub due_before: Option<NaiveDateTime>,
}

/// Releases newest first.
pub fn list(conn: &mut DbConnection, filter: &ReleaseFilter, page: &PageRequest) -> QueryResult<Vec<Release>> {
    let mut query = releases::table.inner_join(integration_packs::table).select(Release::as_select()).into_boxed();
    if let Some(publisher) = filter.publisher {
        query = query.filter(integration_packs::publisher_id.eq(publisher.to_string()));
    }
    if let Some(pack) = filter.pack {
        query = query.filter(releases::pack_id.eq(pack.to_string()));
    }
    if let Some(status) = filter.status {
        query = query.filter(releases::status.eq(status));
    }
    if let Some(from) = filter.due_from {
        query = query.filter(releases::due_at.ge(from));
    }
    if let Some(before) = filter.due_before {
        query = query.filter(releases::due_at.lt(before));
    }
    if let Some(after) = &page.after {
        query = query.filter(releases::id.lt(after.clone()));
    }
    query.order(releases::id.desc()).limit(page.fetch()).load(conn)
}

/// Scheduled releases soonest first, after the `(due_at, id)` position of the cursor.
pub fn schedule(
    conn: &mut DbConnection,
    publisher: Option<&str>,
    after: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> QueryResult<Vec<Release>> {
    let mut query = releases::table
        .inner_join(integration_packs::table)
        .filter(releases::status.eq(ReleaseStatus::Scheduled))
        .select(Release::as_select())
        .into_boxed();
    if let Some(publisher) = publisher {
        query = query.filter(integration_packs::publisher_id.eq(publisher.to_string()));
    }
    if let Some((due_at, id)) = after {
        query = query.filter(releases::due_at.gt(due_at).or(releases::due_at.eq(due_at).and(releases::id.gt(id))));
    }
    query.order((releases::due_at.asc(), releases::id.asc())).limit(limit + 1).load(conn)
}

/// The items of these releases, with names and version strings, by release id.
pub fn items_for(conn: &mut DbConnection, release_ids: &[String]) -> QueryResult<HashMap<String, Vec<NamedItem>>> {
    if release_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(ReleaseItem, String)> = release_items::table
        .inner_join(components::table)
        .filter(release_items::release_id.eq_any(release_ids))
        .select((ReleaseItem::as_select(), components::name))
        .order((release_items::release_id.asc(), release_items::component_id.asc()))
        .load(conn)?;
    let version_ids: Vec<String> = rows
        .iter()
        .flat_map(|(item, _)| [item.version_id.clone(), item.previous_version_id.clone()])
        .flatten()
        .collect();
    let strings = super::versions::strings_of(conn, &version_ids)?;
    let lookup = |id: &Option<String>| id.as_ref().and_then(|id| strings.get(id).cloned());
    let mut by_release: HashMap<String, Vec<NamedItem>> = HashMap::new();
    for (item, name) in rows {
        by_release.entry(item.release_id.clone()).or_default().push(NamedItem {
            version: lookup(&item.version_id),
            previous_version: lookup(&item.previous_version_id),
            component_id: item.component_id,
            name,
        });
    }
    Ok(by_release)
}

pub fn set_status(conn: &mut DbConnection, id: &str, status: ReleaseStatus, at: NaiveDateTime) -> QueryResult<usize> {
    let released_at = (status == ReleaseStatus::Released).then_some(at);
    let canceled_at = (status == ReleaseStatus::Canceled).then_some(at);
    diesel::update(releases::table.find(id))
        .set((
            releases::status.eq(status),
            releases::updated_at.eq(at),
            releases::released_at.eq(released_at),
            releases::canceled_at.eq(canceled_at),
        ))
        .execute(conn)
}

pub fn mark_failed(conn: &mut DbConnection, id: &str, reason: &str, at: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(releases::table.find(id))
        .set((
            releases::status.eq(ReleaseStatus::Failed),
            releases::failure_reason.eq(Some(reason)),
            releases::updated_at.eq(at),
        ))
        .execute(conn)
}

pub fn reschedule(
    conn: &mut DbConnection,
    id: &str,
    release_on: chrono::NaiveDate,
    due_at: NaiveDateTime,
    time_zone: &str,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(releases::table.find(id))
        .set((
            releases::release_on.eq(Some(release_on)),
            releases::due_at.eq(due_at),
            releases::time_zone.eq(time_zone),
            releases::updated_at.eq(at),
        ))
        .execute(conn)
}

/// The pack's released versions become the release's, in two statements
/// whatever the number of components; components the release drops leave the pack.
pub fn apply_to_pack(conn: &mut DbConnection, release_id: &str, pack_id: &str) -> QueryResult<()> {
    let items = release_items::table.filter(release_items::release_id.eq(release_id));
    // Removed components that this release stops delivering leave the pack first.
    diesel::delete(
        pack_components::table
            .filter(pack_components::pack_id.eq(pack_id))
            .filter(pack_components::member.eq(false))
            .filter(
                pack_components::component_id
                    .eq_any(items.filter(release_items::version_id.is_null()).select(release_items::component_id)),
            ),
    )
    .execute(conn)?;
    let new_version = items
        .filter(release_items::component_id.eq(pack_components::component_id))
        .select(release_items::version_id)
        .single_value();
    diesel::update(
        pack_components::table
            .filter(pack_components::pack_id.eq(pack_id))
            .filter(pack_components::component_id.eq_any(items.select(release_items::component_id))),
    )
    .set(pack_components::released_version_id.eq(new_version))
    .execute(conn)?;
    Ok(())
}

/// The pack's released versions return to what they were before the release
/// (its items' previous versions): a halted or aborted rollout. Components the
/// release dropped come back as released-only members. A handful of rows, one
/// per component of the release.
pub fn restore_pack(conn: &mut DbConnection, release_id: &str, pack_id: &str, at: NaiveDateTime) -> QueryResult<()> {
    let items: Vec<ReleaseItem> = release_items::table
        .filter(release_items::release_id.eq(release_id))
        .select(ReleaseItem::as_select())
        .load(conn)?;
    for item in items {
        let row = pack_components::table.find((pack_id, &item.component_id));
        let updated = diesel::update(row)
            .set(pack_components::released_version_id.eq(&item.previous_version_id))
            .execute(conn)?;
        if updated == 0 && item.previous_version_id.is_some() {
            diesel::insert_into(pack_components::table)
                .values((
                    pack_components::pack_id.eq(pack_id),
                    pack_components::component_id.eq(&item.component_id),
                    pack_components::member.eq(false),
                    pack_components::added_at.eq(at),
                    pack_components::released_version_id.eq(&item.previous_version_id),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}

/// The release items whose version has been deleted since (a release that
/// names one cannot be carried out).
pub fn deleted_versions(conn: &mut DbConnection, release_id: &str) -> QueryResult<Vec<(String, String)>> {
    release_items::table
        .inner_join(component_versions::table.on(component_versions::id.nullable().eq(release_items::version_id)))
        .inner_join(components::table.on(components::id.eq(release_items::component_id)))
        .filter(release_items::release_id.eq(release_id))
        .filter(component_versions::deleted_at.is_not_null())
        .select((components::name, component_versions::version))
        .load(conn)
}

/// The earliest `due_at` of a scheduled release.
pub fn next_due_at(conn: &mut DbConnection) -> QueryResult<Option<NaiveDateTime>> {
    releases::table
        .filter(releases::status.eq(ReleaseStatus::Scheduled))
        .select(diesel::dsl::min(releases::due_at))
        .first(conn)
}

/// The release whose id `$due` selects first, claimed for this transaction:
/// on PostgreSQL its row locked `FOR NO KEY UPDATE SKIP LOCKED`, so concurrent
/// workers take different ones; on SQLite the immediate write transaction
/// already excludes them.
macro_rules! claim_first {
    ($conn:expr, $due:expr) => {{
        let due = $due;
        let id: Option<String> = match $conn {
            DbConnection::Postgresql(pg) => due.for_no_key_update().skip_locked().first(pg).optional()?,
            DbConnection::Sqlite(sqlite) => due.first(sqlite).optional()?,
        };
        match id {
            Some(id) => find($conn, &id),
            None => Ok(None),
        }
    }};
}

/// The oldest due scheduled release, claimed for this transaction: on
/// PostgreSQL locked with `FOR NO KEY UPDATE SKIP LOCKED` so concurrent workers take
/// different ones; on SQLite the immediate write transaction already excludes them.
pub fn claim_next_due(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<Option<Release>> {
    claim_first!(
        conn,
        releases::table
            .filter(releases::status.eq(ReleaseStatus::Scheduled))
            .filter(releases::due_at.le(now))
            .order((releases::due_at.asc(), releases::id.asc()))
            .select(releases::id)
    )
}

/// The rolling-out release whose next wave is due first, claimed for this
/// transaction as `claim_next_due` claims a due release: its release row
/// locked (`SKIP LOCKED`, so concurrent workers take different ones), the
/// lock every rollout writer takes first.
pub fn claim_rolling_due(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<Option<Release>> {
    claim_first!(
        conn,
        releases::table
            .filter(releases::status.eq(ReleaseStatus::InProgress))
            .filter(
                releases::id.eq_any(rollouts::table.filter(rollouts::next_due_at.le(now)).select(rollouts::release_id))
            )
            .order((releases::due_at.asc(), releases::id.asc()))
            .select(releases::id)
    )
}

/// Locks the release row (PostgreSQL `FOR NO KEY UPDATE`, waiting for a worker
/// that holds it) and reads it again. Not `FOR UPDATE`: pushes written for the
/// release meanwhile (an early apply) only take `KEY SHARE` on it.
pub fn lock(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Release>> {
    match conn {
        DbConnection::Postgresql(pg) => {
            releases::table.find(id).select(Release::as_select()).for_no_key_update().first(pg).optional()
        }
        DbConnection::Sqlite(sqlite) => releases::table.find(id).select(Release::as_select()).first(sqlite).optional(),
    }
}

/// `'scheduled'` written into the SQL rather than bound. SQLite proves a partial
/// index's `WHERE status = 'scheduled'` from a bound value only by re-preparing
/// the statement on every run; from a literal, once per connection.
#[derive(Debug, Clone, Copy)]
pub struct ScheduledWord;

impl diesel::Expression for ScheduledWord {
    type SqlType = diesel::sql_types::Text;
}

impl<DB: diesel::backend::Backend> diesel::query_builder::QueryFragment<DB> for ScheduledWord {
    fn walk_ast<'b>(&'b self, mut out: diesel::query_builder::AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("'scheduled'");
        Ok(())
    }
}

impl diesel::query_builder::QueryId for ScheduledWord {
    type QueryId = Self;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<QS> diesel::AppearsOnTable<QS> for ScheduledWord {}
impl<QS> diesel::SelectableExpression<QS> for ScheduledWord {}
impl<GB> diesel::expression::ValidGrouping<GB> for ScheduledWord {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}
