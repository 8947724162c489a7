//! Standard Webhooks signing (spec 1.0.0): secrets `whsec_` and base64 of random bytes, and
//! `v1,<base64 HMAC-SHA256 of id.timestamp.body>` signatures.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Random bytes in a new secret (the spec asks for 24 to 64).
const SECRET_BYTES: usize = 32;

/// A new signing secret: `whsec_` and the base64 of 32 random bytes.
pub fn new_secret() -> Result<String, String> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for a secret: {e}"))?;
    Ok(format!("whsec_{}", STANDARD.encode(bytes)))
}

/// The Standard Webhooks signature of `body` sent as message `id` at `timestamp` (Unix
/// seconds): `v1,` and the base64 HMAC-SHA256, keyed with the bytes after `whsec_`, of
/// `id.timestamp.body`.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, String> {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(|_| "the webhook secret is not whsec_ and base64".to_owned())?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key)
        .map_err(|_| "the webhook secret is empty".to_owned())?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The `webhook-signature` header for `secrets` (every secret in use: more than one while a
/// rotation overlaps), space-separated as the spec lists them.
pub fn signature_header(
    secrets: &[&str],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, String> {
    let signatures: Result<Vec<String>, String> = secrets
        .iter()
        .map(|secret| sign(secret, id, timestamp, body))
        .collect();
    Ok(signatures?.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectors of the reference libraries (Go's TestWebhookSign, Rust's test_sign).
    #[test]
    fn signatures_match_the_reference_libraries() {
        assert_eq!(
            sign(
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            )
            .unwrap(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert_eq!(
            sign(
                "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                1649367553,
                br#"{"email":"test@example.com","username":"test_user"}"#
            )
            .unwrap(),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    #[test]
    fn a_rotation_sends_both_signatures_and_secrets_are_fresh() {
        let (a, b) = (new_secret().unwrap(), new_secret().unwrap());
        assert_ne!(a, b);
        assert!(a.starts_with("whsec_"));
        let header = signature_header(&[&a, &b], "msg_1", 5, b"{}").unwrap();
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(
            parts,
            [
                sign(&a, "msg_1", 5, b"{}").unwrap(),
                sign(&b, "msg_1", 5, b"{}").unwrap()
            ]
        );
    }
}
