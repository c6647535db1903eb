//! `/accounts` and `/accounts/{id}/tokens`.

use actix_web::http::header;
use actix_web::{delete, get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extract::{ApiJson, Bearer, OptionalJson, PageQuery};
use super::{created, list_response, AppState};
use crate::domain::account::AccountKind;
use crate::error::AppResult;
use crate::service::accounts::{self as service, NewAccount, NewToken};
use crate::store::{accounts::Account as AccountRow, tokens::ApiToken};

/// The routes under `/api/v1/accounts`, relative to it.
pub fn accounts_routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_account)
        .service(list_accounts)
        .service(get_account)
        .service(create_token)
        .service(list_tokens)
        .service(get_token)
        .service(revoke_token);
}

#[derive(Serialize, ToSchema)]
pub struct Account {
    #[schema(format = Uuid)]
    pub id: String,
    pub name: String,
    pub kind: AccountKind,
    /// The publisher that manages this subscriber account; null for a publisher.
    #[schema(required = true)]
    #[schema(format = Uuid)]
    pub parent_id: Option<String>,
    #[serde(serialize_with = "super::timestamps::utc")]
    pub created_at: DateTime<Utc>,
}

impl From<AccountRow> for Account {
    fn from(row: AccountRow) -> Self {
        Self {
            kind: row.kind,
            id: row.id,
            name: row.name,
            parent_id: row.parent_id,
            created_at: row.created_at.and_utc(),
        }
    }
}

list_response!(AccountList, Account);

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccount {
    #[schema(example = "Acme Integrations")]
    pub name: String,
    /// The admin creates `publisher` accounts; a publisher creates `subscriber` accounts it manages.
    /// Defaults to what the caller may create.
    pub kind: Option<AccountKind>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountFilter {
    pub kind: Option<AccountKind>,
}

/// Create an account: the admin creates publishers, a publisher its subscriber accounts.
#[utoipa::path(
    tag = "accounts",
    request_body = CreateAccount,
    responses(
        (status = 201, body = Account, headers(("Location" = String, description = "URL of the new account"))),
    )
)]
#[post("")]
pub async fn create_account(
    state: web::Data<AppState>,
    bearer: Bearer,
    body: ApiJson<CreateAccount>,
) -> AppResult<HttpResponse> {
    let ApiJson(CreateAccount { name, kind }) = body;
    let account: Account = state
        .call(bearer, move |conn, ctx| service::create_account(conn, ctx, NewAccount { name, kind }))
        .await?
        .into();
    Ok(created(format!("/api/v1/accounts/{}", account.id), &account))
}

/// List the accounts the caller sees: all (admin), itself and its subscribers (publisher), itself (subscriber).
#[utoipa::path(
    tag = "accounts",
    params(PageQuery, AccountFilter),
    responses(
        (status = 200, body = AccountList),
    )
)]
#[get("")]
pub async fn list_accounts(
    state: web::Data<AppState>,
    bearer: Bearer,
    page: web::Query<PageQuery>,
    filter: web::Query<AccountFilter>,
) -> AppResult<web::Json<AccountList>> {
    let page = page.request()?;
    let kind = filter.kind;
    let accounts = state.read(bearer, move |conn, ctx| service::list_accounts(conn, ctx, kind, &page)).await?;
    Ok(web::Json(accounts.into()))
}

/// Get an account the caller sees.
#[utoipa::path(
    tag = "accounts",
    params(("id" = Uuid, Path, description = "Account id")),
    responses(
        (status = 200, body = Account),
    )
)]
#[get("/{id}")]
pub async fn get_account(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<Uuid>,
) -> AppResult<web::Json<Account>> {
    let id = id.to_string();
    let account = state.read(bearer, move |conn, ctx| service::get_account(conn, ctx, &id)).await?;
    Ok(web::Json(account.into()))
}

#[derive(Serialize, ToSchema)]
pub struct Token {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(required = true)]
    #[schema(format = Uuid)]
    pub account_id: Option<String>,
    #[schema(required = true)]
    pub name: Option<String>,
    #[serde(serialize_with = "super::timestamps::utc")]
    pub created_at: DateTime<Utc>,
    /// Null: the token does not expire.
    #[schema(required = true)]
    #[serde(serialize_with = "super::timestamps::utc_opt")]
    pub expires_at: Option<DateTime<Utc>>,
    /// The account whose token minted this one (a publisher minting for its
    /// subscriber shows here); null: the admin minted it.
    #[schema(required = true)]
    #[schema(format = Uuid)]
    pub minted_by: Option<String>,
}

impl From<ApiToken> for Token {
    fn from(row: ApiToken) -> Self {
        Self {
            id: row.id,
            account_id: row.account_id,
            name: row.name,
            created_at: row.created_at.and_utc(),
            expires_at: row.expires_at.map(|at| at.and_utc()),
            minted_by: row.minted_by,
        }
    }
}

list_response!(TokenList, Token);

/// A new token; `token` is the secret, shown only in this response.
#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(example = "pr_5f0c...")]
    pub token: String,
    #[schema(required = true)]
    #[schema(format = Uuid)]
    pub account_id: Option<String>,
    #[schema(required = true)]
    pub name: Option<String>,
    #[serde(serialize_with = "super::timestamps::utc")]
    pub created_at: DateTime<Utc>,
    #[schema(required = true)]
    #[serde(serialize_with = "super::timestamps::utc_opt")]
    pub expires_at: Option<DateTime<Utc>>,
    /// The account whose token minted this one; null: the admin.
    #[schema(required = true)]
    #[schema(format = Uuid)]
    pub minted_by: Option<String>,
}

#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// A label to tell tokens apart, such as "ci-pipeline".
    pub name: Option<String>,
    /// When the token stops working; it never expires when omitted.
    #[serde(serialize_with = "super::timestamps::utc_opt")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// Mint a token for an account (admin: any; publisher: itself and its subscribers).
/// The body is optional. Not idempotent by design: a secret is never stored to be replayed.
#[utoipa::path(
    tag = "accounts",
    params(("id" = Uuid, Path, description = "Account id")),
    request_body(content = Option<CreateToken>, description = "Optional; `{}` or no body is fine"),
    responses(
        (status = 201, body = CreatedToken, headers(("Location" = String, description = "URL of the new token"))),
    )
)]
#[post("/{id}/tokens")]
pub async fn create_token(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<Uuid>,
    body: OptionalJson<CreateToken>,
) -> AppResult<HttpResponse> {
    let id = id.to_string();
    let OptionalJson(CreateToken { name, expires_at }) = body;
    let (token, secret) = state
        .call(bearer, move |conn, ctx| service::create_token(conn, ctx, &id, NewToken { name, expires_at }))
        .await?;
    let token = Token::from(token);
    let location = format!("/api/v1/accounts/{}/tokens/{}", token.account_id.as_deref().unwrap_or_default(), token.id);
    let body = CreatedToken {
        id: token.id,
        token: secret,
        account_id: token.account_id,
        name: token.name,
        created_at: token.created_at,
        expires_at: token.expires_at,
        minted_by: token.minted_by,
    };
    let mut response = created(location, &body);
    // The secret must not stay in any cache on the way.
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    Ok(response)
}

/// List an account's tokens (never their secrets).
#[utoipa::path(
    tag = "accounts",
    params(("id" = Uuid, Path, description = "Account id"), PageQuery),
    responses(
        (status = 200, body = TokenList),
    )
)]
#[get("/{id}/tokens")]
pub async fn list_tokens(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<Uuid>,
    page: web::Query<PageQuery>,
) -> AppResult<web::Json<TokenList>> {
    let (id, page) = (id.to_string(), page.request()?);
    let tokens = state.read(bearer, move |conn, ctx| service::list_tokens(conn, ctx, &id, &page)).await?;
    Ok(web::Json(tokens.into()))
}

/// Get one token of an account (without its secret).
#[utoipa::path(
    tag = "accounts",
    params(("id" = Uuid, Path, description = "Account id"), ("token_id" = Uuid, Path, description = "Token id")),
    responses(
        (status = 200, body = Token),
    )
)]
#[get("/{id}/tokens/{token_id}")]
pub async fn get_token(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<(Uuid, Uuid)>,
) -> AppResult<web::Json<Token>> {
    let (id, token_id) = (path.0.to_string(), path.1.to_string());
    let token = state.read(bearer, move |conn, ctx| service::get_token(conn, ctx, &id, &token_id)).await?;
    Ok(web::Json(token.into()))
}

/// Revoke a token: it stops working at once.
#[utoipa::path(
    tag = "accounts",
    params(("id" = Uuid, Path, description = "Account id"), ("token_id" = Uuid, Path, description = "Token id")),
    responses(
        (status = 204, description = "Revoked"),
    )
)]
#[delete("/{id}/tokens/{token_id}")]
pub async fn revoke_token(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<(Uuid, Uuid)>,
) -> AppResult<HttpResponse> {
    let (id, token_id) = (path.0.to_string(), path.1.to_string());
    state.call(bearer, move |conn, ctx| service::revoke_token(conn, ctx, &id, &token_id)).await?;
    Ok(HttpResponse::NoContent().finish())
}
