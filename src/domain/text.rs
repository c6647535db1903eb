//! Checks shared by every free-text field.

use crate::error::FieldError;

/// A display name: trimmed, 1–`max` characters, no control characters.
pub fn parse_name(field: &str, raw: &str, max: usize) -> Result<String, FieldError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(FieldError::new(field, "required", format!("{field} must not be blank")));
    }
    check_search_text(field, name, max)?;
    Ok(name.to_string())
}

/// Text compared with names: at most `max` characters, no control characters.
pub fn check_search_text(field: &str, text: &str, max: usize) -> Result<(), FieldError> {
    limit_length(field, text, max)?;
    if text.chars().any(char::is_control) {
        return Err(FieldError::new(field, "invalid_format", format!("{field} must not contain control characters")));
    }
    Ok(())
}

/// At most `max` characters (Unicode scalar values, as a user counts them).
pub fn limit_length(field: &str, text: &str, max: usize) -> Result<(), FieldError> {
    if text.chars().count() > max {
        return Err(FieldError::new(field, "too_long", format!("{field} must be at most {max} characters")));
    }
    Ok(())
}

/// Collects field errors so a request learns about all of them at once.
#[derive(Default)]
pub struct Checks(Vec<FieldError>);

impl Checks {
    pub fn check<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        result.map_err(|e| self.0.push(e)).ok()
    }

    pub fn finish(self) -> Result<(), crate::error::AppError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(crate::error::AppError::Validation(self.0))
        }
    }
}

/// Lower-case hexadecimal, as tokens, fingerprints and entity tags are written.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        hex.push(char::from(DIGITS[usize::from(b >> 4)]));
        hex.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_two_lower_case_digits_a_byte() {
        assert_eq!(hex(&[]), "");
        assert_eq!(hex(&[0x00, 0x09, 0x9f, 0xa0, 0xff]), "00099fa0ff");
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(parse_name("name", "  Orders  ", 10).unwrap(), "Orders");
        assert_eq!(parse_name("name", "   ", 10).unwrap_err().code, "required");
        assert_eq!(parse_name("name", "x".repeat(11).as_str(), 10).unwrap_err().code, "too_long");
        assert_eq!(parse_name("name", "a\u{0}b", 10).unwrap_err().code, "invalid_format");
        assert!(parse_name("name", &"é".repeat(10), 10).is_ok());
    }
}
