//! The checkpoint signing key: created on first start in the data directory, readable only by
//! its owner, in the C2SP `PRIVATE+KEY+...` text format.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use trailkeep_ledger::NoteSigner;

/// File name of the signing key inside the data directory.
pub const KEY_FILE: &str = "signing.key";

/// Loads the data directory's signing key, creating one named `name` if there is none.
pub fn load_or_create(dir: &Path, name: &str) -> Result<NoteSigner, String> {
    let path = dir.join(KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => NoteSigner::from_skey(text.trim())
            .map_err(|e| format!("read signing key {}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let signer =
                NoteSigner::generate(name).map_err(|e| format!("generate signing key: {e}"))?;
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| format!("create {}: {e}", path.display()))?;
            file.write_all(format!("{}\n", signer.to_skey()).as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| format!("write {}: {e}", path.display()))?;
            Ok(signer)
        }
        Err(e) => Err(format!("read signing key {}: {e}", path.display())),
    }
}

/// Loads the data directory's signing key without creating one.
pub fn load(dir: &Path) -> Result<NoteSigner, String> {
    let path = dir.join(KEY_FILE);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("read signing key {}: {e}", path.display()))?;
    NoteSigner::from_skey(text.trim())
        .map_err(|e| format!("read signing key {}: {e}", path.display()))
}
