//! `/integration-packs` and their member lists.

use actix_web::{delete, get, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::conditional::{representation_tag, Precondition};
use super::extract::{ApiJson, Bearer, PageQuery};
use super::problem::responses::Conflict;
use super::releases::ScheduledRelease;
use super::{created, list_response, AppState};
use crate::domain::component::ComponentType;
use crate::domain::pack::{Deployment, InstallationType};
use crate::error::AppResult;
use crate::service::packs::{self as service, MemberView, NewPack, PackPatch, PackView};
use crate::service::precondition::Tagged;

/// The routes under `/api/v1/integration-packs`, relative to it.
pub fn integration_packs_routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_pack)
        .service(list_packs)
        .service(get_pack)
        .service(update_pack)
        .service(delete_pack)
        .service(add_member)
        .service(list_members)
        .service(get_member)
        .service(remove_member);
}

#[derive(Serialize, ToSchema)]
pub struct IntegrationPack {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub publisher_id: String,
    pub name: String,
    pub description: String,
    pub installation_type: InstallationType,
    /// How its releases pick versions, fixed at creation: `packaged` (the
    /// wizard selects them) or `legacy` (always every member's latest version).
    pub deployment: Deployment,
    /// Grows with every membership change and release; a release draft made at
    /// an older revision is stale.
    pub revision: i64,
    /// The release waiting to be carried out, if any (shown above the component list).
    #[schema(required = true)]
    pub scheduled_release: Option<ScheduledRelease>,
    #[serde(serialize_with = "super::timestamps::utc")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "super::timestamps::utc")]
    pub updated_at: DateTime<Utc>,
}

impl From<PackView> for IntegrationPack {
    fn from(view: PackView) -> Self {
        let row = view.pack;
        Self {
            scheduled_release: view.scheduled_release.map(ScheduledRelease::from),
            installation_type: row.installation_type,
            deployment: row.deployment,
            id: row.id,
            publisher_id: row.publisher_id,
            name: row.name,
            description: row.description,
            revision: row.revision,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        }
    }
}

/// `If-Match` compares with the tag of the representation a GET answers.
impl Tagged for PackView {
    fn etag(&self) -> String {
        representation_tag(&IntegrationPack::from(self.clone()))
    }
}

list_response!(IntegrationPackList, IntegrationPack);

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePack {
    #[schema(example = "Order integrations")]
    pub name: String,
    /// At most 500 characters.
    pub description: Option<String>,
    /// Fixed at creation. `multiple` packs cannot hold API service components.
    pub installation_type: InstallationType,
    /// Fixed at creation; `packaged` when left out. A `legacy` pack always
    /// releases every member's latest version (its drafts take no other).
    pub deployment: Option<Deployment>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePack {
    pub name: Option<String>,
    pub description: Option<String>,
    /// Accepted only when unchanged: the installation type is fixed at creation.
    pub installation_type: Option<InstallationType>,
    /// Accepted only when unchanged: the deployment model is fixed at creation.
    pub deployment: Option<Deployment>,
}

/// A component the pack holds.
#[derive(Serialize, ToSchema)]
pub struct PackComponent {
    #[schema(format = Uuid)]
    pub component_id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub component_type: ComponentType,
    /// What subscribers receive; null until the pack is released with this component.
    #[schema(required = true)]
    pub released_version: Option<String>,
    /// The newest shareable version, which a new release draft preselects.
    #[schema(required = true)]
    pub latest_version: Option<String>,
    #[serde(serialize_with = "super::timestamps::utc")]
    pub added_at: DateTime<Utc>,
}

impl From<MemberView> for PackComponent {
    fn from(view: MemberView) -> Self {
        let member = view.member;
        Self {
            component_type: member.component_type,
            component_id: member.component_id,
            name: member.name,
            released_version: member.released_version,
            latest_version: view.latest_version,
            added_at: member.added_at.and_utc(),
        }
    }
}

list_response!(PackComponentList, PackComponent);

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddComponent {
    /// One of the publisher's process or API service components with a shareable version.
    #[schema(format = Uuid)]
    pub component_id: String,
}

/// Create an integration pack.
#[utoipa::path(
    tag = "integration-packs",
    request_body = CreatePack,
    responses(
        (status = 201, body = IntegrationPack, headers(("Location" = String, description = "URL of the new pack"))),
        (status = 409, response = Conflict),
    )
)]
#[post("")]
pub async fn create_pack(
    state: web::Data<AppState>,
    bearer: Bearer,
    body: ApiJson<CreatePack>,
) -> AppResult<HttpResponse> {
    let ApiJson(CreatePack { name, description, installation_type, deployment }) = body;
    let input = NewPack { name, description, installation_type, deployment: deployment.unwrap_or_default() };
    let pack: IntegrationPack =
        state.call(bearer, move |conn, ctx| service::create_pack(conn, ctx, input)).await?.into();
    Ok(created(format!("/api/v1/integration-packs/{}", pack.id), &pack))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PackFilterQuery {
    /// Only packs whose name starts with this, in any case (at most 100 characters).
    #[param(max_length = 100, example = "ord")]
    pub name_prefix: Option<String>,
    /// Only packs of this deployment model.
    pub deployment: Option<Deployment>,
}

/// List the packs the caller sees (a publisher: its own; the admin: all).
#[utoipa::path(
    tag = "integration-packs",
    params(PageQuery, PackFilterQuery),
    responses(
        (status = 200, body = IntegrationPackList),
    )
)]
#[get("")]
pub async fn list_packs(
    state: web::Data<AppState>,
    bearer: Bearer,
    page: web::Query<PageQuery>,
    filter: web::Query<PackFilterQuery>,
) -> AppResult<web::Json<IntegrationPackList>> {
    let page = page.request()?;
    let PackFilterQuery { name_prefix, deployment } = filter.into_inner();
    let list = state
        .call(bearer, move |conn, ctx| service::list_packs(conn, ctx, name_prefix.as_deref(), deployment, &page))
        .await?;
    Ok(web::Json(list.into()))
}

/// Get an integration pack.
#[utoipa::path(
    tag = "integration-packs",
    params(("id" = Uuid, Path, description = "Integration pack id")),
    responses(
        (status = 200, body = IntegrationPack),
    )
)]
#[get("/{id}")]
pub async fn get_pack(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<Uuid>,
) -> AppResult<web::Json<IntegrationPack>> {
    let id = id.to_string();
    let pack = state.read(bearer, move |conn, ctx| service::get_pack(conn, ctx, &id)).await?;
    Ok(web::Json(pack.into()))
}

/// Change a pack's name or description.
#[utoipa::path(
    tag = "integration-packs",
    params(("id" = Uuid, Path, description = "Integration pack id"), Precondition),
    request_body = UpdatePack,
    responses(
        (status = 200, body = IntegrationPack),
        (status = 409, response = Conflict),
    )
)]
#[patch("/{id}")]
pub async fn update_pack(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<Uuid>,
    if_match: Precondition,
    body: ApiJson<UpdatePack>,
) -> AppResult<web::Json<IntegrationPack>> {
    let id = id.to_string();
    let ApiJson(UpdatePack { name, description, installation_type, deployment }) = body;
    let patch = PackPatch { name, description, installation_type, deployment };
    let pack =
        state.call(bearer, move |conn, ctx| service::update_pack(conn, ctx, &id, if_match.0.as_ref(), patch)).await?;
    Ok(web::Json(pack.into()))
}

/// Delete a pack and its history. 409 `pack_in_use` while a release is scheduled or rolling out.
#[utoipa::path(
    tag = "integration-packs",
    params(("id" = Uuid, Path, description = "Integration pack id"), Precondition),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, response = Conflict),
    )
)]
#[delete("/{id}")]
pub async fn delete_pack(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<Uuid>,
    if_match: Precondition,
) -> AppResult<HttpResponse> {
    let id = id.to_string();
    state.call(bearer, move |conn, ctx| service::delete_pack(conn, ctx, &id, if_match.0.as_ref())).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Add a component to the pack. This releases nothing: subscribers get it with the next release.
/// Refused (409 `release_already_scheduled`) while a release of the pack is scheduled,
/// and (409 `release_in_progress`) while one rolls out.
///
/// Refusals: 409 `component_already_in_pack`; 422 `version_not_shareable` (no shareable version),
/// `component_type_not_shareable`, `api_service_in_multiple_pack`, `pack_full` (100 components).
#[utoipa::path(
    tag = "integration-packs",
    params(("id" = Uuid, Path, description = "Integration pack id"), Precondition),
    request_body = AddComponent,
    responses(
        (status = 201, body = PackComponent, headers(("Location" = String, description = "URL of the member"))),
        (status = 409, response = Conflict),
    )
)]
#[post("/{id}/components")]
pub async fn add_member(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<Uuid>,
    if_match: Precondition,
    body: ApiJson<AddComponent>,
) -> AppResult<HttpResponse> {
    let id = id.to_string();
    let ApiJson(AddComponent { component_id }) = body;
    let pack_id = id.clone();
    let member: PackComponent = state
        .call(bearer, move |conn, ctx| service::add_member(conn, ctx, &pack_id, if_match.0.as_ref(), &component_id))
        .await?
        .into();
    Ok(created(format!("/api/v1/integration-packs/{id}/components/{}", member.component_id), &member))
}

/// The pack's components with their released and latest versions.
#[utoipa::path(
    tag = "integration-packs",
    params(("id" = Uuid, Path, description = "Integration pack id"), PageQuery),
    responses(
        (status = 200, body = PackComponentList),
    )
)]
#[get("/{id}/components")]
pub async fn list_members(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<Uuid>,
    page: web::Query<PageQuery>,
) -> AppResult<web::Json<PackComponentList>> {
    let (id, page) = (id.to_string(), page.request()?);
    let list = state.read(bearer, move |conn, ctx| service::list_members(conn, ctx, &id, &page)).await?;
    Ok(web::Json(list.into()))
}

/// One component of the pack.
#[utoipa::path(
    tag = "integration-packs",
    params(("id" = Uuid, Path, description = "Integration pack id"), ("component_id" = Uuid, Path, description = "Component id")),
    responses(
        (status = 200, body = PackComponent),
    )
)]
#[get("/{id}/components/{component_id}")]
pub async fn get_member(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<(Uuid, Uuid)>,
) -> AppResult<web::Json<PackComponent>> {
    let (id, component_id) = (path.0.to_string(), path.1.to_string());
    let member = state.read(bearer, move |conn, ctx| service::get_member(conn, ctx, &id, &component_id)).await?;
    Ok(web::Json(member.into()))
}

/// Remove a component from the pack. Subscribers keep a released component until the next release drops it.
/// Refused (409 `release_already_scheduled`) while a release of the pack is scheduled,
/// and (409 `release_in_progress`) while one rolls out.
#[utoipa::path(
    tag = "integration-packs",
    params(("id" = Uuid, Path, description = "Integration pack id"), ("component_id" = Uuid, Path, description = "Component id"), Precondition),
    responses(
        (status = 204, description = "Removed"),
        (status = 409, response = Conflict),
    )
)]
#[delete("/{id}/components/{component_id}")]
pub async fn remove_member(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<(Uuid, Uuid)>,
    if_match: Precondition,
) -> AppResult<HttpResponse> {
    let (id, component_id) = (path.0.to_string(), path.1.to_string());
    state
        .call(bearer, move |conn, ctx| service::remove_member(conn, ctx, &id, if_match.0.as_ref(), &component_id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
