//! Fuzz target: raw hypercall registers from any partition into a running router; every
//! answer decodes, no other partition changes (see
//! `system_tests::fuzz_checks::router_hypercalls`).
//!
//! The check is a library function so that `cargo test` replays the seeds on stable.
//! Run (in `fuzz/`): `cargo fuzz run router_hypercalls --sanitizer none corpus/router_hypercalls seeds/router_hypercalls`
//! (new inputs go to the gitignored `corpus/`, the committed seeds are read too).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| system_tests::fuzz_checks::router_hypercalls(data));
