//! Fuzz target: a scenario of the deterministic multi-CPU simulator (`adapters/sim`), a
//! seed plus a scenario description, run with every invariant checked (see
//! `system_tests::fuzz_checks::sim`).
//!
//! The check is a library function so that `cargo test` replays the seeds on stable.
//! Run (in `fuzz/`): `cargo fuzz run sim --sanitizer none corpus/sim seeds/sim`
//! (new inputs go to the gitignored `corpus/`, the committed seeds are read too).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| system_tests::fuzz_checks::sim(data));
