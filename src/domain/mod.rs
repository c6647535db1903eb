//! Plain types and rules with no I/O: what makes a name, a version string or a
//! pack valid, and which components a pack may hold. Unit-tested here.

pub mod account;
pub mod component;
pub mod event;
pub mod pack;
pub mod release;
pub mod rollout;
pub mod schedule;
pub mod text;
pub mod webhooks;

/// An enum stored as one of its words in a text column (`store::columns`
/// reads and writes it): a word the enum does not know is an error, never a
/// silent default.
pub trait StoredWord: Sized + Copy + 'static {
    /// What the word names, for the error about an unknown one.
    const WHAT: &'static str;
    const ALL: &'static [Self];

    fn as_str(self) -> &'static str;

    fn parse(raw: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|value| value.as_str() == raw)
    }
}

/// The derives and `StoredWord` impl of an enum stored as a word.
macro_rules! stored_word {
    ($type:ty, $what:literal, [$($variant:ident => $word:literal),+ $(,)?]) => {
        impl $type {
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $word,)+
                }
            }
        }

        impl $crate::domain::StoredWord for $type {
            const WHAT: &'static str = $what;
            const ALL: &'static [Self] = &[$(Self::$variant),+];

            fn as_str(self) -> &'static str {
                <$type>::as_str(self)
            }
        }
    };
}
pub(crate) use stored_word;
