//! Accounts.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::PageRequest;
use crate::db::DbConnection;
use crate::schema::accounts;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = accounts)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub kind: crate::domain::account::AccountKind,
    pub parent_id: Option<String>,
    #[diesel(deserialize_as = super::columns::Stamp)]
    pub created_at: NaiveDateTime,
}

/// Which accounts a listing may return.
pub enum AccountScope<'a> {
    All,
    /// A publisher and the subscriber accounts it manages.
    Family(&'a str),
    Only(&'a str),
}

pub fn insert(conn: &mut DbConnection, account: &Account) -> QueryResult<()> {
    diesel::insert_into(accounts::table).values(account).execute(conn).map(drop)
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Account>> {
    accounts::table.find(id).select(Account::as_select()).first(conn).optional()
}

pub fn list(
    conn: &mut DbConnection,
    scope: AccountScope,
    kind: Option<&str>,
    page: &PageRequest,
) -> QueryResult<Vec<Account>> {
    let mut query = accounts::table.select(Account::as_select()).into_boxed();
    query = match scope {
        AccountScope::All => query,
        AccountScope::Family(publisher) => {
            query.filter(accounts::id.eq(publisher.to_string()).or(accounts::parent_id.eq(publisher.to_string())))
        }
        AccountScope::Only(id) => query.filter(accounts::id.eq(id.to_string())),
    };
    if let Some(kind) = kind {
        query = query.filter(accounts::kind.eq(kind.to_string()));
    }
    if let Some(after) = &page.after {
        query = query.filter(accounts::id.gt(after.clone()));
    }
    query.order(accounts::id.asc()).limit(page.fetch()).load(conn)
}
