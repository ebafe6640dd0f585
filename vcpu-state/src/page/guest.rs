//! The guest's side of the shared page: what a paravirtualized guest (RTEMS's CPU port,
//! the hosted and simulated guests, the test models) does with single loads and stores.
//!
//! Nothing here is trusted by the kernel; these are the operations a well-behaved guest
//! performs, written once so every guest in the project performs them the same way.

use super::{ISR_LEVEL_DISABLED, MASKED, PAGE_VERSION, SharedPage};
use crate::start::StartReason;
use crate::sync::{Ordering, fence};
use crate::time::GuestClock;

/// A guest's view of its [`SharedPage`].
#[derive(Clone, Copy, Debug)]
pub struct Guest<'a> {
    page: &'a SharedPage,
}

impl<'a> Guest<'a> {
    /// The guest side of `page`.
    #[must_use]
    pub const fn new(page: &'a SharedPage) -> Self {
        Self { page }
    }

    /// The page was laid out by a kernel of this crate's [`PAGE_VERSION`].
    #[must_use]
    pub fn version_matches(&self) -> bool {
        self.page.version.load(Ordering::Acquire) == PAGE_VERSION
    }

    /// cli: one store to the flag.
    #[inline]
    pub fn cli(&self) {
        self.page.upcall_mask.store(MASKED, Ordering::Relaxed);
    }

    /// sti: one store to the flag, then the check Xen guests make. Returns `true` when
    /// the vCPU is now open and "upcall pending" is set: the guest must ask for delivery
    /// ([`Vcpu::deliver`](crate::Vcpu::deliver)). See [`Doorbell`](crate::Doorbell) for why
    /// no wake-up is lost.
    #[must_use = "an upcall pending after sti must be asked for"]
    #[inline]
    pub fn sti(&self) -> bool {
        self.page.upcall_mask.store(0, Ordering::Relaxed);
        self.pending_after_opening()
    }

    /// RTEMS's `_CPU_ISR_Disable(level)` (close): sets the ISR level to
    /// [`ISR_LEVEL_DISABLED`] and returns the level to restore. Only the guest writes the
    /// level, so a load and a store are enough.
    #[must_use]
    #[inline]
    pub fn close(&self) -> u32 {
        let previous = self.page.isr_level.load(Ordering::Relaxed);
        self.page.isr_level.store(ISR_LEVEL_DISABLED, Ordering::Relaxed);
        previous
    }

    /// RTEMS's `_CPU_ISR_Enable(level)` (open) and `_CPU_ISR_Set_level(level)`: one store
    /// to the ISR level. Returns `true` when that opened the vCPU and "upcall pending" is
    /// set (ask for delivery, as after [`sti`](Self::sti)).
    #[must_use = "an upcall pending after opening must be asked for"]
    #[inline]
    pub fn set_level(&self, level: u32) -> bool {
        self.page.isr_level.store(level, Ordering::Relaxed);
        level == 0 && self.pending_after_opening()
    }

    /// RTEMS's `_CPU_ISR_Flash(level)`: enable, let what is due be delivered, disable.
    /// `deliver` is the guest's "deliver now" hypercall; it runs only if something is
    /// pending.
    pub fn flash(&self, deliver: impl FnOnce()) {
        if self.sti() {
            deliver();
        }
        self.cli();
    }

    /// "upcall pending" is set.
    #[must_use]
    #[inline]
    pub fn upcall_pending(&self) -> bool {
        self.page.upcall_pending.load(Ordering::Acquire) != 0
    }

    /// Clears "upcall pending" (a handler about to scan its ports).
    pub fn clear_pending(&self) {
        self.page.upcall_pending.store(0, Ordering::Relaxed);
    }

    /// The flag and the level both allow upcalls.
    #[must_use]
    #[inline]
    pub fn is_open(&self) -> bool {
        self.page.is_open()
    }

    /// Upcalls in progress, as the kernel published it.
    #[must_use]
    pub fn upcall_depth(&self) -> u8 {
        self.page.upcall_depth.load(Ordering::Acquire)
    }

    /// Why the partition started, if the kernel has started it.
    #[must_use]
    pub fn start_reason(&self) -> Option<StartReason> {
        StartReason::decode(
            self.page.start_reason.load(Ordering::Acquire),
            self.page.start_cause.load(Ordering::Acquire),
        )
    }

    /// The clock the kernel published at the last entry.
    #[must_use]
    pub fn clock(&self) -> GuestClock {
        let entries = self.page.entries.load(Ordering::Acquire);
        GuestClock {
            now: self.page.clock_now.load(Ordering::Relaxed),
            given: self.page.clock_given.load(Ordering::Relaxed),
            dropped: self.page.clock_dropped.load(Ordering::Relaxed),
            window_end: self.page.window_end.load(Ordering::Relaxed),
            entries,
        }
    }

    /// The second half of sti: a sequentially consistent fence between the store that
    /// opened the vCPU and the read of "upcall pending" (Dekker's protocol with
    /// [`Doorbell::signal`](crate::Doorbell::signal)).
    #[inline]
    fn pending_after_opening(&self) -> bool {
        fence(Ordering::SeqCst);
        self.page.is_open() && self.upcall_pending()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use crate::doorbell::{Doorbell, Signal};
    use crate::page::{ISR_LEVEL_DISABLED, SharedPage};
    use crate::start::StartReason;

    /// A doorbell of a partition running inside its window.
    fn running() -> Doorbell {
        let bell = Doorbell::new();
        bell.set_inside(false);
        bell
    }

    #[test]
    fn sti_reports_pending_only_when_it_opened() {
        let (page, bell) = (SharedPage::new(), running());
        let guest = page.guest();
        assert!(!guest.sti(), "nothing pending");
        guest.cli();
        assert_eq!(bell.signal(&page), Signal::Flagged);
        assert!(guest.sti(), "the flagged event is seen after sti");
        let previous = guest.close();
        assert_eq!(previous, 0);
        assert!(!guest.sti(), "the ISR level still closes the vCPU");
        assert!(guest.set_level(previous), "opening the level reports it");
        assert_eq!(guest.close(), 0);
        assert!(!guest.set_level(ISR_LEVEL_DISABLED));
    }

    #[test]
    fn flash_delivers_only_when_pending_and_ends_closed() {
        let (page, bell) = (SharedPage::new(), running());
        let guest = page.guest();
        let mut delivered = 0;
        guest.flash(|| delivered += 1);
        assert_eq!(delivered, 0);
        assert_eq!(bell.signal(&page), Signal::Flagged);
        guest.flash(|| delivered += 1);
        assert_eq!(delivered, 1);
        assert!(!guest.is_open());
    }

    #[test]
    fn start_reason_and_version_read_back() {
        let page = SharedPage::new();
        let guest = page.guest();
        assert!(guest.version_matches());
        assert_eq!(guest.start_reason(), None);
        page.reset(StartReason::ColdRestart { cause: 4 });
        assert_eq!(guest.start_reason(), Some(StartReason::ColdRestart { cause: 4 }));
        page.write_bytes(&[0xff; crate::PAGE_LEN]);
        assert!(!guest.version_matches());
        assert_eq!(guest.start_reason(), None);
    }
}
