//! The cross-CPU side of a virtual CPU: what an ISR on any CPU does after it raised an
//! event for a partition, and the kernel-owned run state it reads to know what to do.
//!
//! The protocol is documented on [`Doorbell`] (this module is private).

use crate::page::SharedPage;
use crate::sync::{AtomicU8, Ordering, fence, maybe_const_fn};

const OUTSIDE: u8 = 0;
const RUNNING: u8 = 1;
const IDLE: u8 = 2;

/// Where a partition is, as raisers on other CPUs see it. Kernel-owned and kept outside
/// the [`SharedPage`] (which the guest can write), so a guest cannot make the kernel
/// believe it is idle or outside its window. Written only by the partition's CPU, through
/// [`Vcpu`](crate::Vcpu); read by [`signal`](Self::signal) on any CPU. One per partition,
/// always handed to the same [`Vcpu`](crate::Vcpu).
///
/// # The no-lost-wake-up protocol
///
/// Two parties race: a *raiser* (an ISR on any CPU) and the partition's own CPU, which
/// *opens* the vCPU (the guest's sti or set-level, or the kernel's enable, flash, open,
/// upcall return), *enters* the window or *idles*. Each writes, then reads what the other
/// writes, with a sequentially consistent fence between (Dekker's protocol):
///
/// * **raiser**: raise the event (notify-core's AcqRel compare-and-swap on the port),
///   then [`Doorbell::signal`]: set "upcall pending", fence, read the run state and the
///   flag, and act on the [`Signal`];
/// * **opener** ([`Vcpu`](crate::Vcpu), on the partition's CPU): store "open" into the
///   page, or the run state into the [`Doorbell`], fence, *then* ask notify-core whether
///   anything is deliverable. This is why every [`Vcpu`](crate::Vcpu) operation takes
///   `deliverable` as a closure: it is called once, after the fence, never before;
/// * **guest**: store "open" (sti), fence, read "upcall pending" ([`Guest::sti`]).
///
/// So at least one side sees the other: the opener finds the event deliverable, or the
/// raiser finds the vCPU open (and kicks its CPU), idle (and wakes it), or outside its
/// window (and the next entry finds the event). Never neither; the loom models in
/// `tests/loom.rs` check every pair.
///
/// [`Guest::sti`]: crate::Guest::sti
#[derive(Debug)]
pub struct Doorbell {
    state: AtomicU8,
}

/// What the raiser must do after [`Doorbell::signal`]. In every case "upcall pending" has
/// been set in the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Signal {
    /// Inside its window, running, with the vCPU open: interrupt the partition's CPU so
    /// the kernel resumes it through [`Vcpu::resume`](crate::Vcpu::resume), which injects
    /// the upcall. (A kick that arrives after the partition left its window gets
    /// [`Error::OutsideWindow`](crate::Error::OutsideWindow) from `resume`: ignore it.)
    Open,
    /// Inside its window, running, with the vCPU closed: nothing to do; the guest sees
    /// "upcall pending" after its next sti.
    Flagged,
    /// Idle inside its own window: wake it. Interrupt its CPU (or tell the scheduler) so
    /// the kernel resumes it through [`Vcpu::resume`](crate::Vcpu::resume) for the rest of
    /// its window; `resume` finds the event deliverable and ends the idle.
    Wake,
    /// Outside its window: nothing to do now; the next entry finds the event (an idle
    /// partition is woken only inside its own window).
    Later,
}

impl Doorbell {
    maybe_const_fn! {
        /// The run state of a partition outside its window.
        #[must_use]
        pub fn new() -> Self {
            Self { state: AtomicU8::new(OUTSIDE) }
        }
    }

    /// The raiser's side: after raising an event for this partition, sets "upcall
    /// pending" in `page`, then (after a sequentially consistent fence) reads the run
    /// state and the flag and says what to do. Callable from any CPU; lock-free.
    #[inline]
    pub fn signal(&self, page: &SharedPage) -> Signal {
        // Release: a guest that sees the flag also sees the event the caller raised.
        page.flag_pending();
        fence(Ordering::SeqCst);
        match self.state.load(Ordering::Acquire) {
            RUNNING if page.is_open() => Signal::Open,
            RUNNING => Signal::Flagged,
            IDLE => Signal::Wake,
            _ => Signal::Later,
        }
    }

    /// The partition is inside its window (running or idle).
    #[must_use]
    #[inline]
    pub fn in_window(&self) -> bool {
        self.state.load(Ordering::Acquire) != OUTSIDE
    }

    /// The partition is idle inside its window.
    #[must_use]
    #[inline]
    pub fn is_idle(&self) -> bool {
        self.state.load(Ordering::Acquire) == IDLE
    }

    /// Records that the partition left its window.
    #[inline]
    pub(crate) fn set_outside(&self) {
        self.state.store(OUTSIDE, Ordering::Release);
    }

    /// Records that the partition is inside its window, idle or running.
    #[inline]
    pub(crate) fn set_inside(&self, idle: bool) {
        self.state.store(if idle { IDLE } else { RUNNING }, Ordering::Release);
    }
}

impl Default for Doorbell {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{Doorbell, Signal};
    use crate::page::SharedPage;

    #[test]
    fn signal_follows_the_run_state_and_always_sets_pending() {
        let (page, bell) = (SharedPage::new(), Doorbell::new());
        assert_eq!(bell.signal(&page), Signal::Later);
        assert!(page.guest().upcall_pending());
        page.guest().clear_pending();
        page.store_mask(false);
        assert_eq!(bell.signal(&page), Signal::Later, "open but outside its window");
        bell.set_inside(false);
        assert!(bell.in_window() && !bell.is_idle());
        assert_eq!(bell.signal(&page), Signal::Open);
        page.guest().cli();
        assert_eq!(bell.signal(&page), Signal::Flagged);
        bell.set_inside(true);
        assert!(bell.in_window() && bell.is_idle());
        assert_eq!(bell.signal(&page), Signal::Wake, "idle wakes, open or closed");
        bell.set_outside();
        assert!(!bell.in_window());
        assert!(page.guest().upcall_pending());
    }
}
