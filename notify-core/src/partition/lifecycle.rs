//! Bindings at run time, and the cold-start reset.

use super::PartitionEvents;
use crate::binding::Binding;
use crate::error::Error;
use crate::id::{PORTS_PER_WORD, Port};
use crate::state::{self, BOUND, MASKED};
use crate::sync::Ordering;

impl<const W: usize> PartitionEvents<W> {
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
        // mask bit the partition may have set beforehand.
        self.update_infallible(port, |s| (s & MASKED) | BOUND);
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
        let discarded = state::count(before);
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
            if s & BOUND == 0 { Err(Error::NotBound { port: raw }) } else { Ok(s & MASKED) }
        })?;
        let discarded = state::count(before);
        self.counters.discarded.fetch_add(u64::from(discarded), Ordering::Relaxed);
        if state::deliverable(before) {
            self.retire(port);
        }
        let cold = self.cold(port);
        cold.context.clear();
        cold.handler.store(0, Ordering::Release);
        self.hot(port).binding.store(0, Ordering::Release);
        Ok(discarded)
    }

    /// Cold start: every port back to its configured binding and mask, nothing pending,
    /// nothing in service; contexts, handlers, callbacks and trap records forgotten.
    /// Pending events are counted as discarded; the statistics carry on. Returns the
    /// number of events discarded.
    ///
    /// A raise racing the reset is either discarded (counted) or pending afterwards,
    /// never lost; a context visible afterwards always belongs to an event raised after
    /// its port was reset. The partition's own operations (bind, unbind, service) must not
    /// run during a reset: the kernel stops the partition first.
    pub fn reset(&self) -> u64 {
        let mut configured = [0u64; W];
        let mut masked = [0u64; W];
        for c in self.config {
            // The configuration was validated at construction: every port is in range.
            if let Ok(port) = Port::<W>::new(u32::from(c.port)) {
                configured[port.word()] |= port.bit();
                if c.masked {
                    masked[port.word()] |= port.bit();
                }
                self.hot(port).binding.store(c.binding.pack(), Ordering::Release);
            }
        }
        // Clear the index first: a raise that lands after a port's swap below sets its
        // ready bit after this, so it stays visible.
        for ready in &self.ready {
            ready.store(0, Ordering::Release);
        }
        self.summary.store(0, Ordering::Release);
        let mut discarded = 0u64;
        for w in 0..W {
            for b in 0..PORTS_PER_WORD {
                let bit = 1u64 << b;
                let target = if configured[w] & bit != 0 { BOUND } else { 0 }
                    | if masked[w] & bit != 0 { MASKED } else { 0 };
                let hot = &self.hot[w][b];
                let before = hot.state.swap(target, Ordering::AcqRel);
                discarded += u64::from(state::count(before));
                // Only now forget the context: one published by a raise whose count the
                // swap discarded is gone, one published for a raise after it may be lost
                // (never stale).
                let cold = &self.cold[w][b];
                cold.context.clear();
                cold.handler.store(0, Ordering::Release);
                if configured[w] & bit == 0 {
                    hot.binding.store(0, Ordering::Release);
                }
            }
        }
        self.counters.discarded.fetch_add(discarded, Ordering::Relaxed);
        self.traps.clear();
        self.upcall_entry.store(0, Ordering::Release);
        self.fault_handler.store(0, Ordering::Release);
        discarded
    }
}
