//! Staged rollouts: the `rollout` of a release request and of a release,
//! `/releases/{id}/advance|halt|resume|complete|abort`, and the subscribers'
//! outcome reports (`/accounts/{id}/installations/{installation_id}/reports`,
//! `/releases/{id}/reports`).

use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::conditional::Precondition;
use super::extract::{ApiJson, Bearer, OptionalJson, PageQuery};
use super::problem::responses::Conflict;
use super::releases::{NoInput, Release};
use super::{created, list_response, AppState};
use crate::domain::rollout::{Advance, Plan, ReportOutcome, WaveSpec, WaveStatus};
use crate::error::AppResult;
use crate::service::rollouts::{self as service, Control, NewReport, RolloutView};
use crate::store::rollouts::Report as ReportRow;

/// The routes under `/api/v1/releases`, relative to it.
pub fn releases_routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(advance_rollout)
        .service(halt_rollout)
        .service(resume_rollout)
        .service(complete_rollout)
        .service(abort_rollout)
        .service(list_reports);
}

/// The routes under `/api/v1/accounts`, relative to it.
pub fn accounts_routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(report_outcome);
}

/// One wave of a rollout plan: exactly one of `account_group_id` (a group of
/// yours that shares the pack, e.g. canary accounts) and `percent` (the
/// cumulative share of subscribed accounts reached once it is out, 1–100,
/// increasing from wave to wave; the last wave is `{"percent": 100}`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WaveRequest {
    #[schema(format = Uuid)]
    pub account_group_id: Option<String>,
    #[schema(minimum = 1, maximum = 100)]
    pub percent: Option<i64>,
}

/// Roll the release out in waves instead of reaching every installation at
/// once. Wave 1 goes out when the release does; with `nightly` each next
/// wave at the local midnight after the day the one before went out, with
/// `manual` when you call `advance`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolloutRequest {
    /// 1 to 20 waves.
    #[schema(min_items = 1, max_items = 20)]
    pub waves: Vec<WaveRequest>,
    pub advance: Advance,
    /// Halt by itself, before any further wave, when this percentage of the
    /// installations the current wave moved has failed (a `failed` report, or
    /// a delivery of their `installation.updated` that failed 3 attempts).
    /// Null or left out: it never halts by itself.
    #[schema(minimum = 1, maximum = 100)]
    pub halt_at_failed_percent: Option<i64>,
}

impl From<RolloutRequest> for Plan {
    fn from(request: RolloutRequest) -> Self {
        Plan {
            waves: request
                .waves
                .into_iter()
                .map(|w| WaveSpec { account_group_id: w.account_group_id, percent: w.percent })
                .collect(),
            advance: request.advance,
            halt_at_failed_percent: request.halt_at_failed_percent,
        }
    }
}

/// How a release rolls out, and where it stands.
#[derive(Serialize, ToSchema)]
pub struct Rollout {
    pub advance: Advance,
    #[schema(required = true)]
    pub halt_at_failed_percent: Option<i64>,
    /// The last wave that went out (0 before the first).
    pub current_wave: i64,
    /// When the worker starts the next wave (nightly rollouts in progress); null otherwise.
    #[schema(required = true)]
    #[serde(serialize_with = "super::timestamps::utc_opt")]
    pub next_wave_due_at: Option<DateTime<Utc>>,
    /// Why it is halted, while halted.
    #[schema(required = true)]
    pub halted_reason: Option<String>,
    #[schema(required = true)]
    #[serde(serialize_with = "super::timestamps::utc_opt")]
    pub halted_at: Option<DateTime<Utc>>,
    /// Failures before this instant do not count towards a halt (its start, or the last resume).
    #[serde(serialize_with = "super::timestamps::utc")]
    pub health_since: DateTime<Utc>,
    /// The release the pack ran before (a new installation gets it while halted; an abort returns to it).
    #[schema(required = true, format = Uuid)]
    pub previous_release_id: Option<String>,
    pub waves: Vec<WaveOut>,
}

#[derive(Serialize, ToSchema)]
pub struct WaveOut {
    /// 1-based.
    pub index: i64,
    /// The group this wave adds, for a group wave.
    #[schema(format = Uuid)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_group_id: Option<String>,
    /// The cumulative share of subscribed accounts, for a percent wave.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percent: Option<i64>,
    pub status: WaveStatus,
    /// When it is (or was) due; null while unknown (a manual wave, a halted rollout).
    #[schema(required = true)]
    #[serde(serialize_with = "super::timestamps::utc_opt")]
    pub due_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    #[serde(serialize_with = "super::timestamps::utc_opt")]
    pub started_at: Option<DateTime<Utc>>,
    /// Installations the wave moved; null until it goes out.
    #[schema(required = true)]
    pub targeted: Option<i64>,
    /// Of those, installations whose latest report says `succeeded`.
    pub applied: i64,
    /// Of those, installations that failed (a `failed` report, or a delivery
    /// of their `installation.updated` failed 3 attempts).
    pub failed: i64,
}

impl From<RolloutView> for Rollout {
    fn from(view: RolloutView) -> Self {
        let r = view.rollout;
        Self {
            advance: r.advance,
            halt_at_failed_percent: r.halt_at_failed_percent,
            current_wave: r.current_wave,
            next_wave_due_at: r.next_due_at.map(|at| at.and_utc()),
            halted_reason: r.halted_reason,
            halted_at: r.halted_at.map(|at| at.and_utc()),
            health_since: r.health_since.and_utc(),
            previous_release_id: r.previous_release_id,
            waves: view
                .waves
                .into_iter()
                .map(|w| WaveOut {
                    index: w.wave.wave,
                    account_group_id: w.wave.account_group_id,
                    percent: w.wave.percent,
                    status: w.wave.status,
                    due_at: w.wave.due_at.map(|at| at.and_utc()),
                    started_at: w.wave.started_at.map(|at| at.and_utc()),
                    targeted: w.wave.targeted,
                    applied: w.applied,
                    failed: w.failed,
                })
                .collect(),
        }
    }
}

async fn control(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: Uuid,
    if_match: Precondition,
    control: Control,
) -> AppResult<web::Json<Release>> {
    let id = id.to_string();
    let release =
        state.call(bearer, move |conn, ctx| service::control(conn, ctx, &id, if_match.0.as_ref(), control)).await?;
    state.schedule_changed();
    state.deliveries_queued();
    Ok(web::Json(release.into()))
}

/// One control of a rollout: `POST /releases/{id}/<action>`, no body or `{}`,
/// answering the release (200).
macro_rules! control_endpoint {
    ($name:ident, $path:literal, $control:expr, $summary:literal, $description:literal) => {
        #[doc = $summary]
        #[doc = ""]
        #[doc = $description]
        #[utoipa::path(
                                    tag = "releases",
                                    params(("id" = Uuid, Path, description = "Release id"), Precondition),
                                    request_body(content = Option<NoInput>, description = "No body, or `{}`"),
                                    responses((status = 200, body = Release), (status = 409, response = Conflict))
                                )]
        #[post($path)]
        pub async fn $name(
            state: web::Data<AppState>,
            bearer: Bearer,
            id: web::Path<Uuid>,
            if_match: Precondition,
            _body: OptionalJson<NoInput>,
        ) -> AppResult<web::Json<Release>> {
            control(state, bearer, id.into_inner(), if_match, $control).await
        }
    };
}

control_endpoint!(
    advance_rollout,
    "/{id}/advance",
    Control::Advance,
    "Start the rollout's next wave now.",
    "A `manual` rollout's way forward (a `nightly` one's next wave then follows the midnight after). The health rule is checked first: if the current wave has failed, the rollout halts instead (200, `halted`). 409 `not_a_rollout`, `rollout_not_in_progress`."
);
control_endpoint!(
    halt_rollout,
    "/{id}/halt",
    Control::Halt,
    "Halt the rollout.",
    "No further wave until resumed; a new installation gets the previous release's versions meanwhile. 409 `not_a_rollout`, `rollout_not_in_progress`."
);
control_endpoint!(
    resume_rollout,
    "/{id}/resume",
    Control::Resume,
    "Resume a halted rollout.",
    "The same accounts: only reports and failures from now on count, and a nightly rollout goes on at the next local midnight. 409 `not_a_rollout`, `rollout_not_halted`."
);
control_endpoint!(
    complete_rollout,
    "/{id}/complete",
    Control::Complete,
    "Send every remaining wave now.",
    "Also from `halted`: the release is `released`. 409 `not_a_rollout`, `rollout_not_in_progress`."
);
control_endpoint!(
    abort_rollout,
    "/{id}/abort",
    Control::Abort,
    "Abort the rollout.",
    "No further wave; the pack's released versions return to the previous release's; installations already reached keep the new versions until the next release; the others' pending updates disappear (they get `installation.update_canceled`). 409 `not_a_rollout`, `rollout_not_in_progress`."
);

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportRequest {
    /// The release the installation runs (a report on any other is a 409).
    pub release_id: Uuid,
    pub outcome: ReportOutcome,
    /// What went wrong (or right), at most 2,000 characters.
    #[schema(max_length = 2000)]
    pub detail: Option<String>,
}

/// A subscriber's report of applying a release to one installation; one per
/// release and installation, the latest wins.
#[derive(Serialize, ToSchema)]
pub struct Report {
    #[schema(format = Uuid)]
    pub release_id: String,
    #[schema(format = Uuid)]
    pub installation_id: String,
    #[schema(format = Uuid)]
    pub account_id: String,
    pub outcome: ReportOutcome,
    #[schema(required = true)]
    pub detail: Option<String>,
    #[serde(serialize_with = "super::timestamps::utc")]
    pub reported_at: DateTime<Utc>,
}

impl From<ReportRow> for Report {
    fn from(row: ReportRow) -> Self {
        Self {
            release_id: row.release_id,
            installation_id: row.installation_id,
            account_id: row.account_id,
            outcome: row.outcome,
            detail: row.detail,
            reported_at: row.reported_at.and_utc(),
        }
    }
}

list_response!(ReportList, Report);

/// Report how applying a release went on one of your installations
/// (subscribers only). During a rollout a `failed` report may halt it (the
/// health rule). 409 `release_not_running` when the installation does not run that release.
#[utoipa::path(
    tag = "installations",
    params(
        ("id" = Uuid, Path, description = "Subscriber account id"),
        ("installation_id" = Uuid, Path, description = "Installation id"),
    ),
    request_body = ReportRequest,
    responses((status = 201, body = Report), (status = 409, response = Conflict))
)]
#[post("/{id}/installations/{installation_id}/reports")]
pub async fn report_outcome(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<(Uuid, Uuid)>,
    body: ApiJson<ReportRequest>,
) -> AppResult<HttpResponse> {
    let (account_id, installation_id) = path.into_inner();
    let ApiJson(ReportRequest { release_id, outcome, detail }) = body;
    let input = NewReport { release_id: release_id.to_string(), outcome, detail };
    let report: Report = state
        .call(bearer, move |conn, ctx| {
            service::report(conn, ctx, &account_id.to_string(), &installation_id.to_string(), input)
        })
        .await?
        .into();
    state.deliveries_queued();
    Ok(created(format!("/api/v1/releases/{}/reports", report.release_id), &report))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportFilterQuery {
    pub outcome: Option<ReportOutcome>,
}

/// A release's outcome reports by installation: every one to its publisher, a
/// subscriber's own to it.
#[utoipa::path(
    tag = "releases",
    params(("id" = Uuid, Path, description = "Release id"), PageQuery, ReportFilterQuery),
    responses((status = 200, body = ReportList))
)]
#[get("/{id}/reports")]
pub async fn list_reports(
    state: web::Data<AppState>,
    bearer: Bearer,
    id: web::Path<Uuid>,
    page: web::Query<PageQuery>,
    filter: web::Query<ReportFilterQuery>,
) -> AppResult<web::Json<ReportList>> {
    let page = page.request()?;
    let id = id.to_string();
    let outcome = filter.outcome;
    let list = state.read(bearer, move |conn, ctx| service::reports(conn, ctx, &id, outcome, &page)).await?;
    Ok(web::Json(list.into()))
}
