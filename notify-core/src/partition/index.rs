//! The two-level ready index: a summary word over one ready word per 64 ports.
//!
//! The port state words are the truth; the index only says where to look. Two rules
//! keep it from ever hiding a deliverable port:
//! * whoever makes a port deliverable sets its ready bit afterwards, and the word's
//!   summary bit if the ready word was empty;
//! * whoever clears a ready or summary bit re-reads what the bit stands for afterwards
//!   and sets the bit again if it is still needed.
//!
//! All of these are acquire-release read-modify-writes, so the re-read after a clear
//! sees any raise whose set it overwrote. Bits left set for ports that are no longer
//! deliverable are cleaned up by whoever meets them: the lookup, and inside a priority
//! level its search from the level's cursor (`round_robin.rs`), both through `retire`.
//!
//! Written by hand rather than with a bit-set crate (`bitvec`, `fixedbitset`): the words
//! are atomics shared by every CPU, and the protocol above (which bit is set or cleared
//! by which read-modify-write, and what is re-read after it) is the whole point; a
//! bit-set type would hide exactly the orderings the loom models check.

use super::PartitionEvents;
use crate::id::{PORTS_PER_WORD, Port};
use crate::state;
use crate::sync::Ordering;

impl<const W: usize, const CW: usize> PartitionEvents<W, CW> {
    /// Publishes that `port` became deliverable.
    pub(super) fn mark_ready(&self, port: Port<W>) {
        let w = port.word();
        let before = self.ready[w].fetch_or(port.bit(), Ordering::AcqRel);
        // A non-empty word already has its summary bit, or whoever emptied it is about
        // to re-read the word (after our RMW) and set the bit again.
        if before == 0 {
            self.summary.fetch_or(1 << w, Ordering::AcqRel);
        }
    }

    /// Clears `port`'s ready bit after an operation made it not deliverable, and the
    /// word's summary bit if the word became empty.
    pub(super) fn retire(&self, port: Port<W>) {
        let w = port.word();
        let left = self.ready[w].fetch_and(!port.bit(), Ordering::AcqRel) & !port.bit();
        if state::deliverable(self.hot(port).state.load(Ordering::Acquire)) {
            // Raised again since the operation that retired it.
            self.mark_ready(port);
        } else if left == 0 {
            self.retire_word(w);
        }
    }

    /// Clears summary bit `w`, then re-reads the word.
    pub(super) fn retire_word(&self, w: usize) {
        self.summary.fetch_and(!(1 << w), Ordering::AcqRel);
        if self.ready[w].load(Ordering::Acquire) != 0 {
            self.summary.fetch_or(1 << w, Ordering::AcqRel);
        }
    }

    /// The next port to deliver: deliverable (bound, pending, not masked, not in
    /// service) and of the highest priority. Without priority levels, the deliverable
    /// port with the lowest number. With them (see [`PriorityLevel`]), the level of the
    /// lowest-numbered deliverable port is the highest-priority level with one, and
    /// inside it the first deliverable port from the level's round-robin cursor,
    /// wrapping to the level's start. O(1) whatever `W`: the summary word, one ready word
    /// and one state word (in a level, the search from the cursor: see `round_robin.rs`),
    /// plus the clean-up of bits a racing operation left behind.
    ///
    /// [`PriorityLevel`]: crate::PriorityLevel
    #[inline]
    pub fn next_deliverable(&self) -> Option<Port<W>> {
        // The common case inline: the first ready bit of the first marked word is a
        // deliverable port, a level of its own (every port, by default). A port of a
        // level goes on to the search from the level's cursor; anything else (a stale bit
        // or word to clean up) takes the whole lookup, which starts again from the
        // summary.
        let summary = self.summary.load(Ordering::Acquire);
        // An empty summary gives w = 64, past the last word: None.
        let w = summary.trailing_zeros() as usize;
        let ready = self.ready.get(w)?.load(Ordering::Acquire);
        if ready != 0 {
            let b = ready.trailing_zeros();
            let hot = &self.hot[w][b as usize % PORTS_PER_WORD];
            let s = hot.state.load(Ordering::Acquire);
            if state::deliverable_alone(s) {
                return Some(Port::from_word_bit(w, b));
            }
            return self.next_deliverable_in_level(Port::from_word_bit(w, b), s);
        }
        self.next_deliverable_cleaning()
    }

    /// [`next_deliverable`](Self::next_deliverable) when the first ready bit it met, of
    /// `port` in state `state`, is not a deliverable port of its own level: a deliverable
    /// port of a priority level (the search from the level's cursor), or a stale bit (the
    /// whole lookup). Out of line, so that the common case (no level) pays nothing for
    /// levels.
    #[cold]
    #[inline(never)]
    fn next_deliverable_in_level(&self, port: Port<W>, state: u64) -> Option<Port<W>> {
        if state::deliverable(state) {
            return Some(self.round_robin(port, state));
        }
        self.next_deliverable_cleaning()
    }

    /// [`next_deliverable`](Self::next_deliverable) when the first bit it met was stale:
    /// the lookup that retires stale bits and words as it goes, and searches a level from
    /// its cursor.
    #[cold]
    #[inline(never)]
    fn next_deliverable_cleaning(&self) -> Option<Port<W>> {
        loop {
            let summary = self.summary.load(Ordering::Acquire);
            // An empty summary gives w = 64, past the last word: None.
            let w = summary.trailing_zeros() as usize;
            let mut ready = self.ready.get(w)?.load(Ordering::Acquire);
            while ready != 0 {
                let b = ready.trailing_zeros();
                let hot = &self.hot[w][b as usize % PORTS_PER_WORD];
                let port = Port::from_word_bit(w, b);
                let s = hot.state.load(Ordering::Acquire);
                if state::deliverable(s) {
                    return Some(self.round_robin(port, s));
                }
                self.retire_stale(port);
                ready &= ready - 1;
            }
            self.retire_stale_word(w);
        }
    }

    // The clean-up of bits that `next_deliverable` finds stale, kept out of line so the
    // lookup's common path stays short.

    #[cold]
    #[inline(never)]
    pub(super) fn retire_stale(&self, port: Port<W>) {
        self.retire(port);
    }

    #[cold]
    #[inline(never)]
    fn retire_stale_word(&self, w: usize) {
        self.retire_word(w);
    }
}
