//! The simulator's own account of what should have happened, kept independently of the
//! engine: events offered to each port and what became of them, the level line's debts,
//! the storm and channel budgets, the health-monitor records each injected fault must
//! produce.

use irq_router::config::HmKind;

use crate::scenario::Scenario;
use crate::system::{P, port};

/// A budget of raises per major frame, as the engine charges it (a raise that read an
/// older frame is charged to the newest frame seen).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Budget {
    tag: u64,
    count: u64,
}

/// What one charge said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Charge {
    Within,
    Exceeded,
    Over,
}

impl Budget {
    pub(crate) fn charge(&mut self, frame: u64, limit: u32) -> Charge {
        if frame > self.tag {
            self.tag = frame;
            self.count = 0;
        }
        self.count += 1;
        let limit = u64::from(limit);
        if self.count <= limit {
            Charge::Within
        } else if self.count == limit + 1 {
            Charge::Exceeded
        } else {
            Charge::Over
        }
    }
}

/// The level line as it should be.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LevelModel {
    /// Partitions that owe an acknowledgement (bit `p`).
    pub(crate) owing: u32,
    /// Debts a tick took at their deadline (their timeouts are logged after, maybe once
    /// other CPUs ran), until the unmask that follows.
    pub(crate) taken: u32,
    /// Latest acknowledgement deadline.
    pub(crate) deadline: u64,
    /// Masked at the controller by the engine.
    pub(crate) masked: bool,
    pub(crate) firings: u64,
    pub(crate) unmasks: u64,
}

/// The accounts.
#[derive(Clone, Debug)]
pub(crate) struct Books {
    /// Events offered to each port (raised by the engine, by the simulator's count).
    pub(crate) offered: [[u64; port::COUNT]; P],
    /// Events on their way into each port: an engine call (an interrupt, a notify) that
    /// raises them is in progress, and they may or may not be raised yet; they are
    /// offered when it returns.
    pub(crate) inflight: [[u64; port::COUNT]; P],
    /// Events whose raise may have come before a cold start of the partition or after
    /// it (on their way then): discarded, or in the new run. Resolved by the next check
    /// of conservation (no call in progress): the events the accounts miss, at most this
    /// many, were discarded.
    pub(crate) ambiguous: [[u64; port::COUNT]; P],
    /// Events the guest consumed (acknowledged one by one, or taken by count).
    pub(crate) taken: [[u64; port::COUNT]; P],
    /// Events lost to a full port (from the health-monitor records).
    pub(crate) overflowed: [[u64; port::COUNT]; P],
    /// Events a restart discarded.
    pub(crate) discarded: [[u64; port::COUNT]; P],
    /// Events the restarts' records say they discarded.
    pub(crate) discarded_records: [u64; P],
    /// Tick of each partition's latest (re)start.
    pub(crate) start: [u64; P],
    /// Timer events taken since its latest start.
    pub(crate) timer_taken: [u64; P],
    /// Partitions the health monitor idled (bit `p`).
    pub(crate) idled: u32,
    pub(crate) level: LevelModel,
    pub(crate) storm: Budget,
    /// Interrupts of the storming line the budget must lose.
    pub(crate) storm_lost: u64,
    /// The storming line is masked for the storm of this frame.
    pub(crate) storm_mask: Option<u64>,
    pub(crate) channel: Budget,
    /// The engine's major frame (the latest a completed tick was in).
    pub(crate) frame: u64,
    /// Health-monitor records seen, per partition (index `P`: the module) and kind.
    pub(crate) records: [[u64; HmKind::COUNT]; P + 1],
    /// Upcalls injected, restarts, per partition.
    pub(crate) upcalls: [u64; P],
    pub(crate) restarts: [u64; P],
    /// Faults injected, per partition: traps, exec_stop_error, bad hypercalls, refused upcalls.
    pub(crate) traps: [u64; P],
    pub(crate) stop_errors: [u64; P],
    pub(crate) bad_calls: [u64; P],
    pub(crate) refused: [u64; P],
    /// Kicks of a CPU by another.
    pub(crate) remote_kicks: u64,
    /// Edges of the edge line's device that reached the controller.
    pub(crate) line_edges: u64,
}

impl Books {
    pub(crate) fn new(_scenario: &Scenario) -> Self {
        Self {
            offered: [[0; port::COUNT]; P],
            inflight: [[0; port::COUNT]; P],
            ambiguous: [[0; port::COUNT]; P],
            taken: [[0; port::COUNT]; P],
            overflowed: [[0; port::COUNT]; P],
            discarded: [[0; port::COUNT]; P],
            discarded_records: [0; P],
            start: [0; P],
            timer_taken: [0; P],
            idled: 0,
            level: LevelModel::default(),
            storm: Budget::default(),
            storm_lost: 0,
            storm_mask: None,
            channel: Budget::default(),
            frame: 0,
            records: [[0; HmKind::COUNT]; P + 1],
            upcalls: [0; P],
            restarts: [0; P],
            traps: [0; P],
            stop_errors: [0; P],
            bad_calls: [0; P],
            refused: [0; P],
            remote_kicks: 0,
            line_edges: 0,
        }
    }
}
