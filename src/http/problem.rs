//! RFC 9457 problem details: every error the API answers, with a stable `code`.
//! A 500 says nothing of its cause; the log keeps the whole chain.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{AppError, FieldError};

pub const CONTENT_TYPE: &str = "application/problem+json";

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:packrelease:problem:validation_failed",
    "title": "Unprocessable Content",
    "status": 422,
    "detail": "the request has invalid fields",
    "code": "validation_failed",
    "errors": [{"field": "name", "code": "required", "message": "name must not be blank"}]
}))]
pub struct Problem {
    /// `urn:packrelease:problem:<code>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code; scripts branch on this, never on `detail`.
    pub code: String,
    /// Present for `validation_failed`: every field that broke a rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// Present for `release_already_scheduled`: the release in the way.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid)]
    pub release_id: Option<String>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self {
            problem_type: format!("urn:packrelease:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_string(),
            errors: None,
            release_id: None,
        }
    }

    pub fn response(&self) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CONTENT_TYPE, CONTENT_TYPE));
        // Conditions that pass by themselves: a lost race, a busy or absent database.
        if matches!(self.code.as_str(), "conflict" | "idempotency_in_progress" | "database_unavailable") {
            response.insert_header((header::RETRY_AFTER, "1"));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        response.json(self)
    }
}

impl From<&AppError> for Problem {
    fn from(error: &AppError) -> Self {
        match error {
            AppError::Unauthorized => Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", error.to_string()),
            AppError::Forbidden(detail) => Problem::new(StatusCode::FORBIDDEN, "forbidden", detail.clone()),
            AppError::NotFound => Problem::new(StatusCode::NOT_FOUND, "not_found", "no such resource"),
            AppError::Conflict { code, detail } => Problem::new(StatusCode::CONFLICT, code, detail.clone()),
            AppError::ReleaseAlreadyScheduled { release_id } => Problem {
                release_id: Some(release_id.clone()),
                ..Problem::new(StatusCode::CONFLICT, "release_already_scheduled", error.to_string())
            },
            AppError::Rule { code, detail } => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail.clone()),
            AppError::Validation(errors) => Problem {
                errors: Some(errors.clone()),
                ..Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", error.to_string())
            },
            AppError::PreconditionFailed => {
                Problem::new(StatusCode::PRECONDITION_FAILED, "precondition_failed", error.to_string())
            }
            AppError::BadRequest { code, detail } => Problem::new(StatusCode::BAD_REQUEST, code, detail.clone()),
            AppError::PayloadTooLarge { .. } => {
                Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", error.to_string())
            }
            AppError::RequestTimeout { .. } => {
                Problem::new(StatusCode::REQUEST_TIMEOUT, "request_timeout", error.to_string())
            }
            AppError::Unavailable(_) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "the database is unavailable; retry shortly",
            ),
            AppError::Internal(_) => Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "an internal error occurred; it has been logged",
            ),
        }
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(Problem::from(self).status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            AppError::Internal(_) => tracing::error!(error = %self.chain(), "request failed"),
            AppError::Unavailable(_) => {
                tracing::warn!(error = %self.chain(), "database unavailable")
            }
            _ => {}
        }
        Problem::from(self).response()
    }
}

/// Reusable response descriptions, listed on each operation of the contract.
/// They only describe responses (the `AppError` above builds them), so they are
/// never constructed.
#[allow(dead_code)]
pub mod responses {
    use super::Problem;
    use utoipa::ToResponse;

    #[derive(ToResponse)]
    #[response(
        description = "Malformed JSON, a wrong content type, or `If-Match` on a change that does not take it",
        content_type = "application/problem+json"
    )]
    pub struct BadRequest(Problem);

    #[derive(ToResponse)]
    #[response(description = "Missing, unknown or expired bearer token", content_type = "application/problem+json")]
    pub struct Unauthorized(Problem);

    #[derive(ToResponse)]
    #[response(
        description = "The caller sees the resource but may not do this",
        content_type = "application/problem+json"
    )]
    pub struct Forbidden(Problem);

    #[derive(ToResponse)]
    #[response(
        description = "No such resource, or not visible to the caller",
        content_type = "application/problem+json"
    )]
    pub struct NotFound(Problem);

    #[derive(ToResponse)]
    #[response(
        description = "The request conflicts with the current state (see `code`)",
        content_type = "application/problem+json"
    )]
    pub struct Conflict(Problem);

    #[derive(ToResponse)]
    #[response(
        description = "`If-Match` names none of the resource's current ETags: it changed since it was read \
                       (`precondition_failed`); read it again and decide",
        content_type = "application/problem+json"
    )]
    pub struct PreconditionFailed(Problem);

    #[derive(ToResponse)]
    #[response(description = "The body is larger than the configured limit", content_type = "application/problem+json")]
    pub struct PayloadTooLarge(Problem);

    #[derive(ToResponse)]
    #[response(
        description = "The body did not arrive within the read timeout (`request_timeout`)",
        content_type = "application/problem+json"
    )]
    pub struct RequestTimeout(Problem);

    #[derive(ToResponse)]
    #[response(
        description = "A rule refuses the request: `validation_failed` with per-field `errors`, or a rule's own code",
        content_type = "application/problem+json"
    )]
    pub struct Unprocessable(Problem);

    #[derive(ToResponse)]
    #[response(description = "The database is unavailable; retry", content_type = "application/problem+json")]
    pub struct Unavailable(Problem);

    #[derive(ToResponse)]
    #[response(
        description = "Internal error (details only in the server log)",
        content_type = "application/problem+json"
    )]
    pub struct InternalError(Problem);
}
