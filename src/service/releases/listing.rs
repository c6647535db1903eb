//! Reading releases: one, a publisher's history, the schedule, and pushes.

use chrono::{DateTime, NaiveDateTime, Utc};

use super::{visible_release, with_items, with_items_all, ReleaseView};
use crate::db::DbConnection;
use crate::domain::release::{PushOutcome, ReleaseStatus};
use crate::error::{AppError, AppResult};
use crate::service::auth::CatalogScope;
use crate::service::Ctx;
use crate::store::installations;
use crate::store::releases::{self as store, Release, ReleaseFilter};
use crate::store::{Page, PageRequest};

pub fn get_release(conn: &mut DbConnection, ctx: &Ctx, id: &str) -> AppResult<ReleaseView> {
    let release = visible_release(conn, ctx, id)?;
    with_items(conn, release)
}

pub struct ListFilter {
    pub pack: Option<String>,
    pub status: Option<ReleaseStatus>,
    pub due_from: Option<DateTime<Utc>>,
    pub due_before: Option<DateTime<Utc>>,
}

/// The caller's releases, newest first.
pub fn list(
    conn: &mut DbConnection,
    ctx: &Ctx,
    filter: ListFilter,
    page: &PageRequest,
) -> AppResult<Page<ReleaseView>> {
    if let Some(pack) = &filter.pack {
        crate::service::packs::catalog_pack(conn, ctx, pack)?;
    }
    let Some(publisher) = ctx.caller.catalog_scope().owner_filter() else {
        return Ok(Page { items: Vec::new(), next_cursor: None });
    };
    let store_filter = ReleaseFilter {
        publisher,
        pack: filter.pack.as_deref(),
        status: filter.status,
        due_from: filter.due_from.map(|at| at.naive_utc()),
        due_before: filter.due_before.map(|at| at.naive_utc()),
    };
    let rows = store::list(conn, &store_filter, page)?;
    with_items_all(conn, Page::from_rows(rows, page, |r| &r.id))
}

/// The position in the schedule after which a page starts.
pub struct ScheduleCursor {
    pub due_at: NaiveDateTime,
    pub id: String,
}

/// The caller's scheduled releases, soonest first.
pub fn upcoming(
    conn: &mut DbConnection,
    ctx: &Ctx,
    after: Option<ScheduleCursor>,
    limit: i64,
) -> AppResult<(Vec<ReleaseView>, Option<ScheduleCursor>)> {
    let Some(publisher) = ctx.caller.catalog_scope().owner_filter() else { return Ok((Vec::new(), None)) };
    let mut rows = store::schedule(conn, publisher, after.map(|c| (c.due_at, c.id)), limit)?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| ScheduleCursor { due_at: r.due_at, id: r.id.clone() })
    } else {
        None
    };
    let page = with_items_all(conn, Page { items: rows, next_cursor: None })?;
    Ok((page.items, next))
}

/// A release's pushes: all of them for its publisher (and the admin); a
/// subscriber whose groups have the pack sees its own.
/// A release whose records (pushes, reports) the caller sees, and whose
/// records only: a subscriber's own (`Some(account)`), or every one.
pub(crate) fn release_for_records<'c>(
    conn: &mut DbConnection,
    ctx: &'c Ctx,
    id: &str,
) -> AppResult<(Release, Option<&'c str>)> {
    let release = store::find(conn, id)?.ok_or(AppError::NotFound)?;
    let account = match ctx.caller.catalog_scope() {
        CatalogScope::Nothing => {
            crate::service::packs::visible_pack(conn, ctx, &release.pack_id)?;
            ctx.caller.account_id()
        }
        _ => {
            crate::service::packs::catalog_pack(conn, ctx, &release.pack_id)?;
            None
        }
    };
    Ok((release, account))
}

pub fn pushes(
    conn: &mut DbConnection,
    ctx: &Ctx,
    id: &str,
    outcome: Option<PushOutcome>,
    page: &PageRequest,
) -> AppResult<Page<installations::Push>> {
    let (release, account) = release_for_records(conn, ctx, id)?;
    let filter = installations::PushFilter { release: &release.id, outcome, account };
    let rows = installations::pushes_of_release(conn, &filter, page)?;
    Ok(Page::from_rows(rows, page, |p| &p.installation_id))
}
