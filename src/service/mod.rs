//! Use cases: what each caller may do, and the transactions that do it.
//! Nothing here knows HTTP; handlers call these functions from a blocking thread.

pub mod accounts;
pub mod auth;
pub mod components;
pub mod packs;

use chrono::{DateTime, NaiveDateTime, Utc};

pub use auth::Caller;

/// Settings the use cases need, fixed at start-up.
#[derive(Debug, Clone)]
pub struct Settings {
    /// SHA-256 of `PACKRELEASE_ADMIN_TOKEN`, when it is set.
    pub admin_token_hash: Option<String>,
}

/// Who is asking, and when.
pub struct Ctx {
    pub caller: Caller,
    pub now: DateTime<Utc>,
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
