//! Diesel queries, one module per aggregate. Every function takes
//! `&mut DbConnection`, so the service layer composes them inside one transaction.

pub mod accounts;
mod columns;
pub mod components;
pub mod drafts;
pub mod events;
pub mod groups;
pub mod heartbeats;
pub mod idempotency;
pub mod installations;
pub mod metrics;
pub mod packs;
pub mod releases;
pub mod rollouts;
pub mod tokens;
pub mod versions;
pub mod webhooks;

/// Runs `$body` on the concrete connection inside the multi-connection, for
/// statements its shared backend cannot express (batch inserts, row locks),
/// and for hot reads: on the multi-connection a query rebuilds its SQL text
/// on every pass over it (binding, the statement-cache check); on the inner
/// connection it does not.
macro_rules! on_backend {
    ($conn:expr, |$inner:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Postgresql($inner) => $body,
            $crate::db::DbConnection::Sqlite($inner) => $body,
        }
    };
}
pub(crate) use on_backend;

/// A keyset page request: at most `limit` rows after (or before, for lists
/// sorted newest first) the row whose id is `after`.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub limit: i64,
    pub after: Option<String>,
}

impl PageRequest {
    /// How many rows to fetch: one more than the page, to know whether another follows.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }
}

/// A page of rows and the cursor of the next one, if any.
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Cuts the extra row fetched by `PageRequest::fetch` and derives the cursor from the last kept row.
    pub fn from_rows(mut rows: Vec<T>, request: &PageRequest, key: impl Fn(&T) -> &str) -> Self {
        let limit = usize::try_from(request.limit).unwrap_or(usize::MAX);
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|row| key(row).to_string())
        } else {
            None
        };
        Page { items: rows, next_cursor }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next_cursor: self.next_cursor }
    }
}
