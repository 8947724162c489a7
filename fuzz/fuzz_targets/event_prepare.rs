//! `cargo fuzz run event_prepare`: see `trailkeep_fuzz::event` for what it checks.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| trailkeep_fuzz::event::check(data));
