//! Time accounting of one partition: entry and exit checkpoints, ticks given, missed
//! ticks, catch-up at entry, and the window budget.
//!
//! The kernel keeps one tick counter. While a partition is inside its window every kernel
//! tick is its tick ([`TimeAccount::tick`]); while it is outside, nothing is done for it
//! at all (the kernel's tick costs the same whatever the number of partitions). At entry
//! the ticks it missed are one subtraction, O(1) whatever their number, and its
//! [`CatchUpPolicy`] decides what it is given for them.
//!
//! The account keeps one invariant: `given + dropped` equals the kernel ticks since the
//! partition started, as of the last checkpoint. With replay or warp `dropped` stays 0, so
//! a guest that handles what it is given has exactly the kernel's time.

use core::num::NonZeroU64;

use crate::catch_up::{CatchUp, CatchUpPolicy};
use crate::error::Error;

/// The clock as the kernel publishes it to the guest (shared page, at entry).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GuestClock {
    /// Kernel tick counter at the checkpoint.
    pub now: u64,
    /// Ticks given to the guest since it started.
    pub given: u64,
    /// Ticks the catch-up policy dropped since it started (the guest's drift once it has
    /// handled everything it was given).
    pub dropped: u64,
    /// Tick at which the current window ends.
    pub window_end: u64,
    /// Window entries since the partition started.
    pub entries: u64,
}

/// What entry decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub struct Entry {
    /// Ticks that passed since the partition last had its time accounted.
    pub missed: u64,
    /// What to give it for them.
    pub catch_up: CatchUp,
    /// The clock to publish in the shared page before the guest runs.
    pub clock: GuestClock,
}

/// What a kernel tick inside the window decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub struct Tick {
    /// Times to raise the timer port: the ticks since the last checkpoint (1 when the
    /// kernel calls this on every tick).
    pub ticks: u64,
    /// Set once per window, at the first tick past its end (by this many ticks): preempt
    /// the partition now. A scheduling signal, *not* the overrun report: the one
    /// health-monitor report of an overrun is [`Exit::overrun`], exactly one per window
    /// that ends late, whether or not a tick saw it first.
    pub preempt: Option<NonZeroU64>,
}

/// What exit decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub struct Exit {
    /// Ticks the partition was inside its window.
    pub ran: u64,
    /// Ticks since the last tick checkpoint: raise the timer port this many times (they
    /// happened while it ran, so they are given, not caught up).
    pub ticks: u64,
    /// Ticks past the end of the window: an overrun. The one report of it, for the
    /// health monitor (see [`Tick::preempt`]); counted in [`TimeAccount::overruns`].
    pub overrun: Option<NonZeroU64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Window {
    entered: u64,
    end: u64,
    /// A tick already said to preempt.
    preempted: bool,
}

/// The time account of one partition. Owned by the scheduler of the partition's CPU
/// (`&mut self`); every operation is O(1). `Clone` but not `Copy`: a copy is a second
/// account, never made by accident. [`Partition`](crate::Partition) keeps it in step with
/// the partition's [`Vcpu`](crate::Vcpu).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeAccount {
    policy: CatchUpPolicy,
    epoch: u64,
    /// Kernel tick up to which the guest's time is accounted (`epoch + given + dropped`).
    accounted: u64,
    given: u64,
    dropped: u64,
    entries: u64,
    overruns: u64,
    window: Option<Window>,
}

impl TimeAccount {
    /// An account for a partition started at kernel tick `epoch`: its time is 0 then.
    #[must_use]
    pub const fn new(policy: CatchUpPolicy, epoch: u64) -> Self {
        Self {
            policy,
            epoch,
            accounted: epoch,
            given: 0,
            dropped: 0,
            entries: 0,
            overruns: 0,
            window: None,
        }
    }

    /// Restarts the account at kernel tick `now` (a partition cold or warm start): its
    /// time is 0 again, and it is outside its window (a restart ends the window, as
    /// [`Vcpu::start`](crate::Vcpu::start) does; the kernel enters it again to let it use
    /// the rest of its window).
    pub const fn restart(&mut self, now: u64) {
        *self = Self::new(self.policy, now);
    }

    /// Entry checkpoint at kernel tick `now`, for a window of `budget` ticks. Computes
    /// the missed ticks and the catch-up decision.
    ///
    /// # Errors
    /// [`Error::AlreadyInWindow`] or [`Error::ClockWentBackwards`]; nothing changes.
    pub fn enter(&mut self, now: u64, budget: u64) -> Result<Entry, Error> {
        if self.window.is_some() {
            return Err(Error::AlreadyInWindow);
        }
        let missed = self.since_checkpoint(now)?;
        let catch_up = self.policy.apply(missed);
        self.given += catch_up.given();
        self.dropped += catch_up.dropped();
        self.accounted = now;
        self.entries += 1;
        self.window =
            Some(Window { entered: now, end: now.saturating_add(budget), preempted: false });
        Ok(Entry { missed, catch_up, clock: self.clock(now) })
    }

    /// A kernel tick at `now` while the partition is inside its window.
    ///
    /// # Errors
    /// [`Error::OutsideWindow`] or [`Error::ClockWentBackwards`]; nothing changes.
    pub fn tick(&mut self, now: u64) -> Result<Tick, Error> {
        let Some(mut window) = self.window else {
            return Err(Error::OutsideWindow);
        };
        let ticks = self.since_checkpoint(now)?;
        self.given += ticks;
        self.accounted = now;
        let mut preempt = None;
        if !window.preempted {
            preempt = NonZeroU64::new(now.saturating_sub(window.end));
            window.preempted = preempt.is_some();
        }
        self.window = Some(window);
        Ok(Tick { ticks, preempt })
    }

    /// Exit checkpoint at kernel tick `now`.
    ///
    /// # Errors
    /// [`Error::OutsideWindow`] or [`Error::ClockWentBackwards`]; nothing changes.
    pub fn exit(&mut self, now: u64) -> Result<Exit, Error> {
        let Some(window) = self.window else {
            return Err(Error::OutsideWindow);
        };
        let ticks = self.since_checkpoint(now)?;
        self.given += ticks;
        self.accounted = now;
        self.window = None;
        let overrun = NonZeroU64::new(now.saturating_sub(window.end));
        if overrun.is_some() {
            self.overruns += 1;
        }
        Ok(Exit { ran: now - window.entered, ticks, overrun })
    }

    /// Ticks an entry at `now` would find missed (`None` if `now` is before the last
    /// checkpoint). O(1).
    #[must_use]
    pub const fn missed_at(&self, now: u64) -> Option<u64> {
        now.checked_sub(self.accounted)
    }

    /// Ticks left in the current window at `now` (`None` outside the window; 0 once the
    /// window is over).
    #[must_use]
    pub const fn budget_left(&self, now: u64) -> Option<u64> {
        match self.window {
            Some(window) => Some(window.end.saturating_sub(now)),
            None => None,
        }
    }

    /// The clock to publish to the guest at `now`.
    #[must_use]
    pub const fn clock(&self, now: u64) -> GuestClock {
        GuestClock {
            now,
            given: self.given,
            dropped: self.dropped,
            window_end: match self.window {
                Some(window) => window.end,
                None => now,
            },
            entries: self.entries,
        }
    }

    /// The catch-up policy.
    #[must_use]
    pub const fn policy(&self) -> CatchUpPolicy {
        self.policy
    }

    /// Kernel tick at which the partition (re)started.
    #[must_use]
    pub const fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Ticks given since the partition started.
    #[must_use]
    pub const fn given(&self) -> u64 {
        self.given
    }

    /// Ticks dropped by the catch-up policy since the partition started.
    #[must_use]
    pub const fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Window entries since the partition started.
    #[must_use]
    pub const fn entries(&self) -> u64 {
        self.entries
    }

    /// Exits past the end of the window since the partition started.
    #[must_use]
    pub const fn overruns(&self) -> u64 {
        self.overruns
    }

    /// The partition is inside its window.
    #[must_use]
    pub const fn in_window(&self) -> bool {
        self.window.is_some()
    }

    fn since_checkpoint(&self, now: u64) -> Result<u64, Error> {
        now.checked_sub(self.accounted)
            .ok_or(Error::ClockWentBackwards { now, accounted: self.accounted })
    }
}

#[cfg(test)]
mod tests;
