//! Installations: a subscriber account runs a pack shared with it, sees a
//! pending update while a release of it is scheduled, and may apply it early.

use std::collections::HashMap;

use super::accounts::get_account;
use super::events::{self, Outbox};
use super::pack_lock::lock_pack;
use super::packs::visible_pack;
use super::{new_id, Caller, Ctx};
use crate::db::DbConnection;
use crate::domain::account::AccountKind;
use crate::domain::pack::InstallationType;
use crate::domain::text;
use crate::error::{AppError, AppResult};
use crate::store::accounts::Account;
use crate::store::installations::{self as store, Installation, InstallationFilter, Push};
use crate::store::releases::{self, NamedItem, Release};
use crate::store::{Page, PageRequest};

pub const MAX_OVERRIDE_NAME_CHARS: usize = 100;

/// A component version an installation runs.
pub struct RunningVersion {
    pub component_id: String,
    pub name: String,
    pub version: String,
}

pub struct PendingUpdate {
    pub release: Release,
    /// When the release is expected to reach the installation: the release's
    /// due instant, or its wave's during a rollout; `None` while unknown (a
    /// manual wave, a halted rollout).
    pub expected_at: Option<chrono::NaiveDateTime>,
    /// The components whose version would change: `version` the new one (null: removed),
    /// `previous_version` what the installation runs now.
    pub changes: Vec<NamedItem>,
}

pub struct InstallationView {
    pub installation: Installation,
    /// One of the account's groups has the pack: it gets updates and pushes.
    pub subscribed: bool,
    pub versions: Vec<RunningVersion>,
    pub pending_update: Option<PendingUpdate>,
    pub history: Vec<Push>,
}

/// The account whose installations these are, if the caller sees it.
fn account_of(conn: &mut DbConnection, ctx: &Ctx, account_id: &str) -> AppResult<Account> {
    get_account(conn, ctx, account_id)
}

/// Only the subscriber itself installs, uninstalls and applies updates.
fn require_self(ctx: &Ctx, account: &Account) -> AppResult<()> {
    match &ctx.caller {
        Caller::Account { account: me, kind: AccountKind::Subscriber } if me.id == account.id => Ok(()),
        _ => Err(AppError::forbidden("only the subscriber account itself installs packs and applies updates")),
    }
}

/// Installations the publisher sees are those of its own packs.
fn publisher_filter(ctx: &Ctx) -> Option<&str> {
    match &ctx.caller {
        Caller::Account { account, kind: AccountKind::Publisher } => Some(account.id.as_str()),
        _ => None,
    }
}

pub struct NewInstallation {
    pub pack_id: String,
    pub override_name: Option<String>,
}

pub fn install(
    conn: &mut DbConnection,
    ctx: &Ctx,
    account_id: &str,
    input: NewInstallation,
) -> AppResult<InstallationView> {
    conn.write_transaction(|conn| {
        let account = account_of(conn, ctx, account_id)?;
        require_self(ctx, &account)?;
        // A pack not shared with the account does not exist for it. Then the
        // pack's lock, so the release the installation is made on is the
        // pack's current one, and its visibility again as it is now.
        visible_pack(conn, ctx, &input.pack_id)?;
        lock_pack(conn, &input.pack_id)?;
        let pack = visible_pack(conn, ctx, &input.pack_id)?;
        let override_name = input
            .override_name
            .map(|name| text::parse_name("override_name", &name, MAX_OVERRIDE_NAME_CHARS))
            .transpose()
            .map_err(|e| AppError::Validation(vec![e]))?;
        let name_key = match (pack.installation_type, &override_name) {
            (InstallationType::Single, _) => String::new(),
            (InstallationType::Multiple, Some(name)) => name.clone(),
            (InstallationType::Multiple, None) => {
                return Err(AppError::invalid(
                    "override_name",
                    "required",
                    "each installation of a 'multiple' pack needs its own override_name",
                ))
            }
        };
        if store::name_taken(conn, &account.id, &pack.id, &name_key)? {
            return Err(if name_key.is_empty() {
                AppError::conflict(
                    "already_installed",
                    "this single-installation pack is already installed in the account",
                )
            } else {
                AppError::conflict("override_name_taken", format!("an installation named '{name_key}' already exists"))
            });
        }
        let installation = Installation {
            id: new_id(),
            account_id: account.id,
            pack_id: pack.id.clone(),
            override_name,
            name_key,
            release_id: store::current_release(conn, &pack.id)?,
            installed_at: ctx.now(),
            updated_at: ctx.now(),
            uninstalled_at: None,
        };
        store::insert(conn, &installation)?;
        let view = views(conn, vec![installation])?.remove(0);
        if let Some(pending) = &view.pending_update {
            let mut outbox = Outbox::new(ctx.now());
            events::installed_with_pending_update(conn, &mut outbox, &pending.release, &view.installation)?;
            outbox.seal(conn)?;
        }
        Ok(view)
    })
}

/// The installation, if the caller sees it: the subscriber its own, the
/// publisher those of its packs, the admin all.
fn visible_installation(
    conn: &mut DbConnection,
    ctx: &Ctx,
    account_id: &str,
    id: &str,
) -> AppResult<(Account, Installation)> {
    let account = account_of(conn, ctx, account_id)?;
    let installation = store::find_live(conn, id)?.filter(|i| i.account_id == account.id).ok_or(AppError::NotFound)?;
    if publisher_filter(ctx).is_some() {
        super::packs::catalog_pack(conn, ctx, &installation.pack_id)?;
    }
    Ok((account, installation))
}

/// The caller's own installation (not locked): only the subscriber itself changes it.
pub(crate) fn own_installation(
    conn: &mut DbConnection,
    ctx: &Ctx,
    account_id: &str,
    id: &str,
) -> AppResult<(Account, Installation)> {
    let (account, installation) = visible_installation(conn, ctx, account_id, id)?;
    require_self(ctx, &account)?;
    Ok((account, installation))
}

/// The caller's own installation, with its pack locked (see `pack_lock`) and read again.
fn installation_for_change(
    conn: &mut DbConnection,
    ctx: &Ctx,
    account_id: &str,
    id: &str,
) -> AppResult<(Account, Installation)> {
    let (account, installation) = own_installation(conn, ctx, account_id, id)?;
    lock_pack(conn, &installation.pack_id)?;
    let installation = store::find_live(conn, &installation.id)?.ok_or(AppError::NotFound)?;
    Ok((account, installation))
}

pub fn get_installation(conn: &mut DbConnection, ctx: &Ctx, account_id: &str, id: &str) -> AppResult<InstallationView> {
    let (_, installation) = visible_installation(conn, ctx, account_id, id)?;
    Ok(views(conn, vec![installation])?.remove(0))
}

pub fn list_installations(
    conn: &mut DbConnection,
    ctx: &Ctx,
    account_id: &str,
    pack: Option<String>,
    page: &PageRequest,
) -> AppResult<Page<InstallationView>> {
    let account = account_of(conn, ctx, account_id)?;
    let filter = InstallationFilter { account: &account.id, pack: pack.as_deref(), publisher: publisher_filter(ctx) };
    let rows = store::list(conn, &filter, page)?;
    let page = Page::from_rows(rows, page, |i| &i.id);
    Ok(Page { items: views(conn, page.items)?, next_cursor: page.next_cursor })
}

/// Uninstalls: the installation is gone for its account and gets no more
/// pushes; the pushes it received stay in each release's record.
pub fn uninstall(conn: &mut DbConnection, ctx: &Ctx, account_id: &str, id: &str) -> AppResult<()> {
    conn.write_transaction(|conn| {
        let (_, installation) = installation_for_change(conn, ctx, account_id, id)?;
        store::uninstall(conn, &installation.id, ctx.now())?;
        Ok(())
    })
}

/// Applies the pending update now: the installation runs the scheduled
/// release's versions, with an `applied_early` push; the release will not push it again.
pub fn apply_update(conn: &mut DbConnection, ctx: &Ctx, account_id: &str, id: &str) -> AppResult<InstallationView> {
    conn.write_transaction(|conn| {
        let (account, installation) = installation_for_change(conn, ctx, account_id, id)?;
        let view = views(conn, vec![installation])?.remove(0);
        let Some(pending) = view.pending_update else {
            return Err(AppError::conflict("no_pending_update", "this installation has no pending update to apply"));
        };
        if pending.release.status == crate::domain::release::ReleaseStatus::Halted {
            return Err(AppError::conflict(
                "release_halted",
                "the publisher halted this release's rollout: it cannot be applied until resumed",
            ));
        }
        let actor = (account.id.as_str(), ctx.token_id.as_deref());
        store::apply_early(conn, &view.installation, &pending.release.id, actor, ctx.now())?;
        let mut outbox = Outbox::new(ctx.now());
        events::applied_early(conn, &mut outbox, &pending.release, &view.installation)?;
        outbox.seal(conn)?;
        let installation = store::find_live(conn, &view.installation.id)?.ok_or(AppError::NotFound)?;
        Ok(views(conn, vec![installation])?.remove(0))
    })
}

/// Versions, subscription, pending update and history of installations, in a
/// fixed number of queries whatever their number.
fn views(conn: &mut DbConnection, installations: Vec<Installation>) -> AppResult<Vec<InstallationView>> {
    let mut pack_ids: Vec<String> = installations.iter().map(|i| i.pack_id.clone()).collect();
    pack_ids.sort_unstable();
    pack_ids.dedup();
    let mut account_ids: Vec<String> = installations.iter().map(|i| i.account_id.clone()).collect();
    account_ids.sort_unstable();
    account_ids.dedup();
    let subscribed = store::subscriptions(conn, &account_ids, &pack_ids)?;
    let scheduled = releases::pending_for(conn, &pack_ids)?;
    let mut release_ids: Vec<String> = installations.iter().filter_map(|i| i.release_id.clone()).collect();
    release_ids.extend(scheduled.values().map(|r| r.id.clone()));
    let items = releases::items_for(conn, &release_ids)?;
    let installation_ids: Vec<String> = installations.iter().map(|i| i.id.clone()).collect();
    let mut history = store::history(conn, &installation_ids)?;
    let mut expected = HashMap::new();
    for release in scheduled.values() {
        let waiting: Vec<&Installation> = installations
            .iter()
            .filter(|i| i.pack_id == release.pack_id && i.release_id.as_ref() != Some(&release.id))
            .collect();
        expected.extend(super::rollouts::expected_at(conn, release, &waiting)?);
    }
    let no_items = Vec::new();
    Ok(installations
        .into_iter()
        .map(|installation| {
            let current = installation.release_id.as_ref().and_then(|r| items.get(r)).unwrap_or(&no_items);
            let is_subscribed = subscribed.contains(&(installation.account_id.clone(), installation.pack_id.clone()));
            let pending_update = scheduled
                .get(&installation.pack_id)
                .filter(|release| is_subscribed && installation.release_id.as_ref() != Some(&release.id))
                .map(|release| PendingUpdate {
                    changes: changes(current, items.get(&release.id).unwrap_or(&no_items)),
                    expected_at: expected.get(&installation.id).copied().flatten(),
                    release: release.clone(),
                });
            InstallationView {
                versions: current
                    .iter()
                    .filter_map(|item| {
                        Some(RunningVersion {
                            component_id: item.component_id.clone(),
                            name: item.name.clone(),
                            version: item.version.clone()?,
                        })
                    })
                    .collect(),
                history: history.remove(&installation.id).unwrap_or_default(),
                subscribed: is_subscribed,
                pending_update,
                installation,
            }
        })
        .collect())
}

/// What moving from the `current` release's versions to the `next` one's changes.
fn changes(current: &[NamedItem], next: &[NamedItem]) -> Vec<NamedItem> {
    let running: HashMap<&str, &NamedItem> = current.iter().map(|i| (i.component_id.as_str(), i)).collect();
    let mut changes: Vec<NamedItem> = next
        .iter()
        .filter_map(|item| {
            let previous = running.get(item.component_id.as_str()).and_then(|i| i.version.clone());
            (previous != item.version).then(|| NamedItem { previous_version: previous, ..item.clone() })
        })
        .collect();
    // Components the installation runs that the next release no longer names are removed.
    changes.extend(
        current
            .iter()
            .filter(|i| i.version.is_some() && !next.iter().any(|n| n.component_id == i.component_id))
            .map(|i| NamedItem { version: None, previous_version: i.version.clone(), ..i.clone() }),
    );
    changes
}
