//! One partition's virtual CPU and time account, entered and left together: the one
//! entry and exit path a scheduler (irq-router) uses, so the two never disagree about
//! whether the partition is inside its window.

use crate::catch_up::CatchUpPolicy;
use crate::doorbell::Doorbell;
use crate::error::Error;
use crate::nesting::Nesting;
use crate::page::SharedPage;
use crate::start::StartReason;
use crate::time::{Entry, Exit, Tick, TimeAccount};
use crate::vcpu::{Resume, Vcpu};

/// A partition's [`Vcpu`] and [`TimeAccount`], owned by the partition's CPU. Its
/// [`SharedPage`] (mapped into the guest) and [`Doorbell`] (read by raisers on any CPU)
/// live elsewhere and are handed in.
///
/// Entry ([`enter`](Self::enter)) accounts time, publishes the clock, then asks for the
/// events (after the fence of the [`Doorbell`] protocol) and decides the upcall; exit
/// ([`exit`](Self::exit)) closes both. Hypercalls go to [`vcpu_mut`](Self::vcpu_mut);
/// do not call [`Vcpu::enter`] or [`Vcpu::exit`] on it (that is what this type does).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    vcpu: Vcpu,
    time: TimeAccount,
}

/// What entry decided: the time catch-up (already accounted, the clock already
/// published) and what to do when returning to the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub struct Entered {
    /// The time decision.
    pub entry: Entry,
    /// The vCPU decision, taken after the catch-up events were raised.
    pub resume: Resume,
}

impl Partition {
    /// A partition started at kernel tick `epoch`, outside its window. Call
    /// [`start`](Self::start) to publish its start reason in its page.
    #[must_use]
    pub const fn new(policy: CatchUpPolicy, nesting: Nesting, epoch: u64) -> Self {
        Self { vcpu: Vcpu::new(nesting), time: TimeAccount::new(policy, epoch) }
    }

    /// (Re)starts the partition at kernel tick `now`: vCPU, page, run state and time
    /// account return to their initial state, time 0 at `now`.
    ///
    /// A restart ends the current window (see [`Vcpu::start`]). Returns the ticks that
    /// were left in that window (`None` if the partition was outside its window): to let
    /// the restarted partition use them, [`enter`](Self::enter) at `now` with that budget.
    pub fn start(
        &mut self,
        page: &SharedPage,
        bell: &Doorbell,
        now: u64,
        reason: StartReason,
    ) -> Option<u64> {
        let left = self.time.budget_left(now);
        self.vcpu.start(page, bell, reason);
        self.time.restart(now);
        left
    }

    /// Entry into the window at kernel tick `now` for `budget` ticks.
    ///
    /// In order: the missed ticks are accounted ([`TimeAccount::enter`]), the clock is
    /// published in the page, the run state says "inside its window" and a sequentially
    /// consistent fence follows; then `events` is called once with the [`Entry`]: it must
    /// apply `entry.catch_up` (raise the timer or warp port) and answer whether anything
    /// is deliverable now (notify-core's `next_deliverable()`). Then the upcall decision
    /// ([`Vcpu::enter`]).
    ///
    /// # Errors
    /// [`Error::AlreadyInWindow`] or [`Error::ClockWentBackwards`]; nothing changes and
    /// `events` is not called.
    pub fn enter(
        &mut self,
        page: &SharedPage,
        bell: &Doorbell,
        now: u64,
        budget: u64,
        events: impl FnOnce(&Entry) -> bool,
    ) -> Result<Entered, Error> {
        if self.vcpu.in_window() {
            return Err(Error::AlreadyInWindow);
        }
        let entry = self.time.enter(now, budget)?;
        page.publish_clock(&entry.clock);
        let resume = self.vcpu.enter(page, bell, || events(&entry))?;
        Ok(Entered { entry, resume })
    }

    /// A kernel tick at `now` inside the window ([`TimeAccount::tick`]).
    ///
    /// # Errors
    /// [`Error::OutsideWindow`] or [`Error::ClockWentBackwards`]; nothing changes.
    pub fn tick(&mut self, now: u64) -> Result<Tick, Error> {
        self.time.tick(now)
    }

    /// Exit from the window at kernel tick `now`: the time checkpoint
    /// ([`TimeAccount::exit`], the one overrun report) and the vCPU ([`Vcpu::exit`]).
    ///
    /// # Errors
    /// [`Error::OutsideWindow`] or [`Error::ClockWentBackwards`]; nothing changes.
    pub fn exit(&mut self, bell: &Doorbell, now: u64) -> Result<Exit, Error> {
        let exit = self.time.exit(now)?;
        self.vcpu.exit(bell)?;
        Ok(exit)
    }

    /// The vCPU.
    #[must_use]
    pub const fn vcpu(&self) -> &Vcpu {
        &self.vcpu
    }

    /// The vCPU, for the guest's requests (hypercalls).
    #[must_use]
    pub const fn vcpu_mut(&mut self) -> &mut Vcpu {
        &mut self.vcpu
    }

    /// The time account.
    #[must_use]
    pub const fn time(&self) -> &TimeAccount {
        &self.time
    }

    /// The partition is inside its window (the vCPU and the time account agree).
    #[must_use]
    pub const fn in_window(&self) -> bool {
        self.vcpu.in_window()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::Partition;
    use crate::catch_up::{CatchUp, CatchUpPolicy};
    use crate::doorbell::{Doorbell, Signal};
    use crate::error::Error;
    use crate::nesting::Nesting;
    use crate::page::SharedPage;
    use crate::start::StartReason;
    use crate::vcpu::Resume;

    fn started() -> (SharedPage, Doorbell, Partition) {
        let (page, bell) = (SharedPage::new(), Doorbell::new());
        let mut p = Partition::new(CatchUpPolicy::Replay, Nesting::NONE, 0);
        assert_eq!(p.start(&page, &bell, 0, StartReason::Fresh), None);
        (page, bell, p)
    }

    #[test]
    fn entry_applies_catch_up_before_asking_for_events() {
        let (page, bell, mut p) = started();
        let mut timer = 0;
        let entered = p
            .enter(&page, &bell, 40, 10, |entry| {
                timer += entry.catch_up.given();
                assert!(bell.in_window(), "raisers already see the partition inside");
                assert_eq!(page.guest().clock().now, 40, "the clock is published first");
                timer > 0
            })
            .unwrap();
        assert_eq!(timer, 40);
        assert_eq!(entered.resume, Resume::Flagged, "a started guest begins closed");
        assert_eq!(entered.entry.catch_up.given(), 40);
        assert!(p.in_window() && p.time().in_window() && p.vcpu().in_window());
        assert_eq!(bell.signal(&page), Signal::Flagged);
    }

    #[test]
    fn failed_entry_or_exit_changes_nothing_and_asks_nothing() {
        let (page, bell, mut p) = started();
        let _ = p.enter(&page, &bell, 10, 5, |_| false).unwrap();
        let before = p.clone();
        let asked = p.enter(&page, &bell, 11, 5, |_| unreachable!("not asked"));
        assert_eq!(asked, Err(Error::AlreadyInWindow));
        assert_eq!(p.exit(&bell, 9), Err(Error::ClockWentBackwards { now: 9, accounted: 10 }));
        assert_eq!(p, before);
        assert!(bell.in_window());
        let _ = p.exit(&bell, 15).unwrap();
        assert!(!p.in_window() && !p.time().in_window() && !bell.in_window());
        assert_eq!(p.exit(&bell, 16), Err(Error::OutsideWindow));
        assert_eq!(p.tick(16), Err(Error::OutsideWindow));
        let backwards = p.enter(&page, &bell, 14, 5, |_| unreachable!("not asked"));
        assert_eq!(backwards, Err(Error::ClockWentBackwards { now: 14, accounted: 15 }));
        assert!(!p.in_window() && !bell.in_window());
    }

    #[test]
    fn restart_mid_window_ends_it_and_returns_the_budget_left() {
        let (page, bell, mut p) = started();
        let _ = p.enter(&page, &bell, 100, 50, |_| false).unwrap();
        let left = p.start(&page, &bell, 120, StartReason::WarmRestart { cause: 2 });
        assert_eq!(left, Some(30));
        assert!(!p.in_window() && !p.time().in_window() && !bell.in_window());
        assert_eq!(p.vcpu_mut().disable(&page), Err(Error::OutsideWindow));
        // The kernel lets it use the rest of its window: hypercalls work again.
        let entered = p.enter(&page, &bell, 120, 30, |_| false).unwrap();
        assert_eq!(entered.entry.catch_up, CatchUp::UpToDate);
        assert_eq!(page.guest().clock().window_end, 150);
        assert_eq!(p.vcpu_mut().disable(&page), Ok(Resume::Run));
        assert_eq!(p.time().epoch(), 120);
    }
}
