//! Round-robin inside a priority level (see `crate::priority`): the lookup's search from
//! a level's cursor, and the cursor's move as a port of the level goes into service.
//!
//! Both run on the partition's consumer side. The cursor is a hint: whatever value the
//! search reads, it answers a deliverable port of the highest-priority level with one,
//! so nothing here can hide an event, and the cursor needs no ordering (relaxed). The
//! search reads ready bits and port states as the lookup does, and retires the stale bits
//! it meets as the lookup does (see `index.rs`): it only ever clears a ready bit through
//! `retire`, which re-reads the port afterwards.

use super::PartitionEvents;
use crate::id::{PORTS_PER_WORD, Port};
use crate::state;
use crate::sync::Ordering;

impl<const W: usize> PartitionEvents<W> {
    /// The port to deliver when `first`, in state `state`, is the lowest-numbered
    /// deliverable port. Without a level, `first`. In a level, that level is the
    /// highest-priority one with a deliverable port, and `first` is its first deliverable
    /// port from its start; so the answer is the level's first deliverable port from its
    /// cursor to its end, else (the wrap) `first`. O(1): the cursor's ready word, then
    /// the next words the summary marks, up to the level's end (a bounded number of word
    /// operations; the next marked word is one `trailing_zeros` away).
    #[inline(never)]
    pub(super) fn round_robin(&self, first: Port<W>, state: u64) -> Port<W> {
        let Some(level) = state::level(state) else { return first };
        let (Some(range), Some(cursor)) = (self.levels.get(level), self.cursors.get(level)) else {
            return first;
        };
        let from = usize::from(cursor.load(Ordering::Relaxed));
        let end = usize::from(range.end);
        if from <= first.index() || from >= end {
            // The search from the cursor meets `first` first, or the cursor is past the
            // level's last port: start from the level's start.
            return first;
        }
        let summary = self.summary.load(Ordering::Acquire);
        let mut w = from / PORTS_PER_WORD;
        let Some(word) = self.ready.get(w) else { return first };
        // The cursor's word, from the cursor on.
        let mut bits = word.load(Ordering::Acquire) & (u64::MAX << (from % PORTS_PER_WORD));
        loop {
            if end < (w + 1) * PORTS_PER_WORD {
                // The level ends inside this word.
                bits &= (1u64 << (end % PORTS_PER_WORD)) - 1;
            }
            while bits != 0 {
                let b = bits.trailing_zeros();
                let port = Port::from_word_bit(w, b);
                if state::deliverable(self.hot(port).state.load(Ordering::Acquire)) {
                    return port;
                }
                self.retire_stale(port);
                bits &= bits - 1;
            }
            // The next word the summary marks (a word with a ready bit has its summary
            // bit, once the raise that set the bit has returned).
            let later = if w + 1 < PORTS_PER_WORD { summary & (u64::MAX << (w + 1)) } else { 0 };
            // No later word gives w = 64, past every level's end.
            w = later.trailing_zeros() as usize;
            if w * PORTS_PER_WORD >= end {
                return first;
            }
            let Some(word) = self.ready.get(w) else { return first };
            bits = word.load(Ordering::Acquire);
        }
    }

    /// Moves `level`'s cursor past `port`, which `begin_service` just took into service.
    #[inline]
    pub(super) fn advance_cursor(&self, level: usize, port: Port<W>) {
        if let Some(cursor) = self.cursors.get(level) {
            // At most 4,096: past the last port, which the search reads as the level's end.
            cursor.store(port.raw() + 1, Ordering::Relaxed);
        }
    }
}
