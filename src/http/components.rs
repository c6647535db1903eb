//! `/components` and `/components/{id}/versions`.

use actix_web::{delete, get, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extract::{ApiJson, Bearer, PageQuery};
use super::problem::responses::Conflict;
use super::{created, list_response, AppState};
use crate::domain::component::ComponentType;
use crate::error::AppResult;
use crate::service::components::{self as service, ComponentView, NewVersion};
use crate::store::versions::Version as VersionRow;

/// The routes under `/api/v1/components`, relative to it.
pub fn components_routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_component)
        .service(list_components)
        .service(get_component)
        .service(delete_component)
        .service(create_version)
        .service(list_versions)
        .service(get_version)
        .service(update_version)
        .service(delete_version);
}

#[derive(Serialize, ToSchema)]
pub struct Component {
    #[schema(format = Uuid)]
    pub id: String,
    /// The publisher account that owns the component.
    #[schema(format = Uuid)]
    pub owner_id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub component_type: ComponentType,
    /// The newest non-deleted shareable version; null when there is none.
    #[schema(required = true)]
    pub latest_version: Option<String>,
    #[serde(serialize_with = "super::timestamps::utc")]
    pub created_at: DateTime<Utc>,
}

impl From<ComponentView> for Component {
    fn from(view: ComponentView) -> Self {
        let row = view.component;
        Self {
            component_type: row.component_type,
            id: row.id,
            owner_id: row.owner_id,
            name: row.name,
            latest_version: view.latest_version,
            created_at: row.created_at.and_utc(),
        }
    }
}

list_response!(ComponentList, Component);

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateComponent {
    #[schema(example = "Order sync")]
    pub name: String,
    /// Only `process` and `api_service` components can be shared in packs.
    #[serde(rename = "type")]
    pub component_type: ComponentType,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ComponentFilter {
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub component_type: Option<ComponentType>,
}

/// A packaged component version and its details.
#[derive(Serialize, ToSchema)]
pub struct Version {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub component_id: String,
    #[schema(example = "1.2.0")]
    pub version: String,
    pub notes: String,
    pub shareable: bool,
    #[serde(serialize_with = "super::timestamps::utc")]
    pub created_at: DateTime<Utc>,
    /// The account that created the version.
    #[schema(format = Uuid)]
    pub created_by: String,
}

impl From<VersionRow> for Version {
    fn from(row: VersionRow) -> Self {
        Self {
            id: row.id,
            component_id: row.component_id,
            version: row.version,
            notes: row.notes,
            shareable: row.shareable,
            created_at: row.created_at.and_utc(),
            created_by: row.created_by,
        }
    }
}

list_response!(VersionList, Version);

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVersion {
    /// 1–40 characters of `[A-Za-z0-9._-]`, unique per component and never reused.
    #[schema(example = "1.0.0")]
    pub version: String,
    #[schema(example = "First release")]
    pub notes: Option<String>,
    /// Defaults to true for process and API service components; other types cannot be shareable.
    pub shareable: Option<bool>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionFilter {
    pub shareable: Option<bool>,
}

/// Create a component in the calling publisher's catalog.
#[utoipa::path(
    tag = "components",
    request_body = CreateComponent,
    responses(
        (status = 201, body = Component, headers(("Location" = String, description = "URL of the new component"))),
        (status = 409, response = Conflict),
    )
)]
#[post("")]
pub async fn create_component(
    state: web::Data<AppState>,
    bearer: Bearer,
    body: ApiJson<CreateComponent>,
) -> AppResult<HttpResponse> {
    let ApiJson(CreateComponent { name, component_type }) = body;
    let component: Component =
        state.call(bearer, move |conn, ctx| service::create_component(conn, ctx, &name, component_type)).await?.into();
    Ok(created(format!("/api/v1/components/{}", component.id), &component))
}

/// List the caller's components (the admin: everyone's; a subscriber: none).
#[utoipa::path(
    tag = "components",
    params(PageQuery, ComponentFilter),
    responses(
        (status = 200, body = ComponentList),
    )
)]
#[get("")]
pub async fn list_components(
    state: web::Data<AppState>,
    bearer: Bearer,
    page: web::Query<PageQuery>,
    filter: web::Query<ComponentFilter>,
) -> AppResult<web::Json<ComponentList>> {
    let (page, component_type) = (page.request()?, filter.component_type);
    let list = state.read(bearer, move |conn, ctx| service::list_components(conn, ctx, component_type, &page)).await?;
    Ok(web::Json(list.into()))
}

/// Get a component with its latest version.
#[utoipa::path(
    tag = "components",
    params(("id" = Uuid, Path, description = "Component id")),
    responses(
        (status = 200, body = Component),
    )
)]
#[get("/{id}")]
pub async fn get_component(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<Uuid>,
) -> AppResult<web::Json<Component>> {
    let id = id.to_string();
    let component = state.read(bearer, move |conn, ctx| service::get_component(conn, ctx, &id)).await?;
    Ok(web::Json(component.into()))
}

/// Delete a component and its versions; refused while a pack holds it.
#[utoipa::path(
    tag = "components",
    params(("id" = Uuid, Path, description = "Component id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, response = Conflict),
    )
)]
#[delete("/{id}")]
pub async fn delete_component(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let id = id.to_string();
    state.call(bearer, move |conn, ctx| service::delete_component(conn, ctx, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Package a new version of a component.
#[utoipa::path(
    tag = "components",
    params(("id" = Uuid, Path, description = "Component id")),
    request_body = CreateVersion,
    responses(
        (status = 201, body = Version, headers(("Location" = String, description = "URL of the new version"))),
        (status = 409, response = Conflict),
    )
)]
#[post("/{id}/versions")]
pub async fn create_version(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<Uuid>,
    body: ApiJson<CreateVersion>,
) -> AppResult<HttpResponse> {
    let id = id.to_string();
    let ApiJson(CreateVersion { version, notes, shareable }) = body;
    let input = NewVersion { version, notes, shareable };
    let version: Version =
        state.call(bearer, move |conn, ctx| service::create_version(conn, ctx, &id, input)).await?.into();
    Ok(created(format!("/api/v1/components/{}/versions/{}", version.component_id, version.version), &version))
}

/// List a component's versions, newest first (deleted ones are gone).
#[utoipa::path(
    tag = "components",
    params(("id" = Uuid, Path, description = "Component id"), PageQuery, VersionFilter),
    responses(
        (status = 200, body = VersionList),
    )
)]
#[get("/{id}/versions")]
pub async fn list_versions(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<Uuid>,
    page: web::Query<PageQuery>,
    filter: web::Query<VersionFilter>,
) -> AppResult<web::Json<VersionList>> {
    let (id, page, shareable) = (id.to_string(), page.request()?, filter.shareable);
    let list = state.read(bearer, move |conn, ctx| service::list_versions(conn, ctx, &id, shareable, &page)).await?;
    Ok(web::Json(list.into()))
}

/// A version's details: notes, when and by whom it was created.
#[utoipa::path(
    tag = "components",
    params(("id" = Uuid, Path, description = "Component id"), ("version" = String, Path, description = "Version string")),
    responses(
        (status = 200, body = Version),
    )
)]
#[get("/{id}/versions/{version}")]
pub async fn get_version(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<(Uuid, String)>,
) -> AppResult<web::Json<Version>> {
    let (id, version) = (path.0.to_string(), path.1.clone());
    let version = state.read(bearer, move |conn, ctx| service::get_version(conn, ctx, &id, &version)).await?;
    Ok(web::Json(version.into()))
}

#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateVersion {
    /// Share the version, or stop sharing it: an unshared version is no
    /// longer the latest, nor selectable in a draft; installations keep it.
    pub shareable: Option<bool>,
}

/// Share a version or stop sharing it (how a legacy pack rolls back: un-share
/// the bad version, then release again). Only process and API service versions can be shared.
#[utoipa::path(
    tag = "components",
    params(("id" = Uuid, Path, description = "Component id"), ("version" = String, Path, description = "Version string")),
    request_body = UpdateVersion,
    responses(
        (status = 200, body = Version),
    )
)]
#[patch("/{id}/versions/{version}")]
pub async fn update_version(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<(Uuid, String)>,
    body: ApiJson<UpdateVersion>,
) -> AppResult<web::Json<Version>> {
    let (id, version) = (path.0.to_string(), path.1.clone());
    let shareable = body.0.shareable;
    let version =
        state.call(bearer, move |conn, ctx| service::set_shareable(conn, ctx, &id, &version, shareable)).await?;
    Ok(web::Json(version.into()))
}

/// Delete a version; refused while a release names it. Its string is never reused.
#[utoipa::path(
    tag = "components",
    params(("id" = Uuid, Path, description = "Component id"), ("version" = String, Path, description = "Version string")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, response = Conflict),
    )
)]
#[delete("/{id}/versions/{version}")]
pub async fn delete_version(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<(Uuid, String)>,
) -> AppResult<HttpResponse> {
    let (id, version) = (path.0.to_string(), path.1.clone());
    state.call(bearer, move |conn, ctx| service::delete_version(conn, ctx, &id, &version)).await?;
    Ok(HttpResponse::NoContent().finish())
}
