//! `Idempotency-Key` on every POST (token creation excepted: a secret is never
//! stored to be replayed). The first 2xx/4xx answer is stored for 24 hours per
//! account and replayed to retries with the same key and body, also to a retry
//! that arrives while the first still runs (it waits for that answer); a 5xx
//! is not stored, so a retry runs again, unless the work had committed (the
//! key's mark commits with it: `service::idempotency`).

use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpResponse, ResponseError};
use sha2::{Digest, Sha256};

use super::extract::{bearer_token, read_bytes};
use super::fallback::routed_path;
use super::problem::Problem;
use super::AppState;
use crate::domain::text;
use crate::error::{AppError, AppResult};
use crate::service::idempotency::{self as service, Begin};

pub static IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
pub static REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// Set on answers whose condition passes by itself (a lost race): not to be replayed.
static RETRY: HeaderName = HeaderName::from_static("retry-after");

/// POSTs whose answer carries a secret, never stored to be replayed:
/// `/api/v1/accounts/{id}/tokens`, `/api/v1/accounts/{id}/webhook-endpoints`
/// and `/api/v1/accounts/{id}/webhook-endpoints/{endpoint_id}/rotate-secret`.
fn mints_a_secret(path: &str) -> bool {
    let segments: Vec<&str> = path.split('/').collect();
    matches!(
        segments.as_slice(),
        ["", "api", "v1", "accounts", _, "tokens" | "webhook-endpoints"]
            | ["", "api", "v1", "accounts", _, "webhook-endpoints", _, "rotate-secret"]
    )
}

/// Whether the key covers this request.
pub fn applies_to(method: &Method, path: &str) -> bool {
    method == Method::POST && path.starts_with("/api/v1/") && !mints_a_secret(path)
}

fn problem(req: ServiceRequest, problem: Problem) -> ServiceResponse<BoxBody> {
    req.into_response(problem.response())
}

/// Claims the key, or finds the first answer to replay. While a twin of this
/// request is still running, waits (up to `idempotency_wait`) for its answer
/// rather than refusing at once, and says `Running` only when the wait is
/// over; a twin that failed on the server's side leaves the key free, and
/// this request then runs.
async fn begin_or_wait(state: &AppState, token: &str, key: &str, fingerprint: &str) -> AppResult<Begin> {
    let deadline = Instant::now() + state.idempotency_wait;
    let mut pause = Duration::from_millis(10);
    loop {
        let (settings, now) = (state.settings.clone(), state.clock.now());
        let (token, claimed, fingerprint) = (token.to_string(), key.to_string(), fingerprint.to_string());
        let begun =
            state.blocking(move |conn| service::begin(conn, &settings, &token, &claimed, &fingerprint, now)).await?;
        let Begin::Running { scope } = begun else { return Ok(begun) };
        loop {
            if Instant::now() + pause > deadline {
                return Ok(Begin::Running { scope });
            }
            actix_web::rt::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(200));
            let (scope, key) = (scope.clone(), key.to_string());
            if !state.blocking(move |conn| service::is_running(conn, &scope, &key)).await? {
                break;
            }
        }
    }
}

pub async fn idempotency(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if !req.headers().contains_key(&IDEMPOTENCY_KEY) {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let sent: Vec<&HeaderValue> = req.headers().get_all(&IDEMPOTENCY_KEY).collect();
    // Two different keys on one request: which one the client meant is a guess we do not make.
    let ambiguous = sent.windows(2).any(|pair| pair[0] != pair[1]);
    let key = sent.first().map(|v| v.to_str().map(str::to_string));
    let (Some(key), true, Some(token)) =
        (key, applies_to(req.method(), routed_path(req.request())), bearer_token(req.headers()))
    else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    if ambiguous {
        let detail = "send one Idempotency-Key: this request carries different ones";
        return Ok(problem(req, Problem::new(StatusCode::BAD_REQUEST, "invalid_idempotency_key", detail)));
    }
    let key = match key {
        Ok(key) if !key.is_empty() && key.len() <= 255 && key.chars().all(|c| c.is_ascii_graphic()) => key,
        _ => {
            let detail = "Idempotency-Key must be 1-255 visible ASCII characters";
            return Ok(problem(req, Problem::new(StatusCode::BAD_REQUEST, "invalid_idempotency_key", detail)));
        }
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let (request, payload) = req.parts_mut();
    let body = match read_bytes(request, payload).await {
        Ok(body) => body,
        Err(error) => return Ok(req.error_response(error)),
    };
    let fingerprint = {
        let mut hash = Sha256::new();
        hash.update(req.method().as_str());
        hash.update([0]);
        hash.update(req.uri().to_string());
        hash.update([0]);
        hash.update(&body);
        text::hex(&hash.finalize())
    };
    req.set_payload(Payload::from(body));

    let claim = match begin_or_wait(&state, &token, &key, &fingerprint).await {
        Ok(Begin::Started(claim)) => claim,
        Ok(Begin::Replay(stored)) => {
            let status = u16::try_from(stored.status.unwrap_or(200)).ok().and_then(|s| StatusCode::from_u16(s).ok());
            let mut response = HttpResponse::build(status.unwrap_or(StatusCode::OK));
            if let Some(content_type) = &stored.content_type {
                response.insert_header((header::CONTENT_TYPE, content_type.as_str()));
            }
            if let Some(location) = &stored.location {
                response.insert_header((header::LOCATION, location.as_str()));
            }
            response.insert_header((REPLAYED.clone(), HeaderValue::from_static("true")));
            return Ok(req.into_response(response.body(stored.body.unwrap_or_default())));
        }
        Ok(Begin::Running { .. }) => return Ok(req.into_response(service::in_progress().error_response())),
        // Authentication fails in the handler too, with the usual 401.
        Err(AppError::Unauthorized) => return Ok(next.call(req).await?.map_into_boxed_body()),
        Err(error) => return Ok(req.into_response(error.error_response())),
    };

    // The handler's work commits together with the key's `committed` mark (see `AppState::call`).
    req.extensions_mut().insert(claim.clone());
    let response = next.call(req).await?;
    let status = response.status();
    // A 5xx is not stored, nor a 409 that says "retry", nor a 412 (a retry
    // with a fresh If-Match must run): nothing was done, so it runs again.
    let retryable = response.headers().get(&RETRY).is_some() || status == StatusCode::PRECONDITION_FAILED;
    if status.is_server_error() || retryable {
        let _ = state.blocking(move |conn| service::abandon(conn, &claim)).await;
        return Ok(response.map_into_boxed_body());
    }
    let (request, response) = response.into_parts();
    let (head, body) = response.into_parts();
    let bytes =
        actix_web::body::to_bytes(body).await.map_err(|e| actix_web::error::ErrorInternalServerError(e.into()))?;
    let header_text = |name| head.headers().get(name).and_then(|v: &HeaderValue| v.to_str().ok()).map(str::to_string);
    let (content_type, location) = (header_text(header::CONTENT_TYPE), header_text(header::LOCATION));
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let stored = state
        .blocking(move |conn| {
            service::complete(conn, &claim, status.as_u16(), content_type.as_deref(), location.as_deref(), &text)
        })
        .await;
    if let Err(error) = stored {
        tracing::error!(%error, "could not store the idempotent response");
    }
    Ok(ServiceResponse::new(request, head.set_body(BoxBody::new(bytes))))
}
