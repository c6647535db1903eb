//! The one error type of the service and domain layers. It knows nothing of
//! HTTP; `http::problem` turns it into an RFC 9457 problem with a stable `code`.

use serde::Serialize;
use utoipa::ToSchema;

/// One rule a field of the request broke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// Where in the request: a JSON path such as `items[2].version`, or a query parameter.
    pub field: String,
    /// Stable machine code, such as `required`, `too_long`, `invalid_format`.
    pub code: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), code: code.into(), message: message.into() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("a valid bearer token is required")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    /// The request is well formed but conflicts with the current state (409).
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    /// The pack already has a scheduled release: cancel it or wait (409).
    #[error("release {release_id} is already scheduled for this pack; cancel it or wait until it is carried out")]
    ReleaseAlreadyScheduled { release_id: String },
    /// A rule of the domain refuses the request (422).
    #[error("{detail}")]
    Rule { code: &'static str, detail: String },
    /// Fields of a parseable body break rules (422 `validation_failed`).
    #[error("the request has invalid fields")]
    Validation(Vec<FieldError>),
    /// `If-Match` names none of the resource's current entity tags (412).
    #[error("the resource changed since it was read: If-Match does not match its current ETag")]
    PreconditionFailed,
    /// The request cannot be read at all (400).
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// The body did not arrive within the read timeout (408).
    #[error("the request body did not arrive within {seconds} s")]
    RequestTimeout { seconds: u64 },
    #[error("the database is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl AppError {
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Conflict { code, detail: detail.into() }
    }

    pub fn rule(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Rule { code, detail: detail.into() }
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::Forbidden(detail.into())
    }

    pub fn invalid(field: &str, code: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, code, message)])
    }

    pub fn internal(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(cause))
    }

    /// Whether trying again later may succeed (the database was unavailable,
    /// a deadlock, a lock not granted): nothing was written.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    /// The error and its causes, for the log (never for an answer).
    pub fn chain(&self) -> String {
        let mut chain = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            chain.push_str(": ");
            chain.push_str(&cause.to_string());
            source = cause.source();
        }
        chain
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match error {
            Error::NotFound => Self::NotFound,
            // A concurrent writer got there first; the caller may retry.
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                Self::conflict("conflict", "a concurrent change conflicts with this request; retry it")
            }
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => {
                Self::conflict("conflict", "a concurrent change conflicts with this request; retry it")
            }
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _) | Error::BrokenTransactionManager => {
                Self::Unavailable(Box::new(error))
            }
            // A deadlock (PostgreSQL) or a lock not granted in time (SQLite busy):
            // nothing was written, and a retry will go through.
            Error::DatabaseError(_, ref info)
                if info.message().contains("deadlock detected") || info.message().contains("database is locked") =>
            {
                Self::Unavailable(Box::new(error))
            }
            other => Self::internal(other),
        }
    }
}

impl From<r2d2::Error> for AppError {
    fn from(error: r2d2::Error) -> Self {
        Self::Unavailable(Box::new(error))
    }
}

pub type AppResult<T> = Result<T, AppError>;
