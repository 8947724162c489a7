//! `cargo fuzz run signed_note`: see `trailkeep_fuzz::note` for what it checks.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| trailkeep_fuzz::note::check(data));
