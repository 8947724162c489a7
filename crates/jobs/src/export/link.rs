//! Expiring signed links to an export's files: a URL that works without a credential, for
//! handing an export to someone (an auditor, an e-mail recipient, a webhook receiver).
//!
//! A link's token is a C2SP signed note, signed with the ledger key (the key that signs
//! checkpoints and manifests), encoded as unpadded base64url so that it fits in one path
//! segment. Its text is two lines: [`LINK_ORIGIN`] and one line of JSON naming the tenant, the
//! export, which of its files, when the link expires and who made it. The server checks the
//! signature with its own verifier key before it looks anything up, so a link cannot be
//! bent to another tenant, export, file or time without failing; every use is recorded in
//! the tenant's trail. Links stop working when they expire, when the export's files are
//! removed, and when the ledger key is replaced.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use trailkeep_ledger::NoteVerifier;
use trailkeep_store::{EventStore, StoreError};

/// The first line of a link's signed text; no other note the ledger key signs starts so.
pub const LINK_ORIGIN: &str = "trailkeep.dev/export-link/v1";

/// The path under which the server opens links (`{LINK_PATH}/{token}`).
pub const LINK_PATH: &str = "/v1/export-links";

/// Longest token accepted (a real one is about 400 characters).
const MAX_TOKEN: usize = 2_048;

/// Which of an export's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    /// The events.
    File,
    /// The signed manifest.
    Manifest,
    /// The proofs (NDJSON exports).
    Proofs,
}

/// What a link grants: one file of one export of one tenant, until it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    /// The export's tenant.
    pub tenant: String,
    /// The export's id.
    pub export: String,
    /// Which file.
    pub part: Part,
    /// When it stops working, in seconds since the epoch.
    pub expires: i64,
    /// Who made it: the credential that asked for it, or the export's requester for the links
    /// a delivery sends.
    pub by: String,
}

/// Why a link does not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not a link this server could have made.
    #[error("the link is not valid")]
    Invalid,
    /// It was, but its time is up.
    #[error("the link expired")]
    Expired,
}

impl Link {
    /// The link's token, signed with the store's ledger key.
    pub fn sign(&self, store: &dyn EventStore) -> Result<String, StoreError> {
        let json = serde_json::to_string(self).expect("a link serialises");
        let note = store.sign_note(&format!("{LINK_ORIGIN}\n{json}\n"))?;
        Ok(URL_SAFE_NO_PAD.encode(note))
    }

    /// The link in `token`, when `verifier` signed it and it has not expired at `now` (seconds
    /// since the epoch).
    pub fn open(token: &str, verifier: &NoteVerifier, now: i64) -> Result<Self, LinkError> {
        if token.len() > MAX_TOKEN {
            return Err(LinkError::Invalid);
        }
        let note = URL_SAFE_NO_PAD
            .decode(token)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or(LinkError::Invalid)?;
        let text = verifier.verify(&note).map_err(|_| LinkError::Invalid)?;
        let json = text
            .strip_prefix(LINK_ORIGIN)
            .and_then(|rest| rest.strip_prefix('\n'))
            .and_then(|rest| rest.strip_suffix('\n'))
            .ok_or(LinkError::Invalid)?;
        let link: Self = serde_json::from_str(json).map_err(|_| LinkError::Invalid)?;
        if link.expires <= now {
            return Err(LinkError::Expired);
        }
        Ok(link)
    }
}

/// Signed links to each of an export's files, all expiring together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedLinks {
    /// The events file.
    pub file: String,
    /// The signed manifest.
    pub manifest: String,
    /// The proofs, for an NDJSON export.
    pub proofs: Option<String>,
    /// When they stop working, in seconds since the epoch.
    pub expires: i64,
}

/// Signs links to export `export` of `tenant` (its proofs too when `proofs`), valid until
/// `expires` (seconds), made by `by`; each URL is `base` (the server's public address, or
/// empty for paths) followed by [`LINK_PATH`] and the token.
pub fn share(
    store: &dyn EventStore,
    base: &str,
    tenant: &str,
    export: &str,
    proofs: bool,
    expires: i64,
    by: &str,
) -> Result<SharedLinks, StoreError> {
    let url = |part: Part| -> Result<String, StoreError> {
        let link = Link {
            tenant: tenant.to_owned(),
            export: export.to_owned(),
            part,
            expires,
            by: by.to_owned(),
        };
        Ok(format!(
            "{}{LINK_PATH}/{}",
            base.trim_end_matches('/'),
            link.sign(store)?
        ))
    };
    Ok(SharedLinks {
        file: url(Part::File)?,
        manifest: url(Part::Manifest)?,
        proofs: proofs.then(|| url(Part::Proofs)).transpose()?,
        expires,
    })
}

#[cfg(test)]
mod tests {
    use trailkeep_ledger::NoteSigner;

    use super::*;

    fn signed(signer: &NoteSigner, link: &Link) -> String {
        let json = serde_json::to_string(link).unwrap();
        URL_SAFE_NO_PAD.encode(signer.sign(&format!("{LINK_ORIGIN}\n{json}\n")).unwrap())
    }

    fn link() -> Link {
        Link {
            tenant: "acme".into(),
            export: "exp_1".into(),
            part: Part::File,
            expires: 2_000,
            by: "key_1".into(),
        }
    }

    #[test]
    fn a_link_opens_until_it_expires_and_only_with_its_own_key() {
        let signer = NoteSigner::generate("ledger.example").unwrap();
        let token = signed(&signer, &link());
        assert_eq!(Link::open(&token, &signer.verifier(), 1_999), Ok(link()));
        assert_eq!(
            Link::open(&token, &signer.verifier(), 2_000),
            Err(LinkError::Expired)
        );
        let other = NoteSigner::generate("ledger.example").unwrap();
        assert_eq!(
            Link::open(&token, &other.verifier(), 0),
            Err(LinkError::Invalid)
        );
    }

    #[test]
    fn a_link_bent_to_another_tenant_or_file_is_refused() {
        let signer = NoteSigner::generate("ledger.example").unwrap();
        let note =
            String::from_utf8(URL_SAFE_NO_PAD.decode(signed(&signer, &link())).unwrap()).unwrap();
        for (from, to) in [
            ("\"acme\"", "\"beta\""),
            ("\"file\"", "\"proofs\""),
            ("2000", "9000"),
        ] {
            let bent = URL_SAFE_NO_PAD.encode(note.replace(from, to));
            assert_eq!(
                Link::open(&bent, &signer.verifier(), 0),
                Err(LinkError::Invalid),
                "{from} -> {to}"
            );
        }
        // A note the key signed for something else is not a link.
        let manifest = URL_SAFE_NO_PAD.encode(
            signer
                .sign("trailkeep.dev/export-manifest/v1\n{}\n")
                .unwrap(),
        );
        assert_eq!(
            Link::open(&manifest, &signer.verifier(), 0),
            Err(LinkError::Invalid)
        );
        assert_eq!(
            Link::open("not base64!", &signer.verifier(), 0),
            Err(LinkError::Invalid)
        );
    }
}
