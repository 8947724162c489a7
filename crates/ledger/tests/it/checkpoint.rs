//! Checkpoint bodies (C2SP tlog-checkpoint) and signed checkpoints.

use trailkeep_ledger::{Checkpoint, NoteError, NoteSigner, empty_root, leaf_hash};

fn sample() -> Checkpoint {
    Checkpoint {
        origin: "trailkeep.test/tenant-a".to_owned(),
        size: 20852163,
        root: leaf_hash(b"root"),
    }
}

#[test]
fn text_is_three_lines() {
    let cp = Checkpoint {
        origin: "example.com/log".to_owned(),
        size: 0,
        root: empty_root(),
    };
    assert_eq!(
        cp.to_text(),
        "example.com/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
    );
    assert_eq!(Checkpoint::parse(&cp.to_text()), Ok(cp));
}

#[test]
fn c2sp_spec_example_body_parses() {
    let body =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    let cp = Checkpoint::parse(body).expect("spec example");
    assert_eq!(cp.origin, "example.com/behind-the-sofa");
    assert_eq!(cp.size, 20852163);
    assert_eq!(cp.to_text(), body);
}

#[test]
fn extension_lines_are_ignored() {
    let text = format!("{}ext one\next two\n", sample().to_text());
    assert_eq!(Checkpoint::parse(&text), Ok(sample()));
}

#[test]
fn malformed_bodies_are_refused() {
    let root = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    let cases = [
        ("no final newline", format!("o\n1\n{root}")),
        ("two lines", "o\n1\n".to_owned()),
        ("empty origin", format!("\n1\n{root}\n")),
        ("empty size", format!("o\n\n{root}\n")),
        ("leading zero", format!("o\n01\n{root}\n")),
        ("plus sign", format!("o\n+1\n{root}\n")),
        ("minus sign", format!("o\n-1\n{root}\n")),
        ("space in size", format!("o\n1 \n{root}\n")),
        (
            "size too large",
            format!("o\n18446744073709551616\n{root}\n"),
        ),
        (
            "root unpadded",
            "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\n".to_owned(),
        ),
        (
            "root url-safe",
            "o\n1\n47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=\n".to_owned(),
        ),
        (
            "root 31 bytes",
            "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuA==\n".to_owned(),
        ),
        ("empty root", "o\n1\n\n".to_owned()),
        ("empty extension line", format!("o\n1\n{root}\n\next\n")),
    ];
    for (what, text) in cases {
        let got = Checkpoint::parse(&text);
        assert!(
            matches!(got, Err(NoteError::BadCheckpoint { .. })),
            "{what}: {got:?}"
        );
    }
    let max = format!("o\n18446744073709551615\n{root}\n");
    assert_eq!(Checkpoint::parse(&max).map(|cp| cp.size), Ok(u64::MAX));
}

#[test]
fn sign_then_open() {
    let signer = NoteSigner::generate("trailkeep.test/tenant-a").expect("key");
    let note = sample().sign(&signer).expect("sign");
    assert!(note.starts_with(&format!(
        "{}\n\u{2014} trailkeep.test/tenant-a ",
        sample().to_text()
    )));
    assert_eq!(Checkpoint::open(&note, &signer.verifier()), Ok(sample()));

    let other = NoteSigner::generate("trailkeep.test/tenant-a").expect("key");
    assert!(matches!(
        Checkpoint::open(&note, &other.verifier()),
        Err(NoteError::NotSigned { .. })
    ));
    let tampered = note.replacen("20852163", "20852164", 1);
    assert!(matches!(
        Checkpoint::open(&tampered, &signer.verifier()),
        Err(NoteError::BadSignature { .. })
    ));
}

#[test]
fn a_signed_note_that_is_not_a_checkpoint_does_not_open() {
    let signer = NoteSigner::generate("trailkeep.test/t").expect("key");
    let note = signer.sign("hello\n").expect("sign");
    assert!(matches!(
        Checkpoint::open(&note, &signer.verifier()),
        Err(NoteError::BadCheckpoint { .. })
    ));
}

#[test]
fn origins_that_break_the_format_are_not_signed() {
    let signer = NoteSigner::generate("trailkeep.test/t").expect("key");
    for origin in ["", "two\nlines"] {
        let cp = Checkpoint {
            origin: origin.to_owned(),
            ..sample()
        };
        assert!(matches!(
            cp.sign(&signer),
            Err(NoteError::BadCheckpoint { .. })
        ));
    }
}
