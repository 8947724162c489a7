//! Tokens and key sets from outside: any text as a bearer token and any JSON as a JWKS is
//! refused or accepted without a panic, and a token is only accepted when it carries a tenant.

use std::sync::OnceLock;

use jsonwebtoken::jwk::JwkSet;
use trailkeep_server::{JwtSettings, JwtVerifier};

const SECRET: &[u8] = b"fuzz secret fuzz secret fuzz secret";

fn verifier() -> &'static JwtVerifier {
    static VERIFIER: OnceLock<JwtVerifier> = OnceLock::new();
    VERIFIER
        .get_or_init(|| JwtVerifier::new(SECRET, None, JwtSettings::default()).expect("a verifier"))
}

/// The check: the input is `token \0 jwks`.
pub fn check(data: &[u8]) {
    let (token, jwks) = crate::split_at_zero(data);
    if let Ok(token) = std::str::from_utf8(token)
        && let Ok(claims) = verifier().verify(token)
    {
        trailkeep_event::validate_tenant(&claims.tenant).expect("an accepted token's tenant");
    }
    if let Ok(set) = serde_json::from_slice::<JwkSet>(jwks) {
        let _ = JwtVerifier::new(SECRET, Some(&set), JwtSettings::default());
    }
}
