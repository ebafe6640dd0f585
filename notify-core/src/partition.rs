//! One partition's event table: ports, the two-level ready index, callbacks, the trap
//! ring and statistics.
//!
//! Every operation takes `&self` and is lock-free: raises come from ISRs on any CPU while
//! the partition's own CPU delivers, masks and acknowledges. No operation loops over the
//! ports except [`PartitionEvents::reset`] and the diagnostic sums.

use core::num::NonZeroU64;

use crate::binding::{Binding, PortConfig};
use crate::context::{Context, ContextCell, Read};
use crate::error::Error;
use crate::id::{MAX_PORT_WORDS, PORTS_PER_WORD, Port};
use crate::state::{self, BOUND, COUNT, IN_SERVICE, MASKED};
use crate::stats::{Counters, Stats};
use crate::sync::{AtomicU64, Ordering, array_of, maybe_const_fn};
use crate::trap_ring::TrapRing;

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

/// A snapshot of one port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortStatus {
    /// Its binding, if bound.
    pub binding: Option<Binding>,
    /// Pending count.
    pub pending: u32,
    /// Masked.
    pub masked: bool,
    /// In service.
    pub in_service: bool,
}

struct PortSlot {
    /// See [`crate::state`].
    state: AtomicU64,
    /// Packed [`Binding`], 0 when unbound.
    binding: AtomicU64,
    /// Handler entry for this port, 0 for none.
    handler: AtomicU64,
    context: ContextCell,
}

impl PortSlot {
    maybe_const_fn! {
        fn new() -> Self {
            Self {
                state: AtomicU64::new(0),
                binding: AtomicU64::new(0),
                handler: AtomicU64::new(0),
                context: ContextCell::new(),
            }
        }
    }
}

/// 64 ports and their ready bits.
struct PortWord {
    /// Bit `b` set: port `64 * word + b` may be deliverable. Never clear while the port is
    /// deliverable (once the operation that made it deliverable has returned).
    ready: AtomicU64,
    ports: [PortSlot; PORTS_PER_WORD],
}

impl PortWord {
    maybe_const_fn! {
        fn new() -> Self {
            Self { ready: AtomicU64::new(0), ports: array_of![PortSlot::new(); PORTS_PER_WORD] }
        }
    }
}

/// The event table of one partition with `64 * W` ports.
///
/// Made from a static port configuration; [`reset`](Self::reset) returns to it.
pub struct PartitionEvents<const W: usize = 1> {
    /// Bit `w` set: word `w` may hold a deliverable port. Never clear while word `w` has a
    /// ready bit set (once the operation that set it has returned).
    summary: AtomicU64,
    words: [PortWord; W],
    upcall_entry: AtomicU64,
    fault_handler: AtomicU64,
    counters: Counters,
    traps: TrapRing,
    config: &'static [PortConfig],
}

/// Why a partition's port configuration was refused; `entry` indexes the configuration
/// slice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PortConfigError {
    /// `W` is 0 or more than 64 (4,096 ports).
    PortWords,
    /// The entry names a port at or past `64 * W`.
    PortOutOfRange {
        /// Index of the entry.
        entry: usize,
    },
    /// The entry names a port an earlier entry already configured.
    DuplicatePort {
        /// Index of the entry.
        entry: usize,
    },
}

impl<const W: usize> PartitionEvents<W> {
    /// Number of ports.
    pub const PORTS: usize = W * PORTS_PER_WORD;

    maybe_const_fn! {
        /// Builds the table in its configured state: the configured ports bound (and
        /// masked where configured), nothing pending.
        ///
        /// # Errors
        /// A [`PortConfigError`] naming the first bad entry.
        pub fn new(config: &'static [PortConfig]) -> Result<Self, PortConfigError> {
            if W == 0 || W > MAX_PORT_WORDS {
                return Err(PortConfigError::PortWords);
            }
            let mut table = Self::empty();
            table.config = config;
            let mut seen = [0u64; W];
            let mut entry = 0;
            while entry < config.len() {
                let c = config[entry];
                let port = c.port as usize;
                if port >= Self::PORTS {
                    return Err(PortConfigError::PortOutOfRange { entry });
                }
                let (w, bit) = (port / PORTS_PER_WORD, 1u64 << (port % PORTS_PER_WORD));
                if seen[w] & bit != 0 {
                    return Err(PortConfigError::DuplicatePort { entry });
                }
                seen[w] |= bit;
                let slot = &mut table.words[w].ports[port % PORTS_PER_WORD];
                slot.binding = AtomicU64::new(c.binding.pack());
                slot.state = AtomicU64::new(BOUND | if c.masked { MASKED } else { 0 });
                entry += 1;
            }
            Ok(table)
        }
    }

    maybe_const_fn! {
        /// A table with no port configured (every port unbound).
        pub fn empty() -> Self {
            Self {
                summary: AtomicU64::new(0),
                words: array_of![PortWord::new(); W],
                upcall_entry: AtomicU64::new(0),
                fault_handler: AtomicU64::new(0),
                counters: Counters::new(),
                traps: TrapRing::new(),
                config: &[],
            }
        }
    }

    fn slot(&self, port: Port<W>) -> &PortSlot {
        &self.words[port.word()].ports[port.index() % PORTS_PER_WORD]
    }

    // ---- raising (any CPU, ISR-safe) ----

    /// Raises one event on `port`, publishing `context` as the port's latest context.
    ///
    /// Lock-free and wait-free apart from the compare-and-swap retry against concurrent
    /// changes of the same port.
    ///
    /// # Errors
    /// [`Error::NotBound`] if the port has no binding (nothing is changed, nothing
    /// counted).
    pub fn raise(&self, port: Port<W>, context: Option<&Context>) -> Result<Raised, Error> {
        self.raise_many(port, 1, context)
    }

    /// Raises `n` events at once (a clock replaying missed ticks). Events past a counting
    /// port's maximum are overflowed; past a coalescing port's single pending event they
    /// are coalesced. `n == 0` changes nothing.
    ///
    /// # Errors
    /// [`Error::NotBound`] if the port has no binding.
    pub fn raise_many(
        &self,
        port: Port<W>,
        n: u32,
        context: Option<&Context>,
    ) -> Result<Raised, Error> {
        let slot = self.slot(port);
        let mut current = slot.state.load(Ordering::Acquire);
        if current & BOUND == 0 {
            return Err(Error::NotBound { port: port.raw() });
        }
        if n == 0 {
            return Ok(Raised::default());
        }
        // The context goes first, so whoever sees the new count also sees this context or
        // a later one.
        if let Some(ctx) = context {
            if !slot.context.publish(ctx) {
                self.counters
                    .contexts_dropped
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
        let binding = slot.binding.load(Ordering::Acquire);
        let max = Binding::packed_max(binding);
        let step = loop {
            if current & BOUND == 0 {
                return Err(Error::NotBound { port: port.raw() });
            }
            let step = state::raise_step(current, n, max);
            match slot.state.compare_exchange_weak(
                current,
                step.next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break step,
                Err(actual) => current = actual,
            }
        };
        self.counters
            .raised
            .fetch_add(u64::from(n), Ordering::Relaxed);
        let mut raised = Raised::default();
        if step.excess > 0 {
            if Binding::packed_coalescing(binding) {
                raised.coalesced = step.excess;
                self.counters
                    .coalesced
                    .fetch_add(u64::from(step.excess), Ordering::Relaxed);
            } else {
                raised.overflowed = step.excess;
                self.counters
                    .overflowed
                    .fetch_add(u64::from(step.excess), Ordering::Relaxed);
            }
        }
        if !state::deliverable(current) && state::deliverable(step.next) {
            self.mark_ready(port);
            raised.became_deliverable = true;
        }
        Ok(raised)
    }

    // ---- the ready index ----

    /// Publishes that `port` became deliverable: ready bit, then summary bit.
    fn mark_ready(&self, port: Port<W>) {
        self.words[port.word()]
            .ready
            .fetch_or(port.bit(), Ordering::AcqRel);
        self.summary.fetch_or(1 << port.word(), Ordering::AcqRel);
    }

    /// Clears `port`'s ready bit after an operation made it not deliverable, and the
    /// word's summary bit if the word became empty. Each clear is followed by a re-check,
    /// so a raise racing the clear is never hidden.
    fn retire(&self, port: Port<W>) {
        let word = &self.words[port.word()];
        let left = word.ready.fetch_and(!port.bit(), Ordering::AcqRel) & !port.bit();
        if state::deliverable(self.slot(port).state.load(Ordering::Acquire)) {
            self.mark_ready(port);
        } else if left == 0 {
            self.retire_word(port.word());
        }
    }

    /// Clears summary bit `w`, then re-checks the word.
    fn retire_word(&self, w: usize) {
        self.summary.fetch_and(!(1 << w), Ordering::AcqRel);
        if self.words[w].ready.load(Ordering::Acquire) != 0 {
            self.summary.fetch_or(1 << w, Ordering::AcqRel);
        }
    }

    /// The deliverable port with the lowest number (the highest priority): pending, not
    /// masked, not in service. O(1): one summary word, one ready word, one state word,
    /// plus the clean-up of ready bits left behind by a racing operation.
    pub fn next_deliverable(&self) -> Option<Port<W>> {
        loop {
            let summary = self.summary.load(Ordering::Acquire);
            if summary == 0 {
                return None;
            }
            let w = summary.trailing_zeros() as usize;
            if w >= W {
                // Unreachable: only mark_ready sets summary bits, always below W.
                return None;
            }
            let mut ready = self.words[w].ready.load(Ordering::Acquire);
            while ready != 0 {
                let port = Port::from_word_bit(w, ready.trailing_zeros());
                if state::deliverable(self.slot(port).state.load(Ordering::Acquire)) {
                    return Some(port);
                }
                self.retire(port);
                ready &= ready - 1;
            }
            self.retire_word(w);
        }
    }

    // ---- consuming (the partition's side) ----

    /// Takes `port` into service: its handler runs; further events on it wait, counted,
    /// until [`acknowledge`](Self::acknowledge) or [`take`](Self::take).
    ///
    /// # Errors
    /// [`Error::NotBound`], [`Error::NothingPending`], [`Error::Masked`] or
    /// [`Error::AlreadyInService`]; the port is unchanged.
    pub fn begin_service(&self, port: Port<W>) -> Result<Delivery<W>, Error> {
        let slot = self.slot(port);
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
                Ok(s | IN_SERVICE)
            }
        })?;
        self.retire(port);
        Ok(Delivery {
            port,
            pending: state::count(before),
            handler: NonZeroU64::new(slot.handler.load(Ordering::Acquire)),
        })
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

    /// Acknowledges one event of a port in service: its count drops by one and service
    /// ends; if more are pending the port is deliverable again.
    ///
    /// # Errors
    /// [`Error::NotInService`]; the port is unchanged.
    pub fn acknowledge(&self, port: Port<W>) -> Result<Acknowledged, Error> {
        let raw = port.raw();
        let before = self.update(port, |s| {
            if s & IN_SERVICE == 0 {
                Err(Error::NotInService { port: raw })
            } else {
                Ok((s & !IN_SERVICE) - u64::from(state::count(s) > 0))
            }
        })?;
        let delivered = state::count(before).min(1);
        self.counters
            .delivered
            .fetch_add(u64::from(delivered), Ordering::Relaxed);
        let after = (before & !IN_SERVICE) - u64::from(delivered);
        let deliverable_again = state::deliverable(after);
        if deliverable_again {
            self.mark_ready(port);
        }
        Ok(Acknowledged {
            remaining: state::count(after),
            deliverable_again,
        })
    }

    /// Takes the whole pending count of a port at once (a clock catching up, or a
    /// partition polling a masked port) and ends its service. Returns the count.
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
        let taken = state::count(before);
        self.counters
            .delivered
            .fetch_add(u64::from(taken), Ordering::Relaxed);
        if state::deliverable(before) {
            self.retire(port);
        }
        Ok(taken)
    }

    /// Masks a port: events keep counting but are not delivered until unmasked.
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
    fn update(
        &self,
        port: Port<W>,
        mut f: impl FnMut(u64) -> Result<u64, Error>,
    ) -> Result<u64, Error> {
        let cell = &self.slot(port).state;
        let mut current = cell.load(Ordering::Acquire);
        loop {
            let next = f(current)?;
            match cell.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(before) => return Ok(before),
                Err(actual) => current = actual,
            }
        }
    }

    fn update_infallible(&self, port: Port<W>, f: impl Fn(u64) -> u64) -> u64 {
        self.slot(port)
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| Some(f(s)))
            .unwrap_or_else(|s| s)
    }

    // ---- bindings ----

    /// Binds an unbound port at run time. Whether the partition may bind this source is
    /// the caller's policy (the router's permission masks).
    ///
    /// # Errors
    /// [`Error::AlreadyBound`]; nothing changed.
    pub fn bind(&self, port: Port<W>, binding: Binding) -> Result<(), Error> {
        let slot = self.slot(port);
        slot.binding
            .compare_exchange(0, binding.pack(), Ordering::AcqRel, Ordering::Acquire)
            .map_err(|_| Error::AlreadyBound { port: port.raw() })?;
        // The binding word was 0, so the port is unbound with nothing pending; keep the
        // mask bit the partition may have set beforehand.
        self.update_infallible(port, |s| (s & MASKED) | BOUND);
        Ok(())
    }

    /// Unbinds a port. Whatever was pending is discarded (and counted); its context and
    /// handler are forgotten. Returns the discarded count.
    ///
    /// # Errors
    /// [`Error::NotBound`]; nothing changed.
    pub fn unbind(&self, port: Port<W>) -> Result<u32, Error> {
        let raw = port.raw();
        let slot = self.slot(port);
        let before = self.update(port, |s| {
            if s & BOUND == 0 {
                Err(Error::NotBound { port: raw })
            } else {
                Ok(s & MASKED)
            }
        })?;
        let discarded = state::count(before);
        self.counters
            .discarded
            .fetch_add(u64::from(discarded), Ordering::Relaxed);
        if state::deliverable(before) {
            self.retire(port);
        }
        slot.context.clear();
        slot.handler.store(0, Ordering::Release);
        slot.binding.store(0, Ordering::Release);
        Ok(discarded)
    }

    /// Cold start: every port back to its configured binding and mask, nothing pending,
    /// nothing in service, contexts, handlers, callbacks and trap records forgotten.
    /// Pending events are counted as discarded; the statistics carry on. Returns the
    /// number of events discarded.
    ///
    /// A raise racing the reset is either discarded (counted) or pending afterwards;
    /// never lost, and a context visible afterwards always belongs to an event raised
    /// after the port was reset. The partition's own operations (bind, unbind, service)
    /// must not run during a reset: the kernel stops the partition first.
    pub fn reset(&self) -> u64 {
        let mut configured = [0u64; W];
        let mut masked = [0u64; W];
        for c in self.config {
            if let Ok(port) = Port::<W>::new(u32::from(c.port)) {
                configured[port.word()] |= port.bit();
                if c.masked {
                    masked[port.word()] |= port.bit();
                }
                self.slot(port)
                    .binding
                    .store(c.binding.pack(), Ordering::Release);
            }
        }
        // Clear the index first: a raise that lands after a port's swap below sets its
        // ready bit after this, so it stays visible.
        for word in &self.words {
            word.ready.store(0, Ordering::Release);
        }
        self.summary.store(0, Ordering::Release);
        let mut discarded = 0u64;
        for w in 0..W {
            for b in 0..PORTS_PER_WORD {
                let port = Port::from_word_bit(w, b as u32);
                let bit = port.bit();
                let target = if configured[w] & bit != 0 { BOUND } else { 0 }
                    | if masked[w] & bit != 0 { MASKED } else { 0 };
                let slot = self.slot(port);
                let before = slot.state.swap(target, Ordering::AcqRel);
                discarded += u64::from(state::count(before));
                // A raise between the swap and here that made the port deliverable has
                // set its ready bit after our clear above; nothing to restore.
                slot.context.clear();
                slot.handler.store(0, Ordering::Release);
                if configured[w] & bit == 0 {
                    slot.binding.store(0, Ordering::Release);
                }
            }
        }
        self.counters
            .discarded
            .fetch_add(discarded, Ordering::Relaxed);
        self.traps.clear();
        self.upcall_entry.store(0, Ordering::Release);
        self.fault_handler.store(0, Ordering::Release);
        discarded
    }

    // ---- contexts and traps ----

    /// The latest context raised on `port`; `None` if none was raised since the port was
    /// bound or reset.
    ///
    /// # Errors
    /// [`Error::NotBound`], or [`Error::ContextBusy`] when writers kept the context
    /// changing through every retry (try again).
    pub fn context(&self, port: Port<W>) -> Result<Option<Context>, Error> {
        let slot = self.slot(port);
        if slot.state.load(Ordering::Acquire) & BOUND == 0 {
            return Err(Error::NotBound { port: port.raw() });
        }
        match slot.context.read() {
            Read::Context(ctx, _) => Ok(Some(ctx)),
            Read::Empty => Ok(None),
            Read::Busy => Err(Error::ContextBusy { port: port.raw() }),
        }
    }

    /// Records a trap's context in the trap ring (the oldest record is dropped, and
    /// counted, when the ring is full). Returns `false` if this record was dropped.
    pub fn push_trap(&self, context: &Context) -> bool {
        self.traps.push(context)
    }

    /// The oldest unread trap record. Single reader: the partition's consumer side.
    pub fn pop_trap(&self) -> Option<Context> {
        self.traps.pop()
    }

    /// Unread trap records.
    pub fn trap_count(&self) -> u64 {
        self.traps.len()
    }

    // ---- callbacks ----

    /// Sets (or with `None` clears) the partition's upcall entry. The address is not
    /// checked here: validating it against the partition's memory is the caller's job.
    pub fn set_upcall_entry(&self, entry: Option<NonZeroU64>) {
        self.upcall_entry
            .store(entry.map_or(0, NonZeroU64::get), Ordering::Release);
    }

    /// The partition's upcall entry.
    pub fn upcall_entry(&self) -> Option<NonZeroU64> {
        NonZeroU64::new(self.upcall_entry.load(Ordering::Acquire))
    }

    /// Sets (or clears) the partition's fault handler.
    pub fn set_fault_handler(&self, entry: Option<NonZeroU64>) {
        self.fault_handler
            .store(entry.map_or(0, NonZeroU64::get), Ordering::Release);
    }

    /// The partition's fault handler.
    pub fn fault_handler(&self) -> Option<NonZeroU64> {
        NonZeroU64::new(self.fault_handler.load(Ordering::Acquire))
    }

    /// Sets (or clears) the handler an upcall for `port` enters directly.
    ///
    /// # Errors
    /// [`Error::NotBound`].
    pub fn set_port_handler(&self, port: Port<W>, entry: Option<NonZeroU64>) -> Result<(), Error> {
        let slot = self.slot(port);
        if slot.state.load(Ordering::Acquire) & BOUND == 0 {
            return Err(Error::NotBound { port: port.raw() });
        }
        slot.handler
            .store(entry.map_or(0, NonZeroU64::get), Ordering::Release);
        Ok(())
    }

    // ---- inspection ----

    /// A snapshot of `port`.
    pub fn status(&self, port: Port<W>) -> PortStatus {
        let slot = self.slot(port);
        let s = slot.state.load(Ordering::Acquire);
        PortStatus {
            binding: if s & BOUND != 0 {
                Binding::unpack(slot.binding.load(Ordering::Acquire))
            } else {
                None
            },
            pending: state::count(s),
            masked: s & MASKED != 0,
            in_service: s & IN_SERVICE != 0,
        }
    }

    /// Events pending over all ports (a diagnostic: O(ports)).
    pub fn pending_total(&self) -> u64 {
        self.words
            .iter()
            .flat_map(|w| w.ports.iter())
            .map(|p| u64::from(state::count(p.state.load(Ordering::Acquire))))
            .sum()
    }

    /// Cumulative statistics since construction (resets do not clear them).
    pub fn stats(&self) -> Stats {
        self.counters.snapshot(self.traps.dropped())
    }

    /// The static configuration this table resets to.
    pub fn config(&self) -> &'static [PortConfig] {
        self.config
    }
}
