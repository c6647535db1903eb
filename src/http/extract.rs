//! Request extractors whose every failure is a problem+json: the bearer token,
//! JSON bodies (with the path of the offending field), paths and queries.

use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderMap};
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::{ready, LocalBoxFuture, Ready};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::{AppError, FieldError};
use crate::service::idempotency::Claim;
use crate::store::PageRequest;

/// The token of `Authorization: Bearer <token>`; 401 when absent or malformed.
/// It carries the request's idempotency claim, if it has one, to where the
/// work runs (`AppState::call`).
pub struct Bearer {
    pub token: String,
    pub claim: Option<Claim>,
}

impl FromRequest for Bearer {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let claim = req.extensions().get::<Claim>().cloned();
        ready(bearer_token(req.headers()).map(|token| Bearer { token, claim }).ok_or(AppError::Unauthorized))
    }
}

/// The token of an `Authorization: Bearer <token>` header, if there is one.
pub fn bearer_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
        .map(|(_, token)| token.trim().to_string())
}

/// How a request body is read (app data, next to actix's `PayloadConfig`): at
/// most `limit` bytes, arriving within `read_timeout` (headers have their own).
#[derive(Clone, Copy)]
pub struct BodyRules {
    pub limit: usize,
    pub read_timeout: std::time::Duration,
}

impl Default for BodyRules {
    fn default() -> Self {
        Self { limit: crate::config::DEFAULT_MAX_BODY_BYTES, read_timeout: crate::config::DEFAULT_BODY_READ_TIMEOUT }
    }
}

/// Reads the whole body by the app's `BodyRules`: 413 past the size limit,
/// 408 when it does not arrive in time (a slow body never holds its connection).
pub fn read_bytes(req: &HttpRequest, payload: &mut Payload) -> LocalBoxFuture<'static, Result<web::Bytes, AppError>> {
    let rules = req.app_data::<BodyRules>().copied().unwrap_or_default();
    let bytes = web::Bytes::from_request(req, payload);
    Box::pin(async move {
        match actix_web::rt::time::timeout(rules.read_timeout, bytes).await {
            Err(_) => Err(AppError::RequestTimeout { seconds: rules.read_timeout.as_secs() }),
            Ok(Ok(bytes)) => Ok(bytes),
            Ok(Err(error)) if error.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(AppError::PayloadTooLarge { limit: rules.limit })
            }
            Ok(Err(_)) => Err(AppError::BadRequest {
                code: "unreadable_body",
                detail: "the request body could not be read".into(),
            }),
        }
    })
}

/// A required JSON body.
pub struct ApiJson<T>(pub T);

/// A JSON body that may be left out (no body, or an empty one, reads as `T::default()`).
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_body(req, payload);
        Box::pin(async move {
            match body.await? {
                None => Err(AppError::BadRequest { code: "malformed_json", detail: "a JSON body is required".into() }),
                Some(bytes) => parse_json(&bytes).map(ApiJson),
            }
        })
    }
}

impl<T: DeserializeOwned + Default + 'static> FromRequest for OptionalJson<T> {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_body(req, payload);
        Box::pin(async move {
            match body.await? {
                None => Ok(OptionalJson(T::default())),
                Some(bytes) => parse_json(&bytes).map(OptionalJson),
            }
        })
    }
}

/// Reads the body within the configured size limit; `None` when it is empty.
/// A non-empty body must be JSON (or name no content type at all).
fn read_body(
    req: &HttpRequest,
    payload: &mut Payload,
) -> LocalBoxFuture<'static, Result<Option<web::Bytes>, AppError>> {
    let content_type_ok = match req.headers().get(header::CONTENT_TYPE).map(|v| v.to_str()) {
        None => true,
        Some(Ok(value)) => {
            let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
            essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
        }
        Some(Err(_)) => false,
    };
    let bytes = read_bytes(req, payload);
    Box::pin(async move {
        let bytes = bytes.await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        if !content_type_ok {
            return Err(AppError::BadRequest {
                code: "unsupported_content_type",
                detail: "the body must be JSON: send Content-Type: application/json".into(),
            });
        }
        Ok(Some(bytes))
    })
}

/// Parses JSON, telling apart unreadable JSON (400) from JSON of the wrong
/// shape (422 `validation_failed`, naming the field).
fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    // Every body of this API is an object; serde would otherwise read an array by position.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{')
        && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
    {
        return Err(AppError::invalid("body", "invalid_type", "the body must be a JSON object"));
    }
    // JSON can carry a NUL character (`\u0000`) that no text column stores:
    // refuse it here for every field at once.
    if bytes.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
        return Err(AppError::invalid(
            "body",
            "invalid_character",
            "text must not contain the NUL character (\\u0000)",
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let malformed = |error: serde_json::Error| AppError::BadRequest {
        code: "malformed_json",
        detail: format!("the body is not valid JSON: {error}"),
    };
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => AppError::Validation(vec![shape_error(&path, &inner.to_string())]),
            // Valid JSON that serde reports as a syntax error: a number, null or
            // array where an enum's string belongs.
            _ if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() => {
                AppError::Validation(vec![shape_error(
                    &path,
                    "invalid type: expected one of the values the contract lists",
                )])
            }
            _ => malformed(inner),
        }
    })?;
    deserializer.end().map_err(malformed)?;
    Ok(value)
}

/// Turns serde's message about a wrong shape into a field error.
fn shape_error(path: &str, message: &str) -> FieldError {
    let message = message.split(" at line ").next().unwrap_or(message).to_string();
    let named = message.split('`').nth(1).unwrap_or_default();
    let join = |name: &str| {
        if path == "." {
            name.to_string()
        } else {
            format!("{path}.{name}")
        }
    };
    let whole = if path == "." { "body".to_string() } else { path.to_string() };
    let (field, code) = if message.starts_with("missing field") {
        (join(named), "required")
    } else if message.starts_with("unknown field") {
        // The path already ends at the unknown key.
        (whole, "unknown_field")
    } else if message.starts_with("unknown variant") {
        (whole, "invalid_value")
    } else if message.starts_with("invalid type") {
        (whole, "invalid_type")
    } else {
        (whole, "invalid_value")
    };
    FieldError::new(field, code, message)
}

/// Error handler for `web::Path`: an unparseable id names nothing, so 404.
pub fn path_error(_: actix_web::error::PathError, _: &HttpRequest) -> actix_web::Error {
    AppError::NotFound.into()
}

/// Error handler for `web::Query`: a 422 naming the query string.
pub fn query_error(error: actix_web::error::QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    let message = error.to_string();
    let message = message.strip_prefix("Query deserialize error: ").unwrap_or(&message).to_string();
    AppError::Validation(vec![FieldError::new("query", "invalid_value", message)]).into()
}

pub const DEFAULT_PAGE_SIZE: i64 = 50;
pub const MAX_PAGE_SIZE: i64 = 200;

/// `limit` and `cursor` of every list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Whether `raw` is a UUID in the form ids are stored in (lower case, with
/// hyphens): another spelling of the same UUID would compare wrongly as a cursor.
pub fn is_stored_id_form(raw: &str) -> bool {
    uuid::Uuid::parse_str(raw).is_ok_and(|id| id.hyphenated().to_string() == raw)
}

impl PageQuery {
    /// The page size, checked.
    pub fn limit(&self) -> Result<i64, AppError> {
        match self.limit.unwrap_or(DEFAULT_PAGE_SIZE) {
            limit @ 1..=MAX_PAGE_SIZE => Ok(limit),
            _ => {
                Err(AppError::invalid("limit", "out_of_range", format!("limit must be between 1 and {MAX_PAGE_SIZE}")))
            }
        }
    }

    /// The page request of a list ordered by id (its cursor is an id).
    pub fn request(&self) -> Result<PageRequest, AppError> {
        self.request_with(is_stored_id_form)
    }

    /// The page request of a list ordered by ids that `is_id` recognises.
    pub fn request_with(&self, is_id: impl Fn(&str) -> bool) -> Result<PageRequest, AppError> {
        let after = self.cursor.clone().filter(|c| !c.is_empty());
        let bad_cursor = after.as_deref().is_some_and(|c| !is_id(c));
        let cursor_error =
            FieldError::new("cursor", "invalid_cursor", "cursor must be a next_cursor returned by this list");
        match (self.limit(), bad_cursor) {
            (Ok(limit), false) => Ok(PageRequest { limit, after }),
            (Ok(_), true) => Err(AppError::Validation(vec![cursor_error])),
            (Err(AppError::Validation(mut errors)), bad) => {
                errors.extend(bad.then_some(cursor_error));
                Err(AppError::Validation(errors))
            }
            (Err(other), _) => Err(other),
        }
    }
}
