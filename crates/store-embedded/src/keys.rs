//! The checkpoint signing key: created with a new data directory, readable only by its owner,
//! in the C2SP `PRIVATE+KEY+...` text format.
//!
//! A key is made only for a data directory that has no ledger yet. When the database exists and
//! the key does not, the key was lost or removed: making a new one would sign the old ledgers
//! under another identity and hide the loss, so the store refuses to start instead. A key file
//! that other users can read is refused too.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use trailkeep_ledger::NoteSigner;

use crate::files::check_private_file;

/// File name of the signing key inside the data directory.
pub const KEY_FILE: &str = "signing.key";

/// Loads the data directory's signing key; creates one named `name` when there is none and the
/// directory is new (`new_dir`), and refuses otherwise.
pub fn load_or_create(dir: &Path, name: &str, new_dir: bool) -> Result<NoteSigner, String> {
    let path = dir.join(KEY_FILE);
    if path.exists() {
        return load(dir);
    }
    if !new_dir {
        return Err(format!(
            "the signing key {} is missing, but {} holds a ledger: restore the key from a \
             backup (a new key cannot extend the checkpoints the old one signed)",
            path.display(),
            dir.display()
        ));
    }
    let signer = NoteSigner::generate(name).map_err(|e| format!("generate signing key: {e}"))?;
    write(dir, &signer)?;
    Ok(signer)
}

/// Writes `signer` as the new data directory `dir`'s signing key (readable by its owner only);
/// refuses to replace a key file.
pub fn write(dir: &Path, signer: &NoteSigner) -> Result<(), String> {
    let path = dir.join(KEY_FILE);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("create {}: {e}", path.display()))?;
    file.write_all(format!("{}\n", signer.to_skey()).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("write {}: {e}", path.display()))
}

/// Loads the data directory's signing key without creating one; refuses a key file that other
/// users can read.
pub fn load(dir: &Path) -> Result<NoteSigner, String> {
    let path = dir.join(KEY_FILE);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("read signing key {}: {e}", path.display()))?;
    check_private_file(&path)?;
    NoteSigner::from_skey(text.trim())
        .map_err(|e| format!("read signing key {}: {e}", path.display()))
}
