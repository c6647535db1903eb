//! A publisher's catalog: components and their packaged versions.

use super::{new_id, Ctx};
use crate::db::DbConnection;
use crate::domain::component::{self, ComponentType, VersionString};
use crate::domain::text::{self, Checks};
use crate::error::{AppError, AppResult};
use crate::store::components::{self as store, Component};
use crate::store::versions::{self, Version};
use crate::store::{Page, PageRequest};

/// A component with its latest version (newest non-deleted shareable one).
pub struct ComponentView {
    pub component: Component,
    pub latest_version: Option<String>,
}

pub fn create_component(
    conn: &mut DbConnection,
    ctx: &Ctx,
    name: &str,
    component_type: ComponentType,
) -> AppResult<ComponentView> {
    let owner_id = ctx.caller.publisher_id()?.to_string();
    let name = text::parse_name("name", name, component::MAX_NAME_CHARS).map_err(|e| AppError::Validation(vec![e]))?;
    let component = Component { id: new_id(), owner_id, name, component_type, created_at: ctx.now() };
    conn.write_transaction(|conn| {
        if store::name_taken(conn, &component.owner_id, &component.name)? {
            return Err(AppError::conflict(
                "component_name_taken",
                format!("a component named '{}' already exists", component.name),
            ));
        }
        store::insert(conn, &component).map_err(AppError::from)
    })?;
    Ok(ComponentView { component, latest_version: None })
}

/// The component, if the caller sees it (404 otherwise).
pub fn visible_component(conn: &mut DbConnection, ctx: &Ctx, id: &str) -> AppResult<Component> {
    match store::find(conn, id)? {
        Some(component) if ctx.caller.sees_owned_by(&component.owner_id) => Ok(component),
        _ => Err(AppError::NotFound),
    }
}

/// The component, if the caller owns it: 404 when it is not visible, 403 when visible but not the caller's.
fn owned_component(conn: &mut DbConnection, ctx: &Ctx, id: &str) -> AppResult<Component> {
    let component = visible_component(conn, ctx, id)?;
    ctx.caller.publisher_id()?;
    Ok(component)
}

fn with_latest(conn: &mut DbConnection, components: Vec<Component>) -> AppResult<Vec<ComponentView>> {
    let ids: Vec<String> = components.iter().map(|c| c.id.clone()).collect();
    let mut latest = versions::latest_for(conn, &ids)?;
    Ok(components
        .into_iter()
        .map(|component| {
            let latest_version = latest.remove(&component.id).map(|v| v.version);
            ComponentView { component, latest_version }
        })
        .collect())
}

pub fn list_components(
    conn: &mut DbConnection,
    ctx: &Ctx,
    component_type: Option<ComponentType>,
    page: &PageRequest,
) -> AppResult<Page<ComponentView>> {
    // A subscriber sees no catalog.
    let Some(owner) = ctx.caller.catalog_scope().owner_filter() else {
        return Ok(Page { items: Vec::new(), next_cursor: None });
    };
    let rows = store::list(conn, owner, component_type.map(ComponentType::as_str), page)?;
    let page = Page::from_rows(rows, page, |c| &c.id);
    let next_cursor = page.next_cursor;
    Ok(Page { items: with_latest(conn, page.items)?, next_cursor })
}

pub fn get_component(conn: &mut DbConnection, ctx: &Ctx, id: &str) -> AppResult<ComponentView> {
    let component = visible_component(conn, ctx, id)?;
    Ok(with_latest(conn, vec![component])?.remove(0))
}

pub fn delete_component(conn: &mut DbConnection, ctx: &Ctx, id: &str) -> AppResult<()> {
    conn.write_transaction(|conn| {
        let component = owned_component(conn, ctx, id)?;
        if store::in_use(conn, &component.id)? {
            return Err(AppError::conflict(
                "component_in_use",
                "an integration pack holds this component, or a release names it",
            ));
        }
        store::delete(conn, &component.id)?;
        Ok(())
    })
}

pub struct NewVersion {
    pub version: String,
    pub notes: Option<String>,
    pub shareable: Option<bool>,
}

pub fn create_version(conn: &mut DbConnection, ctx: &Ctx, component_id: &str, input: NewVersion) -> AppResult<Version> {
    conn.write_transaction(|conn| {
        let component = owned_component(conn, ctx, component_id)?;
        let component_type = component.component_type;
        let shareable = input.shareable.unwrap_or(component_type.is_shareable());
        let notes = input.notes.unwrap_or_default();
        let mut checks = Checks::default();
        let version = checks.check(VersionString::parse("version", &input.version));
        checks.check(text::limit_length("notes", &notes, component::MAX_NOTES_CHARS));
        checks.check(component::check_shareable(component_type, shareable));
        checks.finish()?;
        let version = version.map(VersionString::into_string).unwrap_or_default();
        if versions::string_used(conn, &component.id, &version)? {
            return Err(AppError::conflict(
                "version_exists",
                format!("version '{version}' already exists for this component or was deleted; a version string is never reused"),
            ));
        }
        let row = Version {
            id: new_id(),
            component_id: component.id,
            version,
            notes,
            shareable,
            created_at: ctx.now(),
            created_by: ctx.caller.account_id().unwrap_or_default().to_string(),
            deleted_at: None,
        };
        versions::insert(conn, &row)?;
        Ok(row)
    })
}

pub fn list_versions(
    conn: &mut DbConnection,
    ctx: &Ctx,
    component_id: &str,
    shareable: Option<bool>,
    page: &PageRequest,
) -> AppResult<Page<Version>> {
    let component = visible_component(conn, ctx, component_id)?;
    let rows = versions::list_live(conn, &component.id, shareable, page)?;
    Ok(Page::from_rows(rows, page, |v| &v.id))
}

pub fn get_version(conn: &mut DbConnection, ctx: &Ctx, component_id: &str, version: &str) -> AppResult<Version> {
    let component = visible_component(conn, ctx, component_id)?;
    versions::find_live(conn, &component.id, version)?.ok_or(AppError::NotFound)
}

/// Shares a version or stops sharing it. An unshared version is no longer
/// anyone's latest, nor selectable in a draft; installations that run it keep
/// it. (This is how a legacy pack rolls back: un-share the bad version and
/// release again.)
pub fn set_shareable(
    conn: &mut DbConnection,
    ctx: &Ctx,
    component_id: &str,
    version: &str,
    shareable: Option<bool>,
) -> AppResult<Version> {
    conn.write_transaction(|conn| {
        let component = owned_component(conn, ctx, component_id)?;
        let found = versions::find_live(conn, &component.id, version)?.ok_or(AppError::NotFound)?;
        let Some(shareable) = shareable else { return Ok(found) };
        component::check_shareable(component.component_type, shareable).map_err(|e| AppError::Validation(vec![e]))?;
        // Locked as releasing and deleting it lock it.
        versions::lock(conn, std::slice::from_ref(&found.id))?;
        versions::set_shareable(conn, &found.id, shareable)?;
        Ok(Version { shareable, ..found })
    })
}

pub fn delete_version(conn: &mut DbConnection, ctx: &Ctx, component_id: &str, version: &str) -> AppResult<()> {
    conn.write_transaction(|conn| {
        let component = owned_component(conn, ctx, component_id)?;
        let version = versions::find_live(conn, &component.id, version)?.ok_or(AppError::NotFound)?;
        // Lock it (as releasing it does), then see whether a release names it.
        versions::lock(conn, std::slice::from_ref(&version.id))?;
        if versions::is_protected(conn, &version.id)? {
            return Err(AppError::conflict(
                "version_in_use",
                format!("version '{}' is named by a release and cannot be deleted", version.version),
            ));
        }
        versions::mark_deleted(conn, &version.id, ctx.now())?;
        Ok(())
    })
}
