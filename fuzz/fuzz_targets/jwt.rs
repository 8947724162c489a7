//! `cargo fuzz run jwt`: see `trailkeep_fuzz::jwt` for what it checks.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| trailkeep_fuzz::jwt::check(data));
