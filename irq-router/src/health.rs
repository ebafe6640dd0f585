//! Health-monitor records and the engine's fixed log ring.
//!
//! Every event the health monitor sees becomes one [`HmRecord`]: written to the kernel's
//! log through the adapter and kept in a ring of the last records. Each partition has its
//! own ring of `H` records ([`HM_LOG_LEN`] by default: the engine's parameter `H`, see
//! [`Router`](crate::Router)), so one partition's errors can never push another's out, and
//! the module has one of [`HM_LOG_LEN`] for events of no partition. An engine whose
//! partitions' rings are 0 records long (`H = 0`, to save their memory) keeps their
//! records in the module's ring instead, where they do compete for room. When a ring is
//! full the oldest record is dropped and counted, for the scope (partition or module) it
//! belongs to; a record that arrives while another CPU holds the ring is not waited for
//! either: it is counted as dropped (the kernel's log still got it).

use crate::sync::{Lock, maybe_const_fn};

use crate::config::{HmAction, HmKind};

/// Records kept in the module's ring, and by default in each partition's (see
/// [`Router`](crate::Router)'s parameter `H`).
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

/// A ring of the last `N` records (`N` at most `u16::MAX`), with the counts of a scope
/// (a partition, or the module): records made, and records lost from its ring.
///
/// The ring may hold the records of other scopes: the module's ring also keeps the records
/// of partitions that have no ring of their own (an engine whose partitions' rings are 0
/// records long, see [`Router`](crate::Router)). So reading filters by scope, and a
/// record pushed out of a full ring is counted lost for its own scope (see
/// `Router::record`).
pub(crate) struct HmLog<const N: usize> {
    ring: Lock<Ring<N>>,
    dropped: crate::sync::AtomicU64,
    total: crate::sync::AtomicU64,
}

/// The records, oldest at `head`.
struct Ring<const N: usize> {
    records: [HmRecord; N],
    head: u16,
    len: u16,
}

/// What an unused place of a ring holds.
const NO_RECORD: HmRecord = HmRecord::new(0, None, HmKind::Trap, HmAction::Ignore, 0, 0);

impl<const N: usize> Ring<N> {
    /// Appends `record`; returns the oldest record if it had to make room for it (or
    /// `record` itself in a ring of no record).
    fn push(&mut self, record: HmRecord) -> Option<HmRecord> {
        if N == 0 {
            return Some(record);
        }
        let (head, len) = (usize::from(self.head), usize::from(self.len));
        if len == N {
            let oldest = core::mem::replace(&mut self.records[head], record);
            self.head = ((head + 1) % N) as u16;
            return Some(oldest);
        }
        self.records[(head + len) % N] = record;
        self.len += 1;
        None
    }

    /// The records, oldest first.
    fn iter(&self) -> impl Iterator<Item = &HmRecord> {
        (0..usize::from(self.len)).map(|i| &self.records[(usize::from(self.head) + i) % N])
    }
}

impl<const N: usize> HmLog<N> {
    maybe_const_fn! {
        pub(crate) fn new() -> Self {
            Self {
                ring: Lock::new(Ring { records: [NO_RECORD; N], head: 0, len: 0 }),
                dropped: crate::sync::AtomicU64::new(0),
                total: crate::sync::AtomicU64::new(0),
            }
        }
    }

    /// Empties the ring and its counts where it is (the records are not rewritten: a
    /// ring's records are only read up to its length), so that an engine reconfigured in
    /// place builds no ring on the stack.
    pub(crate) fn clear(&mut self) {
        let mut ring = self.ring.lock();
        ring.head = 0;
        ring.len = 0;
        drop(ring);
        self.dropped = crate::sync::AtomicU64::new(0);
        self.total = crate::sync::AtomicU64::new(0);
    }

    /// Counts a record of this log's scope.
    pub(crate) fn count(&self) {
        self.total.fetch_add(1, crate::sync::Ordering::Relaxed);
    }

    /// Counts a record of this log's scope lost from its ring.
    pub(crate) fn count_lost(&self) {
        self.dropped.fetch_add(1, crate::sync::Ordering::Relaxed);
    }

    /// Keeps `record` in this ring. `Err(())` if another CPU holds the ring right now
    /// (nothing is waited for: the record is lost to the ring); `Ok(Some(oldest))` if the
    /// oldest record (or with `N == 0` the record itself) was pushed out to make room.
    pub(crate) fn keep(&self, record: HmRecord) -> Result<Option<HmRecord>, ()> {
        let mut ring = self.ring.try_lock().ok_or(())?;
        Ok(ring.push(record))
    }

    /// Copies the records of `scope` (oldest first) into `out`; returns how many.
    pub(crate) fn copy_to(&self, scope: Option<u16>, out: &mut [HmRecord]) -> usize {
        Self::copy(&self.ring.lock(), scope, out)
    }

    /// [`copy_to`](Self::copy_to), or `None` if the ring is held right now.
    pub(crate) fn try_copy_to(&self, scope: Option<u16>, out: &mut [HmRecord]) -> Option<usize> {
        self.ring.try_lock().map(|ring| Self::copy(&ring, scope, out))
    }

    fn copy(ring: &Ring<N>, scope: Option<u16>, out: &mut [HmRecord]) -> usize {
        let mut n = 0;
        let records = ring.iter().filter(|record| record.partition == scope);
        for (slot, record) in out.iter_mut().zip(records) {
            *slot = *record;
            n += 1;
        }
        n
    }

    /// Records of this log's scope lost from the rings (overwritten or contended).
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(crate::sync::Ordering::Relaxed)
    }

    /// Records of this log's scope ever made.
    pub(crate) fn total(&self) -> u64 {
        self.total.load(crate::sync::Ordering::Relaxed)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{HmAction, HmKind, HmLog, HmRecord};

    fn record(tick: u64, partition: Option<usize>) -> HmRecord {
        HmRecord::new(tick, partition, HmKind::Storm, HmAction::Ignore, 0, 0)
    }

    #[test]
    fn a_ring_keeps_the_newest_records_oldest_first() {
        let log = HmLog::<3>::new();
        let mut out = [record(0, None); 4];
        for tick in 1..=5 {
            let pushed_out = log.keep(record(tick, None)).unwrap();
            assert_eq!(pushed_out.map(|r| r.tick), tick.checked_sub(3).filter(|&t| t > 0));
        }
        assert_eq!(log.copy_to(None, &mut out), 3);
        assert_eq!(out.map(|r| r.tick)[..3], [3, 4, 5]);
        assert_eq!(log.copy_to(Some(0), &mut out), 0, "filtered by scope");
    }

    #[test]
    fn a_ring_of_no_record_pushes_out_each_at_once() {
        let log = HmLog::<0>::new();
        assert_eq!(log.keep(record(1, Some(2))), Ok(Some(record(1, Some(2)))));
        assert_eq!(log.copy_to(Some(2), &mut [record(0, None); 1]), 0);
    }
}
