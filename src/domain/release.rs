//! What a release changes: statuses, schedules, and how a draft item compares
//! the released version with the pending one.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, diesel::AsExpression, diesel::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseStatus {
    Scheduled,
    /// Rolling out in waves (a release without a rollout is carried out in
    /// one transaction, so it is never observed so).
    InProgress,
    /// A rollout halted, by itself or by its publisher: no further wave until resumed.
    Halted,
    Released,
    Failed,
    Canceled,
    /// A rollout stopped for good: installations reached keep its versions.
    Aborted,
}

super::stored_word!(ReleaseStatus, "release status", [
    Scheduled => "scheduled",
    InProgress => "in_progress",
    Halted => "halted",
    Released => "released",
    Failed => "failed",
    Canceled => "canceled",
    Aborted => "aborted",
]);

impl ReleaseStatus {
    /// Statuses whose items protect their versions from deletion.
    pub const PROTECTING: [ReleaseStatus; 4] = [Self::Scheduled, Self::InProgress, Self::Halted, Self::Released];
    /// Statuses of a release that installations are still waiting for: at
    /// most one per pack, shown as their pending update.
    pub const PENDING: [ReleaseStatus; 3] = [Self::Scheduled, Self::InProgress, Self::Halted];
}

/// How a release reached an installation.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, diesel::AsExpression, diesel::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
pub enum PushOutcome {
    /// Pushed by the release itself.
    Applied,
    /// Applied early by the subscriber while the release was scheduled.
    AppliedEarly,
}

super::stored_word!(PushOutcome, "push outcome", [Applied => "applied", AppliedEarly => "applied_early"]);

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, diesel::AsExpression, diesel::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    Immediately,
    OnDate,
}

super::stored_word!(Schedule, "release schedule", [Immediately => "immediately", OnDate => "on_date"]);

/// How a component's delivered version would change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Added,
    Updated,
    Removed,
    Unchanged,
}

impl Change {
    /// Compares what subscribers run now (`released`) with what they would run (`pending`).
    pub fn between(released: Option<&str>, pending: Option<&str>) -> Self {
        match (released, pending) {
            (None, Some(_)) => Self::Added,
            (Some(_), None) => Self::Removed,
            (Some(a), Some(b)) if a != b => Self::Updated,
            _ => Self::Unchanged,
        }
    }

    pub fn is_change(self) -> bool {
        self != Self::Unchanged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_compare_released_and_pending_versions() {
        assert_eq!(Change::between(None, Some("v1")), Change::Added);
        assert_eq!(Change::between(Some("v1"), Some("v2")), Change::Updated);
        assert_eq!(Change::between(Some("v2"), Some("v1")), Change::Updated, "a rollback is an update");
        assert_eq!(Change::between(Some("v1"), None), Change::Removed);
        assert_eq!(Change::between(Some("v1"), Some("v1")), Change::Unchanged);
        assert_eq!(Change::between(None, None), Change::Unchanged);
        assert!(!Change::Unchanged.is_change() && Change::Removed.is_change());
    }
}
