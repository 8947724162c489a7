//! The command line itself: the help lists every subcommand, and mistakes (verifying a
//! directory with no data, minting a token for an invalid tenant) fail with a clear message and
//! a non-zero exit, never a panic.

use crate::support::{self, describe, run, stderr, stdout};

#[test]
fn help_lists_every_subcommand() {
    let output = run(&["--help"]);
    assert!(output.status.success(), "{}", describe(&output));
    let help = stdout(&output);
    for command in ["serve", "token", "verify", "proof", "key", "reindex"] {
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with(&format!("{command} "))),
            "--help does not list {command}:\n{help}"
        );
    }
}

#[test]
fn verify_of_an_empty_directory_fails_clearly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = run(&["verify", "--data-dir", support::path_str(dir.path())]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "an unreadable directory is an error (2), not a failed verification (1): {}",
        describe(&output)
    );
    let text = format!("{}{}", stdout(&output), stderr(&output));
    assert!(!text.contains("panicked"), "{}", describe(&output));
    assert!(
        text.contains("cannot read the data directory")
            && text.contains(support::path_str(dir.path())),
        "the message must say the directory cannot be read and which one: {}",
        describe(&output)
    );
    assert!(!text.contains("verified"), "{}", describe(&output));
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("list").count(),
        0,
        "verify must not create anything in the directory it checks"
    );
}

#[test]
fn token_for_an_invalid_tenant_fails_clearly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = run(&[
        "token",
        "--tenant",
        "bad tenant!",
        "--data-dir",
        support::path_str(dir.path()),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        stdout(&output).is_empty(),
        "no token may be printed: {}",
        describe(&output)
    );
    let err = stderr(&output);
    assert!(!err.contains("panicked"), "{}", describe(&output));
    assert!(
        err.starts_with("trailkeep: ") && err.contains("tenant") && err.contains("only letters"),
        "the message must say what is wrong with the tenant: {}",
        describe(&output)
    );
    assert!(
        !dir.path().join("jwt.secret").exists(),
        "a refused token must not create a secret"
    );
}
