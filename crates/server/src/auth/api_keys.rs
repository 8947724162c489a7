//! API keys: making them (a random secret shown once) and checking a presented one against its
//! stored hash.
//!
//! A key reads `tkk_<26 lowercase ULID characters>.<43 base64url characters>`: the part before
//! the dot is the public id (also the client id of the token exchange), the part after it the
//! 256-bit secret (the client secret). Only SHA-256 of the secret is stored; the secret has full
//! entropy, so a plain hash is enough and a lookup costs one hash.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use trailkeep_store::ApiKeyRecord;

use super::Role;

/// Every key id starts with this.
pub const KEY_ID_PREFIX: &str = "tkk_";
const ID_CHARS: usize = 26;
const SECRET_CHARS: usize = 43;

/// A key just made: its record for the store and the secret, which exists only here.
#[derive(Clone)]
pub struct IssuedKey {
    /// What the store keeps.
    pub record: ApiKeyRecord,
    /// The secret: returned once to whoever created the key, then forgotten.
    pub secret: String,
}

impl std::fmt::Debug for IssuedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedKey")
            .field("id", &self.record.id)
            .field("tenant", &self.record.tenant)
            .finish_non_exhaustive()
    }
}

impl IssuedKey {
    /// The whole key, as sent in `X-API-Key` or `Authorization: Bearer`.
    pub fn api_key(&self) -> String {
        format!("{}.{}", self.record.id, self.secret)
    }
}

/// What a key is for.
#[derive(Debug, Clone)]
pub struct KeySpec {
    /// The tenant it acts for.
    pub tenant: String,
    /// A label.
    pub name: String,
    /// The roles it grants.
    pub roles: Vec<Role>,
    /// When it stops working, seconds since the epoch.
    pub expires_at: Option<i64>,
    /// Who asked for it.
    pub created_by: String,
}

/// Makes a new key at `now` (seconds since the epoch).
pub fn issue(spec: KeySpec, now: i64) -> Result<IssuedKey, String> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| format!("no randomness for the key: {e}"))?;
    let secret = URL_SAFE_NO_PAD.encode(secret);
    let id = format!(
        "{KEY_ID_PREFIX}{}",
        ulid::Ulid::new().to_string().to_ascii_lowercase()
    );
    Ok(IssuedKey {
        record: ApiKeyRecord {
            id,
            tenant: spec.tenant,
            name: spec.name,
            roles: spec.roles.iter().map(|r| r.scope().to_owned()).collect(),
            secret_hash: hash(&secret),
            created_by: spec.created_by,
            created_at: now,
            expires_at: spec.expires_at,
            revoked_at: None,
        },
        secret,
    })
}

/// What binds an exchange token to its key: a digest of the key's stored secret hash, which
/// only the store holds. A token that names a live key id (ids are not secret: they appear in
/// trails and listings) but lacks this is refused, so whoever learns the server's HS256 secret
/// still cannot mint exchange tokens for other people's keys.
pub fn exchange_binding(record: &ApiKeyRecord) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"trailkeep exchange binding v1\0");
    hasher.update(record.secret_hash);
    URL_SAFE_NO_PAD.encode(&hasher.finalize()[..16])
}

/// SHA-256 of a secret, as stored.
pub fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The id and secret of something shaped like a key, or `None`.
pub fn split(presented: &str) -> Option<(&str, &str)> {
    let (id, secret) = presented.split_once('.')?;
    let body = id.strip_prefix(KEY_ID_PREFIX)?;
    let well_formed = body.len() == ID_CHARS
        && body.bytes().all(|b| b.is_ascii_alphanumeric())
        && secret.len() == SECRET_CHARS
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    well_formed.then_some((id, secret))
}

/// Whether `id` could name a key (for client ids sent on their own).
pub fn is_key_id(id: &str) -> bool {
    id.strip_prefix(KEY_ID_PREFIX).is_some_and(|body| {
        body.len() == ID_CHARS && body.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// Why a stored key refused a presented secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The secret does not match.
    WrongSecret,
    /// The key was revoked.
    Revoked,
    /// The key has expired.
    Expired,
}

impl Refusal {
    /// A short reason, for the failed-authentication event and the client.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::WrongSecret => "wrong secret",
            Refusal::Revoked => "revoked key",
            Refusal::Expired => "expired key",
        }
    }
}

/// Checks `secret` against `record` at `now` (seconds since the epoch).
pub fn check(record: &ApiKeyRecord, secret: &str, now: i64) -> Result<(), Refusal> {
    let presented = hash(secret);
    // Compare every byte whatever the first difference, so timing says nothing.
    let difference = presented
        .iter()
        .zip(record.secret_hash.iter())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    if difference != 0 {
        return Err(Refusal::WrongSecret);
    }
    if record.revoked_at.is_some() {
        return Err(Refusal::Revoked);
    }
    if record.expires_at.is_some_and(|at| at <= now) {
        return Err(Refusal::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> KeySpec {
        KeySpec {
            tenant: "acme".into(),
            name: "ci".into(),
            roles: vec![Role::Write],
            expires_at: Some(2_000),
            created_by: "cli".into(),
        }
    }

    #[test]
    fn an_issued_key_splits_and_checks() {
        let key = issue(spec(), 1_000).unwrap();
        let whole = key.api_key();
        let (id, secret) = split(&whole).expect("well formed");
        assert_eq!(id, key.record.id);
        assert!(is_key_id(id));
        assert_eq!(check(&key.record, secret, 1_500), Ok(()));
        assert_ne!(key.record.secret_hash, [0; 32]);
        assert!(!whole.contains(&hex_of(&key.record.secret_hash)));
    }

    fn hex_of(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn wrong_revoked_and_expired_keys_are_refused() {
        let key = issue(spec(), 1_000).unwrap();
        let mut other = key.secret.clone();
        other.replace_range(0..1, if other.starts_with('A') { "B" } else { "A" });
        assert_eq!(check(&key.record, &other, 1_500), Err(Refusal::WrongSecret));
        assert_eq!(
            check(&key.record, &key.secret, 2_000),
            Err(Refusal::Expired)
        );
        let revoked = ApiKeyRecord {
            revoked_at: Some(1_200),
            ..key.record.clone()
        };
        assert_eq!(check(&revoked, &key.secret, 1_500), Err(Refusal::Revoked));
    }

    #[test]
    fn malformed_keys_do_not_split() {
        assert_eq!(split("a.b.c"), None);
        assert_eq!(split("tkk_short.secret"), None);
        let key = issue(spec(), 0).unwrap().api_key();
        assert_eq!(split(&format!("{key}x")), None);
        assert_eq!(split(&key.replace("tkk_", "tk_")), None);
    }
}
