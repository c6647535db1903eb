//! `/account-groups`: members and shared packs.

use actix_web::{delete, get, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::accounts::{Account, AccountList};
use super::extract::{ApiJson, Bearer, PageQuery};
use super::problem::responses::Conflict;
use super::{created, list_response, AppState};
use crate::error::AppResult;
use crate::service::groups as service;
use crate::store::groups::Group;
use crate::store::packs::Pack;

/// The routes under `/api/v1/account-groups`, relative to it.
pub fn account_groups_routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_group)
        .service(list_groups)
        .service(get_group)
        .service(rename_group)
        .service(delete_group)
        .service(add_group_member)
        .service(list_group_members)
        .service(remove_group_member)
        .service(add_pack)
        .service(list_group_packs)
        .service(remove_pack);
}

#[derive(Serialize, ToSchema)]
pub struct AccountGroup {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub publisher_id: String,
    pub name: String,
    #[serde(serialize_with = "super::timestamps::utc")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "super::timestamps::utc")]
    pub updated_at: DateTime<Utc>,
}

impl From<Group> for AccountGroup {
    fn from(g: Group) -> Self {
        Self {
            id: g.id,
            publisher_id: g.publisher_id,
            name: g.name,
            created_at: g.created_at.and_utc(),
            updated_at: g.updated_at.and_utc(),
        }
    }
}

list_response!(AccountGroupList, AccountGroup);

/// A pack shared with a group.
#[derive(Serialize, ToSchema)]
pub struct GroupPack {
    #[schema(format = Uuid)]
    pub integration_pack_id: String,
    pub name: String,
}

impl From<Pack> for GroupPack {
    fn from(p: Pack) -> Self {
        Self { integration_pack_id: p.id, name: p.name }
    }
}

list_response!(GroupPackList, GroupPack);

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupName {
    #[schema(example = "EMEA customers")]
    pub name: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddGroupMember {
    /// One of the publisher's subscriber accounts.
    #[schema(format = Uuid)]
    pub account_id: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddGroupPack {
    /// One of the publisher's packs, released at least once.
    #[schema(format = Uuid)]
    pub integration_pack_id: String,
}

/// Create an account group. 409 `group_name_taken`.
#[utoipa::path(
    tag = "account-groups",
    request_body = GroupName,
    responses(
        (status = 201, body = AccountGroup, headers(("Location" = String, description = "URL of the group"))),
        (status = 409, response = Conflict),
    )
)]
#[post("")]
pub async fn create_group(
    state: web::Data<AppState>,
    bearer: Bearer,
    body: ApiJson<GroupName>,
) -> AppResult<HttpResponse> {
    let name = body.0.name;
    let group: AccountGroup =
        state.call(bearer, move |conn, ctx| service::create_group(conn, ctx, &name)).await?.into();
    Ok(created(format!("/api/v1/account-groups/{}", group.id), &group))
}

/// The publisher's account groups.
#[utoipa::path(
    tag = "account-groups",
    params(PageQuery),
    responses(
        (status = 200, body = AccountGroupList),
    )
)]
#[get("")]
pub async fn list_groups(
    state: web::Data<AppState>,
    bearer: Bearer,
    page: web::Query<PageQuery>,
) -> AppResult<web::Json<AccountGroupList>> {
    let page = page.request()?;
    let list = state.read(bearer, move |conn, ctx| service::list_groups(conn, ctx, &page)).await?;
    Ok(web::Json(list.into()))
}

/// One account group (its publisher, or the admin).
#[utoipa::path(
    tag = "account-groups",
    params(("id" = Uuid, Path, description = "Account group id")),
    responses(
        (status = 200, body = AccountGroup),
    )
)]
#[get("/{id}")]
pub async fn get_group(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<Uuid>,
) -> AppResult<web::Json<AccountGroup>> {
    let id = id.to_string();
    let group = state.read(bearer, move |conn, ctx| service::get_group(conn, ctx, &id)).await?;
    Ok(web::Json(group.into()))
}

/// Rename a group. 409 `group_name_taken`.
#[utoipa::path(
    tag = "account-groups",
    params(("id" = Uuid, Path, description = "Account group id")),
    request_body = GroupName,
    responses(
        (status = 200, body = AccountGroup),
        (status = 409, response = Conflict),
    )
)]
#[patch("/{id}")]
pub async fn rename_group(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<Uuid>,
    body: ApiJson<GroupName>,
) -> AppResult<web::Json<AccountGroup>> {
    let (id, name) = (id.to_string(), body.0.name);
    let group = state.call(bearer, move |conn, ctx| service::rename_group(conn, ctx, &id, &name)).await?;
    Ok(web::Json(group.into()))
}

/// Delete a group. Its members keep their installations, unsubscribed unless another group shares the pack.
#[utoipa::path(
    tag = "account-groups",
    params(("id" = Uuid, Path, description = "Account group id")),
    responses(
        (status = 204, description = "Deleted"),
    )
)]
#[delete("/{id}")]
pub async fn delete_group(state: web::Data<AppState>, bearer: Bearer, id: web::Path<Uuid>) -> AppResult<HttpResponse> {
    let id = id.to_string();
    state.call(bearer, move |conn, ctx| service::delete_group(conn, ctx, &id)).await?;
    state.deliveries_queued();
    Ok(HttpResponse::NoContent().finish())
}

/// Add one of the publisher's subscriber accounts to the group. 409 `already_member`.
#[utoipa::path(
    tag = "account-groups",
    params(("id" = Uuid, Path, description = "Account group id")),
    request_body = AddGroupMember,
    responses(
        (status = 201, body = Account, headers(("Location" = String, description = "URL of the member"))),
        (status = 409, response = Conflict),
    )
)]
#[post("/{id}/members")]
pub async fn add_group_member(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<Uuid>,
    body: ApiJson<AddGroupMember>,
) -> AppResult<HttpResponse> {
    let (id, account_id) = (id.to_string(), body.0.account_id);
    let group_id = id.clone();
    let account: Account =
        state.call(bearer, move |conn, ctx| service::add_member(conn, ctx, &group_id, &account_id)).await?.into();
    state.deliveries_queued();
    Ok(created(format!("/api/v1/account-groups/{id}/members/{}", account.id), &account))
}

/// The group's member accounts, by id.
#[utoipa::path(
    tag = "account-groups",
    params(("id" = Uuid, Path, description = "Account group id"), PageQuery),
    responses(
        (status = 200, body = AccountList),
    )
)]
#[get("/{id}/members")]
pub async fn list_group_members(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<Uuid>,
    page: web::Query<PageQuery>,
) -> AppResult<web::Json<AccountList>> {
    let (id, page) = (id.to_string(), page.request()?);
    let list = state.read(bearer, move |conn, ctx| service::list_members(conn, ctx, &id, &page)).await?;
    Ok(web::Json(list.into()))
}

/// Remove an account from the group. Installations stay, unsubscribed unless another group shares the pack.
#[utoipa::path(
    tag = "account-groups",
    params(("id" = Uuid, Path, description = "Account group id"), ("account_id" = Uuid, Path, description = "Account id")),
    responses(
        (status = 204, description = "Removed"),
    )
)]
#[delete("/{id}/members/{account_id}")]
pub async fn remove_group_member(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<(Uuid, Uuid)>,
) -> AppResult<HttpResponse> {
    let (id, account_id) = (path.0.to_string(), path.1.to_string());
    state.call(bearer, move |conn, ctx| service::remove_member(conn, ctx, &id, &account_id)).await?;
    state.deliveries_queued();
    Ok(HttpResponse::NoContent().finish())
}

/// Share a pack with the group's accounts. 409 `pack_never_released`, `already_shared`.
#[utoipa::path(
    tag = "account-groups",
    params(("id" = Uuid, Path, description = "Account group id")),
    request_body = AddGroupPack,
    responses(
        (status = 201, body = GroupPack, headers(("Location" = String, description = "URL of the shared pack"))),
        (status = 409, response = Conflict),
    )
)]
#[post("/{id}/integration-packs")]
pub async fn add_pack(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<Uuid>,
    body: ApiJson<AddGroupPack>,
) -> AppResult<HttpResponse> {
    let (id, pack_id) = (id.to_string(), body.0.integration_pack_id);
    let group_id = id.clone();
    let pack: GroupPack =
        state.call(bearer, move |conn, ctx| service::add_pack(conn, ctx, &group_id, &pack_id)).await?.into();
    state.deliveries_queued();
    Ok(created(format!("/api/v1/account-groups/{id}/integration-packs/{}", pack.integration_pack_id), &pack))
}

/// The packs shared with the group, by id.
#[utoipa::path(
    tag = "account-groups",
    params(("id" = Uuid, Path, description = "Account group id"), PageQuery),
    responses(
        (status = 200, body = GroupPackList),
    )
)]
#[get("/{id}/integration-packs")]
pub async fn list_group_packs(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<Uuid>,
    page: web::Query<PageQuery>,
) -> AppResult<web::Json<GroupPackList>> {
    let (id, page) = (id.to_string(), page.request()?);
    let list = state.read(bearer, move |conn, ctx| service::list_packs(conn, ctx, &id, &page)).await?;
    Ok(web::Json(list.into()))
}

/// Stop sharing a pack with the group. Installations stay, unsubscribed unless another group shares it.
#[utoipa::path(
    tag = "account-groups",
    params(("id" = Uuid, Path, description = "Account group id"), ("pack_id" = Uuid, Path, description = "Integration pack id")),
    responses(
        (status = 204, description = "Removed"),
    )
)]
#[delete("/{id}/integration-packs/{pack_id}")]
pub async fn remove_pack(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<(Uuid, Uuid)>,
) -> AppResult<HttpResponse> {
    let (id, pack_id) = (path.0.to_string(), path.1.to_string());
    state.call(bearer, move |conn, ctx| service::remove_pack(conn, ctx, &id, &pack_id)).await?;
    state.deliveries_queued();
    Ok(HttpResponse::NoContent().finish())
}
