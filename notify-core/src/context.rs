//! Event contexts and the seqlock cell that publishes them without locks.
//!
//! A context is four 64-bit words. Writers (ISRs on any CPU) publish with a sequence
//! number: odd while writing, even when done. Readers copy the words and retry when the
//! sequence moved, so a reader never returns a mix of two contexts. A writer never waits:
//! if another writer holds the cell, the newcomer's context is dropped (the other one is
//! just as recent) and the caller is told.

use crate::sync::{AtomicU64, Ordering, fence, maybe_const_fn, spin_loop};

/// Who sent an event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Sender {
    /// The kernel (hardware lines, timer, traps, health monitor).
    #[default]
    Kernel,
    /// A partition, by raw partition number (channels).
    Partition(u16),
}

impl Sender {
    /// 0 for the kernel, `p + 1` for partition `p`: 17 bits, every value distinct.
    const fn encode(self) -> u64 {
        match self {
            Self::Kernel => 0,
            Self::Partition(p) => p as u64 + 1,
        }
    }

    /// Inverse of [`encode`](Self::encode) (only ever given what `encode` made).
    const fn decode(raw: u64) -> Self {
        match raw {
            0 => Self::Kernel,
            p => Self::Partition((p - 1) as u16),
        }
    }
}

/// What a raise carries: the latest one is kept per port, traps also go to a ring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Context {
    /// Interrupt or exception vector.
    pub vector: u16,
    /// Sender of the event.
    pub sender: Sender,
    /// Error code (x86 pushes one for some exceptions).
    pub error_code: u32,
    /// Faulting address (page faults) or faulting instruction.
    pub fault_address: u64,
    /// Kernel tick counter when the event was raised.
    pub timestamp: u64,
}

/// How many times a reader retries a cell that a writer keeps changing before giving up.
pub(crate) const READ_RETRIES: usize = 16;

/// A seqlock-protected context.
///
/// `header` = sequence (bits 0..32; odd while a write is in progress) | vector (32..48)
/// | tag (48..63: the port's binding generation when the context was raised, see
/// `state::GENERATION`; 0 in the trap ring) | `EMPTY` (bit 63: nothing published since
/// construction or the last clear).
/// `word` = error code (bits 0..32) | sender (32..49, see `Sender::encode`).
///
/// The sequence only ever moves forward (by 2 per publish, wrapping at 2^32): a clear
/// sets `EMPTY` and keeps it. So the header never comes back to a value a reader may have
/// started from (short of 2^31 publishes during one read), and a reader whose re-check
/// finds its header unchanged read one whole context. A clear that reset the sequence
/// let unbind, bind and raise republish under the very header a reader started from
/// (sequence 2, then 0, then 2 again; defect 7).
pub(crate) struct ContextCell {
    header: AtomicU64,
    word: AtomicU64,
    fault_address: AtomicU64,
    timestamp: AtomicU64,
}

const SEQ_MASK: u64 = 0xffff_ffff;
const EMPTY: u64 = 1 << 63;
/// Where a header keeps its tag: the bits of the state word's generation.
pub(crate) const TAG_MASK: u64 = crate::state::GENERATION;
const VECTOR_SHIFT: u32 = 32;
const SENDER_SHIFT: u32 = 32;

/// What a read of a cell found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Read {
    /// A complete context, and the sequence it was published under.
    Context(Context, u32),
    /// Nothing published since the last clear.
    Empty,
    /// Writers kept the cell busy for every retry.
    Busy,
}

impl ContextCell {
    maybe_const_fn! {
        pub(crate) fn new() -> Self {
            Self {
                header: AtomicU64::new(EMPTY),
                word: AtomicU64::new(0),
                fault_address: AtomicU64::new(0),
                timestamp: AtomicU64::new(0),
            }
        }
    }

    /// Publishes `ctx` tagged `tag` (within `TAG_MASK`); returns `false` (and changes
    /// nothing) when another writer holds the cell.
    #[inline]
    pub(crate) fn publish(&self, ctx: &Context, tag: u64) -> bool {
        let header = self.header.load(Ordering::Relaxed);
        let seq = header & SEQ_MASK;
        if seq & 1 == 1 {
            return false;
        }
        self.publish_from(header, seq.wrapping_add(2) & SEQ_MASK, tag, ctx)
    }

    /// Publishes `ctx` under sequence `final_seq` (even, after `from`'s), claiming the cell from
    /// the exact header value `from`; `false` if the header is no longer `from`.
    #[inline]
    pub(crate) fn publish_from(&self, from: u64, final_seq: u64, tag: u64, ctx: &Context) -> bool {
        let writing = (from & !SEQ_MASK) | (final_seq.wrapping_sub(1) & SEQ_MASK);
        if self
            .header
            .compare_exchange(from, writing, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        // Orders the odd sequence before the data stores, for any reader that sees data.
        fence(Ordering::Release);
        let word = (ctx.sender.encode() << SENDER_SHIFT) | u64::from(ctx.error_code);
        self.word.store(word, Ordering::Relaxed);
        self.fault_address.store(ctx.fault_address, Ordering::Relaxed);
        self.timestamp.store(ctx.timestamp, Ordering::Relaxed);
        let done =
            (tag & TAG_MASK) | (u64::from(ctx.vector) << VECTOR_SHIFT) | (final_seq & SEQ_MASK);
        self.header.store(done, Ordering::Release);
        true
    }

    /// Current raw header (sequence and small fields).
    #[inline]
    pub(crate) fn header(&self) -> u64 {
        self.header.load(Ordering::Relaxed)
    }

    /// Sequence part of a header.
    pub(crate) const fn seq(header: u64) -> u32 {
        (header & SEQ_MASK) as u32
    }

    /// Reads a complete context published with `tag`, retrying while a writer is active.
    /// A context published with another tag reads as `Empty`.
    #[inline]
    pub(crate) fn read(&self, tag: u64) -> Read {
        for _ in 0..READ_RETRIES {
            let before = self.header.load(Ordering::Acquire);
            let seq = before & SEQ_MASK;
            if seq & 1 == 1 {
                spin_loop();
                continue;
            }
            if before & EMPTY != 0 || before & TAG_MASK != tag & TAG_MASK {
                return Read::Empty;
            }
            let word = self.word.load(Ordering::Relaxed);
            let fault_address = self.fault_address.load(Ordering::Relaxed);
            let timestamp = self.timestamp.load(Ordering::Relaxed);
            // Orders the data loads before the re-check of the sequence.
            fence(Ordering::Acquire);
            if self.header.load(Ordering::Relaxed) == before {
                let ctx = Context {
                    vector: (before >> VECTOR_SHIFT) as u16,
                    sender: Sender::decode(word >> SENDER_SHIFT),
                    error_code: word as u32,
                    fault_address,
                    timestamp,
                };
                return Read::Context(ctx, seq as u32);
            }
        }
        Read::Busy
    }

    /// Forgets the context (cold start, unbind), keeping the sequence. A writer racing
    /// the clear either lands before it (and is forgotten) or after it (and is the first
    /// context of the new run).
    pub(crate) fn clear(&self) {
        let _ = self.header.fetch_update(Ordering::AcqRel, Ordering::Relaxed, |h| {
            // A write in progress keeps its odd sequence and completes normally.
            (h & 1 == 0).then_some(h | EMPTY)
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{Context, ContextCell, Read, Sender};

    #[test]
    fn publish_then_read_round_trips() {
        let cell = ContextCell::new();
        assert_eq!(cell.read(0), Read::Empty);
        let ctx = Context {
            vector: 0x20,
            sender: Sender::Partition(3),
            error_code: 0xdead,
            fault_address: 0x1000,
            timestamp: 42,
        };
        assert!(cell.publish(&ctx, 0));
        assert_eq!(cell.read(0), Read::Context(ctx, 2));
        cell.clear();
        assert_eq!(cell.read(0), Read::Empty);
        // The sequence carries on from where the clear left it.
        assert!(cell.publish(&ctx, 0));
        assert_eq!(cell.read(0), Read::Context(ctx, 4));
    }

    #[test]
    fn a_writer_in_progress_turns_newcomers_away_and_readers_see_busy() {
        let cell = ContextCell::new();
        // Simulate a writer stopped between claiming and finishing.
        assert!(cell.publish_from(cell.header(), 2, 0, &Context::default()));
        let claimed = cell.header() | 1;
        cell.header.store(claimed, crate::sync::Ordering::Relaxed);
        assert!(!cell.publish(&Context::default(), 0));
        assert_eq!(cell.read(0), Read::Busy);
    }
}
