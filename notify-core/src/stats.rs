//! Per-partition statistics.

use crate::sync::{AtomicU64, Ordering, maybe_const_fn};

/// Cumulative counts for one partition: none of them ever goes back, across resets
/// included (`pending` is a snapshot, not a count).
///
/// Every raised event ends in exactly one of: delivered, still pending, overflowed,
/// coalesced, discarded. `raised` is therefore computed as their sum rather than counted:
/// counting it would put one more atomic read-modify-write, on a cache line shared by
/// every CPU raising into the partition, on the ISR path. The tests check the sum
/// against raises they count themselves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events raised (including those then overflowed or coalesced): the sum of the
    /// five outcomes below.
    pub raised: u64,
    /// Events raised and not yet consumed, now: pending, or in service and not yet
    /// acknowledged (see [`PartitionEvents::pending_total`](crate::PartitionEvents::pending_total)).
    pub pending: u64,
    /// Events handed to the partition (acknowledged one by one, or taken by count).
    pub delivered: u64,
    /// Raises merged into an already pending coalescing port.
    pub coalesced: u64,
    /// Raises lost because a counting port was at its maximum.
    pub overflowed: u64,
    /// Events pending when their port was unbound or the partition reset.
    pub discarded: u64,
    /// Latest-context updates skipped because another writer held the port's context
    /// (the other writer's context was kept).
    pub contexts_dropped: u64,
    /// Trap records lost: overwritten before they were read (or refused, their ring slot
    /// being busy).
    pub traps_dropped: u64,
    /// Trap records still unread when a reset threw them away.
    pub traps_discarded: u64,
}

pub(crate) struct Counters {
    pub(crate) delivered: AtomicU64,
    pub(crate) coalesced: AtomicU64,
    pub(crate) overflowed: AtomicU64,
    pub(crate) discarded: AtomicU64,
    pub(crate) contexts_dropped: AtomicU64,
}

impl Counters {
    maybe_const_fn! {
        pub(crate) fn new() -> Self {
            Self {
                delivered: AtomicU64::new(0),
                coalesced: AtomicU64::new(0),
                overflowed: AtomicU64::new(0),
                discarded: AtomicU64::new(0),
                contexts_dropped: AtomicU64::new(0),
            }
        }
    }

    pub(crate) fn snapshot(&self, pending: u64, traps_dropped: u64, traps_discarded: u64) -> Stats {
        let read = |c: &AtomicU64| c.load(Ordering::Acquire);
        let (delivered, coalesced) = (read(&self.delivered), read(&self.coalesced));
        let (overflowed, discarded) = (read(&self.overflowed), read(&self.discarded));
        Stats {
            raised: delivered + pending + overflowed + coalesced + discarded,
            pending,
            delivered,
            coalesced,
            overflowed,
            discarded,
            contexts_dropped: read(&self.contexts_dropped),
            traps_dropped,
            traps_discarded,
        }
    }
}
