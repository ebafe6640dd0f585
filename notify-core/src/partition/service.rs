//! Raising (any CPU) and consuming (the partition's side): raise, begin service,
//! acknowledge, take, mask and unmask. Each is one compare-and-swap on the port's state
//! word, then the matching update of the ready index.

use core::num::NonZeroU64;

use super::PartitionEvents;
use crate::binding::Binding;
use crate::context::Context;
use crate::error::Error;
use crate::id::Port;
use crate::state::{self, BOUND, COUNT, IN_SERVICE, MASKED};
use crate::sync::Ordering;

/// What a raise did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[must_use]
pub struct Raised {
    /// The port went from not deliverable to deliverable: the partition should be told
    /// (upcall, or "upcall pending" if its virtual interrupt flag is clear).
    pub became_deliverable: bool,
    /// Raises refused because a counting port was at its maximum. These are lost and the
    /// caller must report them to the health monitor.
    pub overflowed: u32,
    /// Raises merged into an already pending coalescing port.
    pub coalesced: u32,
}

/// What [`PartitionEvents::raise_into_service`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum DirectRaise<const W: usize> {
    /// The port was idle and no port of the table was deliverable: the event went
    /// straight into service, as a raise followed by
    /// [`begin_service`](PartitionEvents::begin_service) would have taken it, without
    /// ever being deliverable. The caller delivers it (or gives it back with
    /// [`cancel_service`](PartitionEvents::cancel_service)).
    Serving(Delivery<W>),
    /// Anything else: the event was raised as by [`raise`](PartitionEvents::raise).
    Raised(Raised),
}

/// A port taken into service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery<const W: usize> {
    /// The port.
    pub port: Port<W>,
    /// Its pending count when service began.
    pub pending: u32,
    /// The handler registered for this port, if any; otherwise the partition's upcall
    /// entry is the one to enter.
    pub handler: Option<NonZeroU64>,
}

/// What an acknowledge did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Acknowledged {
    /// Events still pending on the port.
    pub remaining: u32,
    /// The port is deliverable again (more events arrived, it is not masked).
    pub deliverable_again: bool,
}

impl<const W: usize, const CW: usize> PartitionEvents<W, CW> {
    /// Raises one event on `port`, publishing `context` as the port's latest context.
    /// Lock-free; callable from an ISR on any CPU.
    ///
    /// # Errors
    /// [`Error::NotBound`] if the port has no binding (nothing changed, nothing
    /// counted).
    #[inline]
    pub fn raise(&self, port: Port<W>, context: Option<&Context>) -> Result<Raised, Error> {
        self.raise_many(port, 1, context)
    }

    /// Raises `n` events at once (a clock replaying missed ticks). Events past a counting
    /// port's maximum are overflowed; past a coalescing port's single pending event they
    /// are coalesced. `n == 0` changes nothing.
    ///
    /// # Errors
    /// [`Error::NotBound`] if the port has no binding.
    #[inline]
    pub fn raise_many(
        &self,
        port: Port<W>,
        n: u32,
        context: Option<&Context>,
    ) -> Result<Raised, Error> {
        let current = self.hot(port).state.load(Ordering::Acquire);
        self.raise_from(port, current, n, context)
    }

    /// Raises one event on `port` with `context`, for the partition's consumer side when
    /// it can deliver the event at once (an interrupt taken on the CPU that runs the
    /// partition, whose vCPU accepts an upcall now): if the port is idle and no port of
    /// the table is deliverable, the same compare-and-swap that adds the event takes it
    /// into service ([`DirectRaise::Serving`]), so it is never deliverable, never in the
    /// ready index, and the caller delivers it with `context` in hand: the context is
    /// not published (see [`context`](Self::context)); if the delivery fails,
    /// [`cancel_direct_service`](Self::cancel_direct_service) publishes it as it gives
    /// the event back. Otherwise the event is raised as by [`raise`](Self::raise),
    /// `context` published. Lock-free.
    ///
    /// Priority holds: the event goes into service only when nothing else was
    /// deliverable (an event another CPU raises meanwhile is ordered after it, and that
    /// raiser tells the partition as ever). Nothing is lost: the event is counted
    /// pending and in service, so [`acknowledge`](Self::acknowledge),
    /// [`take`](Self::take) and [`cancel_service`](Self::cancel_service) treat it as any
    /// event taken by [`begin_service`](Self::begin_service); a port of a priority level
    /// moves the level's cursor past it as `begin_service` does.
    ///
    /// # Errors
    /// [`Error::NotBound`] if the port has no binding (nothing changed, nothing counted).
    // Always inlined: the interrupt path calls it once, and as a call (its ordinary raise
    // makes it too large for the inliner's hint) it cost that path 50 instructions.
    #[inline(always)]
    pub fn raise_into_service(
        &self,
        port: Port<W>,
        context: Option<&Context>,
    ) -> Result<DirectRaise<W>, Error> {
        let hot = self.hot(port);
        let mut current = hot.state.load(Ordering::Acquire);
        // Straight into service only while no port is deliverable (a summary bit left
        // for a port that is not deliverable any more only costs the direct path), and
        // only from the state read here: if that changed, the raise takes its ordinary
        // course. The context stays with the caller, who delivers the event.
        if state::idle(current) && self.summary.load(Ordering::Acquire) == 0 {
            // One event into an idle port (whose maximum is at least 1), in service.
            let next = state::begin_service(current + 1);
            match hot.state.compare_exchange(current, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(DirectRaise::Serving(self.serving(port, current))),
                Err(actual) => current = actual,
            }
        }
        self.raise_from(port, current, 1, context).map(DirectRaise::Raised)
    }

    /// [`raise_many`](Self::raise_many) from `current`, the port's state as the caller
    /// read it.
    #[inline(always)]
    fn raise_from(
        &self,
        port: Port<W>,
        current: u64,
        n: u32,
        context: Option<&Context>,
    ) -> Result<Raised, Error> {
        let hot = self.hot(port);
        let mut current = current;
        if current & BOUND == 0 {
            return Err(Error::NotBound { port: port.raw() });
        }
        if n == 0 {
            return Ok(Raised::default());
        }
        // The context goes first, so whoever sees the new count also sees this context or
        // a later one.
        self.publish_context(port, context, current);
        let binding = hot.binding.load(Ordering::Acquire);
        let max = Binding::packed_max(binding);
        let step = loop {
            if current & BOUND == 0 {
                return Err(Error::NotBound { port: port.raw() });
            }
            let step = state::raise_step(current, n, max);
            match hot.state.compare_exchange_weak(
                current,
                step.next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break step,
                Err(actual) => current = actual,
            }
        };
        let mut raised = Raised::default();
        if step.excess > 0 {
            let excess = u64::from(step.excess);
            if Binding::packed_coalescing(binding) {
                raised.coalesced = step.excess;
                self.counters.coalesced.fetch_add(excess, Ordering::Relaxed);
            } else {
                raised.overflowed = step.excess;
                self.counters.overflowed.fetch_add(excess, Ordering::Relaxed);
            }
        }
        // A raise changes only the count (below the flag bits: it stops at `max`), so the
        // port became deliverable exactly when it was idle and the raise added something.
        if step.accepted > 0 && state::idle(current) {
            self.mark_ready(port);
            raised.became_deliverable = true;
        }
        Ok(raised)
    }

    /// Publishes `context` (if any) as `port`'s latest context, tagged with the binding
    /// generation of `state` (the port's state as the caller read it): if an unbind or
    /// reset overtakes the caller, no later binding shows the context. Dropped, and
    /// counted, if another writer holds the cell (its context is just as recent).
    #[inline(always)]
    fn publish_context(&self, port: Port<W>, context: Option<&Context>, state: u64) {
        if let Some(ctx) = context
            && let Some(slot) = self.raise_slot(port)
            && !slot.context.publish(ctx, state & state::GENERATION)
        {
            self.counters.contexts_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The delivery of `port`, raised straight into service from the idle `state`
    /// (pending 1): the level's cursor moves past it as in
    /// [`begin_service`](Self::begin_service). No inlining hint: with one (`#[inline]` or
    /// `#[inline(always)]`) the default engine's interrupt-to-upcall path took 13 to 16
    /// instructions more (BENCHMARKS.md, "Memory per partition").
    fn serving(&self, port: Port<W>, state: u64) -> Delivery<W> {
        if state & state::LEVEL != 0 {
            self.advance_cursor(state, port);
        }
        Delivery { port, pending: 1, handler: self.handler(port) }
    }

    /// Takes `port` into service: its handler runs; further events on it wait, counted,
    /// until [`acknowledge`](Self::acknowledge) or [`take`](Self::take). A coalescing
    /// port's pending bit is cleared as it goes into service, so an event raised during
    /// the handler is pending again, and delivered again, after the acknowledgement. A
    /// port of a priority level moves the level's round-robin cursor past it.
    ///
    /// # Errors
    /// [`Error::NotBound`], [`Error::NothingPending`], [`Error::Masked`] or
    /// [`Error::AlreadyInService`]; the port is unchanged.
    #[inline]
    pub fn begin_service(&self, port: Port<W>) -> Result<Delivery<W>, Error> {
        let raw = port.raw();
        let before = self.update(port, |s| {
            if s & BOUND == 0 {
                Err(Error::NotBound { port: raw })
            } else if state::count(s) == 0 {
                Err(Error::NothingPending { port: raw })
            } else if s & MASKED != 0 {
                Err(Error::Masked { port: raw })
            } else if s & IN_SERVICE != 0 {
                Err(Error::AlreadyInService { port: raw })
            } else {
                Ok(state::begin_service(s))
            }
        })?;
        self.retire(port);
        if before & state::LEVEL != 0 {
            // The level's next delivery starts after this port: round-robin.
            self.advance_cursor(before, port);
        }
        Ok(Delivery { port, pending: state::count(before), handler: self.handler(port) })
    }

    /// Finds the next deliverable port and takes it into service.
    pub fn deliver_next(&self) -> Option<Delivery<W>> {
        loop {
            let port = self.next_deliverable()?;
            // A failure means another CPU changed the port since the lookup: look again.
            if let Ok(delivery) = self.begin_service(port) {
                return Some(delivery);
            }
        }
    }

    /// Acknowledges one event of a port in service: the event in service is consumed
    /// (a counting port's count drops by one) and service ends; if more are pending (on a
    /// coalescing port: one was raised during the service) the port is deliverable again.
    ///
    /// # Errors
    /// [`Error::NotBound`] or [`Error::NotInService`]; the port is unchanged.
    pub fn acknowledge(&self, port: Port<W>) -> Result<Acknowledged, Error> {
        let raw = port.raw();
        let mut step = (0, 0);
        self.update(port, |s| {
            if s & BOUND == 0 {
                Err(Error::NotBound { port: raw })
            } else if s & IN_SERVICE == 0 {
                Err(Error::NotInService { port: raw })
            } else {
                step = state::acknowledge(s);
                Ok(step.0)
            }
        })?;
        // The step of the attempt that succeeded.
        let (after, consumed) = step;
        self.counters.delivered.fetch_add(u64::from(consumed), Ordering::Relaxed);
        let deliverable_again = state::deliverable(after);
        if deliverable_again {
            self.mark_ready(port);
        }
        Ok(Acknowledged { remaining: state::count(after), deliverable_again })
    }

    /// Ends the service of a port without consuming its event (the upcall that was to
    /// deliver it could not be injected): it is deliverable again unless masked. A
    /// coalescing port's event goes back to pending, merging (counted as coalesced) with
    /// one raised during the service. Returns whether it became deliverable.
    ///
    /// # Errors
    /// [`Error::NotInService`]; the port is unchanged.
    pub fn cancel_service(&self, port: Port<W>) -> Result<bool, Error> {
        let raw = port.raw();
        let before = self.update(port, |s| {
            if s & IN_SERVICE == 0 {
                Err(Error::NotInService { port: raw })
            } else {
                Ok(state::cancel_service(s).0)
            }
        })?;
        let (after, merged) = state::cancel_service(before);
        if merged > 0 {
            self.counters.coalesced.fetch_add(u64::from(merged), Ordering::Relaxed);
        }
        let again = state::deliverable(after);
        if again {
            self.mark_ready(port);
        }
        Ok(again)
    }

    /// Gives back an event that [`raise_into_service`](Self::raise_into_service) took
    /// straight into service, when its upcall could not be injected: publishes `context`
    /// as the port's latest context (the raise left it with its caller), then ends the
    /// service as [`cancel_service`](Self::cancel_service) does, so the event waits, with
    /// its context, for its next delivery. Returns whether the port became deliverable.
    ///
    /// # Errors
    /// [`Error::NotInService`]; nothing is changed or published.
    pub fn cancel_direct_service(
        &self,
        port: Port<W>,
        context: Option<&Context>,
    ) -> Result<bool, Error> {
        let current = self.hot(port).state.load(Ordering::Acquire);
        if current & IN_SERVICE == 0 {
            return Err(Error::NotInService { port: port.raw() });
        }
        self.publish_context(port, context, current);
        self.cancel_service(port)
    }

    /// Takes the whole pending count of a port at once (a clock catching up, or a
    /// partition polling a masked port) and ends its service. Returns the events
    /// consumed: the count, plus on a coalescing port in service its event in service (so
    /// up to 2 there).
    ///
    /// # Errors
    /// [`Error::NotBound`]; the port is unchanged.
    pub fn take(&self, port: Port<W>) -> Result<u32, Error> {
        let raw = port.raw();
        let before = self.update(port, |s| {
            if s & BOUND == 0 {
                Err(Error::NotBound { port: raw })
            } else {
                Ok(s & !(COUNT | IN_SERVICE))
            }
        })?;
        let taken = state::unconsumed(before);
        self.counters.delivered.fetch_add(u64::from(taken), Ordering::Relaxed);
        if state::deliverable(before) {
            self.retire(port);
        }
        Ok(taken)
    }

    /// Masks a port (bound or not): events keep counting but are not delivered until
    /// it is unmasked.
    pub fn mask(&self, port: Port<W>) {
        let before = self.update_infallible(port, |s| s | MASKED);
        if state::deliverable(before) {
            self.retire(port);
        }
    }

    /// Unmasks a port. Whatever was raised while it was masked becomes deliverable now;
    /// returns whether the port became deliverable.
    pub fn unmask(&self, port: Port<W>) -> bool {
        let before = self.update_infallible(port, |s| s & !MASKED);
        let became = !state::deliverable(before) && state::deliverable(before & !MASKED);
        if became {
            self.mark_ready(port);
        }
        became
    }

    /// Compare-and-swap loop on a port's state; returns the state it replaced.
    pub(super) fn update(
        &self,
        port: Port<W>,
        mut f: impl FnMut(u64) -> Result<u64, Error>,
    ) -> Result<u64, Error> {
        let cell = &self.hot(port).state;
        let mut current = cell.load(Ordering::Acquire);
        loop {
            let next = f(current)?;
            match cell.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(before) => return Ok(before),
                Err(actual) => current = actual,
            }
        }
    }

    /// [`update`](Self::update) for a change that always applies.
    pub(super) fn update_infallible(&self, port: Port<W>, f: impl Fn(u64) -> u64) -> u64 {
        let cell = &self.hot(port).state;
        let result = cell.fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| Some(f(s)));
        result.unwrap_or_else(|s| s)
    }
}
