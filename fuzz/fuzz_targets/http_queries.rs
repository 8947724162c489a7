//! `cargo fuzz run http_queries`: see `trailkeep_fuzz::http` for what it checks.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| trailkeep_fuzz::http::check(data));
