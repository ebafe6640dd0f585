//! Bindings at run time, and the cold-start reset.
//!
//! # Reset and the ready index
//!
//! A reset is serialized against the partition's own operations (delivery, service,
//! bind, unbind), so while it runs only raises touch the index, and a raise only sets
//! bits (`mark_ready`: the port's ready bit, then the word's summary bit if the ready word
//! was empty), after the compare-and-swap that made the port deliverable. The reset:
//!
//! 1. swaps 0 into the summary word;
//! 2. swaps 0 into every ready word;
//! 3. swaps every port's state to its configured state (discarding the count).
//!
//! The index invariant to keep is "a ready word with a bit set has its summary bit set"
//! (once the raise that set the bit has returned). Take a raise's `fetch_or` on ready
//! word `w`:
//!
//! * before step 2 on `w` (in `w`'s modification order): step 2 clears its bit, and a
//!   summary bit it set is at worst left over; `next_deliverable` clears a summary bit
//!   whose ready word is empty. Step 2 reads the value of that `fetch_or` (or a later
//!   one), so the raise's compare-and-swap happens before step 3, which discards its
//!   event (counted): nothing is pending that the index should show.
//! * after step 2 on `w`: the `fetch_or` reads step 2's store or a later value of `w`,
//!   so step 2 (a release) synchronizes with it and step 1 happens before it. If
//!   it found the word empty, its summary `fetch_or` comes after step 1 in the summary's
//!   modification order and stays. If it found the word non-empty, the first `fetch_or`
//!   after step 2 found it empty (nothing but `fetch_or` writes `w` during a reset) and
//!   set the summary bit after step 1 the same way.
//!
//! Clearing the ready words first (the order before this was fixed) broke the second
//! case: a raise between step 2 and step 1 left its ready bit with no summary bit, every
//! later raise in the word found the word non-empty and skipped the summary, and
//! `next_deliverable` missed the whole word until the next reset. Clearing the index after
//! the states would lose a raise landing between a swap and the clear instead.
//!
//! Steps 1 and 2 are swaps, not plain stores, for loom's sake: with stores, loom 0.7
//! reports an execution in which a raise's `fetch_or` on the ready word reads the value
//! from before the reset's store yet is ordered after that store (the store is "between"
//! the read-modify-write's read and its write, which the C++ memory model forbids: a
//! read-modify-write reads the last value before its own in the modification order). The
//! argument above holds for stores too; with swaps every write of the index during a
//! reset is a read-modify-write, which loom orders correctly, so the model checks the
//! protocol rather than that artefact. A reset is cold, so the cost does not matter.
//!
//! Models: `loom_defect1_reset_racing_a_raise_never_hides_the_word` (tests/loom.rs) and
//! the stress test `defect1_reset_racing_raises_never_hides_a_word` (tests/races.rs).

use super::PartitionEvents;
use crate::binding::Binding;
use crate::error::Error;
use crate::id::{PORTS_PER_WORD, Port};
use crate::state::{self, BOUND, MASKED};
use crate::sync::Ordering;

impl<const W: usize, const CW: usize> PartitionEvents<W, CW> {
    /// Binds an unbound port at run time. Whether the partition may bind this source is
    /// the caller's policy (the router's permission masks).
    ///
    /// # Errors
    /// [`Error::AlreadyBound`]; nothing changed.
    pub fn bind(&self, port: Port<W>, binding: Binding) -> Result<(), Error> {
        self.hot(port)
            .binding
            .compare_exchange(0, binding.pack(), Ordering::AcqRel, Ordering::Acquire)
            .map_err(|_| Error::AlreadyBound { port: port.raw() })?;
        // The binding word was 0, so the port is unbound with nothing pending; keep the
        // mask bit the partition may have set beforehand (and the static level).
        let bound = state::bound(binding.mode.is_coalescing());
        self.update_infallible(port, |s| (s & (MASKED | state::GENERATION | state::LEVEL)) | bound);
        Ok(())
    }

    /// Discards what is pending on a port (counted as discarded) and ends its service,
    /// keeping its binding, mask and handler: a restart's fresh time account, for
    /// instance, must not inherit the old run's clock ticks. Returns the discarded count.
    ///
    /// # Errors
    /// [`Error::NotBound`]; nothing changed.
    pub fn discard(&self, port: Port<W>) -> Result<u32, Error> {
        let raw = port.raw();
        let before = self.update(port, |s| {
            if s & BOUND == 0 {
                Err(Error::NotBound { port: raw })
            } else {
                Ok(s & !(state::COUNT | state::IN_SERVICE))
            }
        })?;
        let discarded = state::unconsumed(before);
        self.counters.discarded.fetch_add(u64::from(discarded), Ordering::Relaxed);
        if state::deliverable(before) {
            self.retire(port);
        }
        Ok(discarded)
    }

    /// Unbinds a port. Whatever was pending is discarded (and counted); its context and
    /// handler are forgotten; its mask bit stays. Returns the discarded count.
    ///
    /// # Errors
    /// [`Error::NotBound`]; nothing changed.
    pub fn unbind(&self, port: Port<W>) -> Result<u32, Error> {
        let raw = port.raw();
        let before = self.update(port, |s| {
            if s & BOUND == 0 {
                Err(Error::NotBound { port: raw })
            } else {
                // A new generation: contexts raised under this binding are never shown again.
                Ok(state::next_generation(s & (MASKED | state::GENERATION | state::LEVEL)))
            }
        })?;
        let discarded = state::unconsumed(before);
        self.counters.discarded.fetch_add(u64::from(discarded), Ordering::Relaxed);
        if state::deliverable(before) {
            self.retire(port);
        }
        if let Some(slot) = self.raise_slot(port) {
            slot.context.clear();
            slot.handler.store(0, Ordering::Release);
        }
        self.hot(port).binding.store(0, Ordering::Release);
        Ok(discarded)
    }

    /// Cold start: every port back to its configured binding and mask, nothing pending,
    /// nothing in service; contexts, handlers, callbacks and trap records forgotten; each
    /// priority level's round-robin back to its first port.
    /// Pending events are counted as discarded, unread trap records as traps discarded;
    /// the statistics carry on and none goes back. Returns the number of events
    /// discarded.
    ///
    /// A raise racing the reset is either discarded (counted) or pending afterwards,
    /// never lost; a context visible afterwards always belongs to an event raised after
    /// its port was reset. The partition's own operations (bind, unbind, service) must not
    /// run during a reset: the kernel stops the partition first.
    pub fn reset(&self) -> u64 {
        let mut configured = [0u64; W];
        let mut masked = [0u64; W];
        let mut coalescing = [0u64; W];
        for c in self.config {
            // The configuration was validated at construction: every port is in range.
            if let Ok(port) = Port::<W>::new(u32::from(c.port)) {
                configured[port.word()] |= port.bit();
                if c.masked {
                    masked[port.word()] |= port.bit();
                }
                if c.binding.mode.is_coalescing() {
                    coalescing[port.word()] |= port.bit();
                }
                self.hot(port).binding.store(c.binding.pack(), Ordering::Release);
            }
        }
        // Clear the index before the states, the summary before the ready words: see
        // "Reset and the ready index" in the module doc.
        // Swaps rather than stores: see the last paragraph there.
        self.summary.swap(0, Ordering::AcqRel);
        for ready in &self.ready {
            ready.swap(0, Ordering::AcqRel);
        }
        let mut discarded = 0u64;
        for w in 0..W {
            for b in 0..PORTS_PER_WORD {
                let bit = 1u64 << b;
                let configured = configured[w] & bit != 0;
                let target = if configured { state::bound(coalescing[w] & bit != 0) } else { 0 }
                    | if masked[w] & bit != 0 { MASKED } else { 0 };
                let hot = &self.hot[w][b];
                // A new generation: no context raised before the reset is shown after it.
                // The level is static: carried over.
                let before = hot.state.fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                    Some(state::next_generation(target | (s & (state::GENERATION | state::LEVEL))))
                });
                let before = before.unwrap_or_else(|s| s);
                discarded += u64::from(state::unconsumed(before));
                // Only now forget the context: one published by a raise whose count the
                // swap discarded is gone, one published for a raise after it may be lost
                // (never stale).
                if let Some(slot) = self.raise_slot(Port::from_word_bit(w, b as u32)) {
                    slot.context.clear();
                    slot.handler.store(0, Ordering::Release);
                }
                if !configured {
                    hot.binding.store(0, Ordering::Release);
                }
            }
        }
        self.counters.discarded.fetch_add(discarded, Ordering::Relaxed);
        // The levels' round-robin starts again from each level's first port.
        for cursor in &self.cursors {
            cursor.store(0, Ordering::Relaxed);
        }
        self.traps.clear();
        self.upcall_entry.store(0, Ordering::Release);
        self.fault_handler.store(0, Ordering::Release);
        discarded
    }
}
