//! `GET /api/v1/worker`: when each release worker last completed a pass.

use actix_web::{get, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::extract::{Bearer, PageQuery};
use super::problem::responses::Forbidden;
use super::AppState;
use crate::error::AppResult;
use crate::service::workers as service;
use crate::service::workers::WorkerView;

/// The routes under `/api/v1/worker`, relative to it.
pub fn worker_routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_workers);
}

#[derive(Serialize, ToSchema)]
pub struct WorkerStatus {
    #[schema(format = Uuid)]
    pub id: String,
    /// Where it runs: shown to the admin only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Its process id: shown to the admin only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i64>,
    /// The loop inside `packrelease serve` (true), or a `packrelease-worker` process.
    pub embedded: bool,
    pub poll_interval_ms: i64,
    #[serde(serialize_with = "super::timestamps::utc")]
    pub started_at: DateTime<Utc>,
    /// When it last completed a pass; null before the first.
    #[schema(required = true)]
    #[serde(serialize_with = "super::timestamps::utc_opt")]
    pub last_pass_at: Option<DateTime<Utc>>,
    /// Seconds since the last completed pass (or since start): a stuck worker shows a growing number.
    pub seconds_since_last_pass: i64,
    pub passes: i64,
    pub releases_carried_out: i64,
    /// Why the last pass failed, if it did (cleared by the next good pass).
    #[schema(required = true)]
    pub last_error: Option<String>,
    /// Set when it stopped cleanly.
    #[schema(required = true)]
    #[serde(serialize_with = "super::timestamps::utc_opt")]
    pub stopped_at: Option<DateTime<Utc>>,
    /// Each kind of job the worker runs, by name.
    pub jobs: Vec<WorkerJob>,
}

/// One kind of job of a worker: its own passes, items and errors.
#[derive(Serialize, ToSchema)]
pub struct WorkerJob {
    /// `due_releases` or `housekeeping` (more kinds may follow).
    #[schema(example = "due_releases")]
    pub kind: String,
    pub passes: i64,
    /// Items done: releases carried out, expired rows removed.
    pub done: i64,
    /// Items set aside as failed (a release that met an unexpected error).
    pub failed: i64,
    /// Passes that could not be made (the database was unavailable, say).
    pub errors: i64,
    #[schema(required = true)]
    #[serde(serialize_with = "super::timestamps::utc_opt")]
    pub last_pass_at: Option<DateTime<Utc>>,
    /// Why its last pass could not be made; cleared by the next good pass.
    #[schema(required = true)]
    pub last_error: Option<String>,
    #[schema(required = true)]
    #[serde(serialize_with = "super::timestamps::utc_opt")]
    pub last_error_at: Option<DateTime<Utc>>,
    /// When the worker plans to run it next: the next due release, or its next poll.
    #[schema(required = true)]
    #[serde(serialize_with = "super::timestamps::utc_opt")]
    pub next_run_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct WorkerList {
    pub items: Vec<WorkerStatus>,
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

fn status(WorkerView { heartbeat: h, jobs, shows_host }: WorkerView, now: DateTime<Utc>) -> WorkerStatus {
    let last = h.last_pass_at.unwrap_or(h.started_at).and_utc();
    WorkerStatus {
        id: h.id,
        hostname: shows_host.then_some(h.hostname),
        pid: shows_host.then_some(h.pid),
        embedded: h.embedded,
        poll_interval_ms: h.poll_interval_ms,
        started_at: h.started_at.and_utc(),
        last_pass_at: h.last_pass_at.map(|at| at.and_utc()),
        seconds_since_last_pass: (now - last).num_seconds().max(0),
        passes: h.passes,
        releases_carried_out: h.releases_carried_out,
        last_error: h.last_error,
        stopped_at: h.stopped_at.map(|at| at.and_utc()),
        jobs: jobs
            .into_iter()
            .map(|job| WorkerJob {
                kind: job.job,
                passes: job.passes,
                done: job.done,
                failed: job.failed,
                errors: job.errors,
                last_pass_at: job.last_pass_at.map(|at| at.and_utc()),
                last_error: job.last_error,
                last_error_at: job.last_error_at.map(|at| at.and_utc()),
                next_run_at: job.next_run_at.map(|at| at.and_utc()),
            })
            .collect(),
    }
}

/// Release workers, most recently started first, with their last completed pass.
#[utoipa::path(
    tag = "health",
    params(PageQuery),
    responses(
        (status = 200, body = WorkerList),
        (status = 403, response = Forbidden),
    )
)]
#[get("")]
pub async fn list_workers(
    state: web::Data<AppState>,
    bearer: Bearer,
    page: web::Query<PageQuery>,
) -> AppResult<web::Json<WorkerList>> {
    let page = page.request()?;
    let (list, now) = state.read(bearer, move |conn, ctx| Ok((service::workers(conn, ctx, &page)?, ctx.now))).await?;
    Ok(web::Json(WorkerList {
        items: list.items.into_iter().map(|h| status(h, now)).collect(),
        next_cursor: list.next_cursor,
    }))
}
