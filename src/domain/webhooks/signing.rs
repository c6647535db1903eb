//! Signing secrets and signatures as the Standard Webhooks specification
//! defines them, so subscribers verify with the spec's published libraries.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What every signing secret starts with; the rest is standard base64.
pub const SECRET_PREFIX: &str = "whsec_";

/// 24 bytes (192 bits) is what the spec's own libraries generate.
const SECRET_BYTES: usize = 24;

/// A secret that cannot sign: not `whsec_` + base64 of at least one byte.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid webhook signing secret: {reason}")]
pub struct InvalidSecret {
    reason: &'static str,
}

/// A fresh signing secret, `whsec_` + base64 of 24 random bytes.
pub fn new_secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    // The secret must never be weak, so failing loudly beats a fallback; the
    // operating system's generator does not fail once the process is running.
    getrandom::fill(&mut bytes).expect("the operating system's random generator failed");
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// The `v1,` signature of one message under one secret: HMAC-SHA256 over
/// `{msg_id}.{timestamp}.{body}` keyed with the secret's decoded bytes.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> Result<String, InvalidSecret> {
    let key = decode_secret(secret)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| InvalidSecret { reason: "unusable key" })?;
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
}

/// The `webhook-signature` header: one signature per secret, space-separated,
/// so a consumer still holding the rotated-out secret keeps verifying.
pub fn signature_header(secrets: &[&str], msg_id: &str, timestamp: i64, body: &[u8]) -> Result<String, InvalidSecret> {
    if secrets.is_empty() {
        return Err(InvalidSecret { reason: "no secret to sign with" });
    }
    let signatures =
        secrets.iter().map(|secret| sign(secret, msg_id, timestamp, body)).collect::<Result<Vec<_>, _>>()?;
    Ok(signatures.join(" "))
}

fn decode_secret(secret: &str) -> Result<Vec<u8>, InvalidSecret> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).ok_or(InvalidSecret { reason: "missing the whsec_ prefix" })?;
    let key = STANDARD.decode(encoded).map_err(|_| InvalidSecret { reason: "not base64 after the whsec_ prefix" })?;
    if key.is_empty() {
        return Err(InvalidSecret { reason: "empty key" });
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const SPEC_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const SPEC_TIMESTAMP: i64 = 1649367553;
    const SPEC_BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const SPEC_SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    #[test]
    fn signing_matches_the_spec_known_answer() {
        assert_eq!(sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY).unwrap(), SPEC_SIGNATURE);
    }

    #[test]
    fn a_changed_body_id_or_timestamp_changes_the_signature() {
        assert_ne!(sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, b"{}").unwrap(), SPEC_SIGNATURE);
        assert_ne!(sign(SPEC_SECRET, "msg_other", SPEC_TIMESTAMP, SPEC_BODY).unwrap(), SPEC_SIGNATURE);
        assert_ne!(sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP + 1, SPEC_BODY).unwrap(), SPEC_SIGNATURE);
    }

    #[test]
    fn during_rotation_both_secrets_sign_in_order() {
        let other = new_secret();
        let header = signature_header(&[SPEC_SECRET, &other], SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY).unwrap();
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], SPEC_SIGNATURE);
        assert_eq!(parts[1], sign(&other, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY).unwrap());
    }

    #[test]
    fn a_single_secret_gives_a_single_signature() {
        assert_eq!(signature_header(&[SPEC_SECRET], SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY).unwrap(), SPEC_SIGNATURE);
    }

    #[test]
    fn malformed_secrets_are_refused() {
        for bad in ["C2FVsBQIhrscChlQIMV+b5sSYspob7oD", "whsec_", "whsec_not base64!", "whsec_%%%%"] {
            assert!(sign(bad, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY).is_err(), "{bad}");
        }
        assert!(signature_header(&[], SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY).is_err());
        assert!(signature_header(&[SPEC_SECRET, "nope"], SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY).is_err());
    }

    #[test]
    fn new_secrets_are_prefixed_24_random_bytes() {
        let secret = new_secret();
        let key = decode_secret(&secret).unwrap();
        assert_eq!(key.len(), 24);
        assert_ne!(secret, new_secret());
        assert!(sign(&secret, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY).is_ok());
    }
}
