//! Integration packs and their member lists.

use super::components::visible_component;
use super::precondition::{self, IfMatch};
use super::releases::refuse_if_scheduled;
use super::{new_id, Caller, Ctx};
use crate::db::DbConnection;
use crate::domain::account::AccountKind;
use crate::domain::pack::{self, Deployment, InstallationType};
use crate::domain::text::{self, Checks};
use crate::error::{AppError, AppResult};
use crate::store::packs::{self as store, ListView, Member, Pack, PackComponent, PackFilter, PackScope};
use crate::store::releases::{self, Release};
use crate::store::versions;
use crate::store::{groups, installations};
use crate::store::{Page, PageRequest};

pub struct NewPack {
    pub name: String,
    pub description: Option<String>,
    pub installation_type: InstallationType,
    pub deployment: Deployment,
}

pub struct PackPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub installation_type: Option<InstallationType>,
    pub deployment: Option<Deployment>,
}

/// A pack with its scheduled release, if one is waiting.
#[derive(Clone)]
pub struct PackView {
    pub pack: Pack,
    pub scheduled_release: Option<Release>,
}

impl AsRef<Pack> for PackView {
    fn as_ref(&self) -> &Pack {
        &self.pack
    }
}

fn with_schedule(conn: &mut DbConnection, packs: Vec<Pack>) -> AppResult<Vec<PackView>> {
    let ids: Vec<String> = packs.iter().map(|p| p.id.clone()).collect();
    let mut scheduled = releases::scheduled_for(conn, &ids)?;
    Ok(packs.into_iter().map(|pack| PackView { scheduled_release: scheduled.remove(&pack.id), pack }).collect())
}

/// A member with the latest version it could be released at.
pub struct MemberView {
    pub member: Member,
    pub latest_version: Option<String>,
}

fn check_details(name: Option<&str>, description: Option<&str>) -> AppResult<Option<String>> {
    let mut checks = Checks::default();
    let name = name.and_then(|name| checks.check(text::parse_name("name", name, pack::MAX_NAME_CHARS)));
    if let Some(description) = description {
        checks.check(text::limit_length("description", description, pack::MAX_DESCRIPTION_CHARS));
    }
    checks.finish()?;
    Ok(name)
}

fn name_conflict(name: &str) -> AppError {
    AppError::conflict("pack_name_taken", format!("an integration pack named '{name}' already exists"))
}

pub fn create_pack(conn: &mut DbConnection, ctx: &Ctx, input: NewPack) -> AppResult<PackView> {
    let publisher_id = ctx.caller.publisher_id()?.to_string();
    let name = check_details(Some(&input.name), input.description.as_deref())?.unwrap_or_default();
    let pack = Pack {
        id: new_id(),
        publisher_id,
        name_key: pack::name_key(&name),
        name,
        description: input.description.unwrap_or_default(),
        installation_type: input.installation_type,
        deployment: input.deployment,
        revision: 0,
        created_at: ctx.now(),
        updated_at: ctx.now(),
    };
    conn.write_transaction(|conn| {
        if store::name_taken(conn, &pack.publisher_id, &pack.name, None)? {
            return Err(name_conflict(&pack.name));
        }
        store::insert(conn, &pack).map_err(AppError::from)
    })?;
    Ok(PackView { pack, scheduled_release: None })
}

/// The pack as part of a catalog: its publisher's or the admin's to see (404 otherwise).
/// Drafts, releases and changes go through this.
pub fn catalog_pack(conn: &mut DbConnection, ctx: &Ctx, id: &str) -> AppResult<Pack> {
    match store::find(conn, id)? {
        Some(pack) if ctx.caller.sees_owned_by(&pack.publisher_id) => Ok(pack),
        _ => Err(AppError::NotFound),
    }
}

/// The pack, if the caller sees it: in its catalog, or shared with one of the
/// subscriber's groups (404 otherwise).
pub fn visible_pack(conn: &mut DbConnection, ctx: &Ctx, id: &str) -> AppResult<Pack> {
    let pack = store::find(conn, id)?;
    seen(conn, ctx, pack)
}

/// `found`, if the caller sees it (as `visible_pack`).
fn seen<T: AsRef<Pack>>(conn: &mut DbConnection, ctx: &Ctx, found: Option<T>) -> AppResult<T> {
    match (&ctx.caller, found) {
        (_, Some(found)) if ctx.caller.sees_owned_by(&found.as_ref().publisher_id) => Ok(found),
        (Caller::Account { account, kind: AccountKind::Subscriber }, Some(found))
            if groups::shared_with(conn, &account.id, &found.as_ref().id)? =>
        {
            Ok(found)
        }
        _ => Err(AppError::NotFound),
    }
}

/// The pack, if the caller publishes it: 404 when not visible, 403 when visible but not the caller's.
pub(crate) fn owned_pack(conn: &mut DbConnection, ctx: &Ctx, id: &str) -> AppResult<Pack> {
    let pack = visible_pack(conn, ctx, id)?;
    ctx.caller.publisher_id()?;
    Ok(pack)
}

/// The packs the caller sees, optionally only those whose name starts with
/// `name_prefix` (any case), or of one deployment model.
pub fn list_packs(
    conn: &mut DbConnection,
    ctx: &Ctx,
    name_prefix: Option<&str>,
    deployment: Option<Deployment>,
    page: &PageRequest,
) -> AppResult<Page<PackView>> {
    if let Some(prefix) = name_prefix {
        text::check_search_text("name_prefix", prefix, pack::MAX_NAME_CHARS)
            .map_err(|e| AppError::Validation(vec![e]))?;
    }
    let pattern = name_prefix.filter(|p| !p.is_empty()).map(pack::name_prefix_pattern);
    let filter = PackFilter { name_like: pattern.as_deref(), deployment };
    let rows = match (&ctx.caller, ctx.caller.catalog_scope().owner_filter()) {
        (_, Some(publisher)) => store::list(conn, PackScope::Catalog(publisher), &filter, page)?,
        (Caller::Account { account, .. }, None) => {
            store::list(conn, PackScope::SharedWith(&account.id), &filter, page)?
        }
        (Caller::Admin, None) => Vec::new(),
    };
    let page = Page::from_rows(rows, page, |p| &p.id);
    Ok(Page { items: with_schedule(conn, page.items)?, next_cursor: page.next_cursor })
}

pub fn get_pack(conn: &mut DbConnection, ctx: &Ctx, id: &str) -> AppResult<PackView> {
    let found =
        store::find_with_scheduled(conn, id)?.map(|(pack, scheduled_release)| PackView { pack, scheduled_release });
    seen(conn, ctx, found)
}

/// The caller's pack, locked for a change (on PostgreSQL, other changes and
/// releases of it wait) and read again, once it passes the `If-Match` condition.
fn pack_for_change(conn: &mut DbConnection, ctx: &Ctx, id: &str, if_match: Option<&IfMatch>) -> AppResult<Pack> {
    let pack = owned_pack(conn, ctx, id)?;
    let pack = super::pack_lock::lock_pack(conn, &pack.id)?;
    precondition::require(if_match, || Ok(with_schedule(conn, vec![pack.clone()])?.remove(0)))?;
    Ok(pack)
}

pub fn update_pack(
    conn: &mut DbConnection,
    ctx: &Ctx,
    id: &str,
    if_match: Option<&IfMatch>,
    patch: PackPatch,
) -> AppResult<PackView> {
    conn.write_transaction(|conn| {
        let mut pack = pack_for_change(conn, ctx, id, if_match)?;
        if patch.installation_type.is_some_and(|requested| requested != pack.installation_type) {
            return Err(AppError::invalid(
                "installation_type",
                "immutable",
                "the installation type is fixed when the pack is created",
            ));
        }
        if patch.deployment.is_some_and(|requested| requested != pack.deployment) {
            return Err(AppError::invalid(
                "deployment",
                "immutable",
                "the deployment model is fixed when the pack is created",
            ));
        }
        if let Some(name) = check_details(patch.name.as_deref(), patch.description.as_deref())? {
            if store::name_taken(conn, &pack.publisher_id, &name, Some(&pack.id))? {
                return Err(name_conflict(&name));
            }
            pack.name_key = pack::name_key(&name);
            pack.name = name;
        }
        if let Some(description) = patch.description {
            pack.description = description;
        }
        pack.updated_at = ctx.now();
        store::update_details(conn, &pack)?;
        Ok(with_schedule(conn, vec![pack])?.remove(0))
    })
}

pub fn delete_pack(conn: &mut DbConnection, ctx: &Ctx, id: &str, if_match: Option<&IfMatch>) -> AppResult<()> {
    conn.write_transaction(|conn| {
        let pack = pack_for_change(conn, ctx, id, if_match)?;
        if let Some(release) = releases::pending_for(conn, std::slice::from_ref(&pack.id))?.remove(&pack.id) {
            return Err(AppError::conflict(
                "pack_in_use",
                format!(
                    "release {} of this pack is {}: cancel, complete or abort it first",
                    release.id,
                    release.status.as_str()
                ),
            ));
        }
        if installations::pack_installed(conn, &pack.id)? {
            return Err(AppError::conflict("pack_in_use", "subscriber accounts have this pack installed"));
        }
        store::delete(conn, &pack.id)?;
        Ok(())
    })
}

/// Adds a component of the publisher's, with a shareable version, to the pack.
/// This never releases anything: subscribers see it after the next release.
pub fn add_member(
    conn: &mut DbConnection,
    ctx: &Ctx,
    pack_id: &str,
    if_match: Option<&IfMatch>,
    component_id: &str,
) -> AppResult<MemberView> {
    conn.write_transaction(|conn| {
        let pack = pack_for_change(conn, ctx, pack_id, if_match)?;
        refuse_if_scheduled(conn, &pack.id)?;
        let component = match visible_component(conn, ctx, component_id) {
            Ok(component) if component.owner_id == pack.publisher_id => component,
            Ok(_) | Err(AppError::NotFound) => {
                return Err(AppError::invalid("component_id", "not_found", "no component of yours has this id"))
            }
            Err(other) => return Err(other),
        };
        let existing = store::find_pack_component(conn, &pack.id, &component.id)?;
        if existing.as_ref().is_some_and(|row| row.member) {
            return Err(AppError::conflict("component_already_in_pack", "the pack already holds this component"));
        }
        let component_type = component.component_type;
        let installation_type = pack.installation_type;
        pack::check_new_member(installation_type, component_type, store::count_members(conn, &pack.id)?)?;
        let latest = versions::latest_for(conn, std::slice::from_ref(&component.id))?.remove(&component.id);
        if latest.is_none() {
            return Err(AppError::rule(
                "version_not_shareable",
                "the component has no shareable version: create one with \"shareable\": true first",
            ));
        }
        match existing {
            Some(_) => store::set_member(conn, &pack.id, &component.id, true, ctx.now())?,
            None => {
                let row = PackComponent {
                    pack_id: pack.id.clone(),
                    component_id: component.id.clone(),
                    member: true,
                    added_at: ctx.now(),
                    released_version_id: None,
                };
                store::insert_pack_component(conn, &row)?;
                1
            }
        };
        store::bump_revision(conn, &pack.id, ctx.now())?;
        let member = store::find_member(conn, &pack.id, &component.id, ListView::Members)?.ok_or(AppError::NotFound)?;
        Ok(MemberView { member, latest_version: latest.map(|v| v.version) })
    })
}

/// A subscriber sees what it runs (released components); the catalog's owner, the members.
fn member_view(ctx: &Ctx) -> ListView {
    match ctx.caller.catalog_scope().owner_filter() {
        Some(_) => ListView::Members,
        None => ListView::Released,
    }
}

/// Members with their latest versions; a subscriber sees released versions only.
fn with_latest(conn: &mut DbConnection, ctx: &Ctx, members: Vec<Member>) -> AppResult<Vec<MemberView>> {
    let ids: Vec<String> = members.iter().map(|m| m.component_id.clone()).collect();
    let mut latest = match ctx.caller.catalog_scope().owner_filter() {
        Some(_) => versions::latest_for(conn, &ids)?,
        None => Default::default(),
    };
    Ok(members
        .into_iter()
        .map(|member| {
            let latest_version = latest.remove(&member.component_id).map(|v| v.version);
            MemberView { member, latest_version }
        })
        .collect())
}

pub fn list_members(
    conn: &mut DbConnection,
    ctx: &Ctx,
    pack_id: &str,
    page: &PageRequest,
) -> AppResult<Page<MemberView>> {
    let pack = visible_pack(conn, ctx, pack_id)?;
    let rows = store::list_members(conn, &pack.id, member_view(ctx), page)?;
    let page = Page::from_rows(rows, page, |m| &m.component_id);
    let next_cursor = page.next_cursor;
    Ok(Page { items: with_latest(conn, ctx, page.items)?, next_cursor })
}

pub fn get_member(conn: &mut DbConnection, ctx: &Ctx, pack_id: &str, component_id: &str) -> AppResult<MemberView> {
    let pack = visible_pack(conn, ctx, pack_id)?;
    let member = store::find_member(conn, &pack.id, component_id, member_view(ctx))?.ok_or(AppError::NotFound)?;
    Ok(with_latest(conn, ctx, vec![member])?.remove(0))
}

/// Removes a member. A released component stays with subscribers until the
/// next release drops it; one never released simply leaves.
pub fn remove_member(
    conn: &mut DbConnection,
    ctx: &Ctx,
    pack_id: &str,
    if_match: Option<&IfMatch>,
    component_id: &str,
) -> AppResult<()> {
    conn.write_transaction(|conn| {
        let pack = pack_for_change(conn, ctx, pack_id, if_match)?;
        refuse_if_scheduled(conn, &pack.id)?;
        let row = store::find_pack_component(conn, &pack.id, component_id)?
            .filter(|row| row.member)
            .ok_or(AppError::NotFound)?;
        if row.released_version_id.is_some() {
            store::set_member(conn, &pack.id, component_id, false, row.added_at)?;
        } else {
            store::delete_pack_component(conn, &pack.id, component_id)?;
        }
        store::bump_revision(conn, &pack.id, ctx.now())?;
        Ok(())
    })
}
