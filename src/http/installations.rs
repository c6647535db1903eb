//! `/accounts/{id}/installations` and `/releases/{id}/pushes`.

use actix_web::{delete, get, post, web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extract::{ApiJson, Bearer, OptionalJson, PageQuery};
use super::problem::responses::Conflict;
use super::releases::{zone_of, NoInput, ReleaseItem};
use super::{created, list_response, AppState};
use crate::domain::release::PushOutcome;
use crate::domain::schedule;
use crate::error::AppResult;
use crate::service::installations::{self as service, InstallationView, NewInstallation};
use crate::service::releases as release_service;
use crate::store::installations::Push as PushRow;

/// The routes under `/api/v1/accounts`, relative to it.
pub fn accounts_routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(install).service(list_installations).service(get_installation).service(uninstall).service(apply_update);
}

/// The routes under `/api/v1/releases`, relative to it.
pub fn releases_routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_pushes);
}

#[derive(Serialize, ToSchema)]
pub struct InstalledVersion {
    #[schema(format = Uuid)]
    pub component_id: String,
    pub name: String,
    pub version: String,
}

/// A scheduled release the installation has not applied yet.
#[derive(Serialize, ToSchema)]
pub struct PendingUpdate {
    #[schema(format = Uuid)]
    pub release_id: String,
    /// The local date it is expected on. Null while unknown: a rollout's
    /// manual wave, or a halted rollout.
    #[schema(required = true)]
    pub release_on: Option<NaiveDate>,
    /// When it is expected to reach this installation: the release's due
    /// instant, or during a rollout the due instant of the wave that reaches
    /// the installation's account. Null while unknown (as `release_on`).
    #[schema(required = true)]
    #[serde(serialize_with = "super::timestamps::utc_opt")]
    pub due_at: Option<DateTime<Utc>>,
    /// `due_at` with the zone's offset; null with it.
    #[schema(required = true, format = DateTime, example = "2027-03-14T00:00:00-05:00")]
    pub due_at_local: Option<String>,
    /// The same instant as `due_at` (null with it), named for what it is during a rollout.
    #[schema(required = true)]
    #[serde(serialize_with = "super::timestamps::utc_opt")]
    pub expected_at: Option<DateTime<Utc>>,
    pub time_zone: String,
    /// What would change: `version` the new one (null: removed), `previous_version` the one run now.
    pub changes: Vec<ReleaseItem>,
}

/// A release reaching an installation.
#[derive(Serialize, ToSchema)]
pub struct Push {
    #[schema(format = Uuid)]
    pub release_id: String,
    #[schema(format = Uuid)]
    pub account_id: String,
    #[schema(format = Uuid)]
    pub installation_id: String,
    pub outcome: PushOutcome,
    #[serde(serialize_with = "super::timestamps::utc")]
    pub pushed_at: DateTime<Utc>,
    /// The account whose token acted: the subscriber for an early apply, the requester of the release otherwise.
    #[schema(format = Uuid)]
    pub pushed_by: String,
    /// The token that acted (see `minted_by` in the account's token list: a
    /// publisher acting with its subscriber's token shows there); null when the
    /// admin token of the environment acted, or for pushes recorded before tokens were kept.
    #[schema(required = true)]
    #[schema(format = Uuid)]
    pub token_id: Option<String>,
}

impl From<PushRow> for Push {
    fn from(p: PushRow) -> Self {
        Self {
            release_id: p.release_id,
            account_id: p.account_id,
            installation_id: p.installation_id,
            outcome: p.outcome,
            pushed_at: p.pushed_at.and_utc(),
            pushed_by: p.pushed_by,
            token_id: p.token_id,
        }
    }
}

list_response!(PushList, Push);

#[derive(Serialize, ToSchema)]
pub struct Installation {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub account_id: String,
    #[schema(format = Uuid)]
    pub integration_pack_id: String,
    #[schema(required = true)]
    pub override_name: Option<String>,
    /// The release whose versions it runs.
    #[schema(required = true)]
    #[schema(format = Uuid)]
    pub release_id: Option<String>,
    /// One of the account's groups has the pack, so it gets updates and pushes.
    pub subscribed: bool,
    pub versions: Vec<InstalledVersion>,
    #[schema(required = true)]
    pub pending_update: Option<PendingUpdate>,
    #[serde(serialize_with = "super::timestamps::utc")]
    pub installed_at: DateTime<Utc>,
    /// When it last changed (installed, or updated by a push).
    #[serde(serialize_with = "super::timestamps::utc")]
    pub updated_at: DateTime<Utc>,
    /// Its update history, newest first.
    pub history: Vec<Push>,
}

impl From<InstallationView> for Installation {
    fn from(view: InstallationView) -> Self {
        let i = view.installation;
        Self {
            id: i.id,
            account_id: i.account_id,
            integration_pack_id: i.pack_id,
            override_name: i.override_name,
            release_id: i.release_id,
            subscribed: view.subscribed,
            versions: view
                .versions
                .into_iter()
                .map(|v| InstalledVersion { component_id: v.component_id, name: v.name, version: v.version })
                .collect(),
            pending_update: view.pending_update.map(|pending| {
                let release = pending.release;
                let zone = zone_of(&release.time_zone);
                let expected = pending.expected_at.map(|at| at.and_utc());
                PendingUpdate {
                    release_id: release.id,
                    release_on: expected.map(|at| schedule::today(at, zone)),
                    due_at: expected,
                    due_at_local: expected.map(|at| schedule::local_rfc3339(at, zone)),
                    expected_at: expected,
                    time_zone: release.time_zone,
                    changes: pending.changes.into_iter().map(ReleaseItem::from).collect(),
                }
            }),
            installed_at: i.installed_at.and_utc(),
            updated_at: i.updated_at.and_utc(),
            history: view.history.into_iter().map(Push::from).collect(),
        }
    }
}

list_response!(InstallationList, Installation);

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Install {
    /// A pack shared with one of the account's groups.
    #[schema(format = Uuid)]
    pub integration_pack_id: String,
    /// Required for a `multiple` pack, unique per account and pack.
    pub override_name: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InstallationFilter {
    pub integration_pack_id: Option<Uuid>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PushFilter {
    pub outcome: Option<PushOutcome>,
}

/// Install a pack in the caller's own (subscriber) account.
/// 404 when the pack is not shared with it; 409 `already_installed`, `override_name_taken`.
#[utoipa::path(
    tag = "installations",
    params(("id" = Uuid, Path, description = "Subscriber account id")),
    request_body = Install,
    responses(
        (status = 201, body = Installation, headers(("Location" = String, description = "URL of the installation"))),
        (status = 409, response = Conflict),
    )
)]
#[post("/{id}/installations")]
pub async fn install(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<Uuid>,
    body: ApiJson<Install>,
) -> AppResult<HttpResponse> {
    let id = id.to_string();
    let ApiJson(Install { integration_pack_id, override_name }) = body;
    let input = NewInstallation { pack_id: integration_pack_id, override_name };
    let installation: Installation =
        state.call(bearer, move |conn, ctx| service::install(conn, ctx, &id, input)).await?.into();
    state.deliveries_queued();
    Ok(created(
        format!("/api/v1/accounts/{}/installations/{}", installation.account_id, installation.id),
        &installation,
    ))
}

/// An account's installations (a publisher sees those of its own packs).
#[utoipa::path(
    tag = "installations",
    params(("id" = Uuid, Path, description = "Account id"), PageQuery, InstallationFilter),
    responses(
        (status = 200, body = InstallationList),
    )
)]
#[get("/{id}/installations")]
pub async fn list_installations(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<Uuid>,
    page: web::Query<PageQuery>,
    filter: web::Query<InstallationFilter>,
) -> AppResult<web::Json<InstallationList>> {
    let (id, page, pack) = (id.to_string(), page.request()?, filter.integration_pack_id.map(|p| p.to_string()));
    let list = state.read(bearer, move |conn, ctx| service::list_installations(conn, ctx, &id, pack, &page)).await?;
    Ok(web::Json(list.into()))
}

/// An installation: the versions it runs, its pending update and its history.
#[utoipa::path(
    tag = "installations",
    params(("id" = Uuid, Path, description = "Account id"), ("installation_id" = Uuid, Path, description = "Installation id")),
    responses(
        (status = 200, body = Installation),
    )
)]
#[get("/{id}/installations/{installation_id}")]
pub async fn get_installation(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<(Uuid, Uuid)>,
) -> AppResult<web::Json<Installation>> {
    let (id, installation_id) = (path.0.to_string(), path.1.to_string());
    let view = state.read(bearer, move |conn, ctx| service::get_installation(conn, ctx, &id, &installation_id)).await?;
    Ok(web::Json(view.into()))
}

/// Uninstall. Only the subscriber itself may (a publisher gets 403).
#[utoipa::path(
    tag = "installations",
    params(("id" = Uuid, Path, description = "Account id"), ("installation_id" = Uuid, Path, description = "Installation id")),
    responses(
        (status = 204, description = "Uninstalled"),
    )
)]
#[delete("/{id}/installations/{installation_id}")]
pub async fn uninstall(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<(Uuid, Uuid)>,
) -> AppResult<HttpResponse> {
    let (id, installation_id) = (path.0.to_string(), path.1.to_string());
    state.call(bearer, move |conn, ctx| service::uninstall(conn, ctx, &id, &installation_id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Apply the pending update now (outcome `applied_early`); the release will not push it again.
/// Only the subscriber itself may (a publisher gets 403). 409 `no_pending_update`,
/// `release_halted` (its rollout is halted).
#[utoipa::path(
    tag = "installations",
    params(("id" = Uuid, Path, description = "Account id"), ("installation_id" = Uuid, Path, description = "Installation id")),
    request_body(content = Option<NoInput>, description = "No body, or `{}`"),
    responses(
        (status = 200, body = Installation),
        (status = 409, response = Conflict),
    )
)]
#[post("/{id}/installations/{installation_id}/apply-update")]
pub async fn apply_update(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<(Uuid, Uuid)>,
    _body: OptionalJson<NoInput>,
) -> AppResult<web::Json<Installation>> {
    let (id, installation_id) = (path.0.to_string(), path.1.to_string());
    let view = state.call(bearer, move |conn, ctx| service::apply_update(conn, ctx, &id, &installation_id)).await?;
    state.deliveries_queued();
    Ok(web::Json(view.into()))
}

/// Per-account outcomes of a release: every push (a subscriber sees its own).
#[utoipa::path(
    tag = "releases",
    params(("id" = Uuid, Path, description = "Release id"), PageQuery, PushFilter),
    responses(
        (status = 200, body = PushList),
    )
)]
#[get("/{id}/pushes")]
pub async fn list_pushes(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<Uuid>,
    page: web::Query<PageQuery>,
    filter: web::Query<PushFilter>,
) -> AppResult<web::Json<PushList>> {
    let (id, page) = (id.to_string(), page.request()?);
    let outcome = filter.outcome;
    let list = state.read(bearer, move |conn, ctx| release_service::pushes(conn, ctx, &id, outcome, &page)).await?;
    Ok(web::Json(list.into()))
}
