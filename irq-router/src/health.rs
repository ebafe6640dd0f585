//! Health-monitor records and the engine's fixed log ring.
//!
//! Every event the health monitor sees becomes one [`HmRecord`]: written to the kernel's
//! log through the adapter and kept in a ring of the last [`HM_LOG_LEN`] records. Each
//! partition has its own ring (so one partition's errors can never push another's out)
//! and the module has one for events of no partition. When a ring is full the oldest
//! record is dropped and counted; a record that arrives while another CPU holds the ring
//! is not waited for either: it is counted as dropped (the kernel's log still got it).

use crate::sync::{Lock, maybe_const_fn};
use heapless::Deque;

use crate::config::{HmAction, HmKind};

/// Records kept in each ring (one per partition, one for the module).
pub const HM_LOG_LEN: usize = 32;

/// One health-monitor event and what was done about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HmRecord {
    /// Kernel tick.
    pub tick: u64,
    /// The partition concerned (`None` for module-level events).
    pub partition: Option<u16>,
    /// What happened.
    pub kind: HmKind,
    /// What the partition's table said to do.
    pub action: HmAction,
    /// Kind-specific detail: the trap vector, the port, the vector of a line, the number
    /// of events lost or discarded, the error code, the ticks overrun.
    pub detail: u64,
    /// A second detail: the faulting address of a trap, the events lost by an overflow,
    /// the entry of an upcall that could not be built.
    pub extra: u64,
    /// Events pending when the restart this event caused reset the partition's event
    /// tables (a cold start), or that a detach discarded: accounted for here.
    pub discarded: u64,
}

impl HmRecord {
    pub(crate) const fn new(
        tick: u64,
        partition: Option<usize>,
        kind: HmKind,
        action: HmAction,
        detail: u64,
        extra: u64,
    ) -> Self {
        let partition = match partition {
            Some(p) => Some(p as u16),
            None => None,
        };
        Self { tick, partition, kind, action, detail, extra, discarded: 0 }
    }
}

/// A ring of recent records.
pub(crate) struct HmLog {
    ring: Lock<Deque<HmRecord, HM_LOG_LEN>>,
    dropped: crate::sync::AtomicU64,
    total: crate::sync::AtomicU64,
}

impl HmLog {
    maybe_const_fn! {
        pub(crate) fn new() -> Self {
            Self {
                ring: Lock::new(Deque::new()),
                dropped: crate::sync::AtomicU64::new(0),
                total: crate::sync::AtomicU64::new(0),
            }
        }
    }

    pub(crate) fn push(&self, record: HmRecord) {
        use crate::sync::Ordering::Relaxed;
        self.total.fetch_add(1, Relaxed);
        let Some(mut ring) = self.ring.try_lock() else {
            self.dropped.fetch_add(1, Relaxed);
            return;
        };
        if ring.is_full() {
            ring.pop_front();
            self.dropped.fetch_add(1, Relaxed);
        }
        // Cannot fail: a slot was just freed if the ring was full.
        let _ = ring.push_back(record);
    }

    /// Copies the records (oldest first) into `out`; returns how many.
    pub(crate) fn copy_to(&self, out: &mut [HmRecord]) -> usize {
        Self::copy(&self.ring.lock(), out)
    }

    /// [`copy_to`](Self::copy_to), or `None` if the ring is held right now.
    pub(crate) fn try_copy_to(&self, out: &mut [HmRecord]) -> Option<usize> {
        self.ring.try_lock().map(|ring| Self::copy(&ring, out))
    }

    fn copy(ring: &Deque<HmRecord, HM_LOG_LEN>, out: &mut [HmRecord]) -> usize {
        let mut n = 0;
        for (slot, record) in out.iter_mut().zip(ring.iter()) {
            *slot = *record;
            n += 1;
        }
        n
    }

    /// Records lost from the ring (overwritten or contended).
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(crate::sync::Ordering::Relaxed)
    }

    /// Records ever pushed.
    pub(crate) fn total(&self) -> u64 {
        self.total.load(crate::sync::Ordering::Relaxed)
    }
}
