//! Packaged component versions. "Latest" is decided here, in one query: the
//! newest (by creation) non-deleted shareable version of a component.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::dsl::{exists, not};
use diesel::prelude::*;

use super::PageRequest;
use crate::db::DbConnection;
use crate::domain::release::ReleaseStatus;
use crate::schema::{component_versions, installations, pack_components, release_items, releases};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = component_versions)]
pub struct Version {
    pub id: String,
    pub component_id: String,
    pub version: String,
    pub notes: String,
    pub shareable: bool,
    #[diesel(deserialize_as = super::columns::Stamp)]
    pub created_at: NaiveDateTime,
    pub created_by: String,
    pub deleted_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConnection, version: &Version) -> QueryResult<()> {
    diesel::insert_into(component_versions::table).values(version).execute(conn).map(drop)
}

/// Whether the string was ever used for this component, deleted versions included.
pub fn string_used(conn: &mut DbConnection, component_id: &str, version: &str) -> QueryResult<bool> {
    diesel::select(exists(
        component_versions::table
            .filter(component_versions::component_id.eq(component_id))
            .filter(component_versions::version.eq(version)),
    ))
    .get_result(conn)
}

/// A live (non-deleted) version by its string.
pub fn find_live(conn: &mut DbConnection, component_id: &str, version: &str) -> QueryResult<Option<Version>> {
    component_versions::table
        .filter(component_versions::component_id.eq(component_id))
        .filter(component_versions::version.eq(version))
        .filter(component_versions::deleted_at.is_null())
        .select(Version::as_select())
        .first(conn)
        .optional()
}

/// Live versions, newest first; `page.after` is the id of the last version already seen.
pub fn list_live(
    conn: &mut DbConnection,
    component_id: &str,
    shareable: Option<bool>,
    page: &PageRequest,
) -> QueryResult<Vec<Version>> {
    let mut query = component_versions::table
        .filter(component_versions::component_id.eq(component_id.to_string()))
        .filter(component_versions::deleted_at.is_null())
        .select(Version::as_select())
        .into_boxed();
    if let Some(shareable) = shareable {
        query = query.filter(component_versions::shareable.eq(shareable));
    }
    if let Some(after) = &page.after {
        query = query.filter(component_versions::id.lt(after.clone()));
    }
    query.order(component_versions::id.desc()).limit(page.fetch()).load(conn)
}

pub fn set_shareable(conn: &mut DbConnection, id: &str, shareable: bool) -> QueryResult<usize> {
    diesel::update(component_versions::table.find(id)).set(component_versions::shareable.eq(shareable)).execute(conn)
}

pub fn mark_deleted(conn: &mut DbConnection, id: &str, at: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(component_versions::table.find(id)).set(component_versions::deleted_at.eq(Some(at))).execute(conn)
}

/// The latest version of each of the given components (absent when a component has none).
pub fn latest_for(conn: &mut DbConnection, component_ids: &[String]) -> QueryResult<HashMap<String, Version>> {
    if component_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let newer = diesel::alias!(component_versions as newer);
    let rows: Vec<Version> = component_versions::table
        .filter(component_versions::component_id.eq_any(component_ids))
        .filter(component_versions::deleted_at.is_null())
        .filter(component_versions::shareable.eq(true))
        .filter(not(exists(
            newer
                .filter(newer.field(component_versions::component_id).eq(component_versions::component_id))
                .filter(newer.field(component_versions::deleted_at).is_null())
                .filter(newer.field(component_versions::shareable).eq(true))
                .filter(
                    newer.field(component_versions::created_at).gt(component_versions::created_at).or(newer
                        .field(component_versions::created_at)
                        .eq(component_versions::created_at)
                        .and(newer.field(component_versions::id).gt(component_versions::id))),
                ),
        )))
        .select(Version::as_select())
        .load(conn)?;
    Ok(rows.into_iter().map(|v| (v.component_id.clone(), v)).collect())
}

/// Whether a release names this version, so it must not be deleted: a pack's
/// released version, an item of a scheduled, rolling-out or carried-out
/// release (a canceled or failed release protects nothing), or a version a
/// live installation runs (an aborted rollout's, say).
pub fn is_protected(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
    let released = exists(pack_components::table.filter(pack_components::released_version_id.eq(id)));
    let in_release = exists(
        release_items::table
            .inner_join(releases::table)
            .filter(release_items::version_id.eq(id))
            .filter(releases::status.eq_any(ReleaseStatus::PROTECTING)),
    );
    let running = exists(installations::table.filter(installations::uninstalled_at.is_null()).filter(
        installations::release_id.eq_any(
            release_items::table.filter(release_items::version_id.eq(id)).select(release_items::release_id.nullable()),
        ),
    ));
    diesel::select(released.or(in_release).or(running)).get_result(conn)
}

/// Version strings by version id.
pub fn strings_of(conn: &mut DbConnection, ids: &[String]) -> QueryResult<HashMap<String, String>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, String)> = component_versions::table
        .filter(component_versions::id.eq_any(ids))
        .select((component_versions::id, component_versions::version))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// Locks these version rows until the transaction ends (PostgreSQL), so
/// deleting a version and releasing it cannot both succeed.
pub fn lock(conn: &mut DbConnection, ids: &[String]) -> QueryResult<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    diesel::update(component_versions::table.filter(component_versions::id.eq_any(ids)))
        .set(component_versions::deleted_at.eq(component_versions::deleted_at))
        .execute(conn)
}
