//! # irq-router
//!
//! The engine of the interrupt-virtualization subsystem: the static system configuration
//! ([`config`]) and the functional core, [`Router`], that composes `notify-core` (event
//! tables) and `vcpu-state` (virtual CPU and time): vector fan-out, the EOI policy of edge
//! and level lines, storm budgets, ticks and windows, traps, the health monitor
//! ([`health`]), partition lifecycle, and the hypercall ABI ([`hypercall`]).
//!
//! Every entry point takes an event and tells the kernel what to do through its
//! [`adapter::KernelAdapter`]; [`adapter::Recording`] records those requests for tests.
//!
//! Contexts: `on_hardware_irq` and `on_tick` may run in interrupt context on any CPU and
//! never wait for a partition's lock (a path that finds it held leaves the decision to
//! the holder). The other entry points (`on_partition_entry`/`on_partition_exit`,
//! `on_trap`, `hypercall`/`call`, `on_resume`, and the inspection functions) run on the
//! partition's CPU, with interrupts disabled (as the kernels this is for run their kernel
//! paths), and are not re-entered for the same partition.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod adapter;
pub mod config;
mod engine;
pub mod health;
pub mod hypercall;
mod level;
mod storm;
mod sync;

pub use engine::{CpuId, Local, Mode, NoSuchCpu, Router, Switch, Trap};
