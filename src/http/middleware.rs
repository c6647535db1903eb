//! Per-request context: an `X-Request-Id` (accepted or generated, echoed and
//! logged), one log line per request, and a last guard that turns any error
//! answer not yet in problem+json (from actix itself) into one.

use std::sync::Arc;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::web;

use super::problem::{self, Problem};
use super::AppState;
use crate::log_format;

pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 200 && v.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let request = Arc::new(log_format::Request {
        method: req.method().clone(),
        path: req.path().to_string(),
        id: request_id(&req),
    });
    let started = Instant::now();
    let metrics = req.app_data::<web::Data<AppState>>().and_then(|state| state.metrics.clone());
    let response = log_format::scoped(request.clone(), next.call(req)).await?;
    let status = response.status();
    if let Some(metrics) = metrics {
        let served = response.request();
        metrics.observe(served.match_pattern().as_deref(), served.method(), status, started.elapsed());
    }
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(problem::CONTENT_TYPE.as_bytes()));
    let mut response = if (status.is_client_error() || status.is_server_error()) && !is_problem {
        let preflight = response.request().method() == Method::OPTIONS;
        let code = match status.as_u16() {
            400 if preflight => "cors_refused",
            400 => "bad_request",
            404 => "not_found",
            405 => "method_not_allowed",
            413 => "payload_too_large",
            _ if status.is_server_error() => "internal_error",
            _ => "request_refused",
        };
        let detail = match code {
            "cors_refused" => "CORS preflight refused: this origin, method or header is not allowed".to_string(),
            _ => status.canonical_reason().unwrap_or("error").to_lowercase(),
        };
        let mut problem = Problem::new(status, code, detail).response();
        // Keep what the answer said besides its body (`Allow`, CORS headers, `Vary`).
        for (name, value) in response.headers() {
            if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                problem.headers_mut().append(name.clone(), value.clone());
            }
        }
        response.into_response(problem)
    } else {
        response.map_into_boxed_body()
    };
    if let Ok(value) = HeaderValue::from_str(&request.id) {
        response.headers_mut().insert(REQUEST_ID.clone(), value);
    }
    let _entered = log_format::enter(Some(request));
    tracing::info!(status = status.as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, "request");
    Ok(response)
}
