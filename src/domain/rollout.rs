//! Staged rollouts: the plan of waves a release may go out in, each account's
//! stable place in them, when waves come due and when a rollout halts.

use chrono::{DateTime, Days, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::schedule;
use crate::error::FieldError;

/// At most this many waves in one rollout.
pub const MAX_WAVES: usize = 20;
/// Buckets run 0..BUCKETS; `percent` N takes those below N × BUCKETS / 100.
pub const BUCKETS: i64 = 10_000;

/// When the waves after the first go out.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, diesel::AsExpression, diesel::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
pub enum Advance {
    /// Each at the local midnight after the day the one before went out.
    Nightly,
    /// Each when the publisher calls `advance`.
    Manual,
}

super::stored_word!(Advance, "rollout advance", [Nightly => "nightly", Manual => "manual"]);

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, diesel::AsExpression, diesel::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
pub enum WaveStatus {
    /// Not gone out yet.
    Pending,
    /// Gone out: its installations were moved.
    Started,
    /// The rollout was aborted before it went out.
    Canceled,
}

super::stored_word!(WaveStatus, "wave status", [Pending => "pending", Started => "started", Canceled => "canceled"]);

/// What a subscriber's runtime says of applying a release to an installation.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, diesel::AsExpression, diesel::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
pub enum ReportOutcome {
    Succeeded,
    Failed,
}

super::stored_word!(ReportOutcome, "report outcome", [Succeeded => "succeeded", Failed => "failed"]);

/// Whom a wave adds: the members of a group, or the accounts whose bucket is
/// below a cumulative share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Group(String),
    Percent(i64),
}

/// One wave as asked for: exactly one of the two makes a valid wave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaveSpec {
    pub account_group_id: Option<String>,
    pub percent: Option<i64>,
}

impl WaveSpec {
    fn selector(&self) -> Option<Selector> {
        match (&self.account_group_id, self.percent) {
            (Some(group), None) => Some(Selector::Group(group.clone())),
            (None, Some(percent)) => Some(Selector::Percent(percent)),
            _ => None,
        }
    }
}

impl From<Selector> for WaveSpec {
    fn from(selector: Selector) -> Self {
        match selector {
            Selector::Group(group) => Self { account_group_id: Some(group), percent: None },
            Selector::Percent(percent) => Self { account_group_id: None, percent: Some(percent) },
        }
    }
}

/// A rollout as asked for, before the groups are checked against the pack.
#[derive(Debug, Clone)]
pub struct Plan {
    pub waves: Vec<WaveSpec>,
    pub advance: Advance,
    pub halt_at_failed_percent: Option<i64>,
}

impl Plan {
    /// Each wave's selector (for a plan that passed `check`).
    pub fn selectors(&self) -> Vec<Selector> {
        self.waves.iter().filter_map(WaveSpec::selector).collect()
    }

    /// The plan's own rules, each error naming its field: 1 to 20 waves,
    /// each with exactly one selector, percentages whole numbers 1–100 that
    /// increase from wave to wave, a last wave of 100 (everyone), a
    /// threshold of 1–100.
    pub fn check(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.waves.is_empty() || self.waves.len() > MAX_WAVES {
            errors.push(FieldError::new(
                "rollout.waves",
                if self.waves.is_empty() { "required" } else { "too_many" },
                format!("a rollout has 1 to {MAX_WAVES} waves"),
            ));
        }
        let mut highest: Option<i64> = None;
        for (i, wave) in self.waves.iter().enumerate() {
            let Some(selector) = wave.selector() else {
                errors.push(FieldError::new(
                    format!("rollout.waves[{i}]"),
                    "one_selector",
                    "a wave has exactly one of account_group_id and percent",
                ));
                continue;
            };
            let Selector::Percent(percent) = selector else { continue };
            let field = format!("rollout.waves[{i}].percent");
            if !(1..=100).contains(&percent) {
                errors.push(FieldError::new(&field, "out_of_range", "percent is a whole number from 1 to 100"));
            } else if highest.is_some_and(|h| percent <= h) {
                errors.push(FieldError::new(
                    &field,
                    "not_increasing",
                    "percentages are cumulative: each must be above the one before",
                ));
            }
            highest = highest.max(Some(percent));
        }
        if !self.waves.is_empty() && self.waves.last().and_then(WaveSpec::selector) != Some(Selector::Percent(100)) {
            errors.push(FieldError::new(
                format!("rollout.waves[{}]", self.waves.len() - 1),
                "must_reach_everyone",
                "the last wave must be {\"percent\": 100}, so the release reaches every subscriber",
            ));
        }
        if self.halt_at_failed_percent.is_some_and(|p| !(1..=100).contains(&p)) {
            errors.push(FieldError::new(
                "rollout.halt_at_failed_percent",
                "out_of_range",
                "halt_at_failed_percent is a whole number from 1 to 100",
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// An account's stable bucket in the pack's rollouts: the first 8 bytes of
/// SHA-256 of `"{pack_id}:{account_id}"`, big-endian, modulo 10,000. Fixed,
/// never seeded per process: the same accounts go first on every release.
pub fn bucket(pack_id: &str, account_id: &str) -> i64 {
    let digest = Sha256::digest(format!("{pack_id}:{account_id}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) % BUCKETS as u64) as i64
}

/// Who waves 1..=`wave` reach together: each wave holds the ones before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cohort {
    /// Members of these groups.
    pub groups: Vec<String>,
    /// Accounts whose bucket is below this; `None`: every subscribed account.
    pub below: Option<i64>,
}

impl Cohort {
    /// The cohort of the first `wave` waves (1-based) of `selectors`.
    pub fn of(selectors: &[Selector], wave: usize) -> Self {
        let mut cohort = Cohort { groups: Vec::new(), below: Some(0) };
        for selector in selectors.iter().take(wave) {
            match selector {
                Selector::Group(group) => cohort.groups.push(group.clone()),
                Selector::Percent(100) => cohort.below = None,
                Selector::Percent(percent) => {
                    cohort.below = cohort.below.map(|below| below.max(percent * BUCKETS / 100));
                }
            }
        }
        cohort
    }

    pub fn holds(&self, groups_of_account: &[String], bucket: i64) -> bool {
        self.below.is_none_or(|below| bucket < below) || groups_of_account.iter().any(|g| self.groups.contains(g))
    }
}

/// When the wave after one that went out at `started` is due on a nightly
/// rollout: the local midnight after that calendar day (so a wave caught up
/// late after downtime is followed one night later, never at once).
pub fn next_night(started: DateTime<Utc>, zone: Tz) -> DateTime<Utc> {
    let today = schedule::today(started, zone);
    schedule::day_start(today.checked_add_days(Days::new(1)).unwrap_or(today), zone)
}

/// The local midnight `nights` nights after the one at `due`.
pub fn nights_after(due: DateTime<Utc>, nights: u64, zone: Tz) -> DateTime<Utc> {
    let day = schedule::today(due, zone);
    schedule::day_start(day.checked_add_days(Days::new(nights)).unwrap_or(day), zone)
}

/// Whether `failed` of the `moved` installations of the current wave reach
/// the threshold (a percent of `moved`).
pub fn unhealthy(failed: i64, moved: i64, threshold: Option<i64>) -> bool {
    match threshold {
        Some(percent) => moved > 0 && failed > 0 && failed * 100 >= percent * moved,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::New_York;

    fn plan(waves: Vec<Selector>) -> Plan {
        Plan {
            waves: waves.into_iter().map(WaveSpec::from).collect(),
            advance: Advance::Nightly,
            halt_at_failed_percent: Some(5),
        }
    }

    fn codes(plan: &Plan) -> Vec<(String, String)> {
        plan.check().err().unwrap_or_default().into_iter().map(|e| (e.field, e.code)).collect()
    }

    #[test]
    fn buckets_are_pinned_for_known_ids() {
        // Computed independently (Python hashlib). A change of hash, or of its
        // input, moves every account to another
        // wave: these values must never change.
        let pack = "0190f5a2-7c3e-7d41-9a6e-2b8f1c0d4e5a";
        assert_eq!(bucket(pack, "0190f5a2-8000-7000-8000-000000000001"), 6518);
        assert_eq!(bucket(pack, "0190f5a2-8000-7000-8000-000000000002"), 1799);
        assert_eq!(bucket("p", "a"), 6792);
        assert_eq!(bucket(pack, "0190f5a2-8000-7000-8000-000000000001"), 6518, "stable across calls");
    }

    #[test]
    fn buckets_spread_evenly() {
        let below_1000 = (0..10_000).filter(|i| bucket("pack", &format!("account-{i}")) < 1000).count();
        assert!((850..1150).contains(&below_1000), "about 10% below 1000, got {below_1000}");
    }

    #[test]
    fn a_plan_needs_increasing_percentages_that_end_at_100() {
        let good = plan(vec![Selector::Group("g".into()), Selector::Percent(10), Selector::Percent(100)]);
        assert!(good.check().is_ok());
        assert_eq!(
            codes(&plan(vec![Selector::Percent(50), Selector::Percent(50), Selector::Percent(100)])),
            [("rollout.waves[1].percent".into(), "not_increasing".into())]
        );
        assert_eq!(
            codes(&plan(vec![Selector::Percent(10), Selector::Percent(50)])),
            [("rollout.waves[1]".into(), "must_reach_everyone".into())]
        );
        assert_eq!(
            codes(&plan(vec![Selector::Percent(0), Selector::Percent(101)])),
            [
                ("rollout.waves[0].percent".into(), "out_of_range".into()),
                ("rollout.waves[1].percent".into(), "out_of_range".into()),
                ("rollout.waves[1]".into(), "must_reach_everyone".into()),
            ]
        );
        assert_eq!(codes(&plan(vec![])), [("rollout.waves".into(), "required".into())]);
        let mut too_many: Vec<Selector> = (1..=20).map(Selector::Percent).collect();
        too_many.push(Selector::Percent(100));
        assert_eq!(codes(&plan(too_many)), [("rollout.waves".into(), "too_many".into())]);
        let mut neither = good.clone();
        neither.waves[0] = WaveSpec { account_group_id: None, percent: None };
        assert_eq!(codes(&neither), [("rollout.waves[0]".into(), "one_selector".into())]);
        let mut threshold = good.clone();
        threshold.halt_at_failed_percent = Some(0);
        assert_eq!(codes(&threshold), [("rollout.halt_at_failed_percent".into(), "out_of_range".into())]);
    }

    #[test]
    fn each_cohort_holds_the_ones_before_it() {
        let waves =
            [Selector::Group("canary".into()), Selector::Percent(10), Selector::Percent(50), Selector::Percent(100)];
        assert_eq!(Cohort::of(&waves, 1), Cohort { groups: vec!["canary".into()], below: Some(0) });
        assert_eq!(Cohort::of(&waves, 2), Cohort { groups: vec!["canary".into()], below: Some(1000) });
        assert_eq!(Cohort::of(&waves, 3).below, Some(5000));
        assert_eq!(Cohort::of(&waves, 4).below, None);
        let canary = ["canary".to_string()];
        assert!(Cohort::of(&waves, 1).holds(&canary, 9999));
        assert!(!Cohort::of(&waves, 1).holds(&[], 0));
        assert!(Cohort::of(&waves, 2).holds(&[], 999) && !Cohort::of(&waves, 2).holds(&[], 1000));
        assert!(Cohort::of(&waves, 4).holds(&[], 9999));
    }

    #[test]
    fn nightly_waves_follow_one_local_midnight_apart() {
        let utc = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        // Out at 00:00:05 on 2026-12-03 in New York: the next at 2026-12-04 00:00.
        assert_eq!(next_night(utc("2026-12-03T05:00:05Z"), New_York), utc("2026-12-04T05:00:00Z"));
        // Caught up late, at 23:00 the same day: still one night later.
        assert_eq!(next_night(utc("2026-12-04T04:00:00Z"), New_York), utc("2026-12-04T05:00:00Z"));
        // Across the spring-forward change.
        assert_eq!(next_night(utc("2027-03-14T05:00:00Z"), New_York), utc("2027-03-15T04:00:00Z"));
        assert_eq!(nights_after(utc("2027-03-13T05:00:00Z"), 2, New_York), utc("2027-03-15T04:00:00Z"));
    }

    #[test]
    fn a_wave_is_unhealthy_when_failures_reach_the_threshold() {
        assert!(!unhealthy(0, 100, Some(5)));
        assert!(!unhealthy(4, 100, Some(5)));
        assert!(unhealthy(5, 100, Some(5)));
        assert!(unhealthy(1, 1, Some(100)));
        assert!(!unhealthy(1, 0, Some(5)), "a wave that moved nobody cannot fail");
        assert!(!unhealthy(100, 100, None), "no threshold: it never halts by itself");
    }
}
