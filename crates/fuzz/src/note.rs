//! Signed notes, checkpoints and keys from outside: parsed or refused without a panic; a note
//! only verifies with the key that signed it, and a checkpoint that opens says what was signed.

use std::sync::OnceLock;

use trailkeep_ledger::{Checkpoint, NoteSigner, NoteVerifier};

fn signer() -> &'static NoteSigner {
    static SIGNER: OnceLock<NoteSigner> = OnceLock::new();
    SIGNER.get_or_init(|| NoteSigner::generate("trailkeep").expect("a signer"))
}

/// The check.
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = NoteVerifier::from_vkey(text);
    let _ = NoteSigner::from_skey(text);
    if let Ok(checkpoint) = Checkpoint::parse(text) {
        assert!(!checkpoint.origin.is_empty());
    }
    let verifier = signer().verifier();
    if let Ok(body) = verifier.verify(text) {
        assert!(
            text.starts_with(&body),
            "the signed text is the note's first part"
        );
    }
    // Signing what parsed as a checkpoint gives a note that opens to the same checkpoint.
    if let Ok(checkpoint) = Checkpoint::parse(text)
        && let Ok(note) = checkpoint.sign(signer())
    {
        let opened = Checkpoint::open(&note, &verifier).expect("a fresh note opens");
        assert_eq!(opened, checkpoint);
    }
}
