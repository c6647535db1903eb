//! Columns read and written through types of our own. Domain enums in text
//! columns: written as their word, read back as the enum, and a word the enum
//! does not know fails the read (with what and which word), never turning
//! silently into a default. Timestamps read back fast (`Stamp`).

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::pg::Pg;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::{Text, Timestamp};
use diesel::sqlite::Sqlite;

use crate::db::MultiBackend;

use crate::domain::account::AccountKind;
use crate::domain::component::ComponentType;
use crate::domain::event::{DeliveryStatus, DisabledReason, EventType};
use crate::domain::pack::{Deployment, InstallationType};
use crate::domain::release::{PushOutcome, ReleaseStatus, Schedule};
use crate::domain::rollout::{Advance, ReportOutcome, WaveStatus};
use crate::domain::StoredWord;

macro_rules! text_columns {
    ($($type:ty),+ $(,)?) => {$(
        // Read in place, not copied into a String first.
        impl FromSql<Text, Sqlite> for $type {
            fn from_sql(mut value: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                word(value.read_text())
            }
        }

        impl FromSql<Text, Pg> for $type {
            fn from_sql(value: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                word(std::str::from_utf8(value.as_bytes())?)
            }
        }

        impl FromSql<Text, MultiBackend> for $type {
            fn from_sql(value: <MultiBackend as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                value.from_sql::<Self, Text>()
            }
        }

        impl<DB> ToSql<Text, DB> for $type
        where
            DB: Backend,
            str: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                <str as ToSql<Text, DB>>::to_sql(<$type>::as_str(*self), out)
            }
        }
    )+};
}

text_columns!(
    AccountKind,
    Advance,
    ReportOutcome,
    WaveStatus,
    ComponentType,
    DeliveryStatus,
    Deployment,
    DisabledReason,
    EventType,
    InstallationType,
    PushOutcome,
    ReleaseStatus,
    Schedule
);

/// The enum of a stored word; a word it does not know fails the read.
fn word<T: StoredWord>(raw: &str) -> deserialize::Result<T> {
    T::parse(raw).ok_or_else(|| format!("unknown {} {raw:?} in the database", T::WHAT).into())
}

/// A non-null `Timestamp` column as read back, through
/// `#[diesel(deserialize_as = Stamp)]` on a `NaiveDateTime` field.
///
/// SQLite keeps a timestamp as text, and diesel reads it by trying up to 18
/// formats through chrono's general parser, about 2,500 instructions each; an
/// authenticated GET of a pack reads three. The form this service writes (diesel's
/// own `%F %T%.f`: `2026-12-02 16:25:48.123456`) is read here directly, and
/// anything else still goes through diesel's reading. PostgreSQL sends a
/// timestamp in binary, so diesel's reading is kept there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, diesel::deserialize::FromSqlRow)]
pub struct Stamp(NaiveDateTime);

impl From<Stamp> for NaiveDateTime {
    fn from(stamp: Stamp) -> Self {
        stamp.0
    }
}

impl FromSql<Timestamp, Sqlite> for Stamp {
    fn from_sql(mut value: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        match parse_written(value.read_text()) {
            Some(at) => Ok(Self(at)),
            None => <NaiveDateTime as FromSql<Timestamp, Sqlite>>::from_sql(value).map(Self),
        }
    }
}

impl FromSql<Timestamp, Pg> for Stamp {
    fn from_sql(value: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        <NaiveDateTime as FromSql<Timestamp, Pg>>::from_sql(value).map(Self)
    }
}

impl FromSql<Timestamp, MultiBackend> for Stamp {
    fn from_sql(value: <MultiBackend as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        value.from_sql::<Self, Timestamp>()
    }
}

/// `YYYY-MM-DD HH:MM:SS`, then nothing or `.` and 1 to 9 digits of the
/// second: the form diesel writes a `NaiveDateTime` in on SQLite. `None` for
/// anything else, including dates and times that do not exist.
fn parse_written(text: &str) -> Option<NaiveDateTime> {
    let bytes = text.as_bytes();
    let number =
        |digits: &[u8]| digits.iter().try_fold(0u32, |n, &c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')));
    let (head, fraction) = bytes.split_at_checked(19)?;
    let [y0, y1, y2, y3, b'-', mo0, mo1, b'-', d0, d1, b' ', h0, h1, b':', mi0, mi1, b':', s0, s1] = *head else {
        return None;
    };
    let nanos = match fraction {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => number(digits)? * 10u32.pow(9 - digits.len() as u32),
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(
        i32::try_from(number(&[y0, y1, y2, y3])?).ok()?,
        number(&[mo0, mo1])?,
        number(&[d0, d1])?,
    )?;
    let time = NaiveTime::from_hms_nano_opt(number(&[h0, h1])?, number(&[mi0, mi1])?, number(&[s0, s1])?, nanos)?;
    Some(date.and_time(time))
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, NaiveDateTime, Timelike};

    use super::parse_written;

    #[test]
    fn stored_words_read_back_as_their_enum_and_an_unknown_word_fails_the_read() {
        use diesel::prelude::*;
        use diesel::sql_types::Text;

        use crate::db::DbConnection;
        use crate::domain::pack::InstallationType;

        let sqlite = diesel::sqlite::SqliteConnection::establish(":memory:").unwrap();
        let mut conn = DbConnection::Sqlite(sqlite);
        let read = |conn: &mut DbConnection, word: &str| {
            diesel::select(word.into_sql::<Text>()).get_result::<InstallationType>(conn)
        };
        assert_eq!(read(&mut conn, "multiple").unwrap(), InstallationType::Multiple);
        let DbConnection::Sqlite(inner) = &mut conn else { unreachable!() };
        let single = diesel::select("single".into_sql::<Text>()).get_result::<InstallationType>(inner);
        assert_eq!(single.unwrap(), InstallationType::Single);
        let error = format!("{:?}", read(&mut conn, "several").unwrap_err());
        assert!(error.contains("unknown installation type") && error.contains("several"), "{error}");
    }

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%F %T%.f").unwrap()
    }

    #[test]
    fn reads_what_diesel_writes() {
        let written = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap().and_hms_nano_opt(16, 25, 48, 123_456_789).unwrap();
        for stamp in [
            written,
            written.with_nanosecond(123_456_000).unwrap(),
            written.with_nanosecond(0).unwrap(),
            written.with_nanosecond(5).unwrap(),
        ] {
            // diesel's `ToSql<Timestamp, Sqlite>` format.
            let text = stamp.format("%F %T%.f").to_string();
            assert_eq!(parse_written(&text), Some(stamp), "{text}");
        }
        assert_eq!(parse_written("2026-12-02 16:25:48.1"), Some(at("2026-12-02 16:25:48.100")));
        assert_eq!(parse_written("0001-01-01 00:00:00"), Some(at("0001-01-01 00:00:00")));
    }

    #[test]
    fn leaves_every_other_form_to_diesel() {
        for text in [
            "",
            "2026-12-02",
            "2026-12-02T16:25:48",
            "2026-12-02 16:25:48Z",
            "2026-12-02 16:25:48.",
            "2026-12-02 16:25:48.1234567890",
            "2026-12-02 16:25:48 +01:00",
            "2026-13-02 16:25:48",
            "2026-02-30 16:25:48",
            "2026-12-02 24:00:00",
            "2026-12-02 16:25:60",
            "2026-12-02 16:25:4x",
            "+026-12-02 16:25:48",
            "2460646.5",
        ] {
            assert_eq!(parse_written(text), None, "{text}");
        }
    }
}
