//! What a release changes: statuses, schedules, and how a draft item compares
//! the released version with the pending one.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseStatus {
    Scheduled,
    /// Reserved: carrying out a release is one transaction, so it is never observed.
    InProgress,
    Released,
    Failed,
    Canceled,
}

impl ReleaseStatus {
    pub const ALL: [ReleaseStatus; 5] =
        [Self::Scheduled, Self::InProgress, Self::Released, Self::Failed, Self::Canceled];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::InProgress => "in_progress",
            Self::Released => "released",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
        }
    }

    pub fn from_db(raw: &str) -> Self {
        Self::ALL.into_iter().find(|s| s.as_str() == raw).unwrap_or(Self::Failed)
    }

    /// Statuses whose items protect their versions from deletion.
    pub const PROTECTING: [&'static str; 3] = ["scheduled", "in_progress", "released"];
}

/// How a release reached an installation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PushOutcome {
    /// Pushed by the release itself.
    Applied,
    /// Applied early by the subscriber while the release was scheduled.
    AppliedEarly,
}

impl PushOutcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::AppliedEarly => "applied_early",
        }
    }

    pub fn from_db(raw: &str) -> Self {
        if raw == Self::AppliedEarly.as_str() {
            Self::AppliedEarly
        } else {
            Self::Applied
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    Immediately,
    OnDate,
}

impl Schedule {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Immediately => "immediately",
            Self::OnDate => "on_date",
        }
    }

    pub fn from_db(raw: &str) -> Self {
        if raw == "on_date" {
            Self::OnDate
        } else {
            Self::Immediately
        }
    }
}

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
