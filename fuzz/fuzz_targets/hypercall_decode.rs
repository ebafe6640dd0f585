//! Fuzz target: arbitrary bytes as hypercall registers through decode and encode (see
//! `system_tests::fuzz_checks::hypercall_decode`).
//!
//! The check is a library function so that `cargo test` replays the seeds on stable.
//! Run (in `fuzz/`): `cargo fuzz run hypercall_decode --sanitizer none corpus/hypercall_decode seeds/hypercall_decode`
//! (new inputs go to the gitignored `corpus/`, the committed seeds are read too).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| system_tests::fuzz_checks::hypercall_decode(data));
