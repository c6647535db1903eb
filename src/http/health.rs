//! Liveness and readiness probes; they need no token.

use actix_web::{get, web, HttpResponse};
use diesel::connection::SimpleConnection;
use serde::Serialize;
use utoipa::ToSchema;

use super::problem::responses::Unavailable;
use super::AppState;
use crate::error::{AppError, AppResult};

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: HealthStatus,
}

/// `ok` from `/healthz`, `ready` from `/readyz`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    Ok,
    Ready,
}

/// The process is up.
#[utoipa::path(tag = "health", responses((status = 200, body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: HealthStatus::Ok })
}

/// The database is reachable (workers are not checked, so an API-only replica is ready).
#[utoipa::path(
    tag = "health",
    responses((status = 200, body = Health), (status = 503, response = Unavailable))
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> AppResult<HttpResponse> {
    state.blocking(|conn| conn.batch_execute("SELECT 1").map_err(|e| AppError::Unavailable(Box::new(e)))).await?;
    Ok(HttpResponse::Ok().json(Health { status: HealthStatus::Ready }))
}
