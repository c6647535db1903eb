//! Integration packs: their limits and which components they may hold.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::component::ComponentType;
use crate::error::AppError;

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_DESCRIPTION_CHARS: usize = 500;
pub const MAX_COMPONENTS: i64 = 100;

/// What name searches compare: the name lower-cased (Unicode), the same on every backend.
pub fn name_key(name: &str) -> String {
    // Character by character: no context rules (a final sigma), so a prefix's key is a prefix of the name's.
    name.chars().flat_map(char::to_lowercase).collect()
}

/// A `LIKE` pattern (escape character `\\`) for names starting with `prefix`, in any case.
pub fn name_prefix_pattern(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in name_key(prefix).chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Fixed at creation: `single` installs once per account, `multiple` several
/// times under distinct override names.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, diesel::AsExpression, diesel::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
pub enum InstallationType {
    Single,
    Multiple,
}

super::stored_word!(InstallationType, "installation type", [Single => "single", Multiple => "multiple"]);

/// Fixed at creation: how a release picks its versions. `packaged`: the
/// release wizard selects them (any live shareable one, older ones included);
/// `legacy` (the product's Legacy deployment): every member's latest version,
/// with no version step, so a rollback is deleting or un-sharing the bad
/// version and releasing again.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    Serialize,
    Deserialize,
    ToSchema,
    diesel::AsExpression,
    diesel::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
pub enum Deployment {
    #[default]
    Packaged,
    Legacy,
}

super::stored_word!(Deployment, "deployment model", [Packaged => "packaged", Legacy => "legacy"]);

/// Whether a component of this type may join a pack of this installation type
/// that already holds `member_count` components.
pub fn check_new_member(
    installation_type: InstallationType,
    component_type: ComponentType,
    member_count: i64,
) -> Result<(), AppError> {
    if !component_type.is_shareable() {
        return Err(AppError::rule(
            "component_type_not_shareable",
            format!("{} components cannot be added to a pack", component_type.as_str()),
        ));
    }
    if installation_type == InstallationType::Multiple && component_type == ComponentType::ApiService {
        return Err(AppError::rule(
            "api_service_in_multiple_pack",
            "a pack with installation type 'multiple' cannot hold API service components",
        ));
    }
    if member_count >= MAX_COMPONENTS {
        return Err(AppError::rule("pack_full", format!("a pack holds at most {MAX_COMPONENTS} components")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_patterns_fold_case_and_escape_wildcards() {
        assert_eq!(name_prefix_pattern("Ord"), "ord%");
        assert_eq!(name_prefix_pattern("ÉTÉ"), "été%");
        assert!(name_key("ΟΔΟΣΑ").starts_with(&name_key("ΟΔΟΣ")));
        assert_eq!(name_prefix_pattern("50%_a\\b"), "50\\%\\_a\\\\b%");
    }

    fn code(result: Result<(), AppError>) -> &'static str {
        match result {
            Ok(()) => "ok",
            Err(AppError::Rule { code, .. }) => code,
            Err(_) => "other",
        }
    }

    #[test]
    fn multiple_packs_refuse_api_services() {
        assert_eq!(
            code(check_new_member(InstallationType::Multiple, ComponentType::ApiService, 0)),
            "api_service_in_multiple_pack"
        );
        assert_eq!(code(check_new_member(InstallationType::Single, ComponentType::ApiService, 0)), "ok");
        assert_eq!(code(check_new_member(InstallationType::Multiple, ComponentType::Process, 0)), "ok");
    }

    #[test]
    fn a_pack_holds_at_most_one_hundred_components() {
        assert_eq!(code(check_new_member(InstallationType::Single, ComponentType::Process, 99)), "ok");
        assert_eq!(code(check_new_member(InstallationType::Single, ComponentType::Process, 100)), "pack_full");
    }

    #[test]
    fn unshareable_types_never_join() {
        assert_eq!(
            code(check_new_member(InstallationType::Single, ComponentType::Connection, 0)),
            "component_type_not_shareable"
        );
    }
}
