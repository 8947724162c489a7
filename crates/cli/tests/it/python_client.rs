//! The Python client's pytest suite (`clients/python/tests`), against a live `trailkeep serve`:
//! pytest from PyPI and the client from its directory, into a virtual environment under the
//! target directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::{Server, create_key, describe, path_str, run, run_command_within, stdout};

const PYTEST: &str = "pytest==8.3.4";
const CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../clients/python");

/// A virtual environment with pytest and the client installed (the client again on every run,
/// so the tests exercise the code in the tree). Fails loudly without Python or PyPI.
fn venv() -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-client-venv");
    let python = venv.join("bin/python");
    if !venv.join(PYTEST).is_file() {
        let _ = std::fs::remove_dir_all(&venv);
        let made = run_command_within(
            Command::new("python3").args(["-m", "venv", path_str(&venv)]),
            Duration::from_secs(120),
        );
        assert!(
            made.status.success(),
            "python3 -m venv failed: {}",
            describe(&made)
        );
        let installed = run_command_within(
            Command::new(&python).args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                PYTEST,
            ]),
            Duration::from_secs(600),
        );
        assert!(
            installed.status.success(),
            "pip install {PYTEST} failed: {}",
            describe(&installed)
        );
        std::fs::write(venv.join(PYTEST), "").unwrap();
    }
    let build = tempfile::tempdir().unwrap();
    let installed = run_command_within(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--force-reinstall",
                "--no-deps",
            ])
            .arg(CLIENT)
            // Keep pip's build files out of the source tree.
            .env("TMPDIR", build.path()),
        Duration::from_secs(600),
    );
    assert!(
        installed.status.success(),
        "pip install ./clients/python failed: {}",
        describe(&installed)
    );
    python
}

#[test]
fn the_python_clients_pytest_suite_passes_against_a_live_server() {
    let python = venv();
    let dir = tempfile::tempdir().unwrap();
    let writer = create_key(dir.path(), "audit:read,audit:write");
    let reader = create_key(dir.path(), "audit:read");
    let server = Server::start(dir.path());
    let secret = |key: &Value, field: &str| key[field].as_str().unwrap().to_owned();
    let output = run_command_within(
        Command::new(python)
            .current_dir(dir.path())
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
            .arg(Path::new(CLIENT).join("tests"))
            .env("TRAILKEEP_URL", server.url())
            .env("TRAILKEEP_CLIENT_ID", secret(&writer, "client_id"))
            .env("TRAILKEEP_CLIENT_SECRET", secret(&writer, "client_secret"))
            .env("TRAILKEEP_READONLY_CLIENT_ID", secret(&reader, "client_id"))
            .env(
                "TRAILKEEP_READONLY_CLIENT_SECRET",
                secret(&reader, "client_secret"),
            ),
        Duration::from_secs(600),
    );
    assert!(
        output.status.success(),
        "pytest failed:\n{}\nserver log:\n{}",
        describe(&output),
        server.log()
    );
    let report = stdout(&output);
    assert!(
        report.contains(" passed") && !report.contains("failed"),
        "{report}"
    );
}
