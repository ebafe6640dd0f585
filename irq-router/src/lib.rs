//! # irq-router
//!
//! **Skeleton.** This crate will hold the static system configuration and the engine
//! that composes `notify-core` and `vcpu-state`: vector fan-out, EOI policy, storm
//! budgets, traps, the health monitor, partition lifecycle and hypercall decoding. It is
//! filled by the irq-router issue; it has no API yet.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
