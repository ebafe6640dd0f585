//! Fuzz target: arbitrary system configurations through validation, `Router::new` and a short
//! run (see `system_tests::fuzz_checks::config`).
//!
//! The check is a library function so that `cargo test` replays the seeds on stable.
//! Run (in `fuzz/`): `cargo fuzz run config --sanitizer none corpus/config seeds/config`
//! (new inputs go to the gitignored `corpus/`, the committed seeds are read too).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| system_tests::fuzz_checks::config(data));
