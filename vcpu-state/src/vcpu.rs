//! The upcall state machine of one partition's virtual CPU.
//!
//! The kernel's state (upcalls in progress, idle, inside the window) lives here and in
//! the partition's [`Doorbell`], outside the shared page; from the page the kernel reads
//! only whether the vCPU is open. Every operation returns a [`Resume`]: what the kernel
//! must do when it returns to the guest.
//!
//! `deliverable` is always a closure answering "does the partition have a deliverable
//! event?" (irq-router asks notify-core's `next_deliverable()`). It is called at most
//! once, *after* the operation has stored what it changes (the flag, the ISR level, the
//! run state) and after a sequentially consistent fence, so an event raised on another
//! CPU at any moment is either seen by the closure or seen by the raiser's
//! [`Doorbell::signal`] (see [`Doorbell`] for the protocol). Never compute it
//! beforehand and hand in a stale answer: `|| deliverable_now` reintroduces the lost
//! wake-up this API exists to prevent.
//!
//! An upcall is due when the vCPU is open, something is deliverable, and fewer upcalls
//! than the [`Nesting`] allows are in progress. When something is deliverable but no
//! upcall is due, "upcall pending" is set in the page for the guest to find after its sti
//! ([`Resume::Flagged`]).

use crate::doorbell::Doorbell;
use crate::error::Error;
use crate::nesting::{MAX_NESTING, Nesting};
use crate::page::SharedPage;
use crate::start::StartReason;
use crate::sync::{Ordering, fence};

// `Vcpu::restore_masked` keeps one bit per nesting level in a `u8`.
const _: () = assert!(MAX_NESTING as u32 <= u8::BITS);

/// What the kernel does when it returns to the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Resume {
    /// Resume the guest where it was: nothing is deliverable.
    Run,
    /// Resume the guest where it was: something is deliverable but no upcall is due (the
    /// vCPU is closed, or the nesting bound is reached), so "upcall pending" is now set in
    /// the page for the guest to find after its sti (or at its upcall return).
    Flagged,
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
/// (`&mut self`); the only cross-CPU path is [`Doorbell::signal`]. Always used with the
/// same [`SharedPage`] and [`Doorbell`]. `Clone` but not `Copy`: a copy is a second vCPU,
/// never made by accident.
///
/// Every decision takes `deliverable: impl FnOnce() -> bool`, called at most once, after
/// the operation stored what it changes and after a sequentially consistent fence (the
/// opener's side of the [`Doorbell`] protocol). Pass a closure that asks the event table
/// then (`|| table.next_deliverable().is_some()`), never a value read beforehand.
///
/// [`Partition`](crate::Partition) ties a `Vcpu` to its
/// [`TimeAccount`](crate::TimeAccount) so that both enter and leave the window together;
/// use [`enter`](Self::enter) and [`exit`](Self::exit) directly only without one.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// (interrupts disabled, nothing pending, no upcall, not idle) and the page records
    /// `reason`.
    ///
    /// A restart *ends the current window*: the vCPU is outside its window afterwards and
    /// every hypercall returns [`Error::OutsideWindow`] until the next
    /// [`enter`](Self::enter). A kernel that lets a restarted partition use the rest of
    /// its window enters it again at once, with the budget that is left
    /// ([`Partition::start`](crate::Partition::start) does the same for its time account).
    pub fn start(&mut self, page: &SharedPage, bell: &Doorbell, reason: StartReason) {
        *self = Self::new(self.nesting);
        bell.set_outside();
        page.reset(reason);
    }

    /// Entry into the partition's window: an idle partition wakes if something is
    /// deliverable; an upcall is injected if due.
    ///
    /// # Errors
    /// [`Error::AlreadyInWindow`]; nothing changes and `deliverable` is not called.
    pub fn enter(
        &mut self,
        page: &SharedPage,
        bell: &Doorbell,
        deliverable: impl FnOnce() -> bool,
    ) -> Result<Resume, Error> {
        if self.in_window {
            return Err(Error::AlreadyInWindow);
        }
        self.in_window = true;
        bell.set_inside(self.idle);
        page.publish_depth(self.depth);
        Ok(self.settle(page, bell, deliverable, false))
    }

    /// Exit from the partition's window. An upcall in progress stays in progress; an idle
    /// partition stays idle until an event is deliverable inside a later window.
    ///
    /// # Errors
    /// [`Error::OutsideWindow`].
    pub fn exit(&mut self, bell: &Doorbell) -> Result<(), Error> {
        self.check_window()?;
        self.in_window = false;
        bell.set_outside();
        Ok(())
    }

    /// Return to the guest inside its window after the kernel ran (an interrupt, a kick
    /// from [`Signal::Open`](crate::Signal::Open) or [`Signal::Wake`](crate::Signal::Wake),
    /// a tick): wakes an idle partition if something is deliverable, injects an upcall if
    /// due.
    ///
    /// # Errors
    /// [`Error::OutsideWindow`]: a partition is never woken outside its window.
    #[inline]
    pub fn resume(
        &mut self,
        page: &SharedPage,
        bell: &Doorbell,
        deliverable: impl FnOnce() -> bool,
    ) -> Result<Resume, Error> {
        self.check_window()?;
        Ok(self.settle(page, bell, deliverable, false))
    }

    /// The upcall decision for an event the caller holds and has not made deliverable:
    /// an interrupt for the partition, taken on the partition's own CPU. If an upcall is
    /// due now (inside the window, not idle, open, fewer upcalls in progress than the
    /// [`Nesting`] allows), `take` is called once to take the event straight into
    /// service (notify-core's `raise_into_service`) and says whether it did; if it did,
    /// the upcall is recorded as [`resume`](Self::resume) records one, and
    /// [`Resume::Upcall`] is returned. Otherwise `None`: nothing changed here, and the
    /// caller raises the event the ordinary way, to which the [`Doorbell`] protocol
    /// applies.
    ///
    /// No fence and no `deliverable` closure: no other party can miss an event that
    /// goes from the caller's hands into service without ever being deliverable, and an
    /// event another CPU raises meanwhile is that raiser's to signal. "Upcall pending" is
    /// left as it is (see `SharedPage`'s `enter_upcall`): the raiser that sets it
    /// meanwhile either finds the vCPU open (and kicks the CPU) or closed by this upcall
    /// (and its flag stays set for the guest).
    #[inline]
    pub fn direct_upcall(
        &mut self,
        page: &SharedPage,
        take: impl FnOnce() -> bool,
    ) -> Option<Resume> {
        let due = self.in_window
            && !self.idle
            && upcall_due(page.is_open(), true, self.depth, self.nesting.max_depth());
        if !due || !take() {
            return None;
        }
        self.depth += 1;
        self.upcalls += 1;
        page.enter_upcall(self.depth);
        Some(Resume::Upcall { depth: self.depth })
    }

    /// Whether an upcall is due now, for a `deliverable` the caller already has (no side
    /// effects, no fence: a snapshot, for statistics and scheduling hints, never a
    /// substitute for the operations below).
    #[must_use]
    pub fn upcall_due(&self, page: &SharedPage, deliverable: bool) -> bool {
        self.in_window
            && upcall_due(page.is_open(), deliverable, self.depth, self.nesting.max_depth())
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

    /// The one decision every path ends in (inside the window), after the caller stored
    /// what it changed. `restore_masked`: the flag an injected upcall's return must
    /// restore.
    #[inline]
    fn settle(
        &mut self,
        page: &SharedPage,
        bell: &Doorbell,
        deliverable: impl FnOnce() -> bool,
        restore_masked: bool,
    ) -> Resume {
        // The opener's half of the protocol (see `Doorbell`): what this operation stored
        // (flag, level, run state) is ordered before the read of the event tables.
        fence(Ordering::SeqCst);
        let deliverable = deliverable();
        if self.idle {
            if !deliverable {
                return Resume::Idle;
            }
            self.idle = false;
            bell.set_inside(false);
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
            Resume::Flagged
        }
    }
}

impl Default for Vcpu {
    fn default() -> Self {
        Self::new(Nesting::NONE)
    }
}

mod requests;

#[cfg(all(test, not(loom)))]
mod tests;
