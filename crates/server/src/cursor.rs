//! Opaque page cursors, sealed with an HMAC so that a cursor only works for the tenant, the
//! endpoint and the filter it was issued for, and a forged or altered one is refused.
//!
//! The text is base64url of `version (1) || occurred_at (8) || seq (8) || tag (16)`, where the tag
//! is HMAC-SHA256 over the position and the binding (tenant, path and filter fingerprint),
//! truncated to 16 bytes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use trailkeep_event::Cursor;

const VERSION: u8 = 2;
const TAG_BYTES: usize = 16;

/// The key cursors are sealed with.
#[derive(Clone)]
pub struct CursorKey([u8; 32]);

impl CursorKey {
    /// Derives the cursor key from the server's secret, so cursors survive restarts.
    pub fn derive(secret: &[u8]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"trailkeep cursor key v1\0");
        hasher.update(secret);
        Self(hasher.finalize().into())
    }

    fn tag(&self, position: &[u8], binding: &str) -> [u8; TAG_BYTES] {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(position);
        mac.update(&(binding.len() as u64).to_be_bytes());
        mac.update(binding.as_bytes());
        let full = mac.finalize().into_bytes();
        let mut tag = [0; TAG_BYTES];
        tag.copy_from_slice(&full[..TAG_BYTES]);
        tag
    }

    /// The cursor text for `cursor`, bound to `binding`.
    pub fn seal(&self, cursor: Cursor, binding: &str) -> String {
        let mut bytes = Vec::with_capacity(1 + 16 + TAG_BYTES);
        bytes.push(VERSION);
        bytes.extend_from_slice(&cursor.occurred_at.to_be_bytes());
        bytes.extend_from_slice(&cursor.seq.to_be_bytes());
        let tag = self.tag(&bytes, binding);
        bytes.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The cursor in `text`, if it was sealed by this key for `binding`.
    pub fn open(&self, text: &str, binding: &str) -> Option<Cursor> {
        if text.len() > 64 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        if bytes.len() != 1 + 16 + TAG_BYTES || bytes[0] != VERSION {
            return None;
        }
        let (position, tag) = bytes.split_at(17);
        let expected = self.tag(position, binding);
        // Compare without an early exit, so timing says nothing about the tag.
        if tag
            .iter()
            .zip(expected)
            .fold(0, |acc, (a, b)| acc | (a ^ b))
            != 0
        {
            return None;
        }
        Some(Cursor {
            occurred_at: i64::from_be_bytes(position[1..9].try_into().ok()?),
            seq: u64::from_be_bytes(position[9..17].try_into().ok()?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_open_only_for_their_binding_and_key() {
        let key = CursorKey::derive(b"secret");
        let cursor = Cursor {
            occurred_at: -42,
            seq: 7,
        };
        let text = key.seal(cursor, "acme|/v1/events|action=a");
        assert_eq!(key.open(&text, "acme|/v1/events|action=a"), Some(cursor));
        assert_eq!(key.open(&text, "beta|/v1/events|action=a"), None);
        assert_eq!(key.open(&text, "acme|/v1/events|action=b"), None);
        assert_eq!(
            CursorKey::derive(b"other").open(&text, "acme|/v1/events|action=a"),
            None
        );
        let mut forged = URL_SAFE_NO_PAD.decode(&text).unwrap();
        forged[16] ^= 1;
        assert_eq!(
            key.open(&URL_SAFE_NO_PAD.encode(forged), "acme|/v1/events|action=a"),
            None
        );
        assert_eq!(key.open("garbage", "x"), None);
    }
}
