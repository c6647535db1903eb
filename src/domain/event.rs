//! What happened, as subscribers' and publishers' systems are told: the
//! kinds of event, which side of the catalog each belongs to, and what
//! becomes of a webhook delivery.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, diesel::AsExpression, diesel::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum EventType {
    /// A release that will reach this installation was scheduled or
    /// rescheduled, or the installation's account started getting the pack
    /// while a release is scheduled (`reason` `subscribed`).
    #[serde(rename = "installation.update_scheduled")]
    InstallationUpdateScheduled,
    /// The scheduled release was canceled before it reached this installation,
    /// or will not reach it because its account stopped getting the pack
    /// (`reason` `unsubscribed`).
    #[serde(rename = "installation.update_canceled")]
    InstallationUpdateCanceled,
    /// The installation now runs the release's versions (the push).
    #[serde(rename = "installation.updated")]
    InstallationUpdated,
    #[serde(rename = "release.scheduled")]
    ReleaseScheduled,
    #[serde(rename = "release.released")]
    ReleaseReleased,
    #[serde(rename = "release.canceled")]
    ReleaseCanceled,
    #[serde(rename = "release.failed")]
    ReleaseFailed,
    /// A wave of a rollout went out (with how many installations it moved).
    #[serde(rename = "release.wave_started")]
    ReleaseWaveStarted,
    /// A rollout halted, by itself (with the reason) or by its publisher.
    #[serde(rename = "release.halted")]
    ReleaseHalted,
    #[serde(rename = "release.resumed")]
    ReleaseResumed,
    /// A rollout was aborted: no further wave.
    #[serde(rename = "release.aborted")]
    ReleaseAborted,
    /// Sent by "test" on one endpoint; never subscribed to.
    #[serde(rename = "webhook.test")]
    WebhookTest,
}

super::stored_word!(EventType, "event type", [
    InstallationUpdateScheduled => "installation.update_scheduled",
    InstallationUpdateCanceled => "installation.update_canceled",
    InstallationUpdated => "installation.updated",
    ReleaseScheduled => "release.scheduled",
    ReleaseReleased => "release.released",
    ReleaseCanceled => "release.canceled",
    ReleaseFailed => "release.failed",
    ReleaseWaveStarted => "release.wave_started",
    ReleaseHalted => "release.halted",
    ReleaseResumed => "release.resumed",
    ReleaseAborted => "release.aborted",
    WebhookTest => "webhook.test",
]);

/// Whose events a type is: installation events go to subscribers, release
/// events to publishers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Subscriber,
    Publisher,
}

impl EventType {
    /// The side an endpoint may subscribe this type on; `None`: nobody subscribes to it.
    pub fn side(self) -> Option<Side> {
        match self {
            Self::InstallationUpdateScheduled | Self::InstallationUpdateCanceled | Self::InstallationUpdated => {
                Some(Side::Subscriber)
            }
            Self::ReleaseScheduled
            | Self::ReleaseReleased
            | Self::ReleaseCanceled
            | Self::ReleaseFailed
            | Self::ReleaseWaveStarted
            | Self::ReleaseHalted
            | Self::ReleaseResumed
            | Self::ReleaseAborted => Some(Side::Publisher),
            Self::WebhookTest => None,
        }
    }

    /// Every type an account of `side` may subscribe to: an endpoint's default.
    pub fn subscribable(side: Side) -> Vec<EventType> {
        <Self as super::StoredWord>::ALL.iter().copied().filter(|t| t.side() == Some(side)).collect()
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, diesel::AsExpression, diesel::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt, or being sent.
    Pending,
    Succeeded,
    /// Every attempt of the retry schedule failed, or the endpoint answered 410.
    Failed,
    /// Its endpoint was disabled or deleted before it succeeded.
    Canceled,
}

super::stored_word!(DeliveryStatus, "delivery status", [
    Pending => "pending",
    Succeeded => "succeeded",
    Failed => "failed",
    Canceled => "canceled",
]);

/// Why an endpoint is disabled.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, diesel::AsExpression, diesel::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
pub enum DisabledReason {
    /// Its account turned it off.
    ByRequest,
    /// It answered 410 Gone.
    Gone,
    /// Nothing but failures for the configured time (5 days by default).
    Failing,
}

super::stored_word!(DisabledReason, "endpoint disabled reason", [
    ByRequest => "by_request",
    Gone => "gone",
    Failing => "failing",
]);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_side_subscribes_to_its_own_types_and_nobody_to_tests() {
        let subscriber = EventType::subscribable(Side::Subscriber);
        assert_eq!(subscriber.len(), 3);
        assert!(subscriber.iter().all(|t| t.as_str().starts_with("installation.")));
        let publisher = EventType::subscribable(Side::Publisher);
        assert_eq!(publisher.len(), 8);
        assert!(publisher.iter().all(|t| t.as_str().starts_with("release.")));
        assert_eq!(EventType::WebhookTest.side(), None);
        assert_eq!(serde_json::to_value(EventType::InstallationUpdated).unwrap(), "installation.updated");
    }
}
