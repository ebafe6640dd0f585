//! Cross-crate integration tests.
//!
//! Each crate's own unit, model and loom tests live in that crate. This package holds the
//! tests that cross crates (the router over notify-core and vcpu-state, the adapters, the
//! QEMU end-to-end); they arrive with the issues that build those crates.

pub mod fuzz_checks;
