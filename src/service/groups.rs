//! Account groups: a publisher shares released packs with groups of its subscriber accounts.

use super::events::{self, Outbox};
use super::pack_lock::{lock_pack, lock_packs};
use super::packs::catalog_pack;
use super::{new_id, Ctx};
use crate::db::DbConnection;
use crate::domain::text;
use crate::error::{AppError, AppResult};
use crate::store::accounts::{self, Account};
use crate::store::groups::{self as store, Group};
use crate::store::installations::{self, Targets};
use crate::store::packs::Pack;
use crate::store::{Page, PageRequest};

pub const MAX_NAME_CHARS: usize = 100;

fn parse_name(name: &str) -> AppResult<String> {
    text::parse_name("name", name, MAX_NAME_CHARS).map_err(|e| AppError::Validation(vec![e]))
}

fn name_conflict(name: &str) -> AppError {
    AppError::conflict("group_name_taken", format!("an account group named '{name}' already exists"))
}

pub fn create_group(conn: &mut DbConnection, ctx: &Ctx, name: &str) -> AppResult<Group> {
    let publisher_id = ctx.caller.publisher_id()?.to_string();
    let group =
        Group { id: new_id(), publisher_id, name: parse_name(name)?, created_at: ctx.now(), updated_at: ctx.now() };
    conn.write_transaction(|conn| {
        if store::name_taken(conn, &group.publisher_id, &group.name, &group.id)? {
            return Err(name_conflict(&group.name));
        }
        store::insert(conn, &group).map_err(AppError::from)
    })?;
    Ok(group)
}

/// The group, if the caller sees it (its publisher, or the admin); 404 otherwise.
pub fn get_group(conn: &mut DbConnection, ctx: &Ctx, id: &str) -> AppResult<Group> {
    match store::find(conn, id)? {
        Some(group) if ctx.caller.sees_owned_by(&group.publisher_id) => Ok(group),
        _ => Err(AppError::NotFound),
    }
}

fn owned_group(conn: &mut DbConnection, ctx: &Ctx, id: &str) -> AppResult<Group> {
    let group = get_group(conn, ctx, id)?;
    ctx.caller.publisher_id()?;
    Ok(group)
}

/// The caller's group and its packs, every one locked: a change of its members
/// changes whom releases of those packs reach (see `pack_lock`).
fn group_for_member_change(conn: &mut DbConnection, ctx: &Ctx, id: &str) -> AppResult<(Group, Vec<String>)> {
    let group = owned_group(conn, ctx, id)?;
    let packs = store::pack_ids(conn, &group.id)?;
    lock_packs(conn, &packs)?;
    Ok((group, packs))
}

/// Writes a change of who gets `packs` through a group, with the events of the
/// installations whose subscription it starts or ends (`starting`), which are
/// chosen before `change` runs.
fn change_subscriptions<T>(
    conn: &mut DbConnection,
    ctx: &Ctx,
    packs: &[String],
    targets: Targets,
    starting: bool,
    change: impl FnOnce(&mut DbConnection) -> AppResult<T>,
) -> AppResult<T> {
    let mut outbox = Outbox::new(ctx.now());
    events::subscriptions_changing(conn, &mut outbox, packs, targets, starting)?;
    let changed = change(conn)?;
    outbox.seal(conn)?;
    Ok(changed)
}

pub fn list_groups(conn: &mut DbConnection, ctx: &Ctx, page: &PageRequest) -> AppResult<Page<Group>> {
    let Some(publisher) = ctx.caller.catalog_scope().owner_filter() else {
        return Ok(Page { items: Vec::new(), next_cursor: None });
    };
    let rows = store::list(conn, publisher, page)?;
    Ok(Page::from_rows(rows, page, |g| &g.id))
}

pub fn rename_group(conn: &mut DbConnection, ctx: &Ctx, id: &str, name: &str) -> AppResult<Group> {
    let name = parse_name(name)?;
    conn.write_transaction(|conn| {
        let group = owned_group(conn, ctx, id)?;
        if store::name_taken(conn, &group.publisher_id, &name, &group.id)? {
            return Err(name_conflict(&name));
        }
        store::rename(conn, &group.id, &name, ctx.now())?;
        Ok(Group { name, updated_at: ctx.now(), ..group })
    })
}

/// Deletes the group. Its members' installations stay, but are no longer
/// subscribed through it.
pub fn delete_group(conn: &mut DbConnection, ctx: &Ctx, id: &str) -> AppResult<()> {
    conn.write_transaction(|conn| {
        let (group, packs) = group_for_member_change(conn, ctx, id)?;
        let everyone = Targets::Subscription { group_id: &group.id, account_id: None };
        change_subscriptions(conn, ctx, &packs, everyone, false, |conn| Ok(store::delete(conn, &group.id)?))?;
        Ok(())
    })
}

/// Adds one of the publisher's subscriber accounts to the group.
pub fn add_member(conn: &mut DbConnection, ctx: &Ctx, group_id: &str, account_id: &str) -> AppResult<Account> {
    conn.write_transaction(|conn| {
        let (group, packs) = group_for_member_change(conn, ctx, group_id)?;
        let account = accounts::find(conn, account_id)?
            .filter(|a| a.parent_id.as_deref() == Some(group.publisher_id.as_str()))
            .ok_or_else(|| {
                AppError::invalid("account_id", "not_found", "no subscriber account of yours has this id")
            })?;
        if store::is_member(conn, &group.id, &account.id)? {
            return Err(AppError::conflict("already_member", "the account is already in this group"));
        }
        let joining = Targets::Subscription { group_id: &group.id, account_id: Some(&account.id) };
        change_subscriptions(conn, ctx, &packs, joining, true, |conn| {
            Ok(store::add_member(conn, &group.id, &account.id, ctx.now())?)
        })?;
        Ok(account)
    })
}

/// Removes an account from the group: its installations of packs it no longer
/// gets through any group stay as they are, unsubscribed.
pub fn remove_member(conn: &mut DbConnection, ctx: &Ctx, group_id: &str, account_id: &str) -> AppResult<()> {
    conn.write_transaction(|conn| {
        let (group, packs) = group_for_member_change(conn, ctx, group_id)?;
        if !store::is_member(conn, &group.id, account_id)? {
            return Err(AppError::NotFound);
        }
        let leaving = Targets::Subscription { group_id: &group.id, account_id: Some(account_id) };
        change_subscriptions(conn, ctx, &packs, leaving, false, |conn| {
            Ok(store::remove_member(conn, &group.id, account_id)?)
        })?;
        Ok(())
    })
}

pub fn list_members(
    conn: &mut DbConnection,
    ctx: &Ctx,
    group_id: &str,
    page: &PageRequest,
) -> AppResult<Page<Account>> {
    let group = get_group(conn, ctx, group_id)?;
    let rows = store::members(conn, &group.id, page)?;
    Ok(Page::from_rows(rows, page, |a| &a.id))
}

/// Shares a pack with the group's accounts; only a pack released at least once.
pub fn add_pack(conn: &mut DbConnection, ctx: &Ctx, group_id: &str, pack_id: &str) -> AppResult<Pack> {
    conn.write_transaction(|conn| {
        let group = owned_group(conn, ctx, group_id)?;
        let pack = match catalog_pack(conn, ctx, pack_id).and_then(|pack| lock_pack(conn, &pack.id)) {
            Ok(pack) if pack.publisher_id == group.publisher_id => pack,
            Ok(_) | Err(AppError::NotFound) => {
                return Err(AppError::invalid(
                    "integration_pack_id",
                    "not_found",
                    "no integration pack of yours has this id",
                ))
            }
            Err(other) => return Err(other),
        };
        if !installations::ever_released(conn, &pack.id)? {
            return Err(AppError::conflict(
                "pack_never_released",
                "only a pack that has been released can be shared: release it first",
            ));
        }
        if store::has_pack(conn, &group.id, &pack.id)? {
            return Err(AppError::conflict("already_shared", "the group already has this pack"));
        }
        let members = Targets::Subscription { group_id: &group.id, account_id: None };
        change_subscriptions(conn, ctx, std::slice::from_ref(&pack.id), members, true, |conn| {
            Ok(store::add_pack(conn, &group.id, &pack.id, ctx.now())?)
        })?;
        Ok(pack)
    })
}

pub fn remove_pack(conn: &mut DbConnection, ctx: &Ctx, group_id: &str, pack_id: &str) -> AppResult<()> {
    conn.write_transaction(|conn| {
        let group = owned_group(conn, ctx, group_id)?;
        // Only a pack the group has is locked (and so one the caller owns).
        if !store::has_pack(conn, &group.id, pack_id)? {
            return Err(AppError::NotFound);
        }
        let pack = lock_pack(conn, pack_id)?;
        let members = Targets::Subscription { group_id: &group.id, account_id: None };
        change_subscriptions(conn, ctx, std::slice::from_ref(&pack.id), members, false, |conn| {
            Ok(store::remove_pack(conn, &group.id, &pack.id)?)
        })?;
        Ok(())
    })
}

pub fn list_packs(conn: &mut DbConnection, ctx: &Ctx, group_id: &str, page: &PageRequest) -> AppResult<Page<Pack>> {
    let group = get_group(conn, ctx, group_id)?;
    let rows = store::packs(conn, &group.id, page)?;
    Ok(Page::from_rows(rows, page, |p| &p.id))
}
