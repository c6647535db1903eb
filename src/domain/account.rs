//! Accounts are tenants: publishers own the catalog, subscribers (managed by a
//! publisher) install packs.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub const MAX_NAME_CHARS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    Publisher,
    Subscriber,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Publisher => "publisher",
            Self::Subscriber => "subscriber",
        }
    }

    pub fn from_db(raw: &str) -> Self {
        if raw == "publisher" {
            Self::Publisher
        } else {
            Self::Subscriber
        }
    }
}
