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
//! CPUs (the design is in the repository's `docs/architecture.md`): a
//! [`Router<P, W, C>`](Router) runs on `C` CPUs and each partition is bound to one of them
//! in the configuration. Every entry point takes a [`Local`] token: the CPU it runs on,
//! with that CPU's interrupts off, so no entry point is re-entered on a CPU.
//! `on_hardware_irq` and `on_tick` run on any CPU; `on_partition_entry`/`on_partition_exit`,
//! `on_trap`, `hypercall`/`call` and `on_resume` concern the partition running on the
//! token's CPU (called for a partition of another CPU they do nothing, a hypercall is
//! answered `OutsideWindow`). Only a partition's own CPU touches its vCPU and injects its
//! upcalls; another CPU that raises one of its ports kicks its CPU
//! ([`adapter::KernelAdapter::kick`]), whose kernel then calls [`Router::on_resume`].
//! Inspection functions ([`Router::mode`], [`Router::partition_cpu`]) may wait briefly
//! for a partition's state; [`Router::try_mode`] never waits.
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
#[cfg(feature = "sim-mutations")]
pub mod mutation;
#[cfg(not(feature = "sim-mutations"))]
mod mutation;
mod storm;
mod sync;

pub use engine::{CpuId, Local, Mode, NoSuchCpu, Router, Switch, Trap};

/// The event tables (`notify-core`), as the engine's API uses them: ports, bindings,
/// sources, channels, contexts, statistics. A kernel depends on `irq-router` alone.
pub use notify_core as events;
/// The virtual CPU and time (`vcpu-state`): the page shared with a partition, catch-up
/// policies, start reasons.
pub use vcpu_state as vcpu;

pub use notify_core::{PartitionId, Port};
pub use vcpu_state::{CatchUpPolicy, SharedPage};
