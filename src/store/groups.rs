//! Account groups: which subscriber accounts receive which packs.

use chrono::NaiveDateTime;
use diesel::dsl::exists;
use diesel::prelude::*;

use super::accounts::Account;
use super::packs::Pack;
use super::PageRequest;
use crate::db::DbConnection;
use crate::schema::{account_group_members, account_group_packs, account_groups, accounts, integration_packs};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = account_groups)]
pub struct Group {
    pub id: String,
    pub publisher_id: String,
    pub name: String,
    #[diesel(deserialize_as = super::columns::Stamp)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = super::columns::Stamp)]
    pub updated_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConnection, group: &Group) -> QueryResult<()> {
    diesel::insert_into(account_groups::table).values(group).execute(conn).map(drop)
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Group>> {
    account_groups::table.find(id).select(Group::as_select()).first(conn).optional()
}

pub fn name_taken(conn: &mut DbConnection, publisher_id: &str, name: &str, except: &str) -> QueryResult<bool> {
    diesel::select(exists(
        account_groups::table
            .filter(account_groups::publisher_id.eq(publisher_id))
            .filter(account_groups::name.eq(name))
            .filter(account_groups::id.ne(except)),
    ))
    .get_result(conn)
}

pub fn list(conn: &mut DbConnection, publisher: Option<&str>, page: &PageRequest) -> QueryResult<Vec<Group>> {
    let mut query = account_groups::table.select(Group::as_select()).into_boxed();
    if let Some(publisher) = publisher {
        query = query.filter(account_groups::publisher_id.eq(publisher.to_string()));
    }
    if let Some(after) = &page.after {
        query = query.filter(account_groups::id.gt(after.clone()));
    }
    query.order(account_groups::id.asc()).limit(page.fetch()).load(conn)
}

pub fn rename(conn: &mut DbConnection, id: &str, name: &str, at: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(account_groups::table.find(id))
        .set((account_groups::name.eq(name), account_groups::updated_at.eq(at)))
        .execute(conn)
}

pub fn delete(conn: &mut DbConnection, id: &str) -> QueryResult<usize> {
    diesel::delete(account_groups::table.find(id)).execute(conn)
}

pub fn is_member(conn: &mut DbConnection, group_id: &str, account_id: &str) -> QueryResult<bool> {
    diesel::select(exists(account_group_members::table.find((group_id, account_id)))).get_result(conn)
}

pub fn add_member(conn: &mut DbConnection, group_id: &str, account_id: &str, at: NaiveDateTime) -> QueryResult<usize> {
    diesel::insert_into(account_group_members::table)
        .values((
            account_group_members::group_id.eq(group_id),
            account_group_members::account_id.eq(account_id),
            account_group_members::added_at.eq(at),
        ))
        .execute(conn)
}

pub fn remove_member(conn: &mut DbConnection, group_id: &str, account_id: &str) -> QueryResult<usize> {
    diesel::delete(account_group_members::table.find((group_id, account_id))).execute(conn)
}

pub fn members(conn: &mut DbConnection, group_id: &str, page: &PageRequest) -> QueryResult<Vec<Account>> {
    let mut query = account_group_members::table
        .inner_join(accounts::table)
        .filter(account_group_members::group_id.eq(group_id.to_string()))
        .select(Account::as_select())
        .into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(accounts::id.gt(after.clone()));
    }
    query.order(accounts::id.asc()).limit(page.fetch()).load(conn)
}

pub fn has_pack(conn: &mut DbConnection, group_id: &str, pack_id: &str) -> QueryResult<bool> {
    diesel::select(exists(account_group_packs::table.find((group_id, pack_id)))).get_result(conn)
}

pub fn add_pack(conn: &mut DbConnection, group_id: &str, pack_id: &str, at: NaiveDateTime) -> QueryResult<usize> {
    diesel::insert_into(account_group_packs::table)
        .values((
            account_group_packs::group_id.eq(group_id),
            account_group_packs::pack_id.eq(pack_id),
            account_group_packs::added_at.eq(at),
        ))
        .execute(conn)
}

pub fn remove_pack(conn: &mut DbConnection, group_id: &str, pack_id: &str) -> QueryResult<usize> {
    diesel::delete(account_group_packs::table.find((group_id, pack_id))).execute(conn)
}

/// The ids of the packs the group has.
pub fn pack_ids(conn: &mut DbConnection, group_id: &str) -> QueryResult<Vec<String>> {
    account_group_packs::table
        .filter(account_group_packs::group_id.eq(group_id))
        .select(account_group_packs::pack_id)
        .load(conn)
}

pub fn packs(conn: &mut DbConnection, group_id: &str, page: &PageRequest) -> QueryResult<Vec<Pack>> {
    let mut query = account_group_packs::table
        .inner_join(integration_packs::table)
        .filter(account_group_packs::group_id.eq(group_id.to_string()))
        .select(Pack::as_select())
        .into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(integration_packs::id.gt(after.clone()));
    }
    query.order(integration_packs::id.asc()).limit(page.fetch()).load(conn)
}

/// Whether one of the account's groups has the pack: the account may install
/// it, and its installations of it are subscribed (they get updates and pushes).
pub fn shared_with(conn: &mut DbConnection, account_id: &str, pack_id: &str) -> QueryResult<bool> {
    diesel::select(exists(
        account_group_members::table
            .inner_join(
                account_group_packs::table.on(account_group_packs::group_id.eq(account_group_members::group_id)),
            )
            .filter(account_group_members::account_id.eq(account_id))
            .filter(account_group_packs::pack_id.eq(pack_id)),
    ))
    .get_result(conn)
}
