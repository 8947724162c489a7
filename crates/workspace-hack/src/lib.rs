//! Nothing to see: this crate only asks every build for the same features of shared
//! dependencies (its `Cargo.toml` says why).
