//! Release wizard step 1: a draft that preselects each member's latest
//! version, lets the publisher pick others (a rollback is an older pick), and
//! is released by `service::releases::release_draft`.

use std::collections::HashMap;

use super::packs::owned_pack;
use super::precondition::{self, IfMatch};
use super::{new_id, Ctx};
use crate::db::DbConnection;
use crate::domain::component::ComponentType;
use crate::domain::pack::Deployment;
use crate::domain::release::Change;
use crate::error::{AppError, AppResult, FieldError};
use crate::store::drafts::{self as store, Draft, DraftItem};
use crate::store::packs::{self, Pack, PackComponent};
use crate::store::versions;

#[derive(Clone)]
pub struct DraftItemView {
    pub component_id: String,
    pub name: String,
    pub component_type: ComponentType,
    pub released_version_id: Option<String>,
    pub released_version: Option<String>,
    pub pending_version_id: Option<String>,
    pub pending_version: Option<String>,
    pub latest_version: Option<String>,
    pub change: Change,
}

#[derive(Clone)]
pub struct DraftView {
    pub draft: Draft,
    /// The pack was released or its membership changed since the draft was made.
    pub stale: bool,
    pub items: Vec<DraftItemView>,
}

impl DraftView {
    pub fn has_changes(&self) -> bool {
        self.items.iter().any(|item| item.change.is_change())
    }
}

/// The draft and its pack, if the caller sees the pack (404 otherwise).
fn visible_draft(conn: &mut DbConnection, ctx: &Ctx, id: &str) -> AppResult<(Draft, Pack)> {
    let draft = store::find(conn, id)?.ok_or(AppError::NotFound)?;
    let pack = super::packs::catalog_pack(conn, ctx, &draft.pack_id)?;
    Ok((draft, pack))
}

/// The draft and its pack, if the caller publishes the pack (404 / 403 otherwise).
pub(crate) fn owned_draft(conn: &mut DbConnection, ctx: &Ctx, id: &str) -> AppResult<(Draft, Pack)> {
    let found = visible_draft(conn, ctx, id)?;
    ctx.caller.publisher_id()?;
    Ok(found)
}

/// The caller's draft, locked for a change (on PostgreSQL, other changes of it
/// wait) and read again, once it passes the `If-Match` condition. The pack is
/// locked first, as releasing takes them, so the tag compared is built from
/// the pack's current release state, never one a release just replaced.
fn draft_for_change(
    conn: &mut DbConnection,
    ctx: &Ctx,
    id: &str,
    if_match: Option<&IfMatch>,
) -> AppResult<(Draft, Pack)> {
    let (draft, pack) = owned_draft(conn, ctx, id)?;
    let pack = super::pack_lock::lock_pack(conn, &pack.id)?;
    store::lock(conn, &draft.id)?;
    let draft = store::find(conn, &draft.id)?.ok_or(AppError::NotFound)?;
    precondition::require(if_match, || view(conn, draft.clone(), &pack))?;
    Ok((draft, pack))
}

fn refuse_released(draft: &Draft) -> AppResult<()> {
    match &draft.release_id {
        Some(release) => Err(AppError::conflict(
            "draft_already_released",
            format!("this draft was released as {release}; make a new draft"),
        )),
        None => Ok(()),
    }
}

/// The draft with each item's released, pending and latest versions and its change.
pub(crate) fn view(conn: &mut DbConnection, draft: Draft, pack: &Pack) -> AppResult<DraftView> {
    let items = store::items(conn, &draft.id)?;
    let released: HashMap<String, Option<String>> = packs::pack_components(conn, &pack.id)?
        .into_iter()
        .map(|row| (row.component_id, row.released_version_id))
        .collect();
    let component_ids: Vec<String> = items.iter().map(|i| i.component_id.clone()).collect();
    let mut latest = versions::latest_for(conn, &component_ids)?;
    let version_ids: Vec<String> = items
        .iter()
        .flat_map(|i| [i.pending_version_id.clone(), released.get(&i.component_id).cloned().flatten()])
        .flatten()
        .collect();
    let strings = versions::strings_of(conn, &version_ids)?;
    let items = items
        .into_iter()
        .map(|item| {
            let released_version_id = released.get(&item.component_id).cloned().flatten();
            let released_version = released_version_id.as_ref().and_then(|id| strings.get(id).cloned());
            let pending_version = item.pending_version_id.as_ref().and_then(|id| strings.get(id).cloned());
            DraftItemView {
                change: Change::between(released_version.as_deref(), pending_version.as_deref()),
                latest_version: latest.remove(&item.component_id).map(|v| v.version),
                component_type: item.component_type,
                component_id: item.component_id,
                name: item.name,
                released_version_id,
                released_version,
                pending_version_id: item.pending_version_id,
                pending_version,
            }
        })
        .collect();
    Ok(DraftView { stale: pack.revision != draft.base_revision, draft, items })
}

/// Starts a release: every member at its latest version (or its released one
/// when it has no shareable version left); removed components as removals.
pub fn create_draft(conn: &mut DbConnection, ctx: &Ctx, pack_id: &str) -> AppResult<DraftView> {
    conn.write_transaction(|conn| {
        let pack = owned_pack(conn, ctx, pack_id)?;
        let draft = new_draft(conn, ctx, &pack)?;
        view(conn, draft, &pack)
    })
}

/// Writes a draft of `pack` as `create_draft` describes it.
pub(crate) fn new_draft(conn: &mut DbConnection, ctx: &Ctx, pack: &Pack) -> AppResult<Draft> {
    let rows = packs::pack_components(conn, &pack.id)?;
    if rows.is_empty() {
        return Err(AppError::conflict(
            "pack_empty",
            "the pack has no components and has released none: add a component first",
        ));
    }
    let ids: Vec<String> = rows.iter().map(|row| row.component_id.clone()).collect();
    let mut latest = versions::latest_for(conn, &ids)?;
    let draft = Draft {
        id: new_id(),
        pack_id: pack.id.clone(),
        base_revision: pack.revision,
        created_by: ctx.caller.account_id().unwrap_or_default().to_string(),
        created_at: ctx.now(),
        updated_at: ctx.now(),
        release_id: None,
    };
    let items: Vec<DraftItem> = rows
        .into_iter()
        .map(|PackComponent { component_id, member, released_version_id, .. }| DraftItem {
            draft_id: draft.id.clone(),
            pending_version_id: member
                .then(|| latest.remove(&component_id).map(|v| v.id).or(released_version_id))
                .flatten(),
            component_id,
        })
        .collect();
    store::insert(conn, &draft, &items)?;
    Ok(draft)
}

pub fn get_draft(conn: &mut DbConnection, ctx: &Ctx, id: &str) -> AppResult<DraftView> {
    let (draft, pack) = visible_draft(conn, ctx, id)?;
    view(conn, draft, &pack)
}

/// A version picked for one component of the draft.
pub struct Selection {
    pub component_id: String,
    pub version: String,
}

/// Selects versions for some components (the others keep theirs). Any live,
/// shareable version may be picked, older ones included.
pub fn select_versions(
    conn: &mut DbConnection,
    ctx: &Ctx,
    id: &str,
    if_match: Option<&IfMatch>,
    selections: Vec<Selection>,
) -> AppResult<DraftView> {
    conn.write_transaction(|conn| {
        let (draft, pack) = draft_for_change(conn, ctx, id, if_match)?;
        refuse_released(&draft)?;
        let current = view(conn, draft, &pack)?;
        let mut errors = Vec::new();
        let mut picks = Vec::new();
        for (index, selection) in selections.iter().enumerate() {
            let Some(item) = current.items.iter().find(|item| item.component_id == selection.component_id) else {
                errors.push(FieldError::new(
                    format!("items[{index}].component_id"),
                    "not_in_draft",
                    "this component is not part of the draft",
                ));
                continue;
            };
            if item.change == Change::Removed {
                errors.push(FieldError::new(
                    format!("items[{index}].component_id"),
                    "removed_from_pack",
                    "this component was removed from the pack; the release drops it",
                ));
                continue;
            }
            match versions::find_live(conn, &item.component_id, &selection.version)? {
                Some(version) if version.shareable => picks.push((item.component_id.clone(), version.id)),
                Some(_) => errors.push(FieldError::new(
                    format!("items[{index}].version"),
                    "version_not_shareable",
                    format!("version '{}' is not shareable", selection.version),
                )),
                None => errors.push(FieldError::new(
                    format!("items[{index}].version"),
                    "not_found",
                    format!("component has no version '{}'", selection.version),
                )),
            }
        }
        if !errors.is_empty() {
            return Err(AppError::Validation(errors));
        }
        if pack.deployment == Deployment::Legacy {
            return Err(AppError::conflict(
                "version_selection_unsupported",
                "a legacy pack always releases each member's latest version; to roll back, delete or un-share \
                 the bad version and release again",
            ));
        }
        for (component_id, version_id) in &picks {
            store::set_pending(conn, &current.draft.id, component_id, version_id)?;
        }
        store::touch(conn, &current.draft.id, ctx.now())?;
        let draft = store::find(conn, &current.draft.id)?.ok_or(AppError::NotFound)?;
        view(conn, draft, &pack)
    })
}

pub fn delete_draft(conn: &mut DbConnection, ctx: &Ctx, id: &str, if_match: Option<&IfMatch>) -> AppResult<()> {
    conn.write_transaction(|conn| {
        let (draft, _) = draft_for_change(conn, ctx, id, if_match)?;
        store::delete(conn, &draft.id)?;
        Ok(())
    })
}
