//! Fuzz target: arbitrary operation sequences on notify-core's event tables, every invariant
//! checked after each step (see `system_tests::fuzz_checks::notify_ops`).
//!
//! The check is a library function so that `cargo test` replays the seeds on stable.
//! Run (in `fuzz/`): `cargo fuzz run notify_ops --sanitizer none corpus/notify_ops seeds/notify_ops`
//! (new inputs go to the gitignored `corpus/`, the committed seeds are read too).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| system_tests::fuzz_checks::notify_ops(data));
