//! `cargo fuzz run batch_split`: see `trailkeep_fuzz::batch` for what it checks.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| trailkeep_fuzz::batch::check(data));
