//! Accounts and their tokens; admin tokens for operators.

use chrono::{DateTime, NaiveDateTime, Utc};

use super::{auth, new_id, Caller, Ctx};
use crate::db::DbConnection;
use crate::domain::account::{self, AccountKind};
use crate::domain::text::{self, Checks};
use crate::error::{AppError, AppResult};
use crate::store::accounts::{self as store, Account, AccountScope};
use crate::store::tokens::{self, ApiToken};
use crate::store::{Page, PageRequest};

pub const MAX_TOKEN_NAME_CHARS: usize = 100;

pub struct NewAccount {
    pub name: String,
    pub kind: Option<AccountKind>,
}

/// The admin creates publishers; a publisher creates subscribers it manages.
pub fn create_account(conn: &mut DbConnection, ctx: &Ctx, input: NewAccount) -> AppResult<Account> {
    let (kind, parent_id) = match (&ctx.caller, input.kind) {
        (Caller::Admin, None | Some(AccountKind::Publisher)) => (AccountKind::Publisher, None),
        (Caller::Admin, Some(AccountKind::Subscriber)) => {
            return Err(AppError::invalid(
                "kind",
                "not_allowed",
                "the admin creates publisher accounts; a publisher creates its subscribers",
            ))
        }
        (Caller::Account { .. }, Some(AccountKind::Publisher)) => {
            return Err(AppError::invalid("kind", "not_allowed", "a publisher creates subscriber accounts only"))
        }
        (caller @ Caller::Account { .. }, None | Some(AccountKind::Subscriber)) => {
            (AccountKind::Subscriber, Some(caller.publisher_id()?.to_string()))
        }
    };
    let name =
        text::parse_name("name", &input.name, account::MAX_NAME_CHARS).map_err(|e| AppError::Validation(vec![e]))?;
    let account = Account { id: new_id(), name, kind, parent_id, created_at: ctx.now() };
    conn.write_transaction(|conn| store::insert(conn, &account))?;
    Ok(account)
}

pub fn list_accounts(
    conn: &mut DbConnection,
    ctx: &Ctx,
    kind: Option<AccountKind>,
    page: &PageRequest,
) -> AppResult<Page<Account>> {
    let scope = match &ctx.caller {
        Caller::Admin => AccountScope::All,
        Caller::Account { account, kind: AccountKind::Publisher } => AccountScope::Family(&account.id),
        Caller::Account { account, .. } => AccountScope::Only(&account.id),
    };
    let rows = store::list(conn, scope, kind.map(AccountKind::as_str), page)?;
    Ok(Page::from_rows(rows, page, |a| &a.id))
}

/// The account, if the caller sees it; otherwise 404 as if it did not exist.
pub fn get_account(conn: &mut DbConnection, ctx: &Ctx, id: &str) -> AppResult<Account> {
    match store::find(conn, id)? {
        Some(account) if ctx.caller.sees_account(&account) => Ok(account),
        _ => Err(AppError::NotFound),
    }
}

/// An account whose tokens the caller manages: the admin any, a publisher
/// itself and its subscribers; a subscriber sees itself but may not.
fn token_manager_of(conn: &mut DbConnection, ctx: &Ctx, account_id: &str) -> AppResult<Account> {
    let account = get_account(conn, ctx, account_id)?;
    if let Caller::Account { kind: AccountKind::Subscriber, .. } = ctx.caller {
        return Err(AppError::forbidden("tokens of a subscriber account are managed by its publisher"));
    }
    Ok(account)
}

pub struct NewToken {
    pub name: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A new token for the account; the secret is returned once and only its hash kept.
pub fn create_token(
    conn: &mut DbConnection,
    ctx: &Ctx,
    account_id: &str,
    input: NewToken,
) -> AppResult<(ApiToken, String)> {
    let account = token_manager_of(conn, ctx, account_id)?;
    let mut checks = Checks::default();
    let name = input.name.and_then(|name| checks.check(text::parse_name("name", &name, MAX_TOKEN_NAME_CHARS)));
    if let Some(expires_at) = input.expires_at {
        if expires_at <= ctx.now {
            checks.check::<()>(Err(crate::error::FieldError::new(
                "expires_at",
                "in_the_past",
                "expires_at must be in the future",
            )));
        }
    }
    checks.finish()?;
    let (secret, token_hash) = auth::new_token()?;
    let token = ApiToken {
        id: new_id(),
        account_id: Some(account.id),
        token_hash,
        name,
        created_at: ctx.now(),
        expires_at: input.expires_at.map(|at| at.naive_utc()),
        minted_by: ctx.caller.account_id().map(str::to_string),
    };
    conn.write_transaction(|conn| tokens::insert(conn, &token))?;
    Ok((token, secret))
}

pub fn list_tokens(
    conn: &mut DbConnection,
    ctx: &Ctx,
    account_id: &str,
    page: &PageRequest,
) -> AppResult<Page<ApiToken>> {
    let account = get_account(conn, ctx, account_id)?;
    let rows = tokens::list_for_account(conn, &account.id, page)?;
    Ok(Page::from_rows(rows, page, |t| &t.id))
}

pub fn get_token(conn: &mut DbConnection, ctx: &Ctx, account_id: &str, token_id: &str) -> AppResult<ApiToken> {
    let account = get_account(conn, ctx, account_id)?;
    tokens::find_for_account(conn, &account.id, token_id)?.ok_or(AppError::NotFound)
}

pub fn revoke_token(conn: &mut DbConnection, ctx: &Ctx, account_id: &str, token_id: &str) -> AppResult<()> {
    let account = token_manager_of(conn, ctx, account_id)?;
    match conn.write_transaction(|conn| tokens::delete_for_account(conn, &account.id, token_id))? {
        0 => Err(AppError::NotFound),
        _ => Ok(()),
    }
}

/// Mints an admin token (for the operator's shell); returns the secret.
pub fn mint_admin_token(conn: &mut DbConnection, now: NaiveDateTime) -> AppResult<String> {
    let (secret, token_hash) = auth::new_token()?;
    let token = ApiToken {
        id: new_id(),
        account_id: None,
        token_hash,
        name: Some("admin".into()),
        created_at: now,
        expires_at: None,
        minted_by: None,
    };
    conn.write_transaction(|conn| tokens::insert(conn, &token))?;
    Ok(secret)
}

/// On a first start with no admin token configured or stored, mints one.
pub fn first_admin_token(conn: &mut DbConnection, now: NaiveDateTime) -> AppResult<Option<String>> {
    if tokens::any_admin_token(conn)? {
        return Ok(None);
    }
    mint_admin_token(conn, now).map(Some)
}

/// Creates a publisher and a first token for it (for the operator's shell).
pub fn create_publisher(conn: &mut DbConnection, now: DateTime<Utc>, name: &str) -> AppResult<(Account, String)> {
    let ctx = Ctx { caller: Caller::Admin, token_id: None, now, time_zone: crate::domain::schedule::DEFAULT_TIME_ZONE };
    let account =
        create_account(conn, &ctx, NewAccount { name: name.to_string(), kind: Some(AccountKind::Publisher) })?;
    let (_, secret) = create_token(
        conn,
        &ctx,
        &account.id,
        NewToken { name: Some("created by create-publisher".into()), expires_at: None },
    )?;
    Ok((account, secret))
}
