//! The storm's isolation: what each partition was delivered, step by step, in the
//! isolation run of a storming scenario and in the run of the same seed without the
//! storm, and the comparison of the two.
//!
//! # The isolation run
//!
//! A run with [`Options::isolated`](crate::Options::isolated) differs from a plain run in
//! three ways, all of them about the storm, so that with the storm off it *is* the plain
//! run without the storm (the same trace):
//!
//! * the storming partition is deaf to its storm: its storm port is configured masked
//!   (a restart masks it again), so its events pend there and never reach its guest,
//!   and its guest does not storm its channel;
//! * the storming line's interrupts are taken out of band: at the start of a scheduler
//!   step (no CPU inside the engine), on a CPU the storm's own stream picks, without a
//!   preemption point inside;
//! * the engine's requests about the storming line (its mask, unmask and EOI, its storm
//!   records) are not preemption points, in any call.
//!
//! So the storm draws nothing from the scheduler's stream, adds no step and changes
//! nothing any guest sees, and what the partitions but the storming one are delivered
//! can differ from the run without the storm only if the engine lets its handling of the
//! storm reach them. The comparison is exact: the same entries ([`Happened`]), at the
//! same scheduler steps and times, in the same order.

use std::fmt;

use crate::system::{P, STORMING};

/// One thing that happened to a partition's events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Happened {
    /// An event was raised into `port` (by the simulator's account: an interrupt's
    /// fan-out when its call returns, a notify answered with success, an error event).
    Raised {
        /// The port.
        port: u16,
    },
    /// An upcall was injected (`port` `None`: into the fault handler).
    Upcall {
        /// The port delivered.
        port: Option<u16>,
        /// Its pending count, as the upcall says.
        pending: u32,
        /// The event it delivers, as its context names it: the vector or trap, the
        /// sender and the time it was raised.
        context: irq_router::events::Context,
    },
    /// An upcall's frame could not be built (an injected fault).
    Refused {
        /// The port it would have delivered.
        port: Option<u16>,
    },
    /// The guest's handler consumed `count` events of `port`.
    Consumed {
        /// The port.
        port: u16,
        /// Events consumed.
        count: u64,
    },
    /// The engine restarted the partition.
    Restarted {
        /// A cold start (else warm).
        cold: bool,
    },
    /// The engine idled the partition.
    Idled,
    /// At the end of the run: what `port` held.
    Left {
        /// The port.
        port: u16,
        /// Pending events.
        pending: u32,
        /// In service.
        in_service: bool,
        /// Masked.
        masked: bool,
    },
    /// At the end of the run: the partition's statistics.
    Stats {
        /// Events delivered.
        delivered: u64,
        /// Lost to a full port.
        overflowed: u64,
        /// Merged into one pending.
        coalesced: u64,
        /// Discarded by restarts.
        discarded: u64,
    },
}

/// One entry of a partition's delivery log: what happened, at which scheduler step and
/// simulated time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The scheduler step.
    pub step: u64,
    /// The simulated time.
    pub time: u64,
    /// What happened.
    pub what: Happened,
}

impl fmt::Display for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step {} (t={}): ", self.step, self.time)?;
        match self.what {
            Happened::Raised { port } => write!(f, "an event raised into port {port}"),
            Happened::Upcall { port: Some(port), pending, context } => write!(
                f,
                "an upcall for port {port} ({pending} pending; the event of vector {} raised at t={})",
                context.vector, context.timestamp
            ),
            Happened::Upcall { port: None, context, .. } => write!(
                f,
                "an upcall into its fault handler (vector {}, t={})",
                context.vector, context.timestamp
            ),
            Happened::Refused { port } => write!(f, "an upcall for port {port:?} refused"),
            Happened::Consumed { port, count } => {
                write!(f, "its handler consumed {count} events of port {port}")
            }
            Happened::Restarted { cold } => {
                write!(f, "{} start", if cold { "a cold" } else { "a warm" })
            }
            Happened::Idled => write!(f, "idled"),
            Happened::Left { port, pending, in_service, masked } => write!(
                f,
                "at the end, port {port}: {pending} pending, in service {in_service}, masked {masked}"
            ),
            Happened::Stats { delivered, overflowed, coalesced, discarded } => write!(
                f,
                "at the end: {delivered} delivered, {overflowed} overflowed, {coalesced} coalesced, {discarded} discarded"
            ),
        }
    }
}

/// The first difference between the delivery logs of the partitions other than the
/// storming one, with the storm (`storm`) and without it (`quiet`): the partition, the
/// index of the first entry that differs, and what each run has there (`None`: its log
/// ended). `None` if every such log is the same.
pub(crate) fn first_difference(
    storm: &[Vec<Delivery>],
    quiet: &[Vec<Delivery>],
) -> Option<(usize, usize, Option<Delivery>, Option<Delivery>)> {
    for p in (0..P).filter(|&p| p != STORMING) {
        let none = Vec::new();
        let (a, b) = (storm.get(p).unwrap_or(&none), quiet.get(p).unwrap_or(&none));
        if a == b {
            continue;
        }
        let i = a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
        return Some((p, i, a.get(i).copied(), b.get(i).copied()));
    }
    None
}
