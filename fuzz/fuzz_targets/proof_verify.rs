//! `cargo fuzz run proof_verify`: see `trailkeep_fuzz::proof` for what it checks.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| trailkeep_fuzz::proof::check(data));
