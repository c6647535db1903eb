//! Components and their packaged versions: which types may be shared, what a
//! version string may look like.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::FieldError;

pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_NOTES_CHARS: usize = 10_000;
pub const MAX_VERSION_CHARS: usize = 40;

/// Only `process` and `api_service` components can be packaged for sharing;
/// the other types exist in a publisher's catalog but never enter a pack.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, diesel::AsExpression, diesel::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
pub enum ComponentType {
    Process,
    ApiService,
    Connection,
    Map,
}

super::stored_word!(ComponentType, "component type", [
    Process => "process",
    ApiService => "api_service",
    Connection => "connection",
    Map => "map",
]);

impl ComponentType {
    pub fn is_shareable(self) -> bool {
        matches!(self, Self::Process | Self::ApiService)
    }
}

/// A version string: 1–40 characters of `[A-Za-z0-9._-]`, so it is a safe path segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionString(String);

impl VersionString {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        if raw.is_empty() {
            return Err(FieldError::new(field, "required", "version must not be empty"));
        }
        if raw.chars().count() > MAX_VERSION_CHARS {
            return Err(FieldError::new(
                field,
                "too_long",
                format!("version must be at most {MAX_VERSION_CHARS} characters"),
            ));
        }
        if !raw.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
            return Err(FieldError::new(
                field,
                "invalid_format",
                "version may contain only letters, digits, '.', '_' and '-'",
            ));
        }
        Ok(Self(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Whether a new version may be marked shareable: only where its type allows.
pub fn check_shareable(component_type: ComponentType, shareable: bool) -> Result<(), FieldError> {
    if shareable && !component_type.is_shareable() {
        return Err(FieldError::new(
            "shareable",
            "type_not_shareable",
            format!("{} components cannot be shared; only process and api_service", component_type.as_str()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_strings_are_path_safe() {
        assert!(VersionString::parse("version", "1.0.0-rc_2").is_ok());
        assert_eq!(VersionString::parse("version", "").unwrap_err().code, "required");
        assert_eq!(VersionString::parse("version", "1/2").unwrap_err().code, "invalid_format");
        assert_eq!(VersionString::parse("version", "1 2").unwrap_err().code, "invalid_format");
        assert_eq!(VersionString::parse("version", "ü").unwrap_err().code, "invalid_format");
        assert!(VersionString::parse("version", &"1".repeat(40)).is_ok());
        assert_eq!(VersionString::parse("version", &"1".repeat(41)).unwrap_err().code, "too_long");
    }

    #[test]
    fn only_processes_and_api_services_are_shareable() {
        assert!(check_shareable(ComponentType::Process, true).is_ok());
        assert!(check_shareable(ComponentType::ApiService, true).is_ok());
        assert!(check_shareable(ComponentType::Connection, true).is_err());
        assert!(check_shareable(ComponentType::Map, false).is_ok());
        use crate::domain::StoredWord;
        assert!(ComponentType::ALL.iter().all(|t| ComponentType::parse(t.as_str()) == Some(*t)));
        assert_eq!(ComponentType::parse("Process"), None, "words are exact");
    }
}
