//! The upcall state machine of one partition's virtual CPU.
//!
//! The kernel's state (upcalls in progress, idle, inside the window) lives here, outside
//! the shared page; from the page the kernel reads only whether the vCPU is open. Every
//! operation returns a [`Resume`]: what the kernel must do when it returns to the guest.
//! `deliverable` is always the caller's answer to "does the partition have a deliverable
//! event?" (irq-router asks notify-core).
//!
//! An upcall is due when the vCPU is open, something is deliverable, the partition is not
//! idle-and-outside-its-window, and fewer upcalls than the [`Nesting`] allows are in
//! progress. When something is deliverable but no upcall is due, "upcall pending" is set
//! in the page for the guest to find after its sti.

use crate::error::Error;
use crate::nesting::Nesting;
use crate::page::SharedPage;
use crate::start::StartReason;

/// What the kernel does when it returns to the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Resume {
    /// Resume the guest where it was.
    Run,
    /// Inject an upcall (build the frame, enter the upcall entry). The vCPU has recorded
    /// it: the flag is set for the handler and `depth` upcalls are now in progress.
    Upcall {
        /// Upcalls in progress, this one included.
        depth: u8,
    },
    /// The partition is idle with nothing deliverable: give the rest of its window away.
    Idle,
}

/// Whether an upcall is due: the vCPU is `open`, something is `deliverable`, and fewer
/// than `max_depth` upcalls are in progress (`depth`).
#[must_use]
pub const fn upcall_due(open: bool, deliverable: bool, depth: u8, max_depth: u8) -> bool {
    open && deliverable && depth < max_depth
}

/// The kernel's side of one partition's virtual CPU. Owned by the partition's CPU
/// (`&mut self`); the only cross-CPU path is [`SharedPage::signal`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vcpu {
    nesting: Nesting,
    depth: u8,
    /// Bit `d`: on return from the upcall at depth `d + 1`, leave the flag set (the upcall
    /// was taken during a flash).
    restore_masked: u8,
    idle: bool,
    in_window: bool,
    upcalls: u64,
}

impl Vcpu {
    /// A vCPU outside its window, not idle, in no upcall.
    #[must_use]
    pub const fn new(nesting: Nesting) -> Self {
        Self { nesting, depth: 0, restore_masked: 0, idle: false, in_window: false, upcalls: 0 }
    }

    /// (Re)starts the partition: the vCPU and its page return to their initial state
    /// (interrupts disabled, nothing pending) and the page records `reason`.
    pub fn start(&mut self, page: &SharedPage, reason: StartReason) {
        *self = Self::new(self.nesting);
        page.reset(reason);
    }

    /// Entry into the partition's window: an idle partition wakes if something is
    /// deliverable; an upcall is injected if due.
    ///
    /// # Errors
    /// [`Error::AlreadyInWindow`]; nothing changes.
    pub fn enter(&mut self, page: &SharedPage, deliverable: bool) -> Result<Resume, Error> {
        if self.in_window {
            return Err(Error::AlreadyInWindow);
        }
        self.in_window = true;
        page.publish_depth(self.depth);
        Ok(self.decide(page, deliverable, false))
    }

    /// Exit from the partition's window. An upcall in progress stays in progress; an idle
    /// partition stays idle until an event is deliverable inside a later window.
    ///
    /// # Errors
    /// [`Error::NotInWindow`].
    pub fn exit(&mut self) -> Result<(), Error> {
        if !self.in_window {
            return Err(Error::NotInWindow);
        }
        self.in_window = false;
        Ok(())
    }

    /// Return to the guest inside its window after the kernel ran (an interrupt, a kick
    /// from [`Signal::Open`](crate::Signal::Open), a tick): wakes an idle partition if
    /// something is deliverable, injects an upcall if due.
    ///
    /// # Errors
    /// [`Error::OutsideWindow`]: a partition is never woken outside its window.
    pub fn resume(&mut self, page: &SharedPage, deliverable: bool) -> Result<Resume, Error> {
        self.check_window()?;
        Ok(self.decide(page, deliverable, false))
    }

    /// Whether an upcall is due now (no side effects).
    #[must_use]
    pub fn upcall_due(&self, page: &SharedPage, deliverable: bool) -> bool {
        self.in_window
            && upcall_due(page.is_open(), deliverable, self.depth, self.nesting.max_depth())
    }

    // ---- the guest's requests (hypercalls) ----

    /// The guest saw "upcall pending" after sti and asks for delivery.
    ///
    /// # Errors
    /// [`Error::OutsideWindow`].
    pub fn deliver(&mut self, page: &SharedPage, deliverable: bool) -> Result<Resume, Error> {
        self.resume(page, deliverable)
    }

    /// Enable interrupts (sti by hypercall, for guests that do not store to the page).
    ///
    /// # Errors
    /// [`Error::OutsideWindow`].
    pub fn enable(&mut self, page: &SharedPage, deliverable: bool) -> Result<Resume, Error> {
        self.check_window()?;
        page.store_mask(false);
        Ok(self.decide(page, deliverable, false))
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
    pub fn flash(&mut self, page: &SharedPage, deliverable: bool) -> Result<Resume, Error> {
        self.check_window()?;
        page.store_mask(false);
        let resume = self.decide(page, deliverable, true);
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
        level: u32,
        deliverable: bool,
    ) -> Result<Resume, Error> {
        self.check_window()?;
        page.store_level(level);
        Ok(self.decide(page, deliverable, false))
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
    /// [`close`](Self::close) returned.
    ///
    /// # Errors
    /// [`Error::OutsideWindow`].
    pub fn open(
        &mut self,
        page: &SharedPage,
        level: u32,
        deliverable: bool,
    ) -> Result<Resume, Error> {
        self.set_level(page, level, deliverable)
    }

    /// Idle: give up the rest of the window until an event is deliverable. If something
    /// is deliverable already, the partition does not sleep.
    ///
    /// # Errors
    /// [`Error::OutsideWindow`].
    pub fn idle(&mut self, page: &SharedPage, deliverable: bool) -> Result<Resume, Error> {
        self.check_window()?;
        if deliverable {
            return Ok(self.decide(page, deliverable, false));
        }
        self.idle = true;
        Ok(Resume::Idle)
    }

    /// Return from the innermost upcall: the flag is restored to what the upcall
    /// interrupted, and the next upcall is injected at once if due.
    ///
    /// # Errors
    /// [`Error::OutsideWindow`], or [`Error::NotInUpcall`] if no upcall is in progress
    /// (the partition's mistake); nothing changes.
    pub fn upcall_return(&mut self, page: &SharedPage, deliverable: bool) -> Result<Resume, Error> {
        self.check_window()?;
        if self.depth == 0 {
            return Err(Error::NotInUpcall);
        }
        self.depth -= 1;
        let bit = 1 << self.depth;
        let masked = self.restore_masked & bit != 0;
        self.restore_masked &= !bit;
        page.end_upcall(self.depth, masked);
        Ok(self.decide(page, deliverable, false))
    }

    // ---- state ----

    /// Upcalls in progress.
    #[must_use]
    pub const fn depth(&self) -> u8 {
        self.depth
    }

    /// The partition is idle (waiting for a deliverable event).
    #[must_use]
    pub const fn is_idle(&self) -> bool {
        self.idle
    }

    /// The partition is inside its window.
    #[must_use]
    pub const fn in_window(&self) -> bool {
        self.in_window
    }

    /// Upcalls injected since the partition started.
    #[must_use]
    pub const fn upcalls(&self) -> u64 {
        self.upcalls
    }

    /// The nesting bound.
    #[must_use]
    pub const fn nesting(&self) -> Nesting {
        self.nesting
    }

    fn check_window(&self) -> Result<(), Error> {
        if self.in_window { Ok(()) } else { Err(Error::OutsideWindow) }
    }

    /// The one decision every path ends in (inside the window). `restore_masked`: the
    /// flag an injected upcall's return must restore.
    fn decide(&mut self, page: &SharedPage, deliverable: bool, restore_masked: bool) -> Resume {
        if self.idle {
            if !deliverable {
                return Resume::Idle;
            }
            self.idle = false;
        }
        if !deliverable {
            return Resume::Run;
        }
        if upcall_due(page.is_open(), deliverable, self.depth, self.nesting.max_depth()) {
            self.restore_masked |= u8::from(restore_masked) << self.depth;
            self.depth += 1;
            self.upcalls += 1;
            page.begin_upcall(self.depth);
            Resume::Upcall { depth: self.depth }
        } else {
            page.flag_pending();
            Resume::Run
        }
    }
}

impl Default for Vcpu {
    fn default() -> Self {
        Self::new(Nesting::NONE)
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
