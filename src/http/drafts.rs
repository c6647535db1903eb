//! Release wizard step 1: `/integration-packs/{id}/release-drafts` and `/release-drafts/{id}`.

use actix_web::{delete, get, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::conditional::{representation_tag, Precondition};
use super::extract::{ApiJson, Bearer, OptionalJson};
use super::problem::responses::{Conflict, Forbidden};
use super::releases::NoInput;
use super::{created, AppState};
use crate::domain::component::ComponentType;
use crate::domain::release::Change;
use crate::error::AppResult;
use crate::service::drafts::{self as service, DraftView, Selection};
use crate::service::precondition::Tagged;

/// The routes under `/api/v1/integration-packs`, relative to it.
pub fn integration_packs_routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_draft);
}

/// The routes under `/api/v1/release-drafts`, relative to it.
pub fn release_drafts_routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(get_draft).service(select_versions).service(delete_draft);
}

/// One component of a draft: what subscribers run now, what they would run, and what is newest.
#[derive(Serialize, ToSchema)]
pub struct DraftItem {
    #[schema(format = Uuid)]
    pub component_id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub component_type: ComponentType,
    /// What subscribers receive now; null if never released.
    #[schema(required = true)]
    pub released_version: Option<String>,
    /// What the release would deliver; null removes the component.
    #[schema(required = true)]
    pub pending_version: Option<String>,
    #[schema(required = true)]
    pub latest_version: Option<String>,
    pub change: Change,
    /// `change` is not `unchanged`.
    pub changed: bool,
    /// The versions this component offers, to pick another.
    #[schema(example = "/api/v1/components/0192.../versions?shareable=true")]
    pub versions_url: String,
    /// The pending version's details (notes, created at and by); null when none.
    #[schema(required = true)]
    pub pending_version_url: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ReleaseDraft {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub integration_pack_id: String,
    /// Whether any component would change: a draft without changes cannot be released.
    pub has_changes: bool,
    /// The pack was released or its components changed since the draft was made; releasing it is a 409.
    pub stale: bool,
    /// The release made from this draft; a released draft cannot be edited or released again.
    #[schema(required = true)]
    #[schema(format = Uuid)]
    pub release_id: Option<String>,
    #[schema(format = Uuid)]
    pub created_by: String,
    #[serde(serialize_with = "super::timestamps::utc")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "super::timestamps::utc")]
    pub updated_at: DateTime<Utc>,
    pub items: Vec<DraftItem>,
}

/// `If-Match` compares with the tag of the representation a GET answers.
impl Tagged for DraftView {
    fn etag(&self) -> String {
        representation_tag(&ReleaseDraft::from(self.clone()))
    }
}

impl From<DraftView> for ReleaseDraft {
    fn from(view: DraftView) -> Self {
        let has_changes = view.has_changes();
        let draft = view.draft;
        Self {
            id: draft.id,
            integration_pack_id: draft.pack_id,
            has_changes,
            stale: view.stale,
            release_id: draft.release_id,
            created_by: draft.created_by,
            created_at: draft.created_at.and_utc(),
            updated_at: draft.updated_at.and_utc(),
            items: view
                .items
                .into_iter()
                .map(|item| DraftItem {
                    versions_url: format!("/api/v1/components/{}/versions?shareable=true", item.component_id),
                    pending_version_url: item
                        .pending_version
                        .as_ref()
                        .map(|v| format!("/api/v1/components/{}/versions/{v}", item.component_id)),
                    component_id: item.component_id,
                    name: item.name,
                    component_type: item.component_type,
                    released_version: item.released_version,
                    pending_version: item.pending_version,
                    latest_version: item.latest_version,
                    changed: item.change.is_change(),
                    change: item.change,
                })
                .collect(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionSelection {
    #[schema(format = Uuid)]
    pub component_id: String,
    /// Any live, shareable version of the component, older ones included (a rollback).
    #[schema(example = "1.0.0")]
    pub version: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SelectVersions {
    /// Only the components listed change; the others keep their pending version.
    pub items: Vec<VersionSelection>,
}

/// Start a release: a draft with every component at its latest version.
/// 409 `pack_empty` when the pack holds nothing and has released nothing.
#[utoipa::path(
    tag = "releases",
    params(("id" = Uuid, Path, description = "Integration pack id")),
    request_body(content = Option<NoInput>, description = "No body, or `{}`"),
    responses(
        (status = 201, body = ReleaseDraft, headers(("Location" = String, description = "URL of the draft"))),
        (status = 409, response = Conflict),
    )
)]
#[post("/{id}/release-drafts")]
pub async fn create_draft(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<Uuid>,
    _body: OptionalJson<NoInput>,
) -> AppResult<HttpResponse> {
    let id = id.to_string();
    let draft: ReleaseDraft = state.call(bearer, move |conn, ctx| service::create_draft(conn, ctx, &id)).await?.into();
    Ok(created(format!("/api/v1/release-drafts/{}", draft.id), &draft))
}

/// A draft with each component's released, pending and latest versions.
#[utoipa::path(
    tag = "releases",
    params(("id" = Uuid, Path, description = "Release draft id")),
    responses(
        (status = 200, body = ReleaseDraft),
        (status = 403, response = Forbidden),
    )
)]
#[get("/{id}")]
pub async fn get_draft(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<Uuid>,
) -> AppResult<web::Json<ReleaseDraft>> {
    let id = id.to_string();
    let draft = state.read(bearer, move |conn, ctx| service::get_draft(conn, ctx, &id)).await?;
    Ok(web::Json(draft.into()))
}

/// Pick versions for some components. 409 `draft_already_released`; 422 with
/// per-item errors (`not_in_draft`, `removed_from_pack`, `not_found`, `version_not_shareable`).
#[utoipa::path(
    tag = "releases",
    params(("id" = Uuid, Path, description = "Release draft id"), Precondition),
    request_body = SelectVersions,
    responses(
        (status = 200, body = ReleaseDraft),
        (status = 409, response = Conflict),
    )
)]
#[patch("/{id}")]
pub async fn select_versions(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<Uuid>,
    if_match: Precondition,
    body: ApiJson<SelectVersions>,
) -> AppResult<web::Json<ReleaseDraft>> {
    let id = id.to_string();
    let selections = body
        .0
        .items
        .into_iter()
        .map(|VersionSelection { component_id, version }| Selection { component_id, version })
        .collect();
    let draft = state
        .call(bearer, move |conn, ctx| service::select_versions(conn, ctx, &id, if_match.0.as_ref(), selections))
        .await?;
    Ok(web::Json(draft.into()))
}

/// Discard a draft.
#[utoipa::path(
    tag = "releases",
    params(("id" = Uuid, Path, description = "Release draft id"), Precondition),
    responses(
        (status = 204, description = "Discarded"),
    )
)]
#[delete("/{id}")]
pub async fn delete_draft(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<Uuid>,
    if_match: Precondition,
) -> AppResult<HttpResponse> {
    let id = id.to_string();
    state.call(bearer, move |conn, ctx| service::delete_draft(conn, ctx, &id, if_match.0.as_ref())).await?;
    Ok(HttpResponse::NoContent().finish())
}
