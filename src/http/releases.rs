//! `/release-drafts/{id}/release`, `/releases`, `/integration-packs/{id}/releases`
//! and `/release-schedule`.

use actix_web::{get, patch, post, web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::conditional::{representation_tag, Precondition};
use super::extract::{is_stored_id_form, ApiJson, Bearer, OptionalJson, PageQuery};
use super::problem::responses::{Conflict, NotFound};
use super::rollouts::{Rollout, RolloutRequest};
use super::{created, list_response, AppState};
use crate::domain::release::{Change, ReleaseStatus, Schedule};
use crate::domain::schedule;
use crate::error::{AppError, AppResult, FieldError};
use crate::service::precondition::Tagged;
use crate::service::releases::{self as service, ListFilter, ReleaseView, ScheduleCursor, ScheduleRequest};
use crate::store::releases::{NamedItem, Release as ReleaseRow};

/// The routes under `/api/v1/release-drafts`, relative to it.
pub fn release_drafts_routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(release_draft);
}

/// The routes under `/api/v1/integration-packs`, relative to it.
pub fn integration_packs_routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(release_latest).service(list_pack_releases);
}

/// The routes under `/api/v1/releases`, relative to it.
pub fn releases_routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_releases).service(get_release).service(reschedule_release).service(cancel_release);
}

/// The routes under `/api/v1/release-schedule`, relative to it.
pub fn release_schedule_routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(release_schedule);
}

/// A release's zone, as stored (the default zone if it no longer parses).
pub fn zone_of(time_zone: &str) -> Tz {
    time_zone.parse().unwrap_or(schedule::DEFAULT_TIME_ZONE)
}

/// When a scheduled release is due, as the pack shows it above its component list.
#[derive(Serialize, ToSchema)]
pub struct ScheduledRelease {
    #[schema(format = Uuid)]
    pub id: String,
    pub release_on: NaiveDate,
    #[serde(serialize_with = "super::timestamps::utc")]
    pub due_at: DateTime<Utc>,
    #[schema(format = DateTime, example = "2027-03-14T00:00:00-05:00")]
    pub due_at_local: String,
    #[schema(example = "America/New_York")]
    pub time_zone: String,
}

impl From<ReleaseRow> for ScheduledRelease {
    fn from(row: ReleaseRow) -> Self {
        let due_at = row.due_at.and_utc();
        Self {
            due_at_local: schedule::local_rfc3339(due_at, zone_of(&row.time_zone)),
            release_on: row.release_on.unwrap_or_else(|| due_at.date_naive()),
            id: row.id,
            due_at,
            time_zone: row.time_zone,
        }
    }
}

/// One component of a release: the version it delivers (null: removed) and the one before.
#[derive(Serialize, ToSchema)]
pub struct ReleaseItem {
    #[schema(format = Uuid)]
    pub component_id: String,
    pub name: String,
    #[schema(required = true)]
    pub version: Option<String>,
    #[schema(required = true)]
    pub previous_version: Option<String>,
    pub change: Change,
}

#[derive(Serialize, ToSchema)]
pub struct Release {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub integration_pack_id: String,
    /// The draft it was released from.
    #[schema(required = true)]
    #[schema(format = Uuid)]
    pub draft_id: Option<String>,
    pub status: ReleaseStatus,
    pub schedule: Schedule,
    /// The calendar date in `time_zone`; null for an immediate release.
    #[schema(required = true)]
    pub release_on: Option<NaiveDate>,
    /// When the release is (or was) due, in UTC; for an immediate release, the moment of release.
    #[serde(serialize_with = "super::timestamps::utc")]
    pub due_at: DateTime<Utc>,
    /// `due_at` with the zone's offset.
    #[schema(format = DateTime, example = "2027-03-14T00:00:00-05:00")]
    pub due_at_local: String,
    #[schema(example = "America/New_York")]
    pub time_zone: String,
    /// When it was carried out.
    #[schema(required = true)]
    #[serde(serialize_with = "super::timestamps::utc_opt")]
    pub released_at: Option<DateTime<Utc>>,
    /// Carried out after its window (`due_at` + 1 hour) closed.
    pub late: bool,
    /// For a late release, seconds between `due_at` and `released_at`.
    #[schema(required = true)]
    pub late_by_seconds: Option<i64>,
    #[schema(required = true)]
    #[serde(serialize_with = "super::timestamps::utc_opt")]
    pub canceled_at: Option<DateTime<Utc>>,
    /// Why a `failed` release could not be carried out.
    #[schema(required = true)]
    pub failure_reason: Option<String>,
    /// The account that asked for the release.
    #[schema(format = Uuid)]
    pub requested_by: String,
    #[serde(serialize_with = "super::timestamps::utc")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "super::timestamps::utc")]
    pub updated_at: DateTime<Utc>,
    pub items: Vec<ReleaseItem>,
    /// How far it has reached; the per-account list is at `/releases/{id}/pushes`.
    pub push_counts: PushCounts,
    /// Webhook deliveries of its events (to its publisher and its
    /// subscribers); the list is at `/releases/{id}/deliveries`.
    pub delivery_counts: DeliveryCounts,
    /// Its waves, when it rolls out in waves; null when it reaches every installation at once.
    #[schema(required = true)]
    pub rollout: Option<Rollout>,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryCounts {
    pub pending: i64,
    pub succeeded: i64,
    pub failed: i64,
    /// Canceled with their endpoint (disabled or deleted).
    pub canceled: i64,
}

#[derive(Serialize, ToSchema)]
pub struct PushCounts {
    /// Subscribed installations it reached, or (while scheduled) will reach,
    /// early appliers included. While it rolls out, those reached so far
    /// (each wave's share is in `rollout.waves`).
    pub targeted: i64,
    /// Pushed by the release itself.
    pub applied: i64,
    /// Applied early by their subscriber.
    pub applied_early: i64,
}

impl From<NamedItem> for ReleaseItem {
    fn from(item: NamedItem) -> Self {
        Self {
            change: Change::between(item.previous_version.as_deref(), item.version.as_deref()),
            component_id: item.component_id,
            name: item.name,
            version: item.version,
            previous_version: item.previous_version,
        }
    }
}

impl From<ReleaseView> for Release {
    fn from(view: ReleaseView) -> Self {
        let row = view.release;
        let counts = view.counts;
        let zone = zone_of(&row.time_zone);
        let due_at = row.due_at.and_utc();
        let released_at = row.released_at.map(|at| at.and_utc());
        // A rollout is on time when its first wave went out in the window.
        let first_wave_at = view.rollout.as_ref().map(|r| r.waves.first().and_then(|w| w.wave.started_at));
        let went_out = match first_wave_at {
            Some(first) => first.map(|at| at.and_utc()),
            None => released_at,
        };
        let late_by_seconds = went_out.and_then(|at| schedule::lateness(due_at, at));
        Self {
            id: row.id,
            integration_pack_id: row.pack_id,
            draft_id: row.draft_id,
            status: row.status,
            schedule: row.schedule,
            release_on: row.release_on,
            due_at,
            due_at_local: schedule::local_rfc3339(due_at, zone),
            time_zone: row.time_zone,
            released_at,
            late: late_by_seconds.is_some(),
            late_by_seconds,
            canceled_at: row.canceled_at.map(|at| at.and_utc()),
            failure_reason: row.failure_reason,
            requested_by: row.requested_by,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
            items: view.items.into_iter().map(ReleaseItem::from).collect(),
            push_counts: PushCounts {
                targeted: counts.targeted,
                applied: counts.applied,
                applied_early: counts.applied_early,
            },
            delivery_counts: DeliveryCounts {
                pending: view.deliveries.pending,
                succeeded: view.deliveries.succeeded,
                failed: view.deliveries.failed,
                canceled: view.deliveries.canceled,
            },
            rollout: view.rollout.map(Rollout::from),
        }
    }
}

/// `If-Match` compares with the tag of the representation a GET answers.
impl Tagged for ReleaseView {
    fn etag(&self) -> String {
        representation_tag(&Release::from(self.clone()))
    }
}

list_response!(ReleaseList, Release);

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    pub schedule: Schedule,
    /// Required for `on_date`, refused for `immediately`: a date after today in
    /// the release time zone and at most 365 days ahead.
    #[schema(example = "2026-12-01")]
    pub release_on: Option<NaiveDate>,
    /// Roll out in waves (a canary group, then growing shares of the
    /// subscribed accounts) instead of reaching every installation at once.
    pub rollout: Option<RolloutRequest>,
}

impl From<ReleaseRequest> for ScheduleRequest {
    fn from(request: ReleaseRequest) -> Self {
        ScheduleRequest {
            schedule: request.schedule,
            release_on: request.release_on,
            rollout: request.rollout.map(Into::into),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleRequest {
    /// The new date (same rules as when scheduling).
    #[schema(example = "2026-12-08")]
    pub release_on: NaiveDate,
}

/// An action that takes no input: no body, or `{}`.
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoInput {}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusFilter {
    pub status: Option<ReleaseStatus>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReleaseFilterQuery {
    pub status: Option<ReleaseStatus>,
    pub integration_pack_id: Option<Uuid>,
    /// Releases due at or after this instant.
    #[serde(serialize_with = "super::timestamps::utc_opt")]
    pub due_from: Option<DateTime<Utc>>,
    /// Releases due before this instant.
    #[serde(serialize_with = "super::timestamps::utc_opt")]
    pub due_before: Option<DateTime<Utc>>,
}

/// Release a draft: `{"schedule":"immediately"}`, or `{"schedule":"on_date","release_on":"YYYY-MM-DD"}`.
///
/// An immediate release changes the pack's released versions at once. A dated one is
/// `scheduled` and carried out in the first hour of `release_on` in the release time zone.
/// With `rollout`, it reaches the installations in waves (`in_progress` until the last).
/// Refusals: 409 `nothing_to_release`, `draft_stale`, `draft_already_released`,
/// `release_already_scheduled` (with `release_id`), `release_in_progress` (a rollout of
/// the pack is not done); 422 for `release_on` and `rollout` (each error names its field).
#[utoipa::path(
    tag = "releases",
    params(("id" = Uuid, Path, description = "Release draft id"), Precondition),
    request_body = ReleaseRequest,
    responses(
        (status = 201, body = Release, headers(("Location" = String, description = "URL of the release"))),
        (status = 409, response = Conflict),
    )
)]
#[post("/{id}/release")]
pub async fn release_draft(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<Uuid>,
    if_match: Precondition,
    body: ApiJson<ReleaseRequest>,
) -> AppResult<HttpResponse> {
    let id = id.to_string();
    let request = ScheduleRequest::from(body.0);
    let schedule = request.schedule;
    let release: Release = state
        .call(bearer, move |conn, ctx| service::release_draft(conn, ctx, &id, if_match.0.as_ref(), request))
        .await?
        .into();
    if schedule == Schedule::OnDate {
        state.schedule_changed();
    }
    state.deliveries_queued();
    Ok(created(format!("/api/v1/releases/{}", release.id), &release))
}

/// Release the pack's latest versions in one call, with no draft step (for
/// CI pipelines, and the only way a `legacy` pack releases):
/// `{"schedule":"immediately"}` or `{"schedule":"on_date","release_on":"YYYY-MM-DD"}`.
///
/// Every member goes out at its latest shareable version, with the same rules
/// and answers as releasing a draft: 409 `nothing_to_release`, `pack_empty`,
/// `release_already_scheduled` (with `release_id`), `release_in_progress` (a rollout of
/// the pack is not done); 422 for `release_on` and `rollout` (each error names its field).
#[utoipa::path(
    tag = "releases",
    params(("id" = Uuid, Path, description = "Integration pack id")),
    request_body = ReleaseRequest,
    responses(
        (status = 201, body = Release, headers(("Location" = String, description = "URL of the release"))),
        (status = 409, response = Conflict),
    )
)]
#[post("/{id}/releases")]
pub async fn release_latest(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<Uuid>,
    body: ApiJson<ReleaseRequest>,
) -> AppResult<HttpResponse> {
    let id = id.to_string();
    let request = ScheduleRequest::from(body.0);
    let schedule = request.schedule;
    let release: Release =
        state.call(bearer, move |conn, ctx| service::release_latest(conn, ctx, &id, request)).await?.into();
    if schedule == Schedule::OnDate {
        state.schedule_changed();
    }
    state.deliveries_queued();
    Ok(created(format!("/api/v1/releases/{}", release.id), &release))
}

/// A pack's release history, newest first.
#[utoipa::path(
    tag = "releases",
    params(("id" = Uuid, Path, description = "Integration pack id"), PageQuery, StatusFilter),
    responses(
        (status = 200, body = ReleaseList),
    )
)]
#[get("/{id}/releases")]
pub async fn list_pack_releases(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<Uuid>,
    page: web::Query<PageQuery>,
    filter: web::Query<StatusFilter>,
) -> AppResult<web::Json<ReleaseList>> {
    let page = page.request()?;
    let filter = ListFilter { pack: Some(id.to_string()), status: filter.status, due_from: None, due_before: None };
    let list = state.read(bearer, move |conn, ctx| service::list(conn, ctx, filter, &page)).await?;
    Ok(web::Json(list.into()))
}

/// All the caller's releases, newest first, failures included.
#[utoipa::path(
    tag = "releases",
    params(PageQuery, ReleaseFilterQuery),
    responses(
        (status = 200, body = ReleaseList),
        (status = 404, response = NotFound),
    )
)]
#[get("")]
pub async fn list_releases(
    state: web::Data<AppState>,
    bearer: Bearer,
    page: web::Query<PageQuery>,
    filter: web::Query<ReleaseFilterQuery>,
) -> AppResult<web::Json<ReleaseList>> {
    let page = page.request()?;
    let filter = ListFilter {
        pack: filter.integration_pack_id.map(|id| id.to_string()),
        status: filter.status,
        due_from: filter.due_from,
        due_before: filter.due_before,
    };
    let list = state.read(bearer, move |conn, ctx| service::list(conn, ctx, filter, &page)).await?;
    Ok(web::Json(list.into()))
}

/// A release: status, schedule, items with previous and new versions, who asked and when, lateness.
#[utoipa::path(
    tag = "releases",
    params(("id" = Uuid, Path, description = "Release id")),
    responses(
        (status = 200, body = Release),
    )
)]
#[get("/{id}")]
pub async fn get_release(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<Uuid>,
) -> AppResult<web::Json<Release>> {
    let id = id.to_string();
    let release = state.read(bearer, move |conn, ctx| service::get_release(conn, ctx, &id)).await?;
    Ok(web::Json(release.into()))
}

/// Move a scheduled release to another date. 409 `release_not_scheduled` once it is not.
#[utoipa::path(
    tag = "releases",
    params(("id" = Uuid, Path, description = "Release id"), Precondition),
    request_body = RescheduleRequest,
    responses(
        (status = 200, body = Release),
        (status = 409, response = Conflict),
    )
)]
#[patch("/{id}")]
pub async fn reschedule_release(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<Uuid>,
    if_match: Precondition,
    body: ApiJson<RescheduleRequest>,
) -> AppResult<web::Json<Release>> {
    let id = id.to_string();
    let release_on = body.0.release_on;
    let release = state
        .call(bearer, move |conn, ctx| service::reschedule(conn, ctx, &id, if_match.0.as_ref(), release_on))
        .await?;
    state.schedule_changed();
    state.deliveries_queued();
    Ok(web::Json(release.into()))
}

/// Cancel a scheduled release. 409 `release_not_scheduled` once it is not.
#[utoipa::path(
    tag = "releases",
    params(("id" = Uuid, Path, description = "Release id"), Precondition),
    request_body(content = Option<NoInput>, description = "No body, or `{}`"),
    responses(
        (status = 200, body = Release),
        (status = 409, response = Conflict),
    )
)]
#[post("/{id}/cancel")]
pub async fn cancel_release(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<Uuid>,
    if_match: Precondition,
    _body: OptionalJson<NoInput>,
) -> AppResult<web::Json<Release>> {
    let id = id.to_string();
    let release = state.call(bearer, move |conn, ctx| service::cancel(conn, ctx, &id, if_match.0.as_ref())).await?;
    state.schedule_changed();
    state.deliveries_queued();
    Ok(web::Json(release.into()))
}

fn parse_schedule_cursor(raw: &str) -> Option<ScheduleCursor> {
    let (micros, id) = raw.split_once('_')?;
    let due_at = DateTime::from_timestamp_micros(micros.parse().ok()?)?.naive_utc();
    if !is_stored_id_form(id) {
        return None;
    }
    Some(ScheduleCursor { due_at, id: id.to_string() })
}

/// The caller's upcoming scheduled releases across all packs, soonest first.
/// Ordered by a field that can change (a reschedule moves a release), so pages are a snapshot.
#[utoipa::path(
    tag = "releases",
    params(PageQuery),
    responses(
        (status = 200, body = ReleaseList),
    )
)]
#[get("")]
pub async fn release_schedule(
    state: web::Data<AppState>,
    bearer: Bearer,
    page: web::Query<PageQuery>,
) -> AppResult<web::Json<ReleaseList>> {
    let limit = page.limit()?;
    let after = match page.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(raw) => Some(parse_schedule_cursor(raw).ok_or_else(|| {
            AppError::Validation(vec![FieldError::new(
                "cursor",
                "invalid_cursor",
                "cursor must be a next_cursor of this list",
            )])
        })?),
    };
    let (items, next) = state.read(bearer, move |conn, ctx| service::upcoming(conn, ctx, after, limit)).await?;
    Ok(web::Json(ReleaseList {
        items: items.into_iter().map(Release::from).collect(),
        next_cursor: next.map(|c| format!("{}_{}", c.due_at.and_utc().timestamp_micros(), c.id)),
    }))
}
