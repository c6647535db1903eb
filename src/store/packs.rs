//! Integration packs and their member lists.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::releases::{Release, ScheduledWord};
use super::PageRequest;
use crate::db::DbConnection;
use crate::domain::pack;
use crate::schema::{
    account_group_members, account_group_packs, component_versions, components, integration_packs, pack_components,
    releases,
};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = integration_packs)]
pub struct Pack {
    pub id: String,
    pub publisher_id: String,
    pub name: String,
    pub description: String,
    pub installation_type: pack::InstallationType,
    pub revision: i64,
    #[diesel(deserialize_as = super::columns::Stamp)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = super::columns::Stamp)]
    pub updated_at: NaiveDateTime,
    /// `domain::pack::name_key` of the name.
    pub name_key: String,
    pub deployment: pack::Deployment,
}

impl AsRef<Pack> for Pack {
    fn as_ref(&self) -> &Pack {
        self
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = pack_components)]
pub struct PackComponent {
    pub pack_id: String,
    pub component_id: String,
    pub member: bool,
    #[diesel(deserialize_as = super::columns::Stamp)]
    pub added_at: NaiveDateTime,
    pub released_version_id: Option<String>,
}

/// A member as the pack's component list shows it.
#[derive(Debug, Clone, Queryable)]
pub struct Member {
    pub component_id: String,
    pub name: String,
    pub component_type: crate::domain::component::ComponentType,
    #[diesel(deserialize_as = super::columns::Stamp)]
    pub added_at: NaiveDateTime,
    pub released_version: Option<String>,
}

pub fn insert(conn: &mut DbConnection, pack: &Pack) -> QueryResult<()> {
    diesel::insert_into(integration_packs::table).values(pack).execute(conn).map(drop)
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Pack>> {
    super::on_backend!(conn, |c| integration_packs::table.find(id).select(Pack::as_select()).get_result(c).optional())
}

/// The pack and its scheduled release, if one is waiting, in one statement
/// (a pack has one scheduled release at most: `releases_one_scheduled_per_pack`,
/// whose partial index the literal `'scheduled'` lets SQLite use).
pub fn find_with_scheduled(conn: &mut DbConnection, id: &str) -> QueryResult<Option<(Pack, Option<Release>)>> {
    super::on_backend!(conn, |c| integration_packs::table
        .left_join(
            releases::table.on(releases::pack_id.eq(integration_packs::id).and(releases::status.eq(ScheduledWord))),
        )
        .filter(integration_packs::id.eq(id))
        .select((Pack::as_select(), Option::<Release>::as_select()))
        .get_result(c)
        .optional())
}

/// Whether another pack of the publisher already has this name.
pub fn name_taken(conn: &mut DbConnection, publisher_id: &str, name: &str, except: Option<&str>) -> QueryResult<bool> {
    let same_name = integration_packs::table
        .filter(integration_packs::publisher_id.eq(publisher_id))
        .filter(integration_packs::name.eq(name))
        .filter(integration_packs::id.ne(except.unwrap_or_default()));
    diesel::select(diesel::dsl::exists(same_name)).get_result(conn)
}

/// Whose packs a list shows.
pub enum PackScope<'a> {
    /// A publisher's catalog (`None`: every publisher's, the admin's view).
    Catalog(Option<&'a str>),
    /// The packs shared with a subscriber account through its groups.
    SharedWith(&'a str),
}

/// What a list of packs narrows to.
#[derive(Default)]
pub struct PackFilter<'a> {
    /// A `domain::pack::name_prefix_pattern` of `name_key`.
    pub name_like: Option<&'a str>,
    pub deployment: Option<pack::Deployment>,
}

/// Packs by id.
pub fn list(
    conn: &mut DbConnection,
    scope: PackScope,
    filter: &PackFilter,
    page: &PageRequest,
) -> QueryResult<Vec<Pack>> {
    let mut query = integration_packs::table.select(Pack::as_select()).into_boxed();
    query = match scope {
        PackScope::Catalog(None) => query,
        PackScope::Catalog(Some(publisher)) => query.filter(integration_packs::publisher_id.eq(publisher.to_string())),
        PackScope::SharedWith(account_id) => query.filter(
            integration_packs::id.eq_any(
                account_group_members::table
                    .inner_join(
                        account_group_packs::table
                            .on(account_group_packs::group_id.eq(account_group_members::group_id)),
                    )
                    .filter(account_group_members::account_id.eq(account_id.to_string()))
                    .select(account_group_packs::pack_id),
            ),
        ),
    };
    if let Some(pattern) = filter.name_like {
        query = query.filter(integration_packs::name_key.like(pattern.to_string()).escape('\\'));
    }
    if let Some(deployment) = filter.deployment {
        query = query.filter(integration_packs::deployment.eq(deployment));
    }
    if let Some(after) = &page.after {
        query = query.filter(integration_packs::id.gt(after.clone()));
    }
    query.order(integration_packs::id.asc()).limit(page.fetch()).load(conn)
}

/// Writes `name_key` again wherever it is not `domain::pack::name_key(name)`
/// (rows migrated by SQL, or written by an older binary). Packs are few.
pub fn repair_name_keys(conn: &mut DbConnection) -> QueryResult<usize> {
    let rows: Vec<(String, String, String)> = integration_packs::table
        .select((integration_packs::id, integration_packs::name, integration_packs::name_key))
        .load(conn)?;
    let mut repaired = 0;
    for (id, name, key) in rows {
        let wanted = pack::name_key(&name);
        if key != wanted {
            repaired += diesel::update(integration_packs::table.find(&id))
                .set(integration_packs::name_key.eq(wanted))
                .execute(conn)?;
        }
    }
    Ok(repaired)
}

pub fn update_details(conn: &mut DbConnection, pack: &Pack) -> QueryResult<usize> {
    diesel::update(integration_packs::table.find(&pack.id))
        .set((
            integration_packs::name.eq(&pack.name),
            integration_packs::name_key.eq(&pack.name_key),
            integration_packs::description.eq(&pack.description),
            integration_packs::updated_at.eq(pack.updated_at),
        ))
        .execute(conn)
}

/// Records a change of membership or release: drafts made before it go stale.
pub fn bump_revision(conn: &mut DbConnection, id: &str, at: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(integration_packs::table.find(id))
        .set((integration_packs::revision.eq(integration_packs::revision + 1), integration_packs::updated_at.eq(at)))
        .execute(conn)
}

pub fn delete(conn: &mut DbConnection, id: &str) -> QueryResult<usize> {
    diesel::delete(integration_packs::table.find(id)).execute(conn)
}

pub fn count_members(conn: &mut DbConnection, pack_id: &str) -> QueryResult<i64> {
    pack_components::table
        .filter(pack_components::pack_id.eq(pack_id))
        .filter(pack_components::member.eq(true))
        .count()
        .get_result(conn)
}

pub fn find_pack_component(
    conn: &mut DbConnection,
    pack_id: &str,
    component_id: &str,
) -> QueryResult<Option<PackComponent>> {
    pack_components::table.find((pack_id, component_id)).select(PackComponent::as_select()).first(conn).optional()
}

pub fn insert_pack_component(conn: &mut DbConnection, row: &PackComponent) -> QueryResult<()> {
    diesel::insert_into(pack_components::table).values(row).execute(conn).map(drop)
}

pub fn set_member(
    conn: &mut DbConnection,
    pack_id: &str,
    component_id: &str,
    member: bool,
    added_at: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(pack_components::table.find((pack_id, component_id)))
        .set((pack_components::member.eq(member), pack_components::added_at.eq(added_at)))
        .execute(conn)
}

pub fn delete_pack_component(conn: &mut DbConnection, pack_id: &str, component_id: &str) -> QueryResult<usize> {
    diesel::delete(pack_components::table.find((pack_id, component_id))).execute(conn)
}

type MembersQuery = diesel::dsl::Select<
    diesel::dsl::LeftJoin<diesel::dsl::InnerJoin<pack_components::table, components::table>, component_versions::table>,
    (
        pack_components::component_id,
        components::name,
        components::component_type,
        pack_components::added_at,
        diesel::dsl::Nullable<component_versions::version>,
    ),
>;

/// Members joined with their component and released version.
fn members_query() -> MembersQuery {
    pack_components::table.inner_join(components::table).left_join(component_versions::table).select((
        pack_components::component_id,
        components::name,
        components::component_type,
        pack_components::added_at,
        component_versions::version.nullable(),
    ))
}

/// Which rows of a pack's component list a caller sees.
#[derive(Clone, Copy)]
pub enum ListView {
    /// What the pack holds now (its publisher's view).
    Members,
    /// What subscribers run: every released component, removed ones included.
    Released,
}

/// The pack's component list, by component id.
pub fn list_members(
    conn: &mut DbConnection,
    pack_id: &str,
    view: ListView,
    page: &PageRequest,
) -> QueryResult<Vec<Member>> {
    let mut query = members_query().filter(pack_components::pack_id.eq(pack_id.to_string())).into_boxed();
    query = match view {
        ListView::Members => query.filter(pack_components::member.eq(true)),
        ListView::Released => query.filter(pack_components::released_version_id.is_not_null()),
    };
    if let Some(after) = &page.after {
        query = query.filter(pack_components::component_id.gt(after.clone()));
    }
    query.order(pack_components::component_id.asc()).limit(page.fetch()).load(conn)
}

pub fn find_member(
    conn: &mut DbConnection,
    pack_id: &str,
    component_id: &str,
    view: ListView,
) -> QueryResult<Option<Member>> {
    let query = members_query()
        .filter(pack_components::pack_id.eq(pack_id.to_string()))
        .filter(pack_components::component_id.eq(component_id.to_string()))
        .into_boxed();
    match view {
        ListView::Members => query.filter(pack_components::member.eq(true)),
        ListView::Released => query.filter(pack_components::released_version_id.is_not_null()),
    }
    .first(conn)
    .optional()
}

/// Every row of the pack's component list: members and removed-but-released components.
pub fn pack_components(conn: &mut DbConnection, pack_id: &str) -> QueryResult<Vec<PackComponent>> {
    pack_components::table
        .filter(pack_components::pack_id.eq(pack_id))
        .select(PackComponent::as_select())
        .order(pack_components::component_id.asc())
        .load(conn)
}

/// Locks these packs' rows until the transaction ends and reads them again,
/// in id order so that writers locking several packs never deadlock. On
/// PostgreSQL `FOR NO KEY UPDATE`: a writer that waited here reads what the
/// one before it committed, while rows that merely reference a pack (their
/// foreign-key checks take `KEY SHARE`) are not held up. On SQLite the
/// immediate write transaction already excludes every other writer.
pub fn lock(conn: &mut DbConnection, ids: &[String]) -> QueryResult<Vec<Pack>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    macro_rules! packs_in_order {
        () => {
            integration_packs::table
                .filter(integration_packs::id.eq_any(ids))
                .order(integration_packs::id.asc())
                .select(Pack::as_select())
        };
    }
    match conn {
        DbConnection::Postgresql(pg) => packs_in_order!().for_no_key_update().load(pg),
        DbConnection::Sqlite(sqlite) => packs_in_order!().load(sqlite),
    }
}
