//! `cargo fuzz run canonical_json`: see `trailkeep_fuzz::canonical` for what it checks.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| trailkeep_fuzz::canonical::check(data));
