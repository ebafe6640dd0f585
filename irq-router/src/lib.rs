//! # irq-router
//!
//! The engine of the interrupt-virtualization subsystem: the static system configuration
//! and (arriving with the rest of the irq-router issue) the functional core that composes
//! `notify-core` and `vcpu-state`: vector fan-out, EOI policy, storm budgets, traps, the
//! health monitor, partition lifecycle and hypercall decoding.
//!
//! Work in progress: [`config`] (the configuration and its validation) is complete; the
//! engine is not written yet.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[cfg(not(loom))]
pub mod adapter;
pub mod config;
#[cfg(not(loom))]
mod engine;
#[cfg(not(loom))]
pub mod health;
pub mod hypercall;
mod level;
mod sync;

#[cfg(not(loom))]
pub use engine::{Mode, Router, Trap};
