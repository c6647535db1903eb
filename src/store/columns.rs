//! Domain enums in text columns: written as their word, read back as the
//! enum, and a word the enum does not know fails the read (with what and
//! which word), never turning silently into a default.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;

use crate::domain::account::AccountKind;
use crate::domain::component::ComponentType;
use crate::domain::event::{DeliveryStatus, DisabledReason, EventType};
use crate::domain::pack::{Deployment, InstallationType};
use crate::domain::release::{PushOutcome, ReleaseStatus, Schedule};
use crate::domain::rollout::{Advance, ReportOutcome, WaveStatus};
use crate::domain::StoredWord;

macro_rules! text_columns {
    ($($type:ty),+ $(,)?) => {$(
        impl<DB> FromSql<Text, DB> for $type
        where
            DB: Backend,
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                let raw = String::from_sql(bytes)?;
                <$type as StoredWord>::parse(&raw)
                    .ok_or_else(|| format!("unknown {} {raw:?} in the database", <$type as StoredWord>::WHAT).into())
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
