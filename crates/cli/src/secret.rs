//! The HS256 secret: `auth.jwt_secret` (or `TRAILKEEP_JWT_SECRET`) when set, otherwise a random
//! secret kept in the data directory (`jwt.secret`, mode 0600), so a fresh clone works without
//! configuration and `trailkeep token` mints tokens the server accepts. A secret file that other
//! users can read is refused.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use trailkeep_store_embedded::files;

use crate::config::Secret;

/// The file, inside the data directory, that keeps a generated secret.
pub const SECRET_FILE: &str = "jwt.secret";

/// The configured secret (already checked for length), or the data directory's (created on
/// first use).
pub fn jwt_secret(data_dir: &Path, configured: Option<&Secret>) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = configured {
        return Ok(secret.expose().as_bytes().to_vec());
    }
    let path = data_dir.join(SECRET_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            files::check_private_file(&path).map_err(anyhow::Error::msg)?;
            Ok(text.trim().as_bytes().to_vec())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            files::create_private_dir(data_dir).map_err(anyhow::Error::msg)?;
            let mut raw = [0u8; 32];
            getrandom::fill(&mut raw).map_err(|e| anyhow::anyhow!("generate a secret: {e}"))?;
            let secret = STANDARD.encode(raw);
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .with_context(|| format!("create {}", path.display()))?;
            writeln!(file, "{secret}").with_context(|| format!("write {}", path.display()))?;
            Ok(secret.into_bytes())
        }
        Err(e) => Err(e).with_context(|| format!("read {}", path.display())),
    }
}
