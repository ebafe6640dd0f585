//! The guest's requests (hypercalls) to its virtual CPU: deliver, enable and disable,
//! flash, set-level, close and open, idle, return from upcall.

use super::{Resume, Vcpu};
use crate::doorbell::Doorbell;
use crate::error::Error;
use crate::page::SharedPage;

impl Vcpu {
    /// The guest saw "upcall pending" after sti and asks for delivery. An alias of
    /// [`resume`](Self::resume), named for the hypercall.
    ///
    /// # Errors
    /// [`Error::OutsideWindow`].
    pub fn deliver(
        &mut self,
        page: &SharedPage,
        bell: &Doorbell,
        deliverable: impl FnOnce() -> bool,
    ) -> Result<Resume, Error> {
        self.resume(page, bell, deliverable)
    }

    /// Enable interrupts (sti by hypercall, for guests that do not store to the page).
    ///
    /// # Errors
    /// [`Error::OutsideWindow`].
    pub fn enable(
        &mut self,
        page: &SharedPage,
        bell: &Doorbell,
        deliverable: impl FnOnce() -> bool,
    ) -> Result<Resume, Error> {
        self.check_window()?;
        page.store_mask(false);
        Ok(self.settle(page, bell, deliverable, false))
    }

    /// Disable interrupts (cli by hypercall).
    ///
    /// # Errors
    /// [`Error::OutsideWindow`].
    pub fn disable(&mut self, page: &SharedPage) -> Result<Resume, Error> {
        self.check_window()?;
        page.store_mask(true);
        Ok(Resume::Run)
    }

    /// Flash: enable, deliver what is due, disable. If an upcall is injected, its return
    /// leaves interrupts disabled; otherwise they are disabled at once.
    ///
    /// # Errors
    /// [`Error::OutsideWindow`].
    pub fn flash(
        &mut self,
        page: &SharedPage,
        bell: &Doorbell,
        deliverable: impl FnOnce() -> bool,
    ) -> Result<Resume, Error> {
        self.check_window()?;
        page.store_mask(false);
        let resume = self.settle(page, bell, deliverable, true);
        if !matches!(resume, Resume::Upcall { .. }) {
            page.store_mask(true);
        }
        Ok(resume)
    }

    /// RTEMS's `_CPU_ISR_Set_level(level)` by hypercall: 0 opens, anything else closes.
    ///
    /// # Errors
    /// [`Error::OutsideWindow`].
    pub fn set_level(
        &mut self,
        page: &SharedPage,
        bell: &Doorbell,
        level: u32,
        deliverable: impl FnOnce() -> bool,
    ) -> Result<Resume, Error> {
        self.check_window()?;
        page.store_level(level);
        Ok(self.settle(page, bell, deliverable, false))
    }

    /// RTEMS's `_CPU_ISR_Disable(level)` by hypercall (close): sets the level to
    /// [`ISR_LEVEL_DISABLED`](crate::ISR_LEVEL_DISABLED) and returns the level to restore
    /// with [`open`](Self::open).
    ///
    /// # Errors
    /// [`Error::OutsideWindow`].
    pub fn close(&mut self, page: &SharedPage) -> Result<u32, Error> {
        self.check_window()?;
        let previous = page.level();
        page.store_level(crate::page::ISR_LEVEL_DISABLED);
        Ok(previous)
    }

    /// RTEMS's `_CPU_ISR_Enable(level)` by hypercall (open): restores the level
    /// [`close`](Self::close) returned. An alias of [`set_level`](Self::set_level), named
    /// for the RTEMS call.
    ///
    /// # Errors
    /// [`Error::OutsideWindow`].
    pub fn open(
        &mut self,
        page: &SharedPage,
        bell: &Doorbell,
        level: u32,
        deliverable: impl FnOnce() -> bool,
    ) -> Result<Resume, Error> {
        self.set_level(page, bell, level, deliverable)
    }

    /// Idle: give up the rest of the window until an event is deliverable. The idle state
    /// is published in the [`Doorbell`] before `deliverable` is asked, so an event raised
    /// meanwhile either keeps the partition awake or makes the raiser's
    /// [`Doorbell::signal`] answer [`Signal::Wake`](crate::Signal::Wake).
    ///
    /// # Errors
    /// [`Error::OutsideWindow`].
    pub fn idle(
        &mut self,
        page: &SharedPage,
        bell: &Doorbell,
        deliverable: impl FnOnce() -> bool,
    ) -> Result<Resume, Error> {
        self.check_window()?;
        self.idle = true;
        bell.set_inside(true);
        Ok(self.settle(page, bell, deliverable, false))
    }

    /// Return from the innermost upcall: the flag is restored to what the upcall
    /// interrupted, and the next upcall is injected at once if due.
    ///
    /// # Errors
    /// [`Error::OutsideWindow`], or [`Error::NotInUpcall`] if no upcall is in progress
    /// (the partition's mistake); nothing changes and `deliverable` is not called.
    pub fn upcall_return(
        &mut self,
        page: &SharedPage,
        bell: &Doorbell,
        deliverable: impl FnOnce() -> bool,
    ) -> Result<Resume, Error> {
        self.check_window()?;
        if self.depth == 0 {
            return Err(Error::NotInUpcall);
        }
        self.depth -= 1;
        let bit = 1 << self.depth;
        let masked = self.restore_masked & bit != 0;
        self.restore_masked &= !bit;
        page.end_upcall(self.depth, masked);
        Ok(self.settle(page, bell, deliverable, false))
    }

    /// Takes back the upcall the last decision recorded ([`Resume::Upcall`]) when the
    /// kernel could not inject it (its frame could not be built, or the event it was for
    /// is gone): the depth and the flag return to what they were before the decision, and
    /// "upcall pending" is set, so the guest asks again after its next sti or upcall
    /// return. No decision is taken and nothing is assumed about what is deliverable:
    /// retrying an upcall that could not be built is the health monitor's business.
    ///
    /// # Errors
    /// [`Error::OutsideWindow`], or [`Error::NotInUpcall`] if no upcall is in progress;
    /// nothing changes.
    pub fn cancel_upcall(&mut self, page: &SharedPage) -> Result<(), Error> {
        self.check_window()?;
        if self.depth == 0 {
            return Err(Error::NotInUpcall);
        }
        self.depth -= 1;
        self.upcalls = self.upcalls.saturating_sub(1);
        let bit = 1 << self.depth;
        let masked = self.restore_masked & bit != 0;
        self.restore_masked &= !bit;
        page.end_upcall(self.depth, masked);
        page.flag_pending();
        Ok(())
    }
}
