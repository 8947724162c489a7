//! schemathesis (from PyPI, installed here on first use) against `/openapi.json` of a live
//! `trailkeep serve`: every check on every operation but the endless live tail, with the
//! overrides in `crates/cli/tests/schemathesis.toml`, must find nothing.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::support::{Server, describe, path_str, python_venv, run, run_command_within, stdout};

/// The pinned release, so a new schemathesis cannot change what CI checks overnight.
const SCHEMATHESIS: &str = "schemathesis==4.32.5";
const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schemathesis.toml");

/// `st` in a virtual environment under the target directory, created (and schemathesis
/// installed from PyPI) when missing. Fails loudly when Python or PyPI is not there.
fn schemathesis() -> PathBuf {
    python_venv("schemathesis-venv", SCHEMATHESIS).join("bin/st")
}

#[test]
fn schemathesis_finds_nothing_against_the_live_description() {
    let st = schemathesis();
    let dir = tempfile::tempdir().unwrap();
    // Schemathesis sends deliberately bad credentials by the hundred, all from one address: the
    // per-address bound on failed authentications (tested in the server's own tests) would
    // soon answer 429 to everything.
    let server = Server::start_with(
        dir.path(),
        &[],
        &[("TRAILKEEP_LIMITS__FAILED_AUTH_PER_MINUTE", "0")],
    );
    let token = run(&[
        "token",
        "--tenant",
        "acme",
        "--scope",
        "audit:read audit:write audit:export audit:admin",
        "--ttl",
        "3600",
        "--data-dir",
        path_str(dir.path()),
    ]);
    assert!(token.status.success(), "{}", describe(&token));
    let token = stdout(&token).trim().to_owned();
    let output = run_command_within(
        Command::new(st)
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .args(["--config-file", CONFIG, "run"])
            .arg(format!("{}/openapi.json", server.url()))
            .args(["--header", &format!("Authorization: Bearer {token}")])
            .args(["--exclude-path", "/v1/events/stream", "--seed", "20261122"]),
        Duration::from_secs(900),
    );
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{}\nserver log:\n{}",
        describe(&output),
        server.log()
    );
    // Every operation but the live tail was selected and tested.
    let report = stdout(&output);
    let count = |label: &str| -> Option<(u32, Option<u32>)> {
        let rest = &report[report.find(label)? + label.len()..];
        let line = rest.lines().next()?.trim();
        match line.split_once('/') {
            Some((a, b)) => Some((a.trim().parse().ok()?, b.trim().parse().ok())),
            None => Some((line.parse().ok()?, None)),
        }
    };
    let (Some((selected, Some(total))), Some((tested, _))) = (count("Selected:"), count("Tested:"))
    else {
        panic!("no summary in:\n{report}");
    };
    assert_eq!((selected, tested), (total - 1, total - 1), "{report}");
}
