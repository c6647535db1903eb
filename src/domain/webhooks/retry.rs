//! When a failed delivery is tried again: the schedule of delays, the jitter
//! that keeps a burst of failures from retrying in lockstep, and the
//! receiver's own `Retry-After`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};

/// The longest wait a receiver's `Retry-After` can ask for: the longest step of
/// the default schedule, so one answer cannot park a delivery for months.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The delays between attempts: after the Nth failed attempt, the Nth delay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(Vec<Duration>);

impl Default for RetrySchedule {
    /// The Standard Webhooks schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
    /// 14 h, 20 h, 24 h (about 3 days and 4 hours from first to last).
    fn default() -> Self {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        let hours = |h: u64| Duration::from_secs(h * 3600);
        Self(vec![
            Duration::from_secs(5),
            minutes(5),
            minutes(30),
            hours(2),
            hours(5),
            hours(10),
            hours(14),
            hours(20),
            hours(24),
        ])
    }
}

impl RetrySchedule {
    /// The delay before the next attempt once `failed_attempts` (counted from
    /// 1) have failed; `None` when the schedule is spent and the delivery fails.
    pub fn delay_after(&self, failed_attempts: usize) -> Option<Duration> {
        self.0.get(failed_attempts.checked_sub(1)?).copied()
    }

    /// How many retries follow the first attempt.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never true for a parsed or default schedule; here for clippy's sake.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn delays(&self) -> &[Duration] {
        &self.0
    }
}

impl FromStr for RetrySchedule {
    type Err = String;

    /// Comma-separated delays such as `5s,5m,30m,2h`: a whole number and one
    /// of the units `ms`, `s`, `m`, `h`, `d`.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        if raw.trim().is_empty() {
            return Err("a retry schedule needs at least one delay, e.g. 5s,5m,30m".into());
        }
        raw.split(',').map(|item| parse_delay(item.trim())).collect::<Result<Vec<_>, _>>().map(Self)
    }
}

impl fmt::Display for RetrySchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: Vec<String> = self.0.iter().map(|delay| format_delay(*delay)).collect();
        f.write_str(&items.join(","))
    }
}

fn parse_delay(item: &str) -> Result<Duration, String> {
    let digits_end = item.find(|c: char| !c.is_ascii_digit()).unwrap_or(item.len());
    let (number, unit) = item.split_at(digits_end);
    if item.is_empty() {
        return Err("empty delay in the retry schedule (two commas in a row?)".into());
    }
    if number.is_empty() {
        return Err(format!("retry delay `{item}` must start with a whole number, e.g. 30s"));
    }
    let millis_per_unit: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "" => return Err(format!("retry delay `{item}` needs a unit: ms, s, m, h or d")),
        other => return Err(format!("retry delay `{item}` has unknown unit `{other}`; use ms, s, m, h or d")),
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(millis_per_unit))
        .map(Duration::from_millis)
        .ok_or_else(|| format!("retry delay `{item}` is too large"))
}

fn format_delay(delay: Duration) -> String {
    let millis = delay.as_millis();
    [(86_400_000, "d"), (3_600_000, "h"), (60_000, "m"), (1_000, "s")]
        .into_iter()
        .find(|(per_unit, _)| millis > 0 && millis.is_multiple_of(*per_unit))
        .map(|(per_unit, unit)| format!("{}{unit}", millis / per_unit))
        .unwrap_or_else(|| format!("{millis}ms"))
}

/// `delay` scaled by a factor in `[1 - fraction, 1 + fraction)`, chosen by
/// `unit_random` in `[0, 1)`. Out-of-range inputs are clamped, never a panic.
pub fn jittered(delay: Duration, fraction: f64, unit_random: f64) -> Duration {
    let fraction = if fraction.is_finite() { fraction.clamp(0.0, 1.0) } else { 0.0 };
    let unit_random = if unit_random.is_finite() { unit_random.clamp(0.0, 1.0) } else { 0.5 };
    let factor = 1.0 + fraction * (2.0 * unit_random - 1.0);
    Duration::try_from_secs_f64(delay.as_secs_f64() * factor).unwrap_or(delay)
}

/// A random number in `[0, 1)` for `jittered`.
pub fn random_unit() -> f64 {
    // Jitter only spreads load: if randomness is unavailable, no jitter is fine.
    match getrandom::u64() {
        Ok(bits) => (bits >> 11) as f64 / (1u64 << 53) as f64,
        Err(_) => 0.5,
    }
}

/// A `Retry-After` value (delta-seconds or an HTTP-date) as a wait from `now`,
/// at most `MAX_RETRY_AFTER`; a date in the past or a negative number is no
/// wait. `None` when the value is neither form.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Some(seconds) = parse_delta_seconds(value) {
        return Some(seconds.min(MAX_RETRY_AFTER));
    }
    let wait = parse_http_date(value)?.signed_duration_since(now);
    Some(wait.to_std().unwrap_or(Duration::ZERO).min(MAX_RETRY_AFTER))
}

fn parse_delta_seconds(value: &str) -> Option<Duration> {
    let (negative, digits) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if negative {
        return Some(Duration::ZERO);
    }
    // More digits than a u64 holds is still "a very long time".
    Some(digits.parse::<u64>().map(Duration::from_secs).unwrap_or(Duration::MAX))
}

/// The three date forms HTTP recipients must accept (RFC 9110 §5.6.7).
fn parse_http_date(value: &str) -> Option<DateTime<Utc>> {
    if let Ok(date) = DateTime::parse_from_rfc2822(value) {
        return Some(date.with_timezone(&Utc));
    }
    ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(value, format).ok())
        .map(|naive| naive.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn the_default_schedule_is_the_specs() {
        let schedule = RetrySchedule::default();
        assert_eq!(schedule.len(), 9);
        assert_eq!(schedule.to_string(), "5s,5m,30m,2h,5h,10h,14h,20h,1d");
        assert_eq!(schedule.delay_after(1), Some(secs(5)));
        assert_eq!(schedule.delay_after(2), Some(secs(300)));
        assert_eq!(schedule.delay_after(9), Some(secs(24 * 3600)));
        assert_eq!(schedule.delay_after(10), None, "after the 10th failed attempt the delivery fails");
        assert_eq!(schedule.delay_after(0), None);
    }

    #[test]
    fn schedules_parse_from_comma_separated_delays() {
        let schedule: RetrySchedule = "1s, 1s,2s".parse().unwrap();
        assert_eq!(schedule.delays(), &[secs(1), secs(1), secs(2)]);
        let schedule: RetrySchedule = "250ms,5s,5m,30m,2h,1d".parse().unwrap();
        assert_eq!(
            schedule.delays(),
            &[Duration::from_millis(250), secs(5), secs(300), secs(1800), secs(7200), secs(86400)]
        );
        assert_eq!(schedule.to_string(), "250ms,5s,5m,30m,2h,1d");
        assert_eq!("0s".parse::<RetrySchedule>().unwrap().delay_after(1), Some(Duration::ZERO));
    }

    #[test]
    fn malformed_schedules_are_refused_with_a_reason() {
        for (raw, expected) in [
            ("", "at least one delay"),
            ("  ", "at least one delay"),
            ("5s,,5m", "empty delay"),
            ("5s,", "empty delay"),
            ("5", "needs a unit"),
            ("5w", "unknown unit `w`"),
            ("5 s", "unknown unit ` s`"),
            ("s", "whole number"),
            ("-5s", "whole number"),
            ("1.5s", "unknown unit `.5s`"),
            ("99999999999999999999d", "too large"),
        ] {
            let error = raw.parse::<RetrySchedule>().unwrap_err();
            assert!(error.contains(expected), "{raw:?}: {error}");
        }
    }

    #[test]
    fn jitter_stays_within_the_fraction() {
        let delay = secs(100);
        assert_eq!(jittered(delay, 0.1, 0.0), secs(90));
        assert_eq!(jittered(delay, 0.1, 0.5), delay);
        assert!(jittered(delay, 0.1, 0.999_999) < secs(110));
        assert!(jittered(delay, 0.1, 0.999_999) > Duration::from_secs_f64(109.99));
        assert_eq!(jittered(delay, 0.0, 0.9), delay, "no jitter under a test clock");
        for _ in 0..1000 {
            let jittered = jittered(delay, 0.1, random_unit());
            assert!(jittered >= secs(90) && jittered < secs(110), "{jittered:?}");
        }
    }

    #[test]
    fn jitter_clamps_nonsense_inputs() {
        let delay = secs(10);
        assert_eq!(jittered(delay, f64::NAN, 0.0), delay);
        assert_eq!(jittered(delay, 5.0, 0.0), Duration::ZERO);
        assert_eq!(jittered(delay, 0.1, f64::INFINITY), delay);
        assert_eq!(jittered(delay, 0.1, -3.0), secs(9));
        assert_eq!(jittered(Duration::MAX, 1.0, 0.99), Duration::MAX);
    }

    #[test]
    fn random_units_are_in_the_unit_interval() {
        let draws: Vec<f64> = (0..1000).map(|_| random_unit()).collect();
        assert!(draws.iter().all(|u| (0.0..1.0).contains(u)));
        assert!(draws.iter().any(|u| *u != draws[0]));
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        assert_eq!(parse_retry_after("7", now), Some(secs(7)));
        assert_eq!(parse_retry_after(" 120 ", now), Some(secs(120)));
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Sun, 01 Mar 2026 12:01:30 GMT", now), Some(secs(90)));
        assert_eq!(parse_retry_after("Sunday, 01-Mar-26 12:00:10 GMT", now), Some(secs(10)));
        assert_eq!(parse_retry_after("Sun Mar  1 12:00:05 2026", now), Some(secs(5)));
    }

    #[test]
    fn retry_after_is_capped_and_never_negative() {
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        assert_eq!(parse_retry_after("86401", now), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("999999999999999999999999", now), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("Tue, 10 Mar 2026 12:00:00 GMT", now), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("-5", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", now), Some(Duration::ZERO));
    }

    #[test]
    fn unreadable_retry_after_is_ignored() {
        let now = Utc::now();
        for raw in ["", "soon", "1.5", "5s", "-", "Sun, 99 Mar 2026 12:00:00 GMT"] {
            assert_eq!(parse_retry_after(raw, now), None, "{raw:?}");
        }
    }
}
