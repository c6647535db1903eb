//! Accounts are tenants: publishers own the catalog, subscribers (managed by a
//! publisher) install packs.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub const MAX_NAME_CHARS: usize = 100;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, diesel::AsExpression, diesel::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    Publisher,
    Subscriber,
}

super::stored_word!(AccountKind, "account kind", [Publisher => "publisher", Subscriber => "subscriber"]);
