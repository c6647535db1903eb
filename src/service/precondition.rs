//! `If-Match`: a change goes ahead only while the resource is as the client
//! last read it. The comparison runs inside the change's transaction, after the
//! resource's row is locked, so two clients holding the same ETag cannot both win.

use crate::error::{AppError, AppResult};

/// What an `If-Match` header asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// `*`: the resource exists, in any state.
    Any,
    /// Opaque entity tags (quotes removed); weak tags never match, as RFC 9110 requires.
    Tags(Vec<String>),
}

/// A view with an entity tag: the HTTP layer derives it from the representation.
pub trait Tagged {
    fn etag(&self) -> String;
}

impl IfMatch {
    fn matches(&self, etag: &str) -> bool {
        match self {
            IfMatch::Any => true,
            IfMatch::Tags(tags) => tags.iter().any(|tag| tag == etag),
        }
    }
}

/// Refuses the change (412) unless `if_match` accepts the current view; builds
/// the view only when there is a condition to check.
pub fn require<V: Tagged>(if_match: Option<&IfMatch>, current: impl FnOnce() -> AppResult<V>) -> AppResult<()> {
    match if_match {
        None | Some(IfMatch::Any) => Ok(()),
        Some(condition) if condition.matches(&current()?.etag()) => Ok(()),
        Some(_) => Err(AppError::PreconditionFailed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct View(&'static str);

    impl Tagged for View {
        fn etag(&self) -> String {
            self.0.to_string()
        }
    }

    #[test]
    fn a_condition_passes_only_on_a_current_tag() {
        let tags = IfMatch::Tags(vec!["old".into(), "new".into()]);
        assert!(require(Some(&tags), || Ok(View("new"))).is_ok());
        assert!(matches!(require(Some(&tags), || Ok(View("other"))), Err(AppError::PreconditionFailed)));
        assert!(require(Some(&IfMatch::Any), || -> AppResult<View> { unreachable!() }).is_ok());
        assert!(require(None, || -> AppResult<View> { unreachable!() }).is_ok());
    }
}
