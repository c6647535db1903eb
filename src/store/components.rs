//! Components of a publisher's catalog.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::PageRequest;
use crate::db::DbConnection;
use crate::schema::{components, pack_components, release_items};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = components)]
pub struct Component {
    pub id: String,
    pub owner_id: String,
    pub name: String,
    pub component_type: crate::domain::component::ComponentType,
    #[diesel(deserialize_as = super::columns::Stamp)]
    pub created_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConnection, component: &Component) -> QueryResult<()> {
    diesel::insert_into(components::table).values(component).execute(conn).map(drop)
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Component>> {
    components::table.find(id).select(Component::as_select()).first(conn).optional()
}

pub fn name_taken(conn: &mut DbConnection, owner_id: &str, name: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        components::table.filter(components::owner_id.eq(owner_id)).filter(components::name.eq(name)),
    ))
    .get_result(conn)
}

/// `owner`: `None` lists every account's components (the admin's view).
pub fn list(
    conn: &mut DbConnection,
    owner: Option<&str>,
    component_type: Option<&str>,
    page: &PageRequest,
) -> QueryResult<Vec<Component>> {
    let mut query = components::table.select(Component::as_select()).into_boxed();
    if let Some(owner) = owner {
        query = query.filter(components::owner_id.eq(owner.to_string()));
    }
    if let Some(component_type) = component_type {
        query = query.filter(components::component_type.eq(component_type.to_string()));
    }
    if let Some(after) = &page.after {
        query = query.filter(components::id.gt(after.clone()));
    }
    query.order(components::id.asc()).limit(page.fetch()).load(conn)
}

/// Whether any pack holds the component (as a member or as a released
/// component) or a release's history names it.
pub fn in_use(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
    let held = diesel::dsl::exists(pack_components::table.filter(pack_components::component_id.eq(id)));
    let released = diesel::dsl::exists(release_items::table.filter(release_items::component_id.eq(id)));
    diesel::select(held.or(released)).get_result(conn)
}

/// Deletes the component and (by cascade) its versions.
pub fn delete(conn: &mut DbConnection, id: &str) -> QueryResult<usize> {
    diesel::delete(components::table.find(id)).execute(conn)
}
