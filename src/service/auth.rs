//! Who is calling: bearer tokens resolved to the admin or an account, and the
//! visibility rules of DESIGN.md's "Who may do what" table.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::Settings;
use crate::db::DbConnection;
use crate::domain::account::AccountKind;
use crate::domain::text;
use crate::error::{AppError, AppResult};
use crate::store::{accounts::Account, tokens};

pub enum Caller {
    Admin,
    Account { account: Account, kind: AccountKind },
}

impl Caller {
    pub fn account_id(&self) -> Option<&str> {
        match self {
            Caller::Admin => None,
            Caller::Account { account, .. } => Some(&account.id),
        }
    }

    /// The calling publisher's id; anyone else may see but not change the catalog.
    pub fn publisher_id(&self) -> AppResult<&str> {
        match self {
            Caller::Account { account, kind: AccountKind::Publisher } => Ok(&account.id),
            Caller::Admin => Err(AppError::forbidden("the admin manages accounts and tokens, not catalogs")),
            Caller::Account { .. } => Err(AppError::forbidden("only a publisher account may do this")),
        }
    }

    /// Whose catalog (components, packs, releases) a listing shows this caller.
    pub fn catalog_scope(&self) -> CatalogScope<'_> {
        match self {
            Caller::Admin => CatalogScope::Everyone,
            Caller::Account { account, kind: AccountKind::Publisher } => CatalogScope::Publisher(&account.id),
            Caller::Account { .. } => CatalogScope::Nothing,
        }
    }

    /// Whether the caller sees something owned by `owner_id` (a publisher's catalog).
    pub fn sees_owned_by(&self, owner_id: &str) -> bool {
        match self {
            Caller::Admin => true,
            Caller::Account { account, kind: AccountKind::Publisher } => account.id == owner_id,
            Caller::Account { .. } => false,
        }
    }

    /// Whether the caller sees this account: the admin all, a publisher itself
    /// and its subscribers, a subscriber only itself.
    pub fn sees_account(&self, other: &Account) -> bool {
        match self {
            Caller::Admin => true,
            Caller::Account { account, kind: AccountKind::Publisher } => {
                other.id == account.id || other.parent_id.as_deref() == Some(&account.id)
            }
            Caller::Account { account, .. } => other.id == account.id,
        }
    }
}

/// What of the publishers' catalogs a caller lists.
pub enum CatalogScope<'a> {
    /// The admin: every publisher's.
    Everyone,
    /// A publisher: its own.
    Publisher(&'a str),
    /// A subscriber: none (it sees only packs shared with it).
    Nothing,
}

impl<'a> CatalogScope<'a> {
    /// `Some(owner)` to filter by (`Some(None)`: everyone's), or `None` when the listing is empty.
    pub fn owner_filter(self) -> Option<Option<&'a str>> {
        match self {
            CatalogScope::Everyone => Some(None),
            CatalogScope::Publisher(id) => Some(Some(id)),
            CatalogScope::Nothing => None,
        }
    }
}

/// Tokens are stored and compared only as SHA-256 hex digests.
pub fn hash_token(token: &str) -> String {
    text::hex(&Sha256::digest(token.as_bytes()))
}

/// A new random token (256 bits) and its hash.
pub fn new_token() -> AppResult<(String, String)> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| AppError::Internal(format!("no randomness: {e}").into()))?;
    let token = format!("pr_{}", text::hex(&bytes));
    let hash = hash_token(&token);
    Ok((token, hash))
}

/// The caller a bearer token stands for, and the stored token's id (none for
/// the admin token of the environment). Decided on the token's own account
/// column: a token of an account whose row is gone is refused, never taken
/// for the admin's.
pub fn authenticate(
    conn: &mut DbConnection,
    settings: &Settings,
    token: &str,
    now: DateTime<Utc>,
) -> AppResult<(Caller, Option<String>)> {
    let hash = hash_token(token);
    if settings.admin_token_hash.as_deref() == Some(hash.as_str()) {
        return Ok((Caller::Admin, None));
    }
    let Some((token, account)) = tokens::find_by_hash(conn, &hash)? else {
        return Err(AppError::Unauthorized);
    };
    if token.expires_at.is_some_and(|expires| expires <= now.naive_utc()) {
        return Err(AppError::Unauthorized);
    }
    let caller = match (&token.account_id, account) {
        (None, _) => Caller::Admin,
        (Some(_), Some(account)) => {
            let kind = account.kind;
            Caller::Account { account, kind }
        }
        (Some(_), None) => return Err(AppError::Unauthorized),
    };
    Ok((caller, Some(token.id)))
}
