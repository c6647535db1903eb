//! Times in answers: RFC 3339 in UTC with a `Z` and as many digits of the
//! second's fraction as it takes (0, 3, 6 or 9), exactly as chrono
//! serializes a `DateTime<Utc>`, but written without the formatting
//! machinery, which took 2.5k instructions a time: a pack's GET shows two,
//! a page of 50 releases over a hundred. Fields opt in with
//! `#[serde(serialize_with = "utc")]` (or `utc_opt`); the contract is the
//! same (`format: date-time`), as utoipa reads the field's type.

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};

use crate::domain::text::{self, Fraction};

pub fn utc<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    match text::rfc3339_utc(&at.naive_utc(), Fraction::Auto) {
        Some(written) => serializer.serialize_str(written.as_str()),
        None => at.serialize(serializer),
    }
}

pub fn utc_opt<S: Serializer>(at: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => utc(at, serializer),
        None => serializer.serialize_none(),
    }
}
