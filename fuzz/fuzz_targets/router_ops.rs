//! Fuzz target: random kernel event sequences into the router of a three-partition system,
//! nothing lost and every upcall in its window (see `system_tests::fuzz_checks::router_ops`).
//!
//! The check is a library function so that `cargo test` replays the seeds on stable.
//! Run (in `fuzz/`): `cargo fuzz run router_ops --sanitizer none corpus/router_ops seeds/router_ops`
//! (new inputs go to the gitignored `corpus/`, the committed seeds are read too).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| system_tests::fuzz_checks::router_ops(data));
