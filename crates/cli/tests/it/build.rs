//! One build of the dependencies serves every way the project is built: `cargo build -p
//! trailkeep-cli`, `cargo run -p bench` (which builds the CLI next) and a workspace build ask for
//! the same features of every dependency they share, so none compiles them twice. The
//! `trailkeep-workspace-hack` crate makes it so; this test fails when a new dependency or
//! feature breaks it, and names what to add there.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// Each dependency (`name vX.Y.Z`) in the normal and build graph of `selection`, with the
/// features it is built with there.
fn features(selection: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
    let output = Command::new(env!("CARGO"))
        .args(["tree", "--locked", "--offline", "-e", "normal,build"])
        .args(["--prefix", "none", "--format", "{p}|{f}"])
        .args(selection)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    assert!(
        output.status.success(),
        "cargo tree {selection:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in String::from_utf8(output.stdout).unwrap().lines() {
        let Some((package, features)) = line.split_once('|') else {
            continue;
        };
        // A package already shown is marked ` (*)`.
        let features = features.trim_end_matches(" (*)");
        // `name vX.Y.Z (path) (proc-macro) (*)`: the name and version say which package.
        let mut words = package.split_whitespace();
        let (Some(name), Some(version)) = (words.next(), words.next()) else {
            continue;
        };
        if name.starts_with("trailkeep") || name == "bench" {
            continue;
        }
        graph
            .entry(format!("{name} {version}"))
            .or_default()
            .extend(
                features
                    .split(',')
                    .filter(|f| !f.is_empty())
                    .map(str::to_owned),
            );
    }
    graph
}

#[test]
fn the_cli_the_bench_and_the_workspace_build_their_shared_dependencies_alike() {
    let workspace = features(&["--workspace"]);
    let mut differences = Vec::new();
    for package in ["trailkeep-cli", "bench"] {
        for (dependency, alone) in features(&["-p", package]) {
            let everywhere = &workspace[&dependency];
            if &alone != everywhere {
                let missing: Vec<_> = everywhere.difference(&alone).collect();
                differences.push(format!(
                    "{dependency} built for {package} alone lacks {missing:?}"
                ));
            }
        }
    }
    assert!(
        differences.is_empty(),
        "add these features to crates/workspace-hack/Cargo.toml:\n{}",
        differences.join("\n")
    );
}
