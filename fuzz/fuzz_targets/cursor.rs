//! `cargo fuzz run cursor`: see `trailkeep_fuzz::cursor` for what it checks.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| trailkeep_fuzz::cursor::check(data));
