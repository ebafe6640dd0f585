//! A fixed ring of trap contexts per partition.
//!
//! Writers (the trap path, any CPU) take the next absolute index with one `fetch_add` and
//! publish into slot `index % TRAP_RING_LEN` under a sequence derived from the index. The
//! reader (the partition's consumer side) keeps its own tail. When writers lap the reader,
//! the oldest records are the ones lost, and each is counted in `dropped`. Nothing waits
//! and nothing allocates.

use crate::context::{Context, ContextCell, Read};
use crate::sync::{AtomicU64, Ordering, array_of, maybe_const_fn};

/// Trap contexts kept per partition.
pub const TRAP_RING_LEN: usize = 8;

/// Sequences repeat after this many records; the reader is never that far behind because
/// it skips to the newest `TRAP_RING_LEN` records first.
const SEQ_PERIOD: u64 = 1 << 30;

pub(crate) struct TrapRing {
    slots: [ContextCell; TRAP_RING_LEN],
    /// Next absolute index a writer takes.
    head: AtomicU64,
    /// Next absolute index the reader reads.
    tail: AtomicU64,
    /// Records lost: overwritten before being read, or refused because a slot was busy.
    dropped: AtomicU64,
    /// Unread records a clear threw away.
    discarded: AtomicU64,
}

/// Sequence under which record `index` is published (even, never 0).
const fn seq_of(index: u64) -> u64 {
    2 * (index % SEQ_PERIOD) + 2
}

impl TrapRing {
    maybe_const_fn! {
        pub(crate) fn new() -> Self {
            Self {
                slots: array_of![ContextCell::new(); TRAP_RING_LEN],
                head: AtomicU64::new(0),
                tail: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
                discarded: AtomicU64::new(0),
            }
        }
    }

    /// Records a trap. Returns `false` if the record could not be stored (its slot was
    /// being written by a writer lapped by a whole ring); it is then counted as dropped.
    pub(crate) fn push(&self, ctx: &Context) -> bool {
        let index = self.head.fetch_add(1, Ordering::AcqRel);
        let slot = &self.slots[(index % TRAP_RING_LEN as u64) as usize];
        let header = slot.header();
        let stored =
            ContextCell::seq(header) & 1 == 0 && slot.publish_from(header, seq_of(index), 0, ctx);
        if !stored {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        stored
    }

    /// Takes the oldest record not yet read. Records overwritten before they were read
    /// are skipped and counted as dropped. `None` when the ring is empty or the next
    /// record is still being written.
    pub(crate) fn pop(&self) -> Option<Context> {
        loop {
            let head = self.head.load(Ordering::Acquire);
            let mut tail = self.tail.load(Ordering::Acquire);
            if head.saturating_sub(tail) > TRAP_RING_LEN as u64 {
                let skipped = head - TRAP_RING_LEN as u64 - tail;
                self.dropped.fetch_add(skipped, Ordering::Relaxed);
                tail = head - TRAP_RING_LEN as u64;
                self.tail.store(tail, Ordering::Release);
            }
            if tail >= head {
                return None;
            }
            let slot = &self.slots[(tail % TRAP_RING_LEN as u64) as usize];
            match slot.read(0) {
                Read::Context(ctx, seq) if u64::from(seq) == seq_of(tail) => {
                    self.tail.store(tail + 1, Ordering::Release);
                    return Some(ctx);
                }
                // A newer record overwrote this one before we read it.
                Read::Context(_, seq) if Self::is_newer(u64::from(seq), tail) => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    self.tail.store(tail + 1, Ordering::Release);
                }
                // Claimed but not yet written (or a writer is busy): come back later.
                _ => return None,
            }
        }
    }

    /// Whether slot sequence `seq` belongs to a record after `tail`.
    fn is_newer(seq: u64, tail: u64) -> bool {
        let expected = seq_of(tail);
        seq != expected && (seq.wrapping_sub(expected) % (2 * SEQ_PERIOD)) < SEQ_PERIOD
    }

    /// Records not yet read (at most `TRAP_RING_LEN`).
    pub(crate) fn len(&self) -> u64 {
        let head = self.head.load(Ordering::Acquire);
        let tail = self.tail.load(Ordering::Acquire);
        head.saturating_sub(tail).min(TRAP_RING_LEN as u64)
    }

    /// Records lost so far, including those already overwritten but not yet skipped.
    pub(crate) fn dropped(&self) -> u64 {
        let head = self.head.load(Ordering::Acquire);
        let tail = self.tail.load(Ordering::Acquire);
        let behind = head.saturating_sub(tail).saturating_sub(TRAP_RING_LEN as u64);
        self.dropped.load(Ordering::Relaxed) + behind
    }

    /// Records a clear threw away unread.
    pub(crate) fn discarded(&self) -> u64 {
        self.discarded.load(Ordering::Relaxed)
    }

    /// Forgets unread records (cold start); the consumer side, like [`pop`](Self::pop).
    /// Records already overwritten stay counted as dropped (the counts are cumulative),
    /// the unread ones still in the ring are counted as discarded. Returns how many were
    /// discarded.
    pub(crate) fn clear(&self) -> u64 {
        let head = self.head.load(Ordering::Acquire);
        let tail = self.tail.load(Ordering::Acquire);
        let behind = head.saturating_sub(tail);
        let overwritten = behind.saturating_sub(TRAP_RING_LEN as u64);
        let unread = behind - overwritten;
        // As in `pop`: count first, then move the tail, which stops `dropped()` counting
        // the overwritten records itself.
        self.dropped.fetch_add(overwritten, Ordering::Relaxed);
        self.discarded.fetch_add(unread, Ordering::Relaxed);
        self.tail.store(head, Ordering::Release);
        unread
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{Context, TRAP_RING_LEN, TrapRing};

    fn ctx(n: u64) -> Context {
        Context { timestamp: n, fault_address: n * 3, ..Context::default() }
    }

    #[test]
    fn keeps_order_and_drops_the_oldest_when_lapped() {
        let ring = TrapRing::new();
        assert_eq!(ring.pop(), None);
        let total = TRAP_RING_LEN as u64 + 3;
        for n in 0..total {
            assert!(ring.push(&ctx(n)));
        }
        assert_eq!(ring.dropped(), 3);
        assert_eq!(ring.len(), TRAP_RING_LEN as u64);
        for n in 3..total {
            assert_eq!(ring.pop(), Some(ctx(n)));
        }
        assert_eq!(ring.pop(), None);
        assert_eq!(ring.dropped(), 3);
    }

    #[test]
    fn clear_discards_unread_records() {
        let ring = TrapRing::new();
        ring.push(&ctx(1));
        ring.push(&ctx(2));
        assert_eq!(ring.clear(), 2);
        assert_eq!((ring.discarded(), ring.dropped()), (2, 0));
        assert_eq!(ring.pop(), None);
        ring.push(&ctx(3));
        assert_eq!(ring.pop(), Some(ctx(3)));
    }
}
