//! API tokens, stored only as SHA-256 hashes.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::accounts::Account;
use super::PageRequest;
use crate::db::DbConnection;
use crate::schema::{accounts, api_tokens};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_tokens)]
pub struct ApiToken {
    pub id: String,
    /// `None` for an admin token.
    pub account_id: Option<String>,
    pub token_hash: String,
    pub name: Option<String>,
    #[diesel(deserialize_as = super::columns::Stamp)]
    pub created_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
    /// The account whose token minted it; `None`: the admin.
    pub minted_by: Option<String>,
}

pub fn insert(conn: &mut DbConnection, token: &ApiToken) -> QueryResult<()> {
    diesel::insert_into(api_tokens::table).values(token).execute(conn).map(drop)
}

/// What authenticating a request reads of its token: no more than that, on
/// every request.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_tokens)]
pub struct TokenGrant {
    pub id: String,
    /// `None` for an admin token.
    pub account_id: Option<String>,
    pub expires_at: Option<NaiveDateTime>,
}

/// The token with this hash and the account it belongs to (none for an admin token).
pub fn find_by_hash(conn: &mut DbConnection, hash: &str) -> QueryResult<Option<(TokenGrant, Option<Account>)>> {
    super::on_backend!(conn, |c| api_tokens::table
        .left_join(accounts::table)
        .filter(api_tokens::token_hash.eq(hash))
        .select((TokenGrant::as_select(), Option::<Account>::as_select()))
        .get_result(c)
        .optional())
}

pub fn any_admin_token(conn: &mut DbConnection) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(api_tokens::table.filter(api_tokens::account_id.is_null()))).get_result(conn)
}

pub fn list_for_account(conn: &mut DbConnection, account_id: &str, page: &PageRequest) -> QueryResult<Vec<ApiToken>> {
    let mut query = api_tokens::table
        .filter(api_tokens::account_id.eq(account_id.to_string()))
        .select(ApiToken::as_select())
        .into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(api_tokens::id.gt(after.clone()));
    }
    query.order(api_tokens::id.asc()).limit(page.fetch()).load(conn)
}

pub fn find_for_account(conn: &mut DbConnection, account_id: &str, token_id: &str) -> QueryResult<Option<ApiToken>> {
    api_tokens::table
        .filter(api_tokens::account_id.eq(account_id))
        .filter(api_tokens::id.eq(token_id))
        .select(ApiToken::as_select())
        .first(conn)
        .optional()
}

pub fn delete_for_account(conn: &mut DbConnection, account_id: &str, token_id: &str) -> QueryResult<usize> {
    diesel::delete(api_tokens::table.filter(api_tokens::account_id.eq(account_id)).filter(api_tokens::id.eq(token_id)))
        .execute(conn)
}
