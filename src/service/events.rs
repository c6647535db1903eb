//! Events: what changed, told to the accounts that must act on it. Every
//! transaction that changes what an event reports writes the event through an
//! `Outbox` and seals it as its last step, so a rolled-back change leaves no
//! event and the feed sees events in commit order. An event renders the same
//! JSON in the feed and as a webhook's body.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use serde_json::{json, Map, Value};

use super::releases::PushCounts;
use crate::db::DbConnection;
use crate::domain::event::EventType;
use crate::domain::release::PushOutcome;
use crate::domain::rollout::Selector;
use crate::domain::schedule;
use crate::error::{AppError, AppResult};
use crate::store::events::{self as store, EventGroup, EventRow, StoredEvent};
use crate::store::installations::{self, Targets};
use crate::store::releases::{self, NamedItem, Release};

/// The events of one transaction, sealed together as its last step.
pub struct Outbox {
    batch_id: String,
    at: NaiveDateTime,
    wrote: bool,
}

impl Outbox {
    pub fn new(at: NaiveDateTime) -> Self {
        Self { batch_id: super::new_id(), at, wrote: false }
    }

    fn payload(&mut self, conn: &mut DbConnection, data: &Value) -> AppResult<String> {
        let id = super::new_id();
        store::insert_payload(conn, &id, &data.to_string())?;
        Ok(id)
    }

    /// One event for one account.
    pub fn record(
        &mut self,
        conn: &mut DbConnection,
        account_id: &str,
        event_type: EventType,
        subject: (Option<&str>, Option<&str>),
        fact: String,
        data: &Value,
    ) -> AppResult<String> {
        let payload_id = self.payload(conn, data)?;
        let (release_id, installation_id) = subject;
        let event = EventRow {
            id: prefixed_id("evt_"),
            batch_id: self.batch_id.clone(),
            account_id: account_id.to_string(),
            event_type,
            created_at: self.at,
            release_id: release_id.map(str::to_string),
            installation_id: installation_id.map(str::to_string),
            payload_id,
            fact,
        };
        store::insert(conn, &event)?;
        self.wrote = true;
        Ok(event.id)
    }

    /// A release event for its pack's publisher.
    pub fn release_event(
        &mut self,
        conn: &mut DbConnection,
        release: &Release,
        event_type: EventType,
        revision: i64,
        data: Value,
    ) -> AppResult<()> {
        let pack = crate::store::packs::find(conn, &release.pack_id)?.ok_or(AppError::NotFound)?;
        let fact = format!("{}/{}/-/{revision}", event_type.as_str(), release.id);
        self.record(conn, &pack.publisher_id, event_type, (Some(&release.id), None), fact, &data)?;
        Ok(())
    }

    /// One event for every installation of `targets` (those the release would
    /// reach now, the pushes' predicate, unless a subscription changes), with
    /// `data` and what each runs before it: a group of member events for each
    /// release they run now (see `store::events`). Written before the
    /// installations move, in the transaction that chooses them by the same
    /// predicate, so each is told once.
    pub fn target_events(
        &mut self,
        conn: &mut DbConnection,
        release: &Release,
        targets: Targets,
        event_type: EventType,
        data: &Value,
    ) -> AppResult<usize> {
        let priors = installations::prior_releases_of_targets(conn, release, targets)?;
        let prior_ids: Vec<String> = priors.iter().flatten().cloned().collect();
        let mut items = releases::items_for(conn, &prior_ids)?;
        let mut written = 0;
        for prior in priors {
            let mut data = data.clone();
            data["previous_release_id"] = json!(prior);
            data["previous_versions"] =
                versions(prior.as_ref().and_then(|id| items.remove(id)).as_deref().unwrap_or_default());
            let payload_id = self.payload(conn, &data)?;
            let group = EventGroup {
                id: group_id(),
                batch_id: self.batch_id.clone(),
                event_type,
                created_at: self.at,
                release_id: release.id.clone(),
                payload_id,
            };
            written += installations::insert_target_events(conn, release, targets, prior.as_deref(), &group)?;
        }
        self.wrote |= written > 0;
        Ok(written)
    }

    /// Gives the events their deliveries and their place in commit order; the
    /// last statement of the transaction (it holds the feed's lock until commit).
    pub fn seal(self, conn: &mut DbConnection) -> AppResult<()> {
        if self.wrote {
            store::seal(conn, &self.batch_id, self.at)?;
        }
        Ok(())
    }
}

/// A new id with this prefix, as events and deliveries have (`evt_` + 32 hex
/// digits that sort by time, like `store::events::sql_id`'s).
pub fn prefixed_id(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::now_v7().simple())
}

/// A new group of member events: `evt_` and the first 24 hex digits of a new
/// time-ordered id (its instant in milliseconds, then 42 random bits), to
/// which each member's ordinal adds 8 (`store::events::member_id`).
fn group_id() -> String {
    let mut id = prefixed_id("evt_");
    id.truncate(store::GROUP_ID_LEN);
    id
}

/// Whether `raw` is an id `prefixed_id` made with this prefix: a cursor or a
/// path segment in any other spelling would compare wrongly.
pub fn is_prefixed_id(prefix: &str, raw: &str) -> bool {
    raw.strip_prefix(prefix)
        .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// An event as the feed lists it and a webhook's body carries it.
pub fn render(event: &StoredEvent) -> Value {
    let mut data: Map<String, Value> = serde_json::from_str(&event.payload).unwrap_or_default();
    if let Some(installation_id) = &event.event.installation_id {
        data.insert("installation_id".into(), json!(installation_id));
        data.insert("account_id".into(), json!(event.event.account_id));
    }
    json!({
        "id": event.event.id,
        "type": event.event.event_type,
        "created_at": event.event.created_at.and_utc(),
        "data": data,
    })
}

fn versions(items: &[NamedItem]) -> Value {
    Value::Array(
        items
            .iter()
            .filter_map(|item| {
                let version = item.version.as_ref()?;
                Some(json!({"component_id": item.component_id, "name": item.name, "version": version}))
            })
            .collect(),
    )
}

/// What every event of a release says about it.
fn release_data(conn: &mut DbConnection, release: &Release) -> AppResult<Value> {
    let items = releases::items_for(conn, std::slice::from_ref(&release.id))?.remove(&release.id).unwrap_or_default();
    let zone = release.time_zone.parse().unwrap_or(schedule::DEFAULT_TIME_ZONE);
    let due_at = release.due_at.and_utc();
    Ok(json!({
        "release_id": release.id,
        "integration_pack_id": release.pack_id,
        "schedule": release.schedule,
        "release_on": release.release_on,
        "due_at": due_at,
        "due_at_local": schedule::local_rfc3339(due_at, zone),
        "time_zone": release.time_zone,
        "items": items.iter().map(|item| json!({
            "component_id": item.component_id,
            "name": item.name,
            "version": item.version,
            "previous_version": item.previous_version,
        })).collect::<Vec<_>>(),
        "versions": versions(&items),
    }))
}

/// The schedule's revision a new `release.scheduled` fact gets: 0, then one more per reschedule.
fn next_revision(conn: &mut DbConnection, release: &Release) -> AppResult<i64> {
    Ok(store::count_for_release(conn, &release.id, EventType::ReleaseScheduled)?)
}

/// A release was scheduled or rescheduled: its publisher is told, and every
/// installation it will reach gets `installation.update_scheduled`.
pub fn release_scheduled(conn: &mut DbConnection, outbox: &mut Outbox, release: &Release) -> AppResult<()> {
    let revision = next_revision(conn, release)?;
    let data = release_data(conn, release)?;
    let reached =
        outbox.target_events(conn, release, Targets::Release, EventType::InstallationUpdateScheduled, &data)?;
    let mut publisher = data;
    publisher["installations_targeted"] = json!(reached);
    outbox.release_event(conn, release, EventType::ReleaseScheduled, revision, publisher)
}

/// Accounts are about to gain or lose `packs` through a group (see
/// `Targets::Subscription`; called before the change is written). For each of
/// those packs with a release scheduled or rolling out (not yet reaching
/// them), the installations whose subscription
/// starts hear of their pending update (`reason` `subscribed`), and those whose
/// subscription ends hear that it will not reach them (`unsubscribed`).
pub fn subscriptions_changing(
    conn: &mut DbConnection,
    outbox: &mut Outbox,
    packs: &[String],
    targets: Targets,
    starting: bool,
) -> AppResult<()> {
    let (event_type, reason) = if starting {
        (EventType::InstallationUpdateScheduled, "subscribed")
    } else {
        (EventType::InstallationUpdateCanceled, "unsubscribed")
    };
    for release in releases::pending_for(conn, packs)?.values() {
        let mut data = release_data(conn, release)?;
        data["reason"] = json!(reason);
        outbox.target_events(conn, release, targets, event_type, &data)?;
    }
    Ok(())
}

/// A scheduled release was canceled: the installations it would have reached
/// hear that their pending update is gone.
pub fn release_canceled(conn: &mut DbConnection, outbox: &mut Outbox, release: &Release) -> AppResult<()> {
    let data = release_data(conn, release)?;
    outbox.target_events(conn, release, Targets::Release, EventType::InstallationUpdateCanceled, &data)?;
    outbox.release_event(conn, release, EventType::ReleaseCanceled, 0, data)
}

/// The release (or one wave of it, `targets`) is being carried out: one
/// `installation.updated` for every installation it is about to move
/// (written before they move).
pub fn installations_updated(
    conn: &mut DbConnection,
    outbox: &mut Outbox,
    release: &Release,
    targets: Targets,
) -> AppResult<usize> {
    let mut data = release_data(conn, release)?;
    data["outcome"] = json!(PushOutcome::Applied);
    outbox.target_events(conn, release, targets, EventType::InstallationUpdated, &data)
}

/// A wave of the release's rollout went out, moving `moved` installations.
pub fn wave_started(
    conn: &mut DbConnection,
    outbox: &mut Outbox,
    release: &Release,
    wave: i64,
    selector: &Selector,
    moved: usize,
) -> AppResult<()> {
    let mut data = release_data(conn, release)?;
    let mut about = json!({"index": wave, "installations_moved": moved});
    match selector {
        Selector::Group(group) => about["account_group_id"] = json!(group),
        Selector::Percent(percent) => about["percent"] = json!(percent),
    }
    data["wave"] = about;
    outbox.release_event(conn, release, EventType::ReleaseWaveStarted, wave, data)
}

/// The rollout halted (with `reason`), resumed or was aborted; each halt and
/// resume is its own fact.
pub fn rollout_event(
    conn: &mut DbConnection,
    outbox: &mut Outbox,
    release: &Release,
    event_type: EventType,
    reason: Option<&str>,
) -> AppResult<()> {
    let revision = store::count_for_release(conn, &release.id, event_type)?;
    let mut data = release_data(conn, release)?;
    if let Some(reason) = reason {
        data["reason"] = json!(reason);
    }
    outbox.release_event(conn, release, event_type, revision, data)
}

/// The rollout was aborted: the installations it had not reached hear that
/// their pending update is gone (`reason` `aborted`).
pub fn unreached_canceled(conn: &mut DbConnection, outbox: &mut Outbox, release: &Release) -> AppResult<usize> {
    let mut data = release_data(conn, release)?;
    data["reason"] = json!("aborted");
    outbox.target_events(conn, release, Targets::Release, EventType::InstallationUpdateCanceled, &data)
}

/// The release was carried out, with how far it reached.
pub fn release_released(
    conn: &mut DbConnection,
    outbox: &mut Outbox,
    release: &Release,
    counts: PushCounts,
    late_by_seconds: Option<i64>,
) -> AppResult<()> {
    let mut data = release_data(conn, release)?;
    data["released_at"] = json!(outbox.at.and_utc());
    data["late"] = json!(late_by_seconds.is_some());
    data["late_by_seconds"] = json!(late_by_seconds);
    data["installations_applied"] = json!(counts.applied);
    data["installations_applied_early"] = json!(counts.applied_early);
    outbox.release_event(conn, release, EventType::ReleaseReleased, 0, data)
}

pub fn release_failed(conn: &mut DbConnection, outbox: &mut Outbox, release: &Release, reason: &str) -> AppResult<()> {
    let mut data = release_data(conn, release)?;
    data["reason"] = json!(reason);
    outbox.release_event(conn, release, EventType::ReleaseFailed, 0, data)
}

/// The subscriber applied the pending update of `release` to one installation early.
pub fn applied_early(
    conn: &mut DbConnection,
    outbox: &mut Outbox,
    release: &Release,
    installation: &installations::Installation,
) -> AppResult<()> {
    let outcome = json!(PushOutcome::AppliedEarly);
    installation_event(conn, outbox, release, installation, EventType::InstallationUpdated, 0, ("outcome", outcome))
}

/// An installation made while `release` is scheduled has it as a pending update from the start.
pub fn installed_with_pending_update(
    conn: &mut DbConnection,
    outbox: &mut Outbox,
    release: &Release,
    installation: &installations::Installation,
) -> AppResult<()> {
    // The revision of the schedule now in force: the one its other installations were told.
    let revision = (next_revision(conn, release)? - 1).max(0);
    let event_type = EventType::InstallationUpdateScheduled;
    installation_event(conn, outbox, release, installation, event_type, revision, ("installed", json!(true)))
}

/// One installation event about `release`, with what the installation runs now.
fn installation_event(
    conn: &mut DbConnection,
    outbox: &mut Outbox,
    release: &Release,
    installation: &installations::Installation,
    event_type: EventType,
    revision: i64,
    (field, value): (&str, Value),
) -> AppResult<()> {
    let ids: Vec<String> = installation.release_id.iter().cloned().collect();
    let previous = releases::items_for(conn, &ids)?.into_values().next().unwrap_or_default();
    let mut data = release_data(conn, release)?;
    data[field] = value;
    data["previous_release_id"] = json!(installation.release_id);
    data["previous_versions"] = versions(&previous);
    let fact = format!("{}/{}/{}/{revision}", event_type.as_str(), release.id, installation.id);
    let subject = (Some(release.id.as_str()), Some(installation.id.as_str()));
    outbox.record(conn, &installation.account_id, event_type, subject, fact, &data)?;
    Ok(())
}

/// Events of these ids, rendered, by id (the bodies of a batch of deliveries).
pub fn rendered(conn: &mut DbConnection, ids: &[String]) -> AppResult<HashMap<String, Value>> {
    Ok(store::find_many(conn, ids)?.iter().map(|event| (event.event.id.clone(), render(event))).collect())
}
