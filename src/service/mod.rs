//! Use cases: what each caller may do, and the transactions that do it.
//! Nothing here knows HTTP; handlers call these functions from a blocking thread.

pub mod accounts;
pub mod auth;
pub mod components;
pub mod deliveries;
pub mod drafts;
pub mod events;
pub mod groups;
pub mod idempotency;
pub mod installations;
pub mod metrics;
pub mod pack_lock;
pub mod packs;
pub mod precondition;
pub mod releases;
pub mod rollouts;
pub mod webhooks;
pub mod workers;

use chrono::{DateTime, NaiveDateTime, Utc};

pub use auth::Caller;

/// Settings the use cases need, fixed at start-up.
#[derive(Clone)]
pub struct Settings {
    /// SHA-256 of `PACKRELEASE_ADMIN_TOKEN`, when it is set.
    pub admin_token_hash: Option<String>,
    /// The zone whose calendar release dates belong to.
    pub release_time_zone: chrono_tz::Tz,
    /// Where webhook endpoints may point.
    pub webhook_guard: webhooks::UrlGuard,
}

/// Who is asking, and when.
pub struct Ctx {
    pub caller: Caller,
    /// The token the caller authenticated with, when it is a stored one (the
    /// admin token from the environment is not): audit records name it.
    pub token_id: Option<String>,
    pub now: DateTime<Utc>,
    pub time_zone: chrono_tz::Tz,
}

impl Ctx {
    pub fn now(&self) -> NaiveDateTime {
        self.now.naive_utc()
    }
}

/// A new time-sortable id (UUIDv7).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
