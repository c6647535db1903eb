//! Release drafts and their items.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::schema::{components, release_draft_items, release_drafts};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = release_drafts)]
pub struct Draft {
    pub id: String,
    pub pack_id: String,
    pub base_revision: i64,
    pub created_by: String,
    #[diesel(deserialize_as = super::columns::Stamp)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = super::columns::Stamp)]
    pub updated_at: NaiveDateTime,
    pub release_id: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = release_draft_items)]
pub struct DraftItem {
    pub draft_id: String,
    pub component_id: String,
    pub pending_version_id: Option<String>,
}

/// An item with its component's name and type.
#[derive(Debug, Clone, Queryable)]
pub struct NamedDraftItem {
    pub component_id: String,
    pub name: String,
    pub component_type: crate::domain::component::ComponentType,
    pub pending_version_id: Option<String>,
}

pub fn insert(conn: &mut DbConnection, draft: &Draft, items: &[DraftItem]) -> QueryResult<()> {
    diesel::insert_into(release_drafts::table).values(draft).execute(conn)?;
    if !items.is_empty() {
        super::on_backend!(conn, |c| diesel::insert_into(release_draft_items::table).values(items).execute(c))?;
    }
    Ok(())
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Draft>> {
    release_drafts::table.find(id).select(Draft::as_select()).first(conn).optional()
}

pub fn items(conn: &mut DbConnection, draft_id: &str) -> QueryResult<Vec<NamedDraftItem>> {
    release_draft_items::table
        .inner_join(components::table)
        .filter(release_draft_items::draft_id.eq(draft_id))
        .select((
            release_draft_items::component_id,
            components::name,
            components::component_type,
            release_draft_items::pending_version_id,
        ))
        .order(release_draft_items::component_id.asc())
        .load(conn)
}

pub fn set_pending(
    conn: &mut DbConnection,
    draft_id: &str,
    component_id: &str,
    version_id: &str,
) -> QueryResult<usize> {
    diesel::update(release_draft_items::table.find((draft_id, component_id)))
        .set(release_draft_items::pending_version_id.eq(Some(version_id)))
        .execute(conn)
}

/// Locks the draft row until the transaction ends (PostgreSQL; SQLite writes are serial already).
pub fn lock(conn: &mut DbConnection, id: &str) -> QueryResult<usize> {
    diesel::update(release_drafts::table.find(id))
        .set(release_drafts::updated_at.eq(release_drafts::updated_at))
        .execute(conn)
}

pub fn touch(conn: &mut DbConnection, id: &str, at: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(release_drafts::table.find(id)).set(release_drafts::updated_at.eq(at)).execute(conn)
}

pub fn mark_released(conn: &mut DbConnection, id: &str, release_id: &str, at: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(release_drafts::table.find(id))
        .set((release_drafts::release_id.eq(Some(release_id)), release_drafts::updated_at.eq(at)))
        .execute(conn)
}

pub fn delete(conn: &mut DbConnection, id: &str) -> QueryResult<usize> {
    diesel::delete(release_drafts::table.find(id)).execute(conn)
}
