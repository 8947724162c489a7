//! C2SP signed notes (<https://c2sp.org/signed-note>) with Ed25519 keys (signature type 0x01),
//! and the key encodings of Go's `golang.org/x/mod/sumdb/note`.
//!
//! A signed note is the text (ending in a newline), a blank line, then signature lines
//! `— <key name> <base64(key id, 4 bytes big-endian || signature)>`. The text may itself hold
//! blank lines: the *last* blank line of the note is the separator, and no signature line can
//! be empty, so that split is unambiguous.
//!
//! Verification follows the spec's rules: signature lines from keys other than ours (a
//! different name or key id) are skipped, so notes can carry cosignatures and survive key
//! rotation; a signature that claims to be ours and does not verify rejects the whole note; a
//! note with no valid signature of ours is rejected. As in Go, a second signature line by our
//! key is ignored.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// The signature type byte of Ed25519 in key ids and key encodings.
const ALG_ED25519: u8 = 0x01;
/// What every signature line starts with: U+2014 EM DASH, then a space.
const SIG_PREFIX: &str = "\u{2014} ";
/// The most signature lines a note may have (the spec asks verifiers to accept at least 16).
const MAX_SIGNATURES: usize = 100;
/// What a private key string starts with.
const SKEY_PREFIX: &str = "PRIVATE+KEY+";

/// Why a key string or key name was refused.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// The string does not have the expected `+`-separated fields.
    #[error("malformed key: {reason}")]
    Format {
        /// What is missing, for people.
        reason: &'static str,
    },
    /// The key name is empty or contains a Unicode space or a `+`.
    #[error("key name {0:?} is empty or contains a space or '+'")]
    BadName(String),
    /// The key id field is not exactly eight hex digits.
    #[error("key id {0:?} is not 8 hex digits")]
    BadKeyId(String),
    /// The key field is not standard padded base64.
    #[error("key is not valid base64")]
    BadBase64,
    /// The key is of a signature type other than Ed25519 (0x01).
    #[error("key type {0:#04x} is not Ed25519 (0x01)")]
    UnsupportedType(u8),
    /// The decoded key (type byte included) is not 33 bytes.
    #[error("key is {0} bytes long, want 33")]
    BadKeyLength(usize),
    /// The key id written in the string is not the one computed from the name and key.
    #[error("key id {stated:08x} does not match the key, which has id {computed:08x}")]
    KeyIdMismatch {
        /// The id in the string.
        stated: u32,
        /// The id of the name and key.
        computed: u32,
    },
    /// The 32 bytes are not an Ed25519 public key.
    #[error("not a valid Ed25519 public key")]
    InvalidPublicKey,
    /// The system's random source failed while generating a key.
    #[error("no randomness for a new key: {0}")]
    Randomness(String),
}

impl KeyError {
    /// A stable, machine-readable name for the variant.
    pub fn code(&self) -> &'static str {
        match self {
            KeyError::Format { .. } => "key_format",
            KeyError::BadName(_) => "key_bad_name",
            KeyError::BadKeyId(_) => "key_bad_id",
            KeyError::BadBase64 => "key_bad_base64",
            KeyError::UnsupportedType(_) => "key_unsupported_type",
            KeyError::BadKeyLength(_) => "key_bad_length",
            KeyError::KeyIdMismatch { .. } => "key_id_mismatch",
            KeyError::InvalidPublicKey => "key_invalid_public",
            KeyError::Randomness(_) => "key_randomness",
        }
    }
}

/// Why a note could not be signed, opened or parsed.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum NoteError {
    /// The text given to sign does not end in a newline or holds a control character.
    #[error("text cannot be signed: {reason}")]
    BadText {
        /// What is wrong, for people.
        reason: &'static str,
    },
    /// The note is not a well-formed signed note.
    #[error("malformed note: {reason}")]
    Malformed {
        /// What is wrong, for people.
        reason: &'static str,
    },
    /// The note has more signature lines than a verifier looks at.
    #[error("note has more than {MAX_SIGNATURES} signatures")]
    TooManySignatures,
    /// A signature line names our key (name and key id) but the signature does not verify.
    #[error("signature by {name} (key id {key_id:08x}) does not verify")]
    BadSignature {
        /// The key name.
        name: String,
        /// The key id.
        key_id: u32,
    },
    /// No signature line is by our key.
    #[error("note is not signed by {name} (key id {key_id:08x})")]
    NotSigned {
        /// The key name.
        name: String,
        /// The key id.
        key_id: u32,
    },
    /// The (verified) text is not a valid checkpoint body.
    #[error("bad checkpoint: {reason}")]
    BadCheckpoint {
        /// What is wrong, for people.
        reason: String,
    },
}

impl NoteError {
    /// A stable, machine-readable name for the variant.
    pub fn code(&self) -> &'static str {
        match self {
            NoteError::BadText { .. } => "note_bad_text",
            NoteError::Malformed { .. } => "note_malformed",
            NoteError::TooManySignatures => "note_too_many_signatures",
            NoteError::BadSignature { .. } => "note_bad_signature",
            NoteError::NotSigned { .. } => "note_not_signed",
            NoteError::BadCheckpoint { .. } => "checkpoint_malformed",
        }
    }
}

/// Whether `name` may name a key: non-empty, no Unicode space, no `+`.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

fn check_name(name: &str) -> Result<(), KeyError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(KeyError::BadName(name.to_owned()))
    }
}

/// Whether `s` holds an ASCII control character other than newline.
fn has_control(s: &str) -> bool {
    s.chars().any(|c| c < ' ' && c != '\n')
}

/// The key id of an Ed25519 key: SHA-256(name || 0x0A || 0x01 || public key)\[:4\], big-endian.
fn key_id(name: &str, public: &VerifyingKey) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_ED25519]);
    h.update(public.as_bytes());
    let digest = h.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

fn parse_key_id(hex: &str) -> Result<u32, KeyError> {
    let bad = || KeyError::BadKeyId(hex.to_owned());
    if hex.len() != 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    u32::from_str_radix(hex, 16).map_err(|_| bad())
}

/// Decodes `base64(0x01 || 32 bytes)`.
fn decode_key(b64: &str) -> Result<[u8; 32], KeyError> {
    let bytes = STANDARD.decode(b64).map_err(|_| KeyError::BadBase64)?;
    match bytes.split_first() {
        None => Err(KeyError::BadKeyLength(0)),
        Some((&alg, _)) if alg != ALG_ED25519 => Err(KeyError::UnsupportedType(alg)),
        Some((_, key)) => key
            .try_into()
            .map_err(|_| KeyError::BadKeyLength(bytes.len())),
    }
}

fn encode_key(key: &[u8; 32]) -> String {
    let mut bytes = Vec::with_capacity(33);
    bytes.push(ALG_ED25519);
    bytes.extend_from_slice(key);
    STANDARD.encode(bytes)
}

/// A named Ed25519 signing key for notes.
#[derive(Clone)]
pub struct NoteSigner {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

impl NoteSigner {
    /// A new key named `name`, from the system's random source.
    pub fn generate(name: &str) -> Result<Self, KeyError> {
        check_name(name)?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| KeyError::Randomness(e.to_string()))?;
        Ok(Self::from_seed(name, &seed))
    }

    fn from_seed(name: &str, seed: &[u8; 32]) -> Self {
        let key = SigningKey::from_bytes(seed);
        let key_id = key_id(name, &key.verifying_key());
        Self {
            name: name.to_owned(),
            key_id,
            key,
        }
    }

    /// Parses a private key string:
    /// `PRIVATE+KEY+<name>+<key id, 8 hex digits>+<base64(0x01 || 32-byte seed)>`.
    /// The key id must be the one of the name and key.
    pub fn from_skey(skey: &str) -> Result<Self, KeyError> {
        let rest = skey.strip_prefix(SKEY_PREFIX).ok_or(KeyError::Format {
            reason: "a private key starts with PRIVATE+KEY+",
        })?;
        let (name, rest) = rest.split_once('+').ok_or(KeyError::Format {
            reason: "no '+' after the key name",
        })?;
        let (id, b64) = rest.split_once('+').ok_or(KeyError::Format {
            reason: "no '+' after the key id",
        })?;
        check_name(name)?;
        let stated = parse_key_id(id)?;
        let signer = Self::from_seed(name, &decode_key(b64)?);
        if signer.key_id != stated {
            return Err(KeyError::KeyIdMismatch {
                stated,
                computed: signer.key_id,
            });
        }
        Ok(signer)
    }

    /// The private key string [`NoteSigner::from_skey`] reads. It is the secret: keep it so.
    pub fn to_skey(&self) -> String {
        format!(
            "{SKEY_PREFIX}{}+{:08x}+{}",
            self.name,
            self.key_id,
            encode_key(self.key.as_bytes())
        )
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The matching verifier.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// Signs `text`, which must end in a newline and hold no control character but newline,
    /// and returns the signed note: the text, a blank line and one signature line.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        if !text.ends_with('\n') {
            return Err(NoteError::BadText {
                reason: "text does not end with a newline",
            });
        }
        if has_control(text) {
            return Err(NoteError::BadText {
                reason: "text holds a control character other than newline",
            });
        }
        let signature = self.key.sign(text.as_bytes());
        let mut blob = Vec::with_capacity(4 + Signature::BYTE_SIZE);
        blob.extend_from_slice(&self.key_id.to_be_bytes());
        blob.extend_from_slice(&signature.to_bytes());
        Ok(format!(
            "{text}\n{SIG_PREFIX}{} {}\n",
            self.name,
            STANDARD.encode(blob)
        ))
    }
}

/// A named Ed25519 public key that checks notes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl NoteVerifier {
    /// Parses a verifier key string: `<name>+<key id, 8 hex digits>+<base64(0x01 || 32-byte
    /// public key)>`, split on the first two `+` only (base64 may hold `+`). The key id must be
    /// the one of the name and key.
    pub fn from_vkey(vkey: &str) -> Result<Self, KeyError> {
        let (name, rest) = vkey.split_once('+').ok_or(KeyError::Format {
            reason: "no '+' after the key name",
        })?;
        let (id, b64) = rest.split_once('+').ok_or(KeyError::Format {
            reason: "no '+' after the key id",
        })?;
        check_name(name)?;
        let stated = parse_key_id(id)?;
        let key =
            VerifyingKey::from_bytes(&decode_key(b64)?).map_err(|_| KeyError::InvalidPublicKey)?;
        let computed = key_id(name, &key);
        if computed != stated {
            return Err(KeyError::KeyIdMismatch { stated, computed });
        }
        Ok(Self {
            name: name.to_owned(),
            key_id: computed,
            key,
        })
    }

    /// The verifier key string [`NoteVerifier::from_vkey`] reads.
    pub fn to_vkey(&self) -> String {
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            encode_key(self.key.as_bytes())
        )
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Checks a signed note and returns its text (without the blank line and signatures).
    ///
    /// At least one signature line must be by this key (same name and key id) and verify;
    /// lines by other keys are skipped; a line by this key that does not verify, or any
    /// malformed line, rejects the note.
    pub fn verify(&self, note: &str) -> Result<String, NoteError> {
        let malformed = |reason| NoteError::Malformed { reason };
        if has_control(note) {
            return Err(malformed(
                "note holds a control character other than newline",
            ));
        }
        let split = note
            .rfind("\n\n")
            .ok_or(malformed("no blank line before the signatures"))?;
        let (text, sigs) = (&note[..split + 1], &note[split + 2..]);
        let sigs = sigs
            .strip_suffix('\n')
            .ok_or(malformed("no signature lines ending in a newline"))?;

        let mut verified = false;
        for (count, line) in sigs.split('\n').enumerate() {
            if count == MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures);
            }
            let line = line.strip_prefix(SIG_PREFIX).ok_or(malformed(
                "a signature line does not start with an em dash and space",
            ))?;
            let (name, b64) = line.split_once(' ').ok_or(malformed(
                "a signature line has no space after the key name",
            ))?;
            if !valid_name(name) {
                return Err(malformed("a signature line has an invalid key name"));
            }
            let blob = STANDARD
                .decode(b64)
                .map_err(|_| malformed("a signature is not valid base64"))?;
            let Some((id, signature)) = blob.split_first_chunk::<4>() else {
                return Err(malformed("a signature is shorter than its key id"));
            };
            if signature.is_empty() {
                return Err(malformed("a signature is empty"));
            }
            if name != self.name || u32::from_be_bytes(*id) != self.key_id || verified {
                continue;
            }
            let bad = || NoteError::BadSignature {
                name: self.name.clone(),
                key_id: self.key_id,
            };
            let signature = Signature::from_slice(signature).map_err(|_| bad())?;
            self.key
                .verify_strict(text.as_bytes(), &signature)
                .map_err(|_| bad())?;
            verified = true;
        }
        if !verified {
            return Err(NoteError::NotSigned {
                name: self.name.clone(),
                key_id: self.key_id,
            });
        }
        Ok(text.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("example.com/log"));
        assert!(!valid_name(""));
        assert!(!valid_name("a b"));
        assert!(!valid_name("a+b"));
        assert!(!valid_name("a\u{00a0}b"));
        assert!(!valid_name("a\u{3000}b"));
    }

    #[test]
    fn key_ids_need_eight_hex_digits() {
        assert_eq!(parse_key_id("c74f20a3"), Ok(0xc74f20a3));
        assert_eq!(parse_key_id("C74F20A3"), Ok(0xc74f20a3));
        for bad in ["c74f20a", "c74f20a30", "+74f20a3", "g74f20a3", ""] {
            assert!(parse_key_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn generated_keys_round_trip() {
        let signer = NoteSigner::generate("trailkeep.test/t1").expect("generate");
        let again = NoteSigner::from_skey(&signer.to_skey()).expect("skey");
        assert_eq!(again.verifier(), signer.verifier());
        let note = signer.sign("hello\n").expect("sign");
        assert_eq!(again.verifier().verify(&note).as_deref(), Ok("hello\n"));
        let skey = signer.to_skey();
        // The key text is PRIVATE+KEY+<name>+<id>+<base64>, and base64 may itself hold '+'.
        let seed = skey.splitn(5, '+').nth(4).expect("seed field");
        assert!(seed.len() >= 44, "{seed}");
        assert!(!format!("{signer:?}").contains(seed));
    }
}
