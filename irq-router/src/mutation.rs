//! Deliberately broken variants of the engine, for the deterministic simulator
//! (`adapters/sim`) to show that its invariants find real bugs.
//!
//! Each [`Mutation`] names one known-bad change at one place in the engine. The switch
//! exists only with the `sim-mutations` feature, which nothing but irq-sim's
//! `[dev-dependencies]` enables: cargo never unifies a dev-dependency's features into a
//! `cargo build` (release or not), so a kernel built from this crate never has it. In a
//! `cargo test` build of the workspace the feature is on for every test binary, but inert:
//! a mutation is active only on the thread that switched it on with [`set`], and none is
//! by default. Without the feature [`active`] is a constant `false` and the engine is
//! exactly the code that ships.

/// A known-bad change to the engine (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(not(feature = "sim-mutations"), allow(dead_code, unreachable_pub))]
pub enum Mutation {
    /// The storm path masks the line at the controller *after* the storm protocol's step
    /// (`StormLine::masked`), instead of before: a frame boundary that ended the storm
    /// meanwhile has its unmask overtaken by the late mask, and the line stays masked.
    StormMaskAfterUnmask,
    /// A port that became deliverable for the partition running on this CPU, while a path
    /// of this CPU holds the partition's state, is not followed by a kick: the wake-up is
    /// dropped (the engine's `signal` with its `try_lock` failing).
    WakeupDroppedUnderLock,
    /// A level line's debts (who owes an acknowledgement) are recorded after the ports
    /// are raised instead of before: an acknowledgement that comes in between (on the
    /// partition's CPU) is lost, and the line waits for its timeout.
    LevelDebtAfterRaise,
    /// A restart does not release the level lines the partition owed: the line stays
    /// masked until its acknowledgement timeout blames a partition that owes nothing.
    RestartKeepsLineDebt,
    /// The storm mask kicks every partition's CPU (as if each had to look again at what
    /// it can be delivered once a line is masked): a storm interrupts the other
    /// partitions, whose kernels resume them in the middle of their windows, and its
    /// cost spreads to every CPU. Nothing is lost or counted wrong: only the storm's
    /// isolation is broken.
    StormKicksEveryPartition,
    /// While a line is storm-masked, an event that became deliverable for the partition
    /// running on the interrupted CPU is not delivered there and then (neither the direct
    /// path nor the upcall decision) but left to a kick of that CPU, whose resume
    /// delivers it: load shed from the interrupt path during a storm, and one partition's
    /// storm delays the others' deliveries. Nothing is lost and no wake-up is missed.
    StormDefersDelivery,
}

impl Mutation {
    /// Every mutation.
    #[cfg_attr(not(feature = "sim-mutations"), allow(dead_code, unreachable_pub))]
    pub const ALL: [Self; 6] = [
        Self::StormMaskAfterUnmask,
        Self::WakeupDroppedUnderLock,
        Self::LevelDebtAfterRaise,
        Self::RestartKeepsLineDebt,
        Self::StormKicksEveryPartition,
        Self::StormDefersDelivery,
    ];
}

#[cfg(feature = "sim-mutations")]
mod switch {
    extern crate std;

    use core::cell::Cell;

    use super::Mutation;

    std::thread_local! {
        static ACTIVE: Cell<Option<Mutation>> = const { Cell::new(None) };
    }

    /// Makes `mutation` (or with `None`, no mutation) the engine's behaviour on the calling
    /// thread; returns the one that was active.
    pub fn set(mutation: Option<Mutation>) -> Option<Mutation> {
        ACTIVE.with(|active| active.replace(mutation))
    }

    pub(crate) fn active(mutation: Mutation) -> bool {
        ACTIVE.with(|active| active.get() == Some(mutation))
    }
}

#[cfg(feature = "sim-mutations")]
pub use switch::set;

/// Whether `mutation` is active on this thread (always `false` without the feature).
#[inline(always)]
pub(crate) fn active(mutation: Mutation) -> bool {
    #[cfg(feature = "sim-mutations")]
    {
        switch::active(mutation)
    }
    #[cfg(not(feature = "sim-mutations"))]
    {
        let _ = mutation;
        false
    }
}
