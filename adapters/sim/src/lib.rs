//! # irq-sim
//!
//! A deterministic simulation of a multi-CPU machine with the interrupt-virtualization
//! engine ([`irq_router::Router`]) in the middle, in the manner of FoundationDB's
//! simulation testing: one seed gives one exact schedule of every CPU, device, guest and
//! fault; a failing seed replays bit for bit.
//!
//! * [`Scenario`]: everything a run depends on, from a seed or from bytes (the fuzz
//!   target's input): CPUs (1 to 8), guests' behaviour and health-monitor tables, devices
//!   (a periodic and bursty edge line shared by all partitions, a level line that pulses
//!   or is stuck asserted, a storming line), and faults (lost and spurious interrupts,
//!   late inter-processor interrupts, CPU stalls, clock jumps, upcalls that cannot be
//!   built, crashes, hangs, restarts in the middle of service).
//! * [`run_once`], [`check`]: run it, with the invariants checked after every step and
//!   at the end (see the crate's README for the list), and for a storming scenario the
//!   comparisons with the same seed without the storm: the storm's isolation run
//!   ([`Options::isolated`]) must deliver every other partition the same events at the
//!   same steps ([`Delivery`]).
//! * [`Options::isolated`], [`Outcome::deliveries`]: the storm's isolation run and the
//!   log it keeps of what each partition was delivered.
//! * [`shrink`]: the shortest failing prefix of a failing scenario.
//! * [`sweep`]: many seeds on several threads.
//!
//! The machine is single-threaded: CPUs take turns at the scheduler's word, and inside an
//! engine call every request the engine makes of its adapter is a preemption point where
//! other CPUs' steps may run (see `machine`).

mod adapter;
mod books;
mod check;
mod controller;
mod guest;
mod isolation;
mod machine;
mod rng;
mod run;
mod scenario;
mod sweep;
pub mod system;
mod trace;

pub use isolation::{Delivery, Happened};
pub use run::{Failure, Options, Outcome, Summary, Violation, check, run_once, shrink};
pub use scenario::{Faults, Guest, Health, Level, Scenario};
pub use sweep::{Sweep, sweep};
