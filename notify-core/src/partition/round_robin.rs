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

/// What a search of a level found.
enum Search<const W: usize> {
    /// The port to deliver.
    Port(Port<W>),
    /// A ready bit of a port that is not deliverable: retire it and search again.
    Stale(Port<W>),
}

impl<const W: usize, const CW: usize> PartitionEvents<W, CW> {
    /// The port to deliver when `first`, in state `state`, is the lowest-numbered
    /// deliverable port. Without a level, `first`. In a level, that level is the
    /// highest-priority one with a deliverable port, and `first` is its first deliverable
    /// port from its start; so the answer is the level's first deliverable port from its
    /// cursor to its end, else (the wrap) `first`. O(1): the cursor's ready word, then
    /// the next words the summary marks, up to the level's end (a bounded number of word
    /// operations; the next marked word is one `trailing_zeros` away).
    #[inline]
    pub(super) fn round_robin(&self, first: Port<W>, state: u64) -> Port<W> {
        match self.search(first, state) {
            Search::Port(port) => port,
            Search::Stale(port) => self.round_robin_past_stale(first, state, port),
        }
    }

    /// [`round_robin`](Self::round_robin) after its search met a stale bit: retires it
    /// (as the lookup does) and searches again, until it meets none. Out of line (and a
    /// loop, not a recursion), so the search itself calls nothing.
    #[cold]
    #[inline(never)]
    fn round_robin_past_stale(&self, first: Port<W>, state: u64, stale: Port<W>) -> Port<W> {
        let mut stale = stale;
        loop {
            self.retire_stale(stale);
            match self.search(first, state) {
                Search::Port(port) => return port,
                Search::Stale(port) => stale = port,
            }
        }
    }

    /// The search of [`round_robin`](Self::round_robin): the first ready port from the
    /// level's cursor to its end, if deliverable.
    #[inline]
    fn search(&self, first: Port<W>, state: u64) -> Search<W> {
        let Some(level) = state::level(state) else { return Search::Port(first) };
        let (Some(range), Some(cursor)) = (self.levels.get(level), self.cursors.get(level)) else {
            return Search::Port(first);
        };
        let from = usize::from(cursor.load(Ordering::Relaxed));
        let end = usize::from(range.end);
        if from <= first.index() || from >= end {
            // The search from the cursor meets `first` first, or the cursor is past the
            // level's last port: start from the level's start.
            return Search::Port(first);
        }
        let summary = self.summary.load(Ordering::Acquire);
        let mut w = from / PORTS_PER_WORD;
        let Some(word) = self.ready.get(w) else { return Search::Port(first) };
        // The cursor's word, from the cursor on.
        let mut bits = word.load(Ordering::Acquire) & (u64::MAX << (from % PORTS_PER_WORD));
        loop {
            if end < (w + 1) * PORTS_PER_WORD {
                // The level ends inside this word.
                bits &= (1u64 << (end % PORTS_PER_WORD)) - 1;
            }
            if bits != 0 {
                let port = Port::from_word_bit(w, bits.trailing_zeros());
                return if state::deliverable(self.hot(port).state.load(Ordering::Acquire)) {
                    Search::Port(port)
                } else {
                    Search::Stale(port)
                };
            }
            // The next word the summary marks (a word with a ready bit has its summary
            // bit, once the raise that set the bit has returned).
            let later = if w + 1 < PORTS_PER_WORD { summary & (u64::MAX << (w + 1)) } else { 0 };
            // No later word gives w = 64, past every level's end.
            w = later.trailing_zeros() as usize;
            if w * PORTS_PER_WORD >= end {
                return Search::Port(first);
            }
            let Some(word) = self.ready.get(w) else { return Search::Port(first) };
            bits = word.load(Ordering::Acquire);
        }
    }

    /// Moves the cursor of the level of `port` (in state `state`) past it: `begin_service`
    /// just took it into service. Out of line: `begin_service` only calls it for a port of
    /// a level, and inlined it would weigh on every other.
    #[inline(never)]
    pub(super) fn advance_cursor(&self, state: u64, port: Port<W>) {
        if let Some(cursor) = state::level(state).and_then(|level| self.cursors.get(level)) {
            // At most 4,096: past the last port, which the search reads as the level's end.
            cursor.store(port.raw() + 1, Ordering::Relaxed);
        }
    }
}
