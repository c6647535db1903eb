//! Release dates and their due instants — the one place time zones are handled.
//! A release for date D is due at the first instant of D in the release time
//! zone; the worker carries it out in the window [due, due + 1 h).

use chrono::{DateTime, Days, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::error::FieldError;

pub const DEFAULT_TIME_ZONE: Tz = chrono_tz::America::New_York;
/// How far ahead a release may be scheduled.
pub const MAX_DAYS_AHEAD: u64 = 365;
/// A release carried out after `due_at + WINDOW` is late.
pub const WINDOW: Duration = Duration::hours(1);

/// The first instant of `date` in `zone`. Where midnight is repeated it is the
/// earlier one; where it is skipped, the first local time that exists.
pub fn day_start(date: NaiveDate, zone: Tz) -> DateTime<Utc> {
    let midnight = date.and_time(NaiveTime::MIN);
    if let Some(first) = zone.from_local_datetime(&midnight).earliest() {
        return first.with_timezone(&Utc);
    }
    // Midnight falls in a gap. Offsets change on whole minutes, so the first
    // minute that exists is the start of the day.
    (1..=24 * 60)
        .filter_map(|minute| zone.from_local_datetime(&(midnight + Duration::minutes(minute))).earliest())
        .map(|start| start.with_timezone(&Utc))
        .next()
        // No zone skips a whole day of clock time but the day itself (e.g.
        // Pacific/Apia 2011-12-30); such a date starts where the next one does.
        .unwrap_or_else(|| day_start(date + Days::new(1), zone))
}

/// The calendar date of `now` in `zone`.
pub fn today(now: DateTime<Utc>, zone: Tz) -> NaiveDate {
    now.with_timezone(&zone).date_naive()
}

/// `due_at` rendered with the zone's offset at that instant, such as `2027-03-14T00:00:00-05:00`.
pub fn local_rfc3339(at: DateTime<Utc>, zone: Tz) -> String {
    at.with_timezone(&zone).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// A release date must be after today in the zone (today's window has
/// started) and at most a year ahead.
pub fn check_release_on(
    field: &str,
    date: NaiveDate,
    now: DateTime<Utc>,
    zone: Tz,
) -> Result<DateTime<Utc>, FieldError> {
    let today = today(now, zone);
    if date <= today {
        return Err(FieldError::new(
            field,
            "not_in_future",
            format!("release_on must be after today ({today} in {zone}); release immediately instead"),
        ));
    }
    if today.checked_add_days(Days::new(MAX_DAYS_AHEAD)).is_none_or(|last| date > last) {
        return Err(FieldError::new(
            field,
            "too_far_ahead",
            format!("release_on must be at most {MAX_DAYS_AHEAD} days ahead"),
        ));
    }
    Ok(day_start(date, zone))
}

/// Whether a release carried out at `released_at` missed its window, and by how
/// many seconds after it was due.
pub fn lateness(due_at: DateTime<Utc>, released_at: DateTime<Utc>) -> Option<i64> {
    (released_at >= due_at + WINDOW).then(|| (released_at - due_at).num_seconds())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::{Havana, New_York, Sao_Paulo};

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn midnight_in_new_york_across_the_2026_and_2027_dst_changes() {
        let cases = [
            // 2026-03-08: clocks spring forward at 02:00; midnight is still EST.
            (date(2026, 3, 7), "2026-03-07T05:00:00Z"),
            (date(2026, 3, 8), "2026-03-08T05:00:00Z"),
            (date(2026, 3, 9), "2026-03-09T04:00:00Z"),
            // 2026-11-01: clocks fall back at 02:00; midnight is still EDT.
            (date(2026, 10, 31), "2026-10-31T04:00:00Z"),
            (date(2026, 11, 1), "2026-11-01T04:00:00Z"),
            (date(2026, 11, 2), "2026-11-02T05:00:00Z"),
            (date(2027, 3, 13), "2027-03-13T05:00:00Z"),
            (date(2027, 3, 14), "2027-03-14T05:00:00Z"),
            (date(2027, 3, 15), "2027-03-15T04:00:00Z"),
            (date(2027, 11, 6), "2027-11-06T04:00:00Z"),
            (date(2027, 11, 7), "2027-11-07T04:00:00Z"),
            (date(2027, 11, 8), "2027-11-08T05:00:00Z"),
        ];
        for (day, expected) in cases {
            assert_eq!(day_start(day, New_York), utc(expected), "{day}");
        }
        assert_eq!(local_rfc3339(utc("2027-03-14T05:00:00Z"), New_York), "2027-03-14T00:00:00-05:00");
        assert_eq!(local_rfc3339(utc("2027-03-15T04:00:00Z"), New_York), "2027-03-15T00:00:00-04:00");
    }

    #[test]
    fn a_skipped_midnight_starts_the_day_at_the_first_existing_minute() {
        // Brazil began DST at 00:00 on 2018-11-04: the day started at 01:00 -02:00.
        assert_eq!(day_start(date(2018, 11, 4), Sao_Paulo), utc("2018-11-04T03:00:00Z"));
        assert_eq!(local_rfc3339(day_start(date(2018, 11, 4), Sao_Paulo), Sao_Paulo), "2018-11-04T01:00:00-02:00");
    }

    #[test]
    fn a_repeated_midnight_starts_the_day_at_the_first_one() {
        // Cuba ended DST at 01:00 on 2023-11-05, back to 00:00: midnight came twice.
        assert_eq!(day_start(date(2023, 11, 5), Havana), utc("2023-11-05T04:00:00Z"));
    }

    #[test]
    fn today_turns_over_at_local_midnight() {
        assert_eq!(today(utc("2026-11-26T04:59:59Z"), New_York), date(2026, 11, 25));
        assert_eq!(today(utc("2026-11-26T05:00:00Z"), New_York), date(2026, 11, 26));
    }

    #[test]
    fn release_dates_must_be_after_today_and_within_a_year() {
        let before_midnight = utc("2026-11-26T04:59:59Z"); // 23:59:59 on the 25th in New York
        assert_eq!(
            check_release_on("release_on", date(2026, 11, 25), before_midnight, New_York).unwrap_err().code,
            "not_in_future"
        );
        assert_eq!(
            check_release_on("release_on", date(2026, 11, 26), before_midnight, New_York).unwrap(),
            utc("2026-11-26T05:00:00Z")
        );
        let after_midnight = utc("2026-11-26T05:00:00Z"); // the 26th has begun: its window is open
        assert_eq!(
            check_release_on("release_on", date(2026, 11, 26), after_midnight, New_York).unwrap_err().code,
            "not_in_future"
        );
        assert!(check_release_on("release_on", date(2027, 11, 26), after_midnight, New_York).is_ok());
        assert_eq!(
            check_release_on("release_on", date(2027, 11, 27), after_midnight, New_York).unwrap_err().code,
            "too_far_ahead"
        );
    }

    #[test]
    fn a_release_is_late_only_after_its_window_closes() {
        let due = utc("2026-12-01T05:00:00Z");
        assert_eq!(lateness(due, utc("2026-12-01T05:59:59Z")), None);
        assert_eq!(lateness(due, utc("2026-12-01T06:00:00Z")), Some(3600));
        assert_eq!(lateness(due, utc("2026-12-02T05:00:00Z")), Some(86400));
    }
}
