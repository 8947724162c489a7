//! Signed notes: Go's `sumdb/note` test keys and the C2SP specification example, plus the
//! parsing rules of the spec.

use trailkeep_ledger::{KeyError, NoteError, NoteSigner, NoteVerifier};

const PETER_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=";
const C2SP_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
const C2SP_NOTE: &str = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

fn peter() -> NoteSigner {
    NoteSigner::from_skey(PETER_SKEY).expect("PeterNeumann skey")
}

fn peter_v() -> NoteVerifier {
    NoteVerifier::from_vkey(PETER_VKEY).expect("PeterNeumann vkey")
}

fn enoch_v() -> NoteVerifier {
    NoteVerifier::from_vkey(ENOCH_VKEY).expect("EnochRoot vkey")
}

fn note(lines: &[&str]) -> String {
    let mut note = format!("{TEXT}\n");
    for line in lines {
        note.push_str(line);
        note.push('\n');
    }
    note
}

#[test]
fn go_key_signs_exactly_like_go() {
    let signer = peter();
    assert_eq!(signer.name(), "PeterNeumann");
    assert_eq!(signer.key_id(), 0xc74f20a3);
    assert_eq!(signer.sign(TEXT), Ok(note(&[PETER_SIG])));
}

#[test]
fn keys_round_trip() {
    let signer = peter();
    assert_eq!(signer.to_skey(), PETER_SKEY);
    assert_eq!(signer.verifier().to_vkey(), PETER_VKEY);
    assert_eq!(signer.verifier(), peter_v());
    for vkey in [PETER_VKEY, ENOCH_VKEY, C2SP_VKEY] {
        assert_eq!(NoteVerifier::from_vkey(vkey).expect("vkey").to_vkey(), vkey);
    }
    let enoch = enoch_v();
    assert_eq!((enoch.name(), enoch.key_id()), ("EnochRoot", 0xaf0cfe78));
}

#[test]
fn verify_accepts_the_go_note() {
    assert_eq!(peter_v().verify(&note(&[PETER_SIG])).as_deref(), Ok(TEXT));
}

#[test]
fn verify_rejects_tampered_text() {
    let tampered = note(&[PETER_SIG]).replace("cryptography", "cryptographY");
    assert!(matches!(
        peter_v().verify(&tampered),
        Err(NoteError::BadSignature { .. })
    ));
}

#[test]
fn verify_rejects_a_note_signed_only_by_another_key() {
    let only_enoch = note(&[ENOCH_SIG]);
    assert!(matches!(
        peter_v().verify(&only_enoch),
        Err(NoteError::NotSigned { .. })
    ));
    // The other key's signature is genuine: its own verifier accepts it.
    assert_eq!(enoch_v().verify(&only_enoch).as_deref(), Ok(TEXT));
}

#[test]
fn verify_accepts_a_note_with_both_signatures_in_any_order() {
    for lines in [[PETER_SIG, ENOCH_SIG], [ENOCH_SIG, PETER_SIG]] {
        let both = note(&lines);
        assert_eq!(peter_v().verify(&both).as_deref(), Ok(TEXT));
        assert_eq!(enoch_v().verify(&both).as_deref(), Ok(TEXT));
    }
}

#[test]
fn c2sp_spec_example_verifies() {
    let v = NoteVerifier::from_vkey(C2SP_VKEY).expect("example vkey");
    assert_eq!(
        v.verify(C2SP_NOTE).as_deref(),
        Ok("This is an example message.\n")
    );
}

#[test]
fn signature_from_our_key_that_fails_rejects_the_note() {
    // A valid signature elsewhere does not rescue a note whose first signature by our key
    // is bad (spec: "clients SHOULD reject the whole note").
    let bad = PETER_SIG.replace("x08go/ZJ", "x08go/ZK");
    assert!(matches!(
        peter_v().verify(&note(&[&bad, PETER_SIG])),
        Err(NoteError::BadSignature { .. })
    ));
    // A signature by our key of the wrong length is a bad signature, not a malformed note.
    let short = "\u{2014} PeterNeumann x08go/ZJ";
    assert!(matches!(
        peter_v().verify(&note(&[short])),
        Err(NoteError::BadSignature { .. })
    ));
}

#[test]
fn same_name_or_same_id_alone_is_another_key() {
    // Enoch's signature relabelled with Peter's name: Peter's name, Enoch's key id.
    let renamed = ENOCH_SIG.replace("EnochRoot", "PeterNeumann");
    assert!(matches!(
        peter_v().verify(&note(&[&renamed])),
        Err(NoteError::NotSigned { .. })
    ));
    // Peter's key id under another name.
    let other_name = PETER_SIG.replace("PeterNeumann", "PeterNeumann2");
    assert!(matches!(
        peter_v().verify(&note(&[&other_name])),
        Err(NoteError::NotSigned { .. })
    ));
    assert_eq!(
        peter_v()
            .verify(&note(&[&renamed, &other_name, PETER_SIG]))
            .as_deref(),
        Ok(TEXT)
    );
}

#[test]
fn malformed_notes_are_refused() {
    let good = note(&[PETER_SIG]);
    let cases = [
        ("no blank line", good.replacen("\n\n", "\n", 1)),
        ("no final newline", good.trim_end_matches('\n').to_owned()),
        ("control character", good.replace("answer", "ans\twer")),
        (
            "carriage return",
            good.replace("problem,\n", "problem,\r\n"),
        ),
        ("ascii dash", good.replace('\u{2014}', "--")),
        (
            "no space after name",
            good.replace("PeterNeumann x08", "PeterNeumannx08"),
        ),
        ("bad base64", good.replace("x08go/", "x08go!")),
        ("signature too short", note(&["\u{2014} PeterNeumann x08g"])),
        ("id only", note(&["\u{2014} PeterNeumann x08gow=="])),
        ("empty signature block", format!("{TEXT}\n")),
        (
            "name with plus",
            note(&["\u{2014} Peter+Neumann x08go/ZJkuBS9U", PETER_SIG]),
        ),
    ];
    for (what, bad) in cases {
        let got = peter_v().verify(&bad);
        assert!(
            matches!(got, Err(NoteError::Malformed { .. })),
            "{what}: {got:?}"
        );
    }
}

#[test]
fn the_last_blank_line_separates_text_and_signatures() {
    // With a blank line among the signature lines, the first signature line becomes part of
    // the text, so the remaining signature no longer matches it.
    assert!(matches!(
        peter_v().verify(&note(&[PETER_SIG, "", PETER_SIG])),
        Err(NoteError::BadSignature { .. })
    ));
}

#[test]
fn signature_count_is_limited() {
    let mut lines = vec![ENOCH_SIG; 99];
    lines.push(PETER_SIG);
    assert_eq!(peter_v().verify(&note(&lines)).as_deref(), Ok(TEXT));
    lines.push(ENOCH_SIG);
    assert_eq!(
        peter_v().verify(&note(&lines)),
        Err(NoteError::TooManySignatures)
    );
}

#[test]
fn text_with_blank_lines_signs_and_verifies() {
    let signer = peter();
    for text in [
        "a\n\nb\n",
        "a\n\n\n",
        "\n",
        "\u{2014} looks like a signature\n\n",
    ] {
        let signed = signer.sign(text).expect("sign");
        assert_eq!(signer.verifier().verify(&signed).as_deref(), Ok(text));
    }
}

#[test]
fn unsignable_text_is_refused() {
    let signer = peter();
    for text in ["", "no newline", "tab\there\n", "cr\r\n"] {
        assert!(
            matches!(signer.sign(text), Err(NoteError::BadText { .. })),
            "{text:?}"
        );
    }
}

#[test]
fn bad_keys_are_refused() {
    let peter_key = PETER_VKEY.split('+').nth(2).expect("key field");
    type Check = fn(&KeyError) -> bool;
    let cases: Vec<(String, Check)> = vec![
        ("PeterNeumann".into(), |e| {
            matches!(e, KeyError::Format { .. })
        }),
        ("PeterNeumann+c74f20a3".into(), |e| {
            matches!(e, KeyError::Format { .. })
        }),
        (format!("+c74f20a3+{peter_key}"), |e| {
            matches!(e, KeyError::BadName(_))
        }),
        (format!("Peter Neumann+c74f20a3+{peter_key}"), |e| {
            matches!(e, KeyError::BadName(_))
        }),
        (format!("PeterNeumann+c74f20a+{peter_key}"), |e| {
            matches!(e, KeyError::BadKeyId(_))
        }),
        (format!("PeterNeumann+c74f20a4+{peter_key}"), |e| {
            matches!(
                e,
                KeyError::KeyIdMismatch {
                    stated: 0xc74f20a4,
                    computed: 0xc74f20a3
                }
            )
        }),
        (format!("PeterNeumann2+c74f20a3+{peter_key}"), |e| {
            matches!(e, KeyError::KeyIdMismatch { .. })
        }),
        ("PeterNeumann+c74f20a3+!!!!".into(), |e| {
            matches!(e, KeyError::BadBase64)
        }),
        ("PeterNeumann+c74f20a3+".into(), |e| {
            matches!(e, KeyError::BadKeyLength(0))
        }),
        ("PeterNeumann+c74f20a3+AhpcAA==".into(), |e| {
            matches!(e, KeyError::UnsupportedType(2))
        }),
        ("PeterNeumann+c74f20a3+ARpcAA==".into(), |e| {
            matches!(e, KeyError::BadKeyLength(4))
        }),
    ];
    for (vkey, want) in cases {
        let got = NoteVerifier::from_vkey(&vkey);
        assert!(matches!(&got, Err(e) if want(e)), "{vkey}: {got:?}");
    }
    // Upper-case hex is read too (Go parses it), and written back in lower case.
    let upper = PETER_VKEY.replace("c74f20a3", "C74F20A3");
    assert_eq!(
        NoteVerifier::from_vkey(&upper)
            .expect("upper-case id")
            .to_vkey(),
        PETER_VKEY
    );
}

#[test]
fn bad_private_keys_are_refused() {
    assert!(matches!(
        NoteSigner::from_skey(PETER_VKEY),
        Err(KeyError::Format { .. })
    ));
    assert!(matches!(
        NoteSigner::from_skey(&PETER_SKEY.replace("c74f20a3", "c74f20a4")),
        Err(KeyError::KeyIdMismatch { .. })
    ));
    assert!(matches!(
        NoteSigner::from_skey(&PETER_SKEY.replace("PeterNeumann", "Enoch")),
        Err(KeyError::KeyIdMismatch { .. })
    ));
    assert!(matches!(
        NoteSigner::generate("has space"),
        Err(KeyError::BadName(_))
    ));
}
