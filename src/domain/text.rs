//! Checks shared by every free-text field.

use crate::error::FieldError;

/// A display name: trimmed, 1–`max` characters, no control characters.
pub fn parse_name(field: &str, raw: &str, max: usize) -> Result<String, FieldError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(FieldError::new(field, "required", format!("{field} must not be blank")));
    }
    check_search_text(field, name, max)?;
    Ok(name.to_string())
}

/// Text compared with names: at most `max` characters, no control characters.
pub fn check_search_text(field: &str, text: &str, max: usize) -> Result<(), FieldError> {
    limit_length(field, text, max)?;
    if text.chars().any(char::is_control) {
        return Err(FieldError::new(field, "invalid_format", format!("{field} must not contain control characters")));
    }
    Ok(())
}

/// At most `max` characters (Unicode scalar values, as a user counts them).
pub fn limit_length(field: &str, text: &str, max: usize) -> Result<(), FieldError> {
    if text.chars().count() > max {
        return Err(FieldError::new(field, "too_long", format!("{field} must be at most {max} characters")));
    }
    Ok(())
}

/// Collects field errors so a request learns about all of them at once.
#[derive(Default)]
pub struct Checks(Vec<FieldError>);

impl Checks {
    pub fn check<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        result.map_err(|e| self.0.push(e)).ok()
    }

    pub fn finish(self) -> Result<(), crate::error::AppError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(crate::error::AppError::Validation(self.0))
        }
    }
}

/// Lower-case hexadecimal, as tokens, fingerprints and entity tags are written.
pub fn hex(bytes: &[u8]) -> String {
    let mut hex = vec![0; bytes.len() * 2];
    hex_into(bytes, &mut hex);
    String::from_utf8(hex).unwrap_or_default()
}

/// Writes `bytes` in lowercase hex into `out`, which holds twice as many.
pub fn hex_into(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (b, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair.copy_from_slice(&[DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]]);
    }
}

/// How many digits of a second's fraction an RFC 3339 time shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fraction {
    /// Always six (log lines).
    Micros,
    /// As few of 0, 3, 6 or 9 as show it exactly: chrono's `SecondsFormat::AutoSi`,
    /// which is how chrono serializes a `DateTime<Utc>`.
    Auto,
}

/// `at` (UTC) as RFC 3339 with a `Z`, such as `2026-12-03T08:43:21.622290Z`,
/// without the formatting machinery (a few hundred instructions, against
/// thousands through chrono's `Display`); `None` for what it does not
/// write (a year outside 0–9999, a leap second), which chrono then writes.
pub fn rfc3339_utc(at: &chrono::NaiveDateTime, fraction: Fraction) -> Option<RfcTime> {
    use chrono::{Datelike, Timelike};
    let (year, nanos) = (at.year(), at.nanosecond());
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return None;
    }
    let mut out = RfcTime { bytes: [0; 30], len: 0 };
    let mut put = |mut value: u32, digits: usize, after: u8| {
        for place in out.bytes[out.len..out.len + digits].iter_mut().rev() {
            *place = b'0' + (value % 10) as u8;
            value /= 10;
        }
        out.len += digits;
        out.bytes[out.len] = after;
        out.len += 1;
    };
    put(year as u32, 4, b'-');
    put(at.month(), 2, b'-');
    put(at.day(), 2, b'T');
    put(at.hour(), 2, b':');
    put(at.minute(), 2, b':');
    let (shown, digits) = match fraction {
        Fraction::Micros => (nanos / 1_000, 6),
        Fraction::Auto if nanos == 0 => (0, 0),
        Fraction::Auto if nanos % 1_000_000 == 0 => (nanos / 1_000_000, 3),
        Fraction::Auto if nanos % 1_000 == 0 => (nanos / 1_000, 6),
        Fraction::Auto => (nanos, 9),
    };
    if digits == 0 {
        put(at.second(), 2, b'Z');
    } else {
        put(at.second(), 2, b'.');
        put(shown, digits, b'Z');
    }
    Some(out)
}

/// A time written by [`rfc3339_utc`].
pub struct RfcTime {
    bytes: [u8; 30],
    len: usize,
}

impl RfcTime {
    pub fn as_str(&self) -> &str {
        // Only ASCII digits and separators were written.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_read_as_chrono_writes_them() {
        use chrono::{NaiveDate, SecondsFormat};
        let day = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        for nanos in [0, 5_000_000, 622_290_000, 622_290_123, 1_000, 999_999_999] {
            let at = day.and_hms_nano_opt(8, 3, 9, nanos).unwrap();
            let chrono = at.and_utc().to_rfc3339_opts(SecondsFormat::AutoSi, true);
            assert_eq!(rfc3339_utc(&at, Fraction::Auto).unwrap().as_str(), chrono);
            assert_eq!(serde_json::to_string(&at.and_utc()).unwrap(), format!("\"{chrono}\""));
            let micros = at.and_utc().to_rfc3339_opts(SecondsFormat::Micros, true);
            assert_eq!(rfc3339_utc(&at, Fraction::Micros).unwrap().as_str(), micros);
        }
        let early = NaiveDate::from_ymd_opt(7, 1, 2).unwrap().and_hms_opt(0, 0, 0).unwrap();
        assert_eq!(rfc3339_utc(&early, Fraction::Auto).unwrap().as_str(), "0007-01-02T00:00:00Z");
        let leap = day.and_hms_nano_opt(23, 59, 59, 1_500_000_000).unwrap();
        assert!(rfc3339_utc(&leap, Fraction::Auto).is_none());
        let far = NaiveDate::from_ymd_opt(10_000, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
        assert!(rfc3339_utc(&far, Fraction::Auto).is_none());
    }

    #[test]
    fn hex_is_two_lower_case_digits_a_byte() {
        assert_eq!(hex(&[]), "");
        assert_eq!(hex(&[0x00, 0x09, 0x9f, 0xa0, 0xff]), "00099fa0ff");
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(parse_name("name", "  Orders  ", 10).unwrap(), "Orders");
        assert_eq!(parse_name("name", "   ", 10).unwrap_err().code, "required");
        assert_eq!(parse_name("name", "x".repeat(11).as_str(), 10).unwrap_err().code, "too_long");
        assert_eq!(parse_name("name", "a\u{0}b", 10).unwrap_err().code, "invalid_format");
        assert!(parse_name("name", &"é".repeat(10), 10).is_ok());
    }
}
