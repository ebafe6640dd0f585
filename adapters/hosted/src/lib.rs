//! # irq-hosted
//!
//! The hosted adapter: a partitioned system of Linux processes with the
//! interrupt-virtualization subsystem in the middle. The runner (`irq-hosted`) owns the
//! [`irq_router::Router`]; each partition is a process (`irq-hosted partition N`, the same executable) that
//! shares a memfd [`region`] with the runner (its vCPU page, upcall mailbox and
//! counters), makes hypercalls over a socket ([`guest`]) and receives upcalls as a
//! real-time signal. See the crate's README for the design and its limits.

pub mod cli;
pub mod config;
pub mod freeze_bench;
pub mod guest;
pub mod latency;
pub mod region;
pub mod runner;
pub mod svg;
pub mod sys;
