//! One partition's event table: ports, the two-level ready index, callbacks, the trap
//! ring and statistics.
//!
//! Every operation takes `&self` and is lock-free: raises come from ISRs on any CPU while
//! the partition's own CPU delivers, masks and acknowledges. No operation loops over the
//! ports except [`PartitionEvents::reset`] and the diagnostic sums.
//!
//! Layout: what the hot paths touch (the summary word, the ready words, and per port the
//! state and binding words) sits in dense arrays, apart from what they do not (contexts
//! and handlers, in the context slots: see `slots.rs`), so a lookup over 4,096 ports
//! touches three cache lines.

mod index;
mod lifecycle;
mod round_robin;
mod service;
mod slots;

use core::num::NonZeroU64;

use crate::binding::{Binding, PortConfig};
use crate::context::{Context, ContextCell, Read};
use crate::error::Error;
use crate::id::{MAX_PORT_WORDS, PORTS_PER_WORD, Port};
use crate::priority::{self, MAX_PRIORITY_LEVELS, PriorityLevel};
use crate::state::{self, BOUND, MASKED};
use crate::stats::{Counters, Stats};
use crate::sync::{AtomicU16, AtomicU64, Ordering, array_of, maybe_const_fn};
use crate::trap_ring::TrapRing;

use slots::SlotIndex;

pub use service::{Acknowledged, Delivery, DirectRaise, Raised};

/// A snapshot of one port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortStatus {
    /// Its binding, if bound.
    pub binding: Option<Binding>,
    /// Pending count. A counting port's includes its event in service; a coalescing
    /// port's is its pending bit, which going into service clears (an event raised since
    /// sets it again).
    pub pending: u32,
    /// Masked.
    pub masked: bool,
    /// In service.
    pub in_service: bool,
}

/// What raise and delivery touch for a port.
struct PortHot {
    /// See [`crate::state`].
    state: AtomicU64,
    /// Packed [`Binding`], 0 when unbound.
    binding: AtomicU64,
}

impl PortHot {
    maybe_const_fn! {
        fn new(state: u64, binding: u64) -> Self {
            Self { state: AtomicU64::new(state), binding: AtomicU64::new(binding) }
        }
    }
}

/// The rest of a port that has a context slot: its handler entry and latest context.
struct ContextSlot {
    /// Handler entry for this port, 0 for none.
    handler: AtomicU64,
    context: ContextCell,
}

impl ContextSlot {
    maybe_const_fn! {
        fn new() -> Self {
            Self { handler: AtomicU64::new(0), context: ContextCell::new() }
        }
    }
}

/// The event table of one partition with `64 * W` ports (`W` from 1 to 64) and
/// `64 * CW` context slots (`CW` from 0 to `W`; by default `W`, a slot for every port).
///
/// Made from a static port configuration and, optionally, the partition's
/// [priority levels](crate::PriorityLevel); [`reset`](Self::reset) returns to them.
///
/// A port with a context slot keeps its latest context ([`context`](Self::context)) and
/// may have a handler entry of its own ([`set_port_handler`](Self::set_port_handler)).
/// Which ports have one is the configuration's choice
/// ([`PortConfig::keep_context`](crate::PortConfig)): with a slot for every port, all but
/// those configured [`without_context`](crate::PortConfig::without_context); with fewer,
/// the configured ports that keep a context, found by rank in O(1). A port without a slot
/// loses nothing but that payload: its events are counted and delivered as any other's,
/// its upcalls enter the partition's upcall entry, and its context and handler answer
/// [`Error::NoContextKept`]. A slot costs 40 bytes: `PartitionEvents<1, 0>` (64 ports,
/// no slot) is 2,560 bytes smaller than `PartitionEvents<1>` (see `BENCHMARKS.md`).
pub struct PartitionEvents<const W: usize = 1, const CW: usize = W> {
    /// Bit `w` set: word `w` may hold a deliverable port. Never clear while word `w` has a
    /// ready bit set (once the operation that set it has returned).
    summary: AtomicU64,
    /// Bit `b` of word `w` set: port `64 * w + b` may be deliverable. Never clear while
    /// that port is deliverable (once the operation that made it so has returned).
    ready: [AtomicU64; W],
    hot: [[PortHot; PORTS_PER_WORD]; W],
    /// The context slots, by rank (see `slots.rs`).
    slots: [[ContextSlot; PORTS_PER_WORD]; CW],
    /// Which ports have a slot, and where.
    slot_index: SlotIndex<W>,
    upcall_entry: AtomicU64,
    fault_handler: AtomicU64,
    counters: Counters,
    traps: TrapRing,
    config: &'static [PortConfig],
    /// The partition's priority levels (validated: at most `MAX_PRIORITY_LEVELS`).
    levels: &'static [PriorityLevel],
    /// Round-robin cursor of each level: the port after the one of the level last taken
    /// into service. Written by `begin_service` and read by the lookup, both on the
    /// partition's consumer side; a hint only (any value gives a deliverable port of the
    /// right level), so relaxed.
    cursors: [AtomicU16; MAX_PRIORITY_LEVELS],
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
    /// More than [`MAX_PRIORITY_LEVELS`](crate::MAX_PRIORITY_LEVELS) priority levels.
    TooManyLevels,
    /// Priority level `level` is empty (`start >= end`) or ends past the last port.
    LevelRange {
        /// Index of the level in the partition's levels.
        level: usize,
    },
    /// Priority level `level` starts before the previous level ends (levels are in
    /// increasing order and do not overlap).
    LevelOrder {
        /// Index of the level in the partition's levels.
        level: usize,
    },
    /// The entry keeps a context ([`PortConfig::keep_context`]) but the table's context
    /// slots (`64 * CW`) are all taken by the ports before it: give the table more slots,
    /// or configure fewer ports with a context.
    TooManyContexts {
        /// Index of the entry.
        entry: usize,
    },
    /// `CW` (the table's words of context slots) is more than `W`.
    ContextWords,
}

impl<const W: usize, const CW: usize> PartitionEvents<W, CW> {
    /// Number of ports.
    pub const PORTS: usize = W * PORTS_PER_WORD;

    /// Number of context slots.
    pub const CONTEXT_SLOTS: usize = CW * PORTS_PER_WORD;

    /// Checks a port configuration without building anything.
    ///
    /// # Errors
    /// A [`PortConfigError`] naming the first bad entry.
    pub const fn validate(config: &[PortConfig]) -> Result<(), PortConfigError> {
        if W == 0 || W > MAX_PORT_WORDS {
            return Err(PortConfigError::PortWords);
        }
        let mut seen = [0u64; W];
        let mut entry = 0;
        while entry < config.len() {
            let port = config[entry].port as usize;
            if port >= Self::PORTS {
                return Err(PortConfigError::PortOutOfRange { entry });
            }
            let (w, bit) = (port / PORTS_PER_WORD, 1u64 << (port % PORTS_PER_WORD));
            if seen[w] & bit != 0 {
                return Err(PortConfigError::DuplicatePort { entry });
            }
            seen[w] |= bit;
            entry += 1;
        }
        match SlotIndex::<W>::build(config, Self::CONTEXT_SLOTS) {
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Checks a partition's priority levels (see [`PriorityLevel`]) for a table of
    /// `64 * W` ports without building anything.
    ///
    /// # Errors
    /// [`PortConfigError::TooManyLevels`], or a [`PortConfigError`] naming the first bad
    /// level.
    pub const fn validate_levels(levels: &[PriorityLevel]) -> Result<(), PortConfigError> {
        priority::validate(levels, Self::PORTS)
    }

    maybe_const_fn! {
        /// Builds the table in its configured state: the configured ports bound (and
        /// masked where configured), nothing pending, every port a priority level of its
        /// own (the lowest-numbered deliverable port is delivered first). Usable in a
        /// `static` initializer.
        ///
        /// # Errors
        /// A [`PortConfigError`] naming the first bad entry.
        pub fn new(config: &'static [PortConfig]) -> Result<Self, PortConfigError> {
            Self::with_levels(config, &[])
        }
    }

    maybe_const_fn! {
        /// [`new`](Self::new) with the partition's priority levels: the ports of each level
        /// share a priority and are served round-robin (see [`PriorityLevel`]).
        ///
        /// # Errors
        /// A [`PortConfigError`] naming the first bad entry or level.
        pub fn with_levels(
            config: &'static [PortConfig],
            levels: &'static [PriorityLevel],
        ) -> Result<Self, PortConfigError> {
            if let Err(e) = Self::validate(config) {
                return Err(e);
            }
            if let Err(e) = Self::validate_levels(levels) {
                return Err(e);
            }
            let mut table = Self::empty();
            table.configure(config, levels);
            Ok(table)
        }
    }

    /// Rebuilds the table in place in its configured state for `config` and `levels`, as
    /// [`with_levels`](Self::with_levels) builds a new one: every port, pending count,
    /// context, handler, statistic and trap record of the previous configuration is
    /// forgotten. Nothing large is built on the stack (each port is rewritten where it
    /// is), so a kernel can keep the table in static storage and reconfigure it on a small
    /// stack. On an error nothing is changed.
    ///
    /// # Errors
    /// A [`PortConfigError`] naming the first bad entry or level.
    pub fn reconfigure(
        &mut self,
        config: &'static [PortConfig],
        levels: &'static [PriorityLevel],
    ) -> Result<(), PortConfigError> {
        Self::validate(config)?;
        Self::validate_levels(levels)?;
        self.summary = AtomicU64::new(0);
        for ready in &mut self.ready {
            *ready = AtomicU64::new(0);
        }
        for word in &mut self.hot {
            for hot in word {
                *hot = PortHot::new(0, 0);
            }
        }
        for word in &mut self.slots {
            for slot in word {
                *slot = ContextSlot::new();
            }
        }
        self.upcall_entry = AtomicU64::new(0);
        self.fault_handler = AtomicU64::new(0);
        self.counters = Counters::new();
        self.traps = TrapRing::new();
        for cursor in &mut self.cursors {
            *cursor = AtomicU16::new(0);
        }
        self.configure(config, levels);
        Ok(())
    }

    maybe_const_fn! {
        /// Sets the configuration of an empty table (every port unbound, nothing pending):
        /// the ports of each level, then each configured port's binding and mask.
        /// `config` and `levels` are validated.
        fn configure(&mut self, config: &'static [PortConfig], levels: &'static [PriorityLevel]) {
            let table = self;
            table.config = config;
            table.levels = levels;
            table.slot_index = match SlotIndex::<W>::build(config, Self::CONTEXT_SLOTS) {
                Ok(index) => index,
                // Validated: cannot happen.
                Err(_) => SlotIndex::EMPTY,
            };
            // Every port of a level carries the level in its state word, bound or not.
            let mut level = 0;
            while level < levels.len() {
                let mut port = levels[level].start as usize;
                while port < levels[level].end as usize {
                    table.hot[port / PORTS_PER_WORD][port % PORTS_PER_WORD] =
                        PortHot::new(state::in_level(Some(level)), 0);
                    port += 1;
                }
                level += 1;
            }
            let mut entry = 0;
            while entry < config.len() {
                let c = config[entry];
                let port = c.port as usize;
                let state = state::bound(c.binding.mode.is_coalescing())
                    | if c.masked { MASKED } else { 0 }
                    | state::in_level(priority::level_of(levels, c.port));
                table.hot[port / PORTS_PER_WORD][port % PORTS_PER_WORD] =
                    PortHot::new(state, c.binding.pack());
                entry += 1;
            }
        }
    }

    maybe_const_fn! {
        /// A table with no port configured (every port unbound).
        pub fn empty() -> Self {
            Self {
                summary: AtomicU64::new(0),
                ready: array_of![AtomicU64::new(0); W],
                hot: array_of![array_of![PortHot::new(0, 0); PORTS_PER_WORD]; W],
                slots: array_of![array_of![ContextSlot::new(); PORTS_PER_WORD]; CW],
                slot_index: match SlotIndex::<W>::build(&[], Self::CONTEXT_SLOTS) {
                    Ok(index) => index,
                    // More slots than ports: refused by `validate`, never built.
                    Err(_) => SlotIndex::EMPTY,
                },
                upcall_entry: AtomicU64::new(0),
                fault_handler: AtomicU64::new(0),
                counters: Counters::new(),
                traps: TrapRing::new(),
                config: &[],
                levels: &[],
                cursors: array_of![AtomicU16::new(0); MAX_PRIORITY_LEVELS],
            }
        }
    }

    fn hot(&self, port: Port<W>) -> &PortHot {
        &self.hot[port.word()][port.index() % PORTS_PER_WORD]
    }

    /// `port`'s context slot, if it has one.
    #[inline(always)]
    fn slot(&self, port: Port<W>) -> Option<&ContextSlot> {
        if CW == W {
            // A slot for every port (the default): the port's own, if the configuration
            // did not leave it without.
            if !self.slot_index.has(port.index()) {
                return None;
            }
            return Some(&self.slots[port.word()][port.index() % PORTS_PER_WORD]);
        }
        let rank = self.slot_index.rank(port.index())?;
        self.slots.as_flattened().get(rank)
    }

    /// The slot where raises publish `port`'s context and deliveries read its handler:
    /// [`slot`](Self::slot), but in a table with a slot for every port (the default) the
    /// port's own slot even for a port configured without a context, so that the
    /// interrupt paths are what they were before slots existed (no bit test, no rank).
    /// Such a port's slot is never read ([`context`](Self::context) answers
    /// [`Error::NoContextKept`]) and never given a handler
    /// ([`set_port_handler`](Self::set_port_handler) refuses it).
    #[inline(always)]
    fn raise_slot(&self, port: Port<W>) -> Option<&ContextSlot> {
        if CW == W {
            return Some(&self.slots[port.word()][port.index() % PORTS_PER_WORD]);
        }
        self.slot(port)
    }

    /// Whether `port` has a context slot: keeps its latest context and may have a handler
    /// entry of its own (see [`PortConfig::keep_context`]).
    pub fn keeps_context(&self, port: Port<W>) -> bool {
        self.slot(port).is_some()
    }

    /// Ports with a context slot (at most [`CONTEXT_SLOTS`](Self::CONTEXT_SLOTS)).
    pub fn context_ports(&self) -> usize {
        self.slot_index.len()
    }

    fn is_bound(&self, port: Port<W>) -> Result<(), Error> {
        if self.hot(port).state.load(Ordering::Acquire) & BOUND == 0 {
            Err(Error::NotBound { port: port.raw() })
        } else {
            Ok(())
        }
    }

    // ---- contexts and traps ----

    /// The latest context raised on `port` with an event that waited in the table;
    /// `None` if none was raised since the port was bound or reset (a raise that lost to
    /// an unbind or a reset shows none). An event that
    /// [`raise_into_service`](Self::raise_into_service) took straight into service
    /// hands its context to its caller (the upcall) and leaves this one as it was,
    /// unless it is given back ([`cancel_direct_service`](Self::cancel_direct_service)).
    ///
    /// # Errors
    /// [`Error::NotBound`]; [`Error::NoContextKept`] for a port without a context slot
    /// (see [`PortConfig::keep_context`]); or [`Error::ContextBusy`] when writers kept the
    /// context changing through every retry (try again).
    pub fn context(&self, port: Port<W>) -> Result<Option<Context>, Error> {
        let s = self.hot(port).state.load(Ordering::Acquire);
        if s & BOUND == 0 {
            return Err(Error::NotBound { port: port.raw() });
        }
        let Some(slot) = self.slot(port) else {
            return Err(Error::NoContextKept { port: port.raw() });
        };
        // Only a context raised under the port's current binding generation.
        match slot.context.read(s & state::GENERATION) {
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
        self.upcall_entry.store(entry.map_or(0, NonZeroU64::get), Ordering::Release);
    }

    /// The partition's upcall entry.
    pub fn upcall_entry(&self) -> Option<NonZeroU64> {
        NonZeroU64::new(self.upcall_entry.load(Ordering::Acquire))
    }

    /// Sets (or clears) the partition's fault handler.
    pub fn set_fault_handler(&self, entry: Option<NonZeroU64>) {
        self.fault_handler.store(entry.map_or(0, NonZeroU64::get), Ordering::Release);
    }

    /// The partition's fault handler.
    pub fn fault_handler(&self) -> Option<NonZeroU64> {
        NonZeroU64::new(self.fault_handler.load(Ordering::Acquire))
    }

    /// Sets (or clears) the handler an upcall for `port` enters directly. A port without
    /// a context slot has no handler of its own: its upcalls enter the partition's upcall
    /// entry (clearing its handler succeeds, and changes nothing).
    ///
    /// # Errors
    /// [`Error::NotBound`]; [`Error::NoContextKept`] when setting a handler for a port
    /// without a context slot (see [`PortConfig::keep_context`]).
    pub fn set_port_handler(&self, port: Port<W>, entry: Option<NonZeroU64>) -> Result<(), Error> {
        self.is_bound(port)?;
        match (self.slot(port), entry) {
            (Some(slot), _) => {
                slot.handler.store(entry.map_or(0, NonZeroU64::get), Ordering::Release);
            }
            (None, None) => {}
            (None, Some(_)) => return Err(Error::NoContextKept { port: port.raw() }),
        }
        Ok(())
    }

    /// The handler an upcall for `port` enters directly, if it has one.
    #[inline(always)]
    fn handler(&self, port: Port<W>) -> Option<NonZeroU64> {
        NonZeroU64::new(self.raise_slot(port)?.handler.load(Ordering::Acquire))
    }

    // ---- inspection ----

    /// Whether `port` is idle: bound, unmasked, not in service and nothing pending, so
    /// that an event raised now makes it deliverable (or, by
    /// [`raise_into_service`](Self::raise_into_service), takes it into service). A hint
    /// for choosing between the two raises: it may change at once.
    #[inline]
    pub fn is_idle(&self, port: Port<W>) -> bool {
        state::idle(self.hot(port).state.load(Ordering::Acquire))
    }

    /// How many more events `port` counts before a raise overflows it: a counting
    /// port's maximum less its pending count; `u32::MAX` for a coalescing port (events
    /// past its one pending are coalesced, never overflowed); 0 for a port not bound.
    /// Another CPU's raise may take some of it at once.
    #[inline]
    pub fn room(&self, port: Port<W>) -> u32 {
        let hot = self.hot(port);
        let s = hot.state.load(Ordering::Acquire);
        if s & BOUND == 0 {
            return 0;
        }
        let binding = hot.binding.load(Ordering::Acquire);
        if Binding::packed_coalescing(binding) {
            return u32::MAX;
        }
        Binding::packed_max(binding).saturating_sub(state::count(s))
    }

    /// A snapshot of `port`.
    pub fn status(&self, port: Port<W>) -> PortStatus {
        let hot = self.hot(port);
        let s = hot.state.load(Ordering::Acquire);
        PortStatus {
            binding: if s & BOUND != 0 {
                Binding::unpack(hot.binding.load(Ordering::Acquire))
            } else {
                None
            },
            pending: state::count(s),
            masked: s & MASKED != 0,
            in_service: s & state::IN_SERVICE != 0,
        }
    }

    /// Events raised and not yet consumed over all ports, those in service included (a
    /// diagnostic: O(ports)).
    pub fn pending_total(&self) -> u64 {
        self.hot
            .iter()
            .flatten()
            .map(|p| u64::from(state::unconsumed(p.state.load(Ordering::Acquire))))
            .sum()
    }

    /// Cumulative statistics since construction (resets do not clear them). O(ports):
    /// `raised` is the sum of the outcomes (see [`Stats`]).
    pub fn stats(&self) -> Stats {
        self.counters.snapshot(self.pending_total(), self.traps.dropped(), self.traps.discarded())
    }

    /// The static configuration this table resets to.
    pub fn config(&self) -> &'static [PortConfig] {
        self.config
    }

    /// The partition's priority levels (empty: every port a level of its own).
    pub fn priority_levels(&self) -> &'static [PriorityLevel] {
        self.levels
    }
}

/// The size of a partition's table and of its parts, printed for `BENCHMARKS.md`:
/// `cargo test -p notify-core --release --lib sizes -- --nocapture`. Sizes are fixed at
/// build time (no heap), so the checks below are exact.
#[cfg(all(test, not(loom)))]
mod sizes {
    extern crate std;
    use core::mem::size_of;
    use std::println;

    use super::{ContextSlot, PartitionEvents, PortHot, SlotIndex};
    use crate::context::ContextCell;
    use crate::id::PORTS_PER_WORD;
    use crate::stats::Counters;
    use crate::trap_ring::TrapRing;

    /// The fixed part of a table of `64 * W` ports and `64 * CW` slots: everything but
    /// the ports' words and the slots.
    fn fixed<const W: usize, const CW: usize>() -> usize {
        size_of::<PartitionEvents<W, CW>>()
            - W * PORTS_PER_WORD * size_of::<PortHot>()
            - CW * PORTS_PER_WORD * size_of::<ContextSlot>()
    }

    #[test]
    fn sizes_per_partition() {
        let rows = [
            ("`PartitionEvents<W>` (a context slot for every port: the default)", {
                (size_of::<PartitionEvents<1>>(), size_of::<PartitionEvents<64>>())
            }),
            ("`PartitionEvents<W, 0>` (no context slot)", {
                (size_of::<PartitionEvents<1, 0>>(), size_of::<PartitionEvents<64, 0>>())
            }),
            ("`PartitionEvents<64, 1>` (64 context slots for 4,096 ports)", {
                (0, size_of::<PartitionEvents<64, 1>>())
            }),
        ];
        println!("| structure | 64 ports | 4,096 ports |");
        println!("|---|---:|---:|");
        for (what, (t64, t4096)) in rows {
            println!("| {what} | {t64} | {t4096} |");
        }
        println!("| per port: state and binding words (`PortHot`) | {} | |", size_of::<PortHot>());
        println!(
            "| per context slot: handler entry and latest context (`ContextSlot`) | {} | |",
            size_of::<ContextSlot>()
        );
        println!(
            "| of which the latest context (`ContextCell`) | {} | |",
            size_of::<ContextCell>()
        );
        println!(
            "| which ports have a slot (`SlotIndex`: bitmap and prefix counts) | {} | {} |",
            size_of::<SlotIndex<1>>(),
            size_of::<SlotIndex<64>>()
        );
        println!("| trap ring (`TrapRing`, 8 contexts) | {} | |", size_of::<TrapRing>());
        println!("| statistics (`Counters`) | {} | |", size_of::<Counters>());
        // Everything else is a fixed part: the summary, callbacks, configuration
        // references, the levels' cursors, plus one ready word per 64 ports and the slot
        // index.
        let (fixed64, fixed4096) = (fixed::<1, 1>(), fixed::<64, 64>());
        assert_eq!(fixed::<1, 0>(), fixed64, "the slots are all that `CW` changes");
        assert_eq!(fixed::<64, 0>(), fixed4096);
        assert_eq!(fixed::<64, 1>(), fixed4096);
        assert_eq!(size_of::<ContextSlot>(), size_of::<ContextCell>() + size_of::<u64>());
        assert_eq!(
            fixed4096 - fixed64,
            63 * size_of::<u64>() + size_of::<SlotIndex<64>>() - size_of::<SlotIndex<1>>(),
            "one ready word per 64 ports, and the slot index"
        );
        assert_eq!(size_of::<SlotIndex<1>>(), 16, "a bitmap word and a prefix count, padded");
        assert_eq!(
            fixed64,
            size_of::<TrapRing>() + size_of::<Counters>() + size_of::<SlotIndex<1>>() + 96,
            "summary and ready word (16), callbacks (16), references to the configuration \
             and the levels (32), the 16 levels' cursors (32), trap ring, statistics, slot \
             index"
        );
        // A table of 64 ports without slots: 2,560 bytes less than the default.
        assert_eq!(
            size_of::<PartitionEvents<1>>() - size_of::<PartitionEvents<1, 0>>(),
            64 * size_of::<ContextSlot>()
        );
        assert_eq!(size_of::<PartitionEvents<1, 0>>(), 1_464);
    }
}
